"""Merging batches further when the process falls behind (DESIGN.md, adaptive batching).

Every live stream flushes about 25 times a second, and nearly all of a flush's cost is per flush, not per
character: re-rendering the unfinished prose block, one websocket message per viewer, NiceGUI's outbox. One
process (one event loop) therefore keeps up with a few dozen streams at the preferred interval; with a hundred,
the loop saturates, every update queues behind every other, and the display falls seconds behind. The cure is to
flush less often while the loop is busy: the newest character of each batch is still shown at once, the batches
just hold more characters, so the work per second drops and the lag stays small.

``LoadGovernor`` measures the event loop every ``period`` seconds on the loop itself:

- utilisation: the loop thread's CPU time over wall time (``time.thread_time``), smoothed;
- lateness: how much later than asked for its own timer fired, which also shows CPU taken by other processes.

and turns that into ``stretch``, a factor ≥ 1 that every stream multiplies its flush interval by (capped at
``max_interval``). Above the target the stretch grows in proportion to the overload, below it decays by a few
per cent per period, so a short burst (a page being built) does not stretch anything for long. With one or a
few streams the stretch stays 1 and nothing changes. Nothing here depends on NiceGUI.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

__all__ = ['LoadGovernor']


class LoadGovernor:
    def __init__(self, *, period: float = 0.1, target_utilisation: float = 0.6, target_lateness: float = 0.01,
                 max_stretch: float = 8.0, max_interval: float = 0.25, smoothing: float = 0.5,
                 clock: Callable[[], float] = time.monotonic, cpu: Callable[[], float] = time.thread_time) -> None:
        self.period = period
        self.target_utilisation = target_utilisation
        self.target_lateness = target_lateness
        self.max_stretch = max_stretch
        self.max_interval = max_interval
        self.smoothing = smoothing
        self._clock = clock
        self._cpu = cpu
        #: The factor every stream's flush interval is multiplied by; 1 while the loop keeps up.
        self.stretch = 1.0
        #: Smoothed share of wall time the loop thread spent on the CPU, and the last timer's lateness (seconds).
        self.utilisation = 0.0
        self.lateness = 0.0
        self._task: asyncio.Task[None] | None = None

    def interval(self, preferred: float) -> float:
        """The flush interval to use now for a stream whose owner prefers ``preferred`` seconds: stretched under
        load, but never past ``max_interval`` unless the preference itself is longer."""
        if self.stretch <= 1.0:
            return preferred
        return max(preferred, min(preferred * self.stretch, self.max_interval))

    def observe(self, wall: float, cpu: float, lateness: float) -> float:
        """One period's measurement (seconds of wall time, of loop-thread CPU, of timer lateness) → the new
        stretch. Pure, so the control law is tested without a loop."""
        if wall <= 0:
            return self.stretch
        busy = min(1.0, max(0.0, cpu / wall))
        self.utilisation += self.smoothing * (busy - self.utilisation)
        self.lateness = max(0.0, lateness)
        pressure = max(self.utilisation / self.target_utilisation, self.lateness / self.target_lateness)
        if pressure > 1.0:
            self.stretch = min(self.max_stretch, self.stretch * min(pressure, 1.5))
        else:
            self.stretch = max(1.0, self.stretch * max(pressure, 0.95))
        return self.stretch

    async def run(self) -> None:
        wall, cpu = self._clock(), self._cpu()
        while True:
            due = wall + self.period
            await asyncio.sleep(self.period)
            now, used = self._clock(), self._cpu()
            self.observe(now - wall, used - cpu, now - due)
            wall, cpu = now, used

    def start(self) -> None:
        """Begin measuring on the running loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name='load-governor')

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.stretch = 1.0
