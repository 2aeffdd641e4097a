"""A deleted page's tab storage goes unless another live page of the same tab still uses it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from nicegui import app
from nicegui.client import Client

from pages.housekeeping import page_deleted


def test_the_last_client_of_a_tab_takes_its_storage_along(monkeypatch: pytest.MonkeyPatch) -> None:
    tabs: dict[str, Any] = {'a': {}, 'b': {}}
    monkeypatch.setattr(app.storage, '_tabs', tabs)
    gone, reloaded, alive = (SimpleNamespace(tab_id=None, _pinned_tab_id=t) for t in ('a', 'b', 'b'))
    monkeypatch.setattr(Client, 'instances', {'1': gone, '2': reloaded, '3': alive})
    soon: list[bool] = []
    services: Any = SimpleNamespace(reclaimer=SimpleNamespace(soon=lambda: soon.append(True)))

    page_deleted(gone, services)  # type: ignore[arg-type]
    assert 'a' not in tabs
    page_deleted(reloaded, services)  # type: ignore[arg-type]
    assert 'b' in tabs  # the reloaded tab's new page still has it
    assert soon == [True, True]
