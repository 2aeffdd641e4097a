"""services/loop_monitor.py: the event-loop block histogram. No timing assertions: what is checked is that the
callbacks a loop runs are recorded, named, and that the histogram is consistent with itself."""

from __future__ import annotations

import asyncio
import functools
import time

import pytest

from services import loop_monitor
from services.loop_monitor import BUCKETS, LoopMonitor, describe, enabled


def _consistent(stats: loop_monitor.BlockStats) -> None:
    counts = [n for _, n in stats.buckets]
    assert counts == sorted(counts), 'cumulative buckets never decrease'
    assert [bound for bound, _ in stats.buckets] == [*BUCKETS, float('inf')]
    assert stats.buckets[-1][1] == stats.count
    assert stats.total >= 0 and stats.max >= 0
    if stats.count:
        assert stats.max <= stats.total + 1e-12
        assert stats.total <= stats.max * stats.count + 1e-12


def test_enabled_only_when_asked() -> None:
    assert not enabled({})
    assert not enabled({'SCRIBE_LOOP_MONITOR': '0'})
    assert enabled({'SCRIBE_LOOP_MONITOR': '1'})
    assert enabled({'SCRIBE_LOOP_MONITOR': ' yes '})


def test_recorded_values_land_in_their_buckets() -> None:
    monitor = LoopMonitor(slow_threshold=0.02, keep_slowest=2)
    for seconds in (0.00005, 0.0003, 0.003, 0.03, 0.3, 3.0, 0.001):
        monitor.record(seconds, test_recorded_values_land_in_their_buckets)
    stats = monitor.snapshot()
    _consistent(stats)
    assert stats.count == 7
    assert stats.total == pytest.approx(3.33435)
    assert stats.max == 3.0
    cumulative = dict(stats.buckets)
    assert cumulative[0.0001] == 1
    assert cumulative[0.001] == 3  # 0.001 itself counts in le="0.001"
    assert cumulative[0.05] == 5
    assert cumulative[2.5] == 6
    assert cumulative[float('inf')] == 7
    # only blocks above the threshold are named, the slowest first, at most keep_slowest of them
    assert [s for s, _ in stats.slowest] == [3.0, 0.3]
    assert all('test_recorded_values_land_in_their_buckets' in name for _, name in stats.slowest)


def _blocking(seconds: float) -> None:
    time.sleep(seconds)


async def _work() -> str:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_soon(_blocking, 0.05)
    loop.call_later(0.001, done.set_result, 'timer')
    await asyncio.sleep(0)
    await asyncio.to_thread(sum, [1, 2])
    return await done


def _run_on(loop: asyncio.AbstractEventLoop) -> tuple[str, loop_monitor.BlockStats]:
    monitor = LoopMonitor(slow_threshold=0.0, keep_slowest=1000)
    method = monitor.install(loop)
    try:
        result = loop.run_until_complete(_work())
        assert result == 'timer'
    finally:
        monitor.uninstall()
        loop.close()
    return method, monitor.snapshot()


def test_a_pure_asyncio_loop_has_every_callback_timed() -> None:
    original = asyncio.events.Handle._run
    method, stats = _run_on(asyncio.SelectorEventLoop())
    assert method == 'handle'
    assert asyncio.events.Handle._run is original, 'uninstall restores Handle._run'
    _consistent(stats)
    names = [name for _, name in stats.slowest]
    assert any('_blocking' in name for name in names)
    assert any('_work' in name for name in names), 'task steps are named by their coroutine'
    assert stats.count >= 4


def test_uvloop_has_its_scheduled_callbacks_timed() -> None:
    uvloop = pytest.importorskip('uvloop')
    loop = uvloop.new_event_loop()
    base = type(loop)
    method, stats = _run_on(loop)
    assert method == 'call-wrappers'
    assert type(loop) is base, 'uninstall restores the loop class'
    _consistent(stats)
    names = [name for _, name in stats.slowest]
    assert any('_blocking' in name for name in names)
    assert any('_work' in name for name in names)


def test_a_callback_scheduled_twice_through_the_wrappers_is_timed_once() -> None:
    uvloop = pytest.importorskip('uvloop')
    loop = uvloop.new_event_loop()
    monitor = LoopMonitor(slow_threshold=0.0)
    monitor.install(loop)
    calls: list[int] = []
    try:
        loop.call_soon(lambda: calls.append(1))
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        monitor.uninstall()
        loop.close()
    assert calls == [1]
    stats = monitor.snapshot()
    assert stats.count >= 2  # the lambda and the sleep's task steps, each once
    _consistent(stats)


def test_describe_names_tasks_partials_and_functions() -> None:
    async def named() -> None:
        await asyncio.sleep(0)

    async def main() -> str:
        task = asyncio.get_running_loop().create_task(named(), name='the-task')
        await task
        return describe(task.get_coro)  # a bound method of the task (the step callables are such methods)
    assert 'the-task' in asyncio.run(main())
    assert describe(functools.partial(_blocking, 1)).endswith('_blocking')
    assert describe(len) == 'builtins.len'


def test_start_is_idempotent_and_stop_uninstalls() -> None:
    loop = asyncio.new_event_loop()
    try:
        first = loop_monitor.start(loop)
        assert loop_monitor.start(loop) is first
        assert loop_monitor.current() is first
        loop.run_until_complete(asyncio.sleep(0))
        assert first.snapshot().count >= 1
    finally:
        loop_monitor.stop()
        loop.close()
    assert loop_monitor.current() is None
