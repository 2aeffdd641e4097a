"""How long each event-loop callback held the loop: a histogram for ``/metrics``, off unless asked for.

Everything a Scribe process does for its pages and streams runs on one asyncio event loop; while one callback runs
(a task step up to its next ``await``, a timer such as a stream's flush, a future's done-callback) nothing else
does, so every other stream's next update waits. This module measures those blocks, one observation per callback,
into a Prometheus-style histogram (``scribe_event_loop_block_seconds_bucket{le=…}``, ``_count``, ``_sum``) plus
the largest block seen (``_max``) and the few slowest callbacks by name (to tell which code blocked).

Enabled only when the environment has ``SCRIBE_LOOP_MONITOR=1``: ``pages/metrics.py`` then calls ``start()`` from
an app start-up hook, on the running loop. Nothing is patched otherwise.

Method (chosen by the running loop's type, reported as ``method``):

``handle`` — a pure-Python asyncio loop (``asyncio.BaseEventLoop`` and its subclasses, e.g. ``SelectorEventLoop``)
    runs every callback, including its transports' socket reads and writes, through
    ``asyncio.events.Handle._run``. That method is replaced by one that times the original with
    ``time.perf_counter()``. This sees every callback the loop runs.

``call-wrappers`` — uvloop (which uvicorn picks when it is installed, as it is with NiceGUI) runs callbacks in
    compiled code that never calls ``Handle._run``. The running loop's class is swapped for a Python subclass
    (same layout, so ``__class__`` assignment is allowed) whose ``call_soon``, ``call_soon_threadsafe``,
    ``call_later`` and ``call_at`` wrap the callback in a timing closure. asyncio's C ``Task`` and ``Future``
    schedule task steps and done-callbacks by looking ``call_soon`` up on the loop, so every task step (all
    coroutine code: pages, event handlers, NiceGUI's outbox, the stream tasks), every timer (a stream's flush)
    and every future callback is timed. Not seen: what uvloop runs internally without these methods — reading
    and writing sockets and its transports' protocol callbacks (uvicorn parsing HTTP requests and websocket
    frames). Those are short, per-read callbacks; a block hidden there would show as lag, not in this histogram.

Cost: two ``perf_counter()`` calls, one extra Python frame and a bisect per callback: about 0.5–1 µs, i.e. about
1 % of one core at 10,000 callbacks per second (the uvloop method also allocates one closure per scheduled
callback). The slowest-callback names are only worked out for blocks above ``slow_threshold``.

Nothing here depends on NiceGUI.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import gc
import heapq
import itertools
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

__all__ = ['BUCKETS', 'BlockStats', 'LoopMonitor', 'current', 'describe', 'enabled', 'start', 'stop']

ENV = 'SCRIBE_LOOP_MONITOR'
# Upper bounds of the histogram's buckets, in seconds (+Inf is implied).
BUCKETS: tuple[float, ...] = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True, slots=True)
class BlockStats:
    """A consistent copy of the histogram: ``buckets`` are cumulative ``(upper bound, count)`` pairs ending with
    ``(inf, count)``."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    total: float
    max: float
    slowest: tuple[tuple[float, str], ...]  # (seconds, callback), slowest first
    method: str | None


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``SCRIBE_LOOP_MONITOR`` asks for the monitor (1, true, yes, on)."""
    value = (os.environ if env is None else env).get(ENV, '')
    return value.strip().lower() in ('1', 'true', 'yes', 'on')


def describe(callback: object) -> str:
    """A short, stable name for a callback: the task and coroutine for a task step, else the function."""
    if isinstance(callback, asyncio.Handle):
        callback = getattr(callback, '_callback', callback)
    while isinstance(callback, functools.partial):
        callback = callback.func
    owner = getattr(callback, '__self__', None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        name = getattr(coro, '__qualname__', None) or type(coro).__name__
        return f'task {owner.get_name()} ({name})'
    name = getattr(callback, '__qualname__', None)
    if name is None:
        return type(callback).__name__
    module = getattr(callback, '__module__', None)
    return f'{module}.{name}' if module else str(name)


class LoopMonitor:
    """The histogram and its installation on one loop. ``record`` may also be called directly (tests).

    Only the loop's thread records and reads it (``/metrics`` runs on the loop), so it needs no lock."""

    def __init__(self, *, slow_threshold: float = 0.01, keep_slowest: int = 8) -> None:
        self.slow_threshold = slow_threshold
        self.keep_slowest = keep_slowest
        self._counts = [0] * (len(BUCKETS) + 1)
        self._total = 0.0
        self._max = 0.0
        self._slowest: list[tuple[float, int, str]] = []  # a min-heap of the slowest blocks
        self._tiebreak = itertools.count()
        self.method: str | None = None
        self._undo: Callable[[], None] | None = None

    # --- recording ------------------------------------------------------------------------------------------

    def record(self, seconds: float, callback: object = None) -> None:
        """One callback held the loop for ``seconds``."""
        self._counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self._total += seconds
        if seconds > self._max:
            self._max = seconds
        if seconds >= self.slow_threshold:
            self._remember(seconds, callback)

    def _remember(self, seconds: float, callback: object) -> None:
        try:
            name = describe(callback)
        except Exception:  # naming is best effort; the measurement is what matters
            name = type(callback).__name__
        entry = (seconds, next(self._tiebreak), name)
        if len(self._slowest) < self.keep_slowest:
            heapq.heappush(self._slowest, entry)
        elif entry > self._slowest[0]:
            heapq.heapreplace(self._slowest, entry)

    def snapshot(self) -> BlockStats:
        counts = list(self._counts)
        running = 0
        buckets: list[tuple[float, int]] = []
        for bound, n in zip((*BUCKETS, float('inf')), counts, strict=True):
            running += n
            buckets.append((bound, running))
        slowest = tuple((s, name) for s, _, name in sorted(self._slowest, reverse=True))
        # ``count`` is the sum of the buckets read above, so the histogram is always consistent with itself.
        return BlockStats(tuple(buckets), running, self._total, self._max, slowest, self.method)

    # --- installation ---------------------------------------------------------------------------------------

    def install(self, loop: asyncio.AbstractEventLoop) -> str:
        """Start timing ``loop``'s callbacks; returns the method used (see the module docstring)."""
        if self._undo is not None:
            return self.method or ''
        if isinstance(loop, asyncio.BaseEventLoop):
            self._undo = _patch_handle_run(self)
            self.method = 'handle'
        else:
            self._undo = _swap_loop_class(self, loop)
            self.method = 'call-wrappers'
        return self.method

    def uninstall(self) -> None:
        if self._undo is not None:
            self._undo()
            self._undo = None


