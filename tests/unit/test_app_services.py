"""services/app_services.py: start-up state is frozen out of collections, but never while a page is alive (a page
caught in the freeze would never be collected, whatever became of it); work off the loop runs on one thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from services import app_services
from services.app_services import AppServices


def _services() -> AppServices:
    none: Any = None
    return AppServices(none, none, none, {}, none, none, none, freeze_retry=0.01)


async def test_the_freeze_waits_until_no_page_is_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    frozen: list[bool] = []
    monkeypatch.setattr(app_services, 'freeze', lambda: frozen.append(True))
    services = _services()
    pages = [2]
    services.pages_open = lambda: pages[0]
    services._freeze_without_pages()
    await asyncio.sleep(0.05)
    assert frozen == []  # pages alive: retried, not frozen
    pages[0] = 0
    for _ in range(100):
        if frozen:
            break
        await asyncio.sleep(0.01)
    assert frozen == [True]
    await asyncio.sleep(0.05)
    assert frozen == [True]  # once


async def test_with_no_page_the_freeze_is_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    frozen: list[bool] = []
    monkeypatch.setattr(app_services, 'freeze', lambda: frozen.append(True))
    _services()._freeze_without_pages()
    assert frozen == [True]


async def test_work_runs_off_the_loop_on_one_thread() -> None:
    services = _services()
    try:
        names = {await services.run_in_worker(lambda: threading.current_thread().name) for _ in range(5)}
        assert len(names) == 1 and next(iter(names)).startswith('scribe-work')
        assert await services.run_in_worker(lambda a, *, b: a + b, 1, b=2) == 3
    finally:
        services._worker.shutdown()
