"""Giving memory back after pages and streams end.

A closed page leaves its elements as reference cycles (element ↔ client ↔ slot), which only the cyclic
collector frees, and CPython runs a full collection rarely (its thresholds count allocations, not bytes). Between
full collections the garbage of dozens of closed pages piles up, the allocator takes fresh arenas for the next
pages, and those arenas stay with the process: pymalloc returns an arena only when every object in it is gone,
and glibc keeps freed heap pages unless asked. The memory bench saw 1,000 answers (25 pages at a time) grow the
process by about 110 MB while live Python data grew by 5 MB.

So: ``freeze`` the objects alive after start-up (modules, grammars, the markdown parser) into the permanent
generation, which makes a full collection cost milliseconds instead of tens; then, a moment after pages or
streams end (``soon``), collect, so the next pages reuse that memory, and hand glibc's free pages back to the
system (``malloc_trim``), once nothing is streaming. Nothing here depends on NiceGUI.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable

__all__ = ['Reclaimer', 'freeze', 'trim']

log = logging.getLogger(__name__)


def _load_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library('c')
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


_TRIM = _load_trim()


def trim() -> bool:
    """Return the C heap's free pages to the system; False where the C library has no ``malloc_trim``."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


#: Allocations between young collections (CPython's default is 700). A flush allocates hundreds of objects that
#: live a few milliseconds (operations, messages on their way to a page); at 700 the young collection runs over a
#: hundred times a second at load, promotes those that are still in flight, and the promoted ones trigger a full
#: collection every few seconds: 100-200 ms with a hundred pages open, a stall for every stream. At 20,000 they
#: are gone by refcount before the next young collection looks, which costs a few milliseconds.
YOUNG_THRESHOLD = 20_000


def freeze() -> None:
    """Collect once, then move every surviving object to the permanent generation: start-up objects live as long
    as the process, and later full collections no longer walk them. Also sets the young threshold above."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


class Reclaimer:
    """Debounced ``collect + trim``: ``soon()`` may be called for every closed page or ended stream; the work runs
    once, ``delay`` seconds after the first call of a burst, and never more often than that. A closed page's
    objects wait for it (with NiceGUI's 3 s reconnect grace before), so with pages opening and closing all the
    time these waits set how many dead pages the heap holds at once, and so how large it grows: 1 s and 2 s cost
    the memory bench 41 MB of growth where 2 s and 4 s cost 65 MB, with the 100-stream load still within 100 ms."""

    def __init__(self, delay: float = 1.0, *, max_wait: float = 2.0, collect: Callable[[], object] = gc.collect,
                 release: Callable[[], object] = trim, busy: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.delay = delay
        self.max_wait = max_wait
        self._clock = clock
        self._asked: float | None = None  # when the pending run was first asked for
        self._collect = collect
        self._release = release
        #: While this says so (answers are streaming), the work waits, for at most ``max_wait`` seconds: a full
        #: collection with a hundred pages open takes a few hundred milliseconds, a stall for every live stream,
        #: but with answers streaming all the time the garbage of closed pages must still go.
        self.busy = busy
        self._handle: asyncio.TimerHandle | None = None
        self.runs = 0

    def soon(self) -> None:
        if self._asked is None:
            self._asked = self._clock()
        if self._handle is None:
            with contextlib.suppress(RuntimeError):  # no running loop (shutting down): nothing to do
                self._handle = asyncio.get_running_loop().call_later(self.delay, self._run)

    def _run(self) -> None:
        self._handle = None
        if self.busy() and self._asked is not None and self._clock() - self._asked < self.max_wait:
            self.soon()
            return
        self._asked = None
        self.runs += 1
        try:
            self._collect()
            self._release()
        except Exception:  # housekeeping must never take the app down
            log.exception('reclaiming memory failed')

    def cancel(self) -> None:
        self._asked = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