def _patch_handle_run(monitor: LoopMonitor) -> Callable[[], None]:
    handle_class = asyncio.events.Handle
    original = handle_class._run
    clock = time.perf_counter
    record = monitor.record

    def _run(self: asyncio.Handle) -> None:
        started = clock()
        try:
            original(self)
        finally:
            record(clock() - started, self)

    handle_class._run = _run  # type: ignore[method-assign]

    def undo() -> None:
        handle_class._run = original  # type: ignore[method-assign]
    return undo


def _timed(monitor: LoopMonitor, callback: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(callback, '_scribe_timed', False):
        return callback  # e.g. call_later implemented with call_at: time it once
    clock = time.perf_counter
    record = monitor.record

    def timed(*args: Any) -> Any:
        started = clock()
        try:
            return callback(*args)
        finally:
            record(clock() - started, callback)

    timed._scribe_timed = True  # type: ignore[attr-defined]
    return timed


def _swap_loop_class(monitor: LoopMonitor, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    base = type(loop)

    def call_soon(self: Any, callback: Callable[..., Any], *args: Any, context: Any = None) -> Any:
        return base.call_soon(self, _timed(monitor, callback), *args, context=context)

    def call_soon_threadsafe(self: Any, callback: Callable[..., Any], *args: Any, context: Any = None) -> Any:
        return base.call_soon_threadsafe(self, _timed(monitor, callback), *args, context=context)

    def call_later(self: Any, delay: float, callback: Callable[..., Any], *args: Any, context: Any = None) -> Any:
        return base.call_later(self, delay, _timed(monitor, callback), *args, context=context)

    def call_at(self: Any, when: float, callback: Callable[..., Any], *args: Any, context: Any = None) -> Any:
        return base.call_at(self, when, _timed(monitor, callback), *args, context=context)

    monitored = type(f'Monitored{base.__name__}', (base,), {
        'call_soon': call_soon, 'call_soon_threadsafe': call_soon_threadsafe,
        'call_later': call_later, 'call_at': call_at, '__module__': __name__,
    })
    loop.__class__ = monitored

    def undo() -> None:
        if type(loop) is monitored:
            loop.__class__ = base
    return undo


_current: LoopMonitor | None = None


def current() -> LoopMonitor | None:
    """The process's monitor, if ``start`` was called."""
    return _current


_gc_started: list[float] = []


def _time_collections(phase: str, info: dict[str, int]) -> None:
    """A garbage collection runs inside whichever callback allocated last, so a long one shows as that callback's
    block; this names it in the log instead (collections of 20 ms and more)."""
    if phase == 'start':
        _gc_started[:] = [time.perf_counter()]
    elif _gc_started:
        seconds = time.perf_counter() - _gc_started.pop()
        if seconds >= 0.02:
            log.warning('garbage collection of generation %d took %.0f ms (%d collected)',
                        info.get('generation', -1), seconds * 1000, info.get('collected', 0))


def start(loop: asyncio.AbstractEventLoop | None = None) -> LoopMonitor:
    """Install the process's monitor on ``loop`` (default: the running loop); idempotent."""
    global _current
    if _current is None:
        _current = LoopMonitor()
        gc.callbacks.append(_time_collections)
    _current.install(loop or asyncio.get_running_loop())
    return _current


def stop() -> None:
    global _current
    if _current is not None:
        _current.uninstall()
        _current = None
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(_time_collections)
