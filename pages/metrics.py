"""``GET /metrics``: the process's figures in Prometheus text format (UI-CONTRACT.md).

Streams (running now, and started / ended by status when the stream manager counts them), the event bus (topics,
subscriptions, events held), NiceGUI's clients (pages held in memory, connected or waiting to be deleted), the
process (resident memory, CPU seconds, threads, open files) and, when ``SCRIBE_LOOP_MONITOR=1``, how long each
event-loop callback held the loop (``services/loop_monitor.py``). Every figure is read at request time from
what the services already hold; nothing is counted on a hot path for this page.

Only with ``SCRIBE_DEBUG_MEMORY=1``: ``GET /debug/memory`` runs a full garbage collection and returns, as JSON,
the resident memory before and after it (and after ``malloc_trim`` with ``?trim=1``), the number of live objects
of the types that belong to one stream or one page (``StreamSession``, ``AssistantCard``, ``StreamView``,
NiceGUI ``Client``, bus subscriptions and topics…), and, when the process runs with ``PYTHONTRACEMALLOC`` set, the
top allocation sites by size (``?top=N``; ``?baseline=1`` stores a snapshot and later calls report the growth
since it). Benchmarks use it to check that nothing outlives its stream and its viewers; it is never on by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import inspect
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from nicegui import Client, app

from services import loop_monitor
from services.allocator import current_allocator
from services.app_services import AppServices, current

CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
DEBUG_ENV = 'SCRIBE_DEBUG_MEMORY'
_PAGE_SIZE = os.sysconf('SC_PAGE_SIZE') if hasattr(os, 'sysconf') else 4096
_STARTED = time.time()


def _number(value: float) -> str:
    if value == float('inf'):
        return '+Inf'
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class _Writer:
    """The figures as Prometheus text (``lines``) and as numbers by sample name (``values``, for /stats)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.values: dict[str, float] = {}

    def metric(self, name: str, kind: str, help_text: str, value: float, labels: str = '') -> None:
        self.lines.append(f'# HELP {name} {help_text}')
        self.lines.append(f'# TYPE {name} {kind}')
        self.sample(name + labels, value)

    def sample(self, name: str, value: float) -> None:
        self.lines.append(f'{name} {_number(value)}')
        self.values[name] = float(value)

    def text(self) -> str:
        return '\n'.join(self.lines) + '\n'


def resident_memory_bytes() -> int:
    """The process's resident set size now (not its peak), from /proc; 0 where /proc is missing."""
    try:
        with open('/proc/self/statm', 'rb') as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


