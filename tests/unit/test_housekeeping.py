"""A deleted page's tab storage goes unless another live page of the same tab still uses it; NiceGUI's memory of
the last refreshable that ran lets go of a deleted page."""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace
from typing import Any

import pytest
from nicegui import app
from nicegui.client import Client
from nicegui.functions.refreshable import RefreshableTarget

from pages.housekeeping import GONE_PATH, GONE_SCRIPT, page_deleted, page_gone


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


def test_a_deleted_page_is_not_kept_as_the_last_refreshable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Client, 'instances', {})
    services: Any = SimpleNamespace(reclaimer=SimpleNamespace(soon=lambda: None))
    page, other = (SimpleNamespace(tab_id=None) for _ in range(2))
    other_target = SimpleNamespace(container=SimpleNamespace(client=other, is_deleted=False))
    monkeypatch.setattr(RefreshableTarget, 'current_target', other_target)
    page_deleted(page, services)  # type: ignore[arg-type]
    assert RefreshableTarget.current_target is other_target  # another page's: still in use

    monkeypatch.setattr(RefreshableTarget, 'current_target',
                        SimpleNamespace(container=SimpleNamespace(client=page, is_deleted=False)))
    page_deleted(page, services)  # type: ignore[arg-type]
    assert RefreshableTarget.current_target is None


def _gone_client(*, deleted: bool = False) -> Any:
    cleared: list[bool] = []
    return SimpleNamespace(is_deleted=deleted, layout=SimpleNamespace(clear=lambda: cleared.append(True)),
                           outbox=SimpleNamespace(message_history=deque([1, 2, 3])), cleared=cleared)


def test_a_page_that_says_it_is_gone_loses_its_elements_and_history_at_once() -> None:
    soon: list[bool] = []
    services: Any = SimpleNamespace(reclaimer=SimpleNamespace(soon=lambda: soon.append(True)))
    client = _gone_client()
    page_gone(client, services)
    assert client.cleared == [True]
    assert not client.outbox.message_history
    assert soon == [True]


def test_a_deleted_client_is_left_alone() -> None:
    services: Any = SimpleNamespace(reclaimer=SimpleNamespace(soon=lambda: None))
    client = _gone_client(deleted=True)
    page_gone(client, services)
    assert client.cleared == []
    assert list(client.outbox.message_history) == [1, 2, 3]


def test_the_page_says_so_on_pagehide_unless_it_may_come_back_from_the_cache() -> None:
    assert '"pagehide"' in GONE_SCRIPT and '!e.persisted' in GONE_SCRIPT
    assert f'"{GONE_PATH}"' in GONE_SCRIPT and 'navigator.sendBeacon' in GONE_SCRIPT
