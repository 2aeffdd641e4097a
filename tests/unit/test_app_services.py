"""services/app_services.py: work kept off the event loop runs on one thread."""

from __future__ import annotations

import threading
from typing import Any

from services.app_services import AppServices


async def test_work_runs_off_the_loop_on_one_thread() -> None:
    none: Any = None
    services = AppServices(none, none, none, {}, none, none, none)
    try:
        names = {await services.run_in_worker(lambda: threading.current_thread().name) for _ in range(5)}
        assert len(names) == 1 and next(iter(names)).startswith('scribe-work')
        assert threading.current_thread().name not in names
        assert await services.run_in_worker(lambda a, *, b: a + b, 1, b=2) == 3
    finally:
        services._worker.shutdown()


def test_prepare_builds_the_grammars_then_freezes(monkeypatch: Any) -> None:
    from services import app_services
    calls: list[str] = []
    monkeypatch.setattr(app_services, 'warm_up', lambda: calls.append('warm_up'))
    monkeypatch.setattr(app_services, 'freeze', lambda: calls.append('freeze'))
    none: Any = None
    services = AppServices(none, none, none, {}, none, none, none)
    services.prepare()
    services._worker.shutdown()
    assert calls == ['warm_up', 'freeze']