def _virtual_memory_bytes() -> int:
    try:
        with open('/proc/self/statm', 'rb') as f:
            return int(f.read().split()[0]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


def _open_fds() -> int:
    try:
        return len(os.listdir('/proc/self/fd'))
    except OSError:
        return 0


def _counts(services: AppServices) -> dict[str, int] | None:
    """Streams started and ended by status, if the stream manager counts them (``counts()``)."""
    counts = getattr(services.manager, 'counts', None)
    if not callable(counts):
        return None
    try:
        return {str(k): int(v) for k, v in counts().items()}
    except Exception:
        return None


def _bus_figure(services: AppServices, method: str) -> int | None:
    reader: Callable[[], int] | None = getattr(services.bus, method, None)
    return reader() if callable(reader) else None


def render_metrics() -> str:
    return _collect().text()


def figures() -> dict[str, float]:
    """Every figure of ``/metrics`` by its sample name (with labels, as in the text), read now."""
    return _collect().values


def _collect() -> _Writer:
    out = _Writer()
    with contextlib.suppress(RuntimeError):  # services not installed (e.g. an import without app.py)
        services = current()
        out.metric('scribe_streams_active', 'gauge', 'Answers being generated now (running or queued).',
                   len(services.manager.active_ids()))
        counts = _counts(services)
        if counts is not None:
            for status in ('started', 'completed', 'interrupted', 'error'):
                out.metric(f'scribe_streams_{status}_total', 'counter',
                           f'Answers {status} since the process started.', counts.get(status, 0))
        for name, method, help_text in (
                ('scribe_bus_topics', 'topic_count', 'Event-bus topics held (one per live or unread stream).'),
                ('scribe_bus_subscriptions', 'subscription_count', 'Open event-bus subscriptions (one per viewer).'),
                ('scribe_bus_events', 'event_count', 'Events held by the event bus over all topics.')):
            value = _bus_figure(services, method)
            if value is not None:
                out.metric(name, 'gauge', help_text, value)
        governor = services.manager.governor
        out.metric('scribe_flush_stretch', 'gauge', 'Factor the flush interval is stretched by while the event '
                   'loop is overloaded (1 = the preferred interval).', round(governor.stretch, 3))
        out.metric('scribe_loop_utilisation', 'gauge', 'Share of wall time the event loop thread spent on '
                   'the CPU, smoothed.', round(governor.utilisation, 3))
    clients = list(Client.instances.values())
    out.metric('scribe_clients', 'gauge', 'NiceGUI clients (pages) held in memory.', len(clients))
    out.metric('scribe_clients_connected', 'gauge', 'NiceGUI clients with a connected websocket.',
               sum(1 for c in clients if c.has_socket_connection))
    out.metric('scribe_client_elements', 'gauge', 'UI elements held by all NiceGUI clients.',
               sum(len(c.elements) for c in clients))
    out.metric('scribe_python_allocator', 'gauge', 'The allocator Python objects come from (PYTHONMALLOC; '
               'services/allocator.py).', 1, f'{{name="{current_allocator()}"}}')
    out.metric('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', resident_memory_bytes())
    out.metric('process_virtual_memory_bytes', 'gauge', 'Virtual memory size in bytes.', _virtual_memory_bytes())
    times = os.times()
    out.metric('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.',
               round(times.user + times.system, 3))
    out.metric('process_start_time_seconds', 'gauge', 'Start time of the process since the epoch in seconds.',
               round(_STARTED, 3))
    out.metric('process_open_fds', 'gauge', 'Number of open file descriptors.', _open_fds())
    out.metric('process_threads', 'gauge', 'Threads of the process.', threading.active_count())
    out.metric('python_allocated_blocks', 'gauge', 'Memory blocks allocated by the Python allocator '
               '(sys.getallocatedblocks).', sys.getallocatedblocks())
    monitor = loop_monitor.current()
    if monitor is not None:
        stats = monitor.snapshot()
        name = 'scribe_event_loop_block_seconds'
        out.lines.append(f'# HELP {name} How long each event-loop callback held the loop '
                         f'(method: {stats.method}; see services/loop_monitor.py).')
        out.lines.append(f'# TYPE {name} histogram')
        for bound, count in stats.buckets:
            out.sample(f'{name}_bucket{{le="{_number(bound)}"}}', count)
        out.sample(f'{name}_sum', round(stats.total, 6))
        out.sample(f'{name}_count', stats.count)
        out.metric(f'{name}_max', 'gauge', 'The longest single event-loop callback since the process started.',
                   round(stats.max, 6))
        out.lines.append('# HELP scribe_event_loop_slowest_seconds The slowest callbacks since the start, by name.')
        out.lines.append('# TYPE scribe_event_loop_slowest_seconds gauge')
        for rank, (seconds, callback) in enumerate(stats.slowest, 1):
            label = callback.replace('\\', '\\\\').replace('"', '\\"').replace('\n', ' ')[:200]
            out.sample(f'scribe_event_loop_slowest_seconds{{rank="{rank}",callback="{label}"}}', round(seconds, 6))
    return out


@app.get('/metrics', include_in_schema=False)
async def metrics() -> Response:
    # async: runs on the event loop, where the figures it reads are changed, never on a worker thread
    return Response(render_metrics(), media_type=CONTENT_TYPE, headers={'Cache-Control': 'no-store'})


async def _start_loop_monitor() -> None:
    loop_monitor.start(asyncio.get_running_loop())


if loop_monitor.enabled():
    app.on_startup(_start_loop_monitor)


# --- /debug/memory (SCRIBE_DEBUG_MEMORY=1 only) ------------------------------------------------------------------

# Types that belong to one stream or one page: none should outlive its stream and its viewers.
TRACKED_TYPES = (
    'StreamSession', 'MessageRenderer', '_InProcessSubscription', '_Topic', 'BusEvent', 'Attachment',
    'AssistantCard', 'UserCard', 'StreamView', 'Workspace', 'Client', 'Outbox', 'ObservableDict', 'Task',
)
_baseline: Any = None


def _malloc_trim() -> bool:
    try:
        return bool(ctypes.CDLL('libc.so.6').malloc_trim(0))
    except (OSError, AttributeError):
        return False


def _describe_object(o: Any) -> str:
    kind = type(o).__name__
    if isinstance(o, dict):
        keys = list(o)[:6]
        return f'dict({len(o)} keys: {", ".join(map(repr, keys))[:160]})'
    if isinstance(o, list | tuple | set):
        return f'{kind}(len {len(o)})'
    if inspect.isframe(o):
        return f'frame {o.f_code.co_qualname} ({o.f_code.co_filename.rsplit("/", 1)[-1]}:{o.f_lineno})'
    if inspect.iscoroutine(o):
        return f'coroutine {o.__qualname__}'
    if inspect.isfunction(o) or inspect.ismethod(o):
        return f'{kind} {o.__qualname__}'
    if type(o).__name__ == 'cell':
        return 'cell'
    return f'{type(o).__module__}.{type(o).__qualname__}'


def referrer_chains(type_name: str, *, depth: int = 4, width: int = 4) -> list[Any]:
    """What keeps the first live object of ``type_name`` alive: referrers, ``depth`` levels up."""
    gc.collect()
    target = next((o for o in gc.get_objects() if type(o).__name__ == type_name), None)
    if target is None:
        return []
    ignore = {id(sys._getframe())}  # and every list the search itself makes, which refers to what it found

    def up(o: Any, level: int, seen: set[int]) -> list[Any]:
        if level >= depth:
            return []
        out: list[Any] = []
        found = gc.get_referrers(o)
        ignore.update((id(out), id(found)))
        referrers = [r for r in found if id(r) not in ignore and id(r) not in seen
                     and not (inspect.isframe(r) and r.f_code.co_name == 'up')]
        ignore.add(id(referrers))
        for r in referrers[:width]:
            seen.add(id(r))
            out.append({'object': _describe_object(r), 'referrers': up(r, level + 1, seen)})
        return out
    return [{'object': _describe_object(target), 'referrers': up(target, 0, {id(target)})}]


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks', 'fordblks', 'keepcost')]


def malloc_info() -> dict[str, int] | None:
    """glibc's own figures (all arenas): ``arena`` bytes taken from the system by brk/arenas, ``hblkhd`` by mmap,
    ``uordblks`` in use, ``fordblks`` free but kept (fragmentation)."""
    try:
        libc = ctypes.CDLL('libc.so.6')
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return None
    return {name: int(getattr(info, name)) for name in ('arena', 'hblkhd', 'uordblks', 'fordblks', 'keepcost')}


def resident_by_mapping() -> dict[str, int] | None:
    """Resident bytes by where they lie (``/proc/self/smaps``): ``heap`` is glibc's main heap (the event loop's
    thread), ``anonymous`` every other private mapping (other threads' heaps, their stacks, large blocks), ``files``
    the mapped libraries. Tells fragmentation of the main heap apart from memory kept by other threads."""
    out = {'heap': 0, 'anonymous': 0, 'files': 0}
    kind = 'anonymous'
    try:
        with open('/proc/self/smaps', encoding='utf-8', errors='replace') as smaps:
            for line in smaps:
                first, _, rest = line.partition(' ')
                if first.endswith(':'):
                    if first == 'Rss:':
                        out[kind] += int(rest.split()[0]) * 1024
                    continue
                fields = rest.split()
                path = fields[4] if len(fields) > 4 else ''
                kind = 'heap' if path == '[heap]' else 'files' if path.startswith('/') else 'anonymous'
    except OSError:
        return None
    return out


def pymalloc_stats() -> dict[str, int]:
    """Python's small-object allocator (``sys._debugmallocstats``, which writes to fd 2): arenas (1 MiB each in
    3.11) held now and at most, bytes in live blocks, and free space kept inside those arenas (fragmentation)."""
    import re
    import tempfile
    wanted = {'# arenas allocated current': 'arenas', '# arenas highwater mark': 'arenas_highwater',
              '# bytes in allocated blocks': 'allocated_bytes', '# bytes in available blocks': 'available_bytes'}
    with tempfile.TemporaryFile(mode='w+b') as capture:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(capture.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode('utf-8', 'replace')
    out: dict[str, int] = {}
    for line in text.splitlines():
        label, _, value = line.partition('=')
        if label.strip() in wanted:
            out[wanted[label.strip()]] = int(value.strip().replace(',', ''))
        elif 'unused pools' in label:
            out['unused_pool_bytes'] = int(value.strip().replace(',', ''))
        elif re.match(r'\d+ arenas \*', label.strip()):
            out['arena_bytes'] = int(value.strip().replace(',', ''))
    return out


#: Where glibc's main heap ended at the first report (or the last with ``baseline``).
_heap_end: int | None = None


def _main_heap() -> tuple[int, int] | None:
    try:
        with open('/proc/self/maps', encoding='ascii', errors='replace') as maps:
            for line in maps:
                if line.rstrip().endswith('[heap]'):
                    start, end = line.split()[0].split('-')
                    return int(start, 16), int(end, 16)
    except OSError:
        pass
    return None


def heap_pins(objects: list[Any], *, baseline: bool = False, top: int = 15) -> dict[str, Any] | None:
    """The live objects (those the collector tracks: not strings or numbers) in the part of glibc's main heap that
    grew since the first report, and how many 4 KiB pages they are on. Freed memory stays resident where a page
    still holds a live object, so these are what keeps a busy moment's memory after it (CPython's objects are at
    their ``id``). ``objects``: ``gc.get_objects()``, which the caller has already made."""
    global _heap_end
    heap = _main_heap()
    if heap is None:
        return None
    if baseline or _heap_end is None:
        _heap_end = heap[1]
        return {'heap_end': _heap_end, 'baseline': 'stored'}
    start, end = _heap_end, heap[1]
    count = 0
    pages: dict[int, set[str]] = {}
    for obj in objects:
        address = id(obj)
        if start <= address < end:
            count += 1
            pages.setdefault(address >> 12, set()).add(f'{type(obj).__module__}.{type(obj).__qualname__}')
    on_pages: Counter[str] = Counter(name for names in pages.values() for name in names)
    return {'grown_bytes': max(0, end - start), 'objects': count, 'pages': len(pages),
            'pages_by_type': dict(on_pages.most_common(top))}


def memory_report(*, top: int = 25, baseline: bool = False, trim: bool = False) -> dict[str, Any]:
    global _baseline
    rss_before = resident_memory_bytes()
    collected = gc.collect()
    report: dict[str, Any] = {'rss_before_gc': rss_before, 'gc_collected': collected,
                              'rss_after_gc': resident_memory_bytes(),
                              'allocated_blocks': sys.getallocatedblocks()}
    report['malloc'] = malloc_info()
    report['resident'] = resident_by_mapping()
    report['pymalloc'] = pymalloc_stats()
    report['threads'] = dict(Counter(t.name.rstrip('0123456789').rstrip('-_') for t in threading.enumerate()))
    if trim:
        report['malloc_trim'] = _malloc_trim()
        report['rss_after_trim'] = resident_memory_bytes()
    objects = gc.get_objects()
    report['gc_objects'] = len(objects)
    every = Counter(f'{type(o).__module__}.{type(o).__qualname__}' for o in objects)
    counts = Counter({name.rsplit('.', 1)[-1]: 0 for name in every})
    for name, n in every.items():
        counts[name.rsplit('.', 1)[-1]] += n
    report['objects'] = {name: counts.get(name, 0) for name in TRACKED_TYPES}
    report['types'] = dict(every.most_common(top * 4))  # the most numerous types: compare two reports for growth
    report['heap_pins'] = heap_pins(objects, baseline=baseline)
    del objects
    report['clients'] = len(Client.instances)
    with contextlib.suppress(RuntimeError):
        services = current()
        report['streams_active'] = len(services.manager.active_ids())
        report['bus_topics'] = _bus_figure(services, 'topic_count')
        report['bus_subscriptions'] = _bus_figure(services, 'subscription_count')
    tab_storage = getattr(app.storage, '_tabs', None)
    if isinstance(tab_storage, dict):
        report['nicegui_tab_storages'] = len(tab_storage)
    import tracemalloc
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot().filter_traces((
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, '<frozen importlib._bootstrap>'),
        ))
        current_size, peak = tracemalloc.get_traced_memory()
        report['tracemalloc'] = {'traced': current_size, 'peak': peak}
        if baseline or _baseline is None:
            _baseline = snapshot
            report['tracemalloc']['baseline'] = 'stored'
        stats = snapshot.compare_to(_baseline, 'traceback' if tracemalloc.get_traceback_limit() > 1 else 'lineno')
        report['tracemalloc']['growth'] = [{
            'size_diff': s.size_diff, 'count_diff': s.count_diff, 'size': s.size,
            'traceback': [f'{frame.filename}:{frame.lineno}' for frame in s.traceback[-6:]],
        } for s in stats[:top]]
    return report


if os.environ.get(DEBUG_ENV, '').strip().lower() in ('1', 'true', 'yes', 'on'):
    @app.get('/debug/memory', include_in_schema=False)
    async def debug_memory(request: Request) -> JSONResponse:
        query = request.query_params
        if 'referrers' in query:
            return JSONResponse(referrer_chains(query['referrers'], depth=int(query.get('depth', '4'))))
        return JSONResponse(memory_report(top=int(query.get('top', '25')), baseline=query.get('baseline') == '1',
                                          trim=query.get('trim') == '1'))
