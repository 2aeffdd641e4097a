"""Memory: does a Scribe process give back what its streams and their viewers used?

``python -m bench.memory_bench`` (``--streams 1000``; ``--help``) runs two app processes (``app.py``, demo
provider replaying ``bench/answer.py``'s answer, per-user limits raised, ``SCRIBE_DEBUG_MEMORY=1`` for
``/debug/memory``, which runs a full garbage collection and counts live objects by type):

1. **Growth.** Unpaced answers (``--demo-speed inf``) of ``--chars`` characters, each sent from and watched by an
   emulated browser (``bench/sio_client.py``) that closes its tab when the answer is complete; ``--concurrency``
   browsers at a time, on a pool of ``--pool`` projects made before the app starts (one user's projects; each
   page lists them all and shows up to 20 messages), each already holding ``--history`` messages so that its
   pages are as large at the first reading as at the last: the growth is then what the answers leave behind, not
   pages filling up with history (``--history 0 --concurrency 25`` gives the earlier, harsher set-up, where the
   first reading also comes before the most pages were open at once). After 10 streams, and again after
   ``--streams``, the bench waits until NiceGUI has deleted every closed page (its reconnect timeout) and reads the
   resident memory (VmRSS, after a full collection). Target: growth ≤ 20 MB. RSS is also sampled every 10 % of
   the way (without waiting, no collection) to show whether it levels off (caches filling) or keeps climbing (a
   leak).
2. **Nothing outlives its stream and its viewers.** After the settle, ``/metrics`` must show no active stream, no
   bus topic, no subscription, NiceGUI clients back to the count before the first page, and ``/debug/memory`` no
   live ``StreamSession``, ``MessageRenderer``, subscription, topic, card or ``StreamView``.
3. **Memory per active stream.** A second process streams at ``--active-speed`` characters per second: after a
   warm-up (a few answers stopped early), ``--active`` pages are opened (RSS per open page), then each sends a
   prompt; half-way through the answers RSS is read again (RSS per active stream, beyond its page), with
   ``/metrics`` confirming that ``--active`` streams and subscriptions are live.

With ``--tracemalloc N`` the first process runs with ``PYTHONTRACEMALLOC=N`` and the report lists the allocation
sites that grew between the two readings (slow: for finding a leak, not for the figures).
Printed, and written to ``bench/results/memory.json``; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import tempfile
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

from bench.answer import make_answer
from bench.load_bench import AppServer, _runner, create_projects
from bench.sio_client import Reference, ScribeBrowser, analyze, build_reference, http_session, shared_connector

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'bench' / 'results' / 'memory.json'
GROWTH_TARGET_MB = 20.0
MB = 2**20
PER_STREAM_TYPES = ('StreamSession', 'MessageRenderer', '_InProcessSubscription', '_Topic', 'Attachment',
                    'AssistantCard', 'UserCard', 'StreamView', 'Workspace')


def _mb(value: float | None) -> str:
    return '—' if value is None else f'{value / MB:,.1f} MB'


async def _debug(server: AppServer, query: str = '') -> dict[str, Any]:
    text = await asyncio.to_thread(server.get, f'/debug/memory{query}', 900)  # slow with tracemalloc
    return dict(json.loads(text))


async def _settle(server: AppServer, baseline_clients: float, *, timeout: float = 60.0) -> dict[str, float]:
    """Wait until NiceGUI has deleted every closed page (3 s reconnect timeout) and no stream runs."""
    deadline = time.monotonic() + timeout
    metrics: dict[str, float] = {}
    while time.monotonic() < deadline:
        metrics = await asyncio.to_thread(server.metrics)
        if (metrics.get('scribe_clients', 0) <= baseline_clients and metrics.get('scribe_streams_active', 0) == 0
                and metrics.get('scribe_bus_topics', 0) == 0):
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)
    return await asyncio.to_thread(server.metrics)


class Streams:
    """Sends answers through emulated browsers, ``concurrency`` at a time, and keeps count."""

    def __init__(self, server: AppServer, reference: Reference, projects: list[str], concurrency: int) -> None:
        self.server = server
        self.reference = reference
        self.projects = projects
        self.concurrency = concurrency
        self.done = 0
        self.exact = 0
        self.failures: list[str] = []
        self.page_retries = 0
        self.connector: Any = None

    async def one(self, index: int, project: str) -> None:
        async with http_session(self.connector) as http:
            browser = ScribeBrowser(self.server.url, http, name=f'stream-{index}')
            try:
                await browser.open(f'/projects/{project}', timeout=60, retries=3)
                self.page_retries += browser.page_retries
                before = max(browser.answers(), default=0)
                t_click = await browser.send(f'Write the job scheduler ({index}).')
                message, status = await browser.wait_for_answer(after=before, timeout=120, quiet=0.1)
                view = browser.view_of(message) if message is not None else None
                result = analyze(browser.updates.get(view, []), self.reference, t_click) if view else None
                if status == 'completed' and result is not None and result.final_exact and result.code_exact \
                        and not result.unmatched:
                    self.exact += 1
                elif result is None:
                    self.failures.append(f'stream {index}: status {status}, no answer shown')
                else:
                    self.failures.append(f'stream {index}: status {status}, final display exact {result.final_exact}, '
                                         f'code exact {result.code_exact}, {result.unmatched} displays matched no '
                                         f'prefix, {len(browser.updates.get(view or -1, []))} updates, shown '
                                         f'{result.final_length} characters')
                self.failures += [f'stream {index}: {e}' for e in browser.errors]
            except Exception as exc:
                self.failures.append(f'stream {index}: {type(exc).__name__}: {exc}')
            finally:
                await browser.close()
                self.done += 1

    async def run(self, count: int, on_progress: Any = None) -> None:
        """``count`` more streams, ``concurrency`` workers each running them one after the other."""
        start, end = self.done, self.done + count
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(start, end):
            queue.put_nowait(index)

        async def worker(project: str) -> None:
            while True:
                try:
                    index = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await self.one(index, project)
                if on_progress is not None:
                    await on_progress(self.done)
        # one project per worker: no two answers stream into the same project at once, so each browser follows
        # its own answer (a page shows every new message of its project, whoever sent it)
        await asyncio.gather(*(worker(self.projects[w % len(self.projects)])
                               for w in range(min(self.concurrency, count))))


async def fill_history(data_dir: Path, projects: list[str], messages: int, answer: str) -> None:
    """``messages`` completed messages (question and answer in turn) in each project, written before the app
    starts."""
    from services.storage import Storage
    storage = Storage(f'sqlite:///{data_dir / "scribe.db"}')
    await storage.start()
    try:
        for project in projects:
            for i in range(messages // 2):
                question = await storage.add_message(project, 'user', f'Earlier question {i}')
                await storage.add_message(project, 'assistant', answer, reply_to=question.id)
    finally:
        await storage.close()


async def growth_phase(server: AppServer, reference: Reference, projects: list[str], *, streams: int,
                       concurrency: int, tracemalloc: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    baseline = await asyncio.to_thread(server.metrics)
    baseline_clients = baseline.get('scribe_clients', 0)
    out['baseline_metrics'] = _pick(baseline)
    run = Streams(server, reference, projects, concurrency)
    run.connector = shared_connector()
    trend: list[dict[str, Any]] = []
    step = max(1, streams // 10)
    next_mark = [step]

    async def progress(done: int) -> None:
        if done >= next_mark[0]:
            next_mark[0] += step
            trend.append({'streams': done, 'rss': server.rss()})
    try:
        first = min(10, streams)
        t0 = time.monotonic()
        await run.run(first)
        metrics = await _settle(server, baseline_clients)
        report = await _debug(server)
        out['after_10'] = _reading(server, run, report, metrics)
        trend.append({'streams': run.done, 'rss': report['rss_after_gc'], 'settled': True})
        middle = min(100, streams)
        if middle > run.done:
            # the same concurrency as the rest from here on: the working set of that many pages is reached
            await run.run(middle - run.done, progress)
            metrics = await _settle(server, baseline_clients)
            report = await _debug(server, '?baseline=1' if tracemalloc else '')
            out['after_100'] = _reading(server, run, report, metrics)
            trend.append({'streams': run.done, 'rss': report['rss_after_gc'], 'settled': True})
        await run.run(streams - run.done, progress)
        out['streams_wall_s'] = round(time.monotonic() - t0, 1)
        metrics = await _settle(server, baseline_clients)
        report = await _debug(server, '?top=25')
        trimmed = await _debug(server, '?trim=1')
        out['after_all'] = {**_reading(server, run, report, metrics),
                            'rss_after_trim': trimmed.get('rss_after_trim'), 'objects': report['objects'],
                            'threads': report.get('threads'),
                            'nicegui_tab_storages': report.get('nicegui_tab_storages')}
        trend.append({'streams': run.done, 'rss': report['rss_after_gc'], 'settled': True})
        if 'tracemalloc' in report:
            out['tracemalloc'] = report['tracemalloc']
    finally:
        await run.connector.close()
    out['trend'] = trend
    out['exact'] = run.exact
    out['done'] = run.done
    out['failures'] = run.failures[:50]
    out['failure_count'] = len(run.failures)
    out['page_retries'] = run.page_retries
    out['baseline_clients'] = baseline_clients
    return out


async def active_phase(server: AppServer, projects: list[str], *, active: int, speed: float,
                       chars: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    baseline_clients = (await asyncio.to_thread(server.metrics)).get('scribe_clients', 0)
    connector = shared_connector()
    sessions = [http_session(connector) for _ in range(active + 3)]
    try:
        # Warm-up: three answers, stopped after a second (pages, renderer, highlighter, database all used once).
        warm = [ScribeBrowser(server.url, sessions[active + i], name=f'warm-{i}') for i in range(3)]
        for i, browser in enumerate(warm):
            await browser.open(f'/projects/{projects[active + i]}')
            await browser.send('Write the job scheduler (warm-up).')
        await asyncio.sleep(1.5)
        for browser in warm:
            with contextlib.suppress(Exception):
                await browser.click('stop-button')
        await asyncio.sleep(1.0)
        for browser in warm:
            await browser.close()
        await _settle(server, baseline_clients)
        base = await _debug(server)
        out['base'] = {'rss_after_gc': base['rss_after_gc'], 'rss': server.rss()}

        browsers = [ScribeBrowser(server.url, sessions[i], name=f'active-{i}') for i in range(active)]
        gate = asyncio.Semaphore(20)

        async def open_page(i: int) -> None:
            async with gate:
                await browsers[i].open(f'/projects/{projects[i]}', retries=3)
        await asyncio.gather(*(open_page(i) for i in range(active)))
        await asyncio.sleep(2.0)
        pages = await _debug(server)
        pages_metrics = await asyncio.to_thread(server.metrics)
        out['pages'] = {'rss_after_gc': pages['rss_after_gc'], 'metrics': _pick(pages_metrics)}

        await asyncio.gather(*(b.send(f'Write the job scheduler (active {i}).') for i, b in enumerate(browsers)))
        half = chars / speed / 2
        await asyncio.sleep(half)
        streaming = await _debug(server)
        streaming_metrics = await asyncio.to_thread(server.metrics)
        lengths = []
        for browser in browsers:
            answers = browser.answers()
            view = browser.view_of(answers[-1]) if answers else None
            if view is not None:
                lengths.append(browser.views[view].length())
        out['streaming'] = {'rss_after_gc': streaming['rss_after_gc'], 'metrics': _pick(streaming_metrics),
                            'objects': streaming['objects'], 'seconds_in': round(half, 1),
                            'chars_shown_mean': round(sum(lengths) / len(lengths)) if lengths else 0,
                            'source_chars_expected': round(half * speed)}
        for browser in browsers:
            with contextlib.suppress(Exception):
                await browser.click('stop-button')
        await asyncio.sleep(1.0)
        await asyncio.gather(*(b.close() for b in browsers), return_exceptions=True)
    finally:
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
        await connector.close()
    out['per_page'] = (out['pages']['rss_after_gc'] - out['base']['rss_after_gc']) / active
    out['per_active_stream'] = (out['streaming']['rss_after_gc'] - out['pages']['rss_after_gc']) / active
    return out


def _reading(server: AppServer, run: Streams, report: dict[str, Any], metrics: dict[str, float]) -> dict[str, Any]:
    return {'streams': run.done, 'rss': server.rss(), 'rss_after_gc': report['rss_after_gc'],
            'allocated_blocks': report['allocated_blocks'], 'gc_objects': report['gc_objects'],
            'metrics': _pick(metrics), 'pymalloc': report.get('pymalloc'), 'malloc': report.get('malloc'),
            'resident': report.get('resident'), 'heap_pins': report.get('heap_pins'),
            'types': report.get('types', {}), 'nicegui_tab_storages': report.get('nicegui_tab_storages')}


def _type_growth(before: dict[str, int], after: dict[str, int], top: int = 12) -> list[tuple[str, int]]:
    names = set(before) | set(after)
    growth = [(name, after.get(name, 0) - before.get(name, 0)) for name in names]
    return sorted((g for g in growth if g[1] > 0), key=lambda g: -g[1])[:top]


def _pick(metrics: dict[str, float]) -> dict[str, float]:
    keys = ('scribe_streams_active', 'scribe_bus_topics', 'scribe_bus_subscriptions', 'scribe_bus_events',
            'scribe_clients', 'scribe_clients_connected', 'scribe_client_elements', 'process_resident_memory_bytes',
            'python_allocated_blocks', 'scribe_streams_started_total', 'scribe_streams_completed_total')
    return {k: v for k, v in metrics.items() if k in keys or k.startswith('scribe_python_allocator')}


def _allocator(reading: dict[str, Any]) -> str:
    """The allocator the app's Python objects came from, as /metrics names it (services/allocator.py)."""
    for key in reading.get('metrics', {}):
        if key.startswith('scribe_python_allocator{'):
            return key.split('"')[1]
    return 'not reported'


def print_report(s: dict[str, Any]) -> None:
    g, a, c = s['growth'], s.get('active'), s['config']
    print()
    print(f'Scribe memory: {g["done"]:,} answers of {c["chars"]:,} characters (unpaced), {c["concurrency"]} browsers '
          f'at a time on {c["pool"]} projects; then {c["active"]} answers at {c["active_speed"]:g} chars/s')
    print(f'Python objects allocated by: {_allocator(g["after_10"])}')
    print()
    readings = [('10 streams', g['after_10'])]
    if g.get('after_100'):
        readings.append(('100 streams', g['after_100']))
    readings.append((f'{g["done"]:,} streams', g['after_all']))
    print('| after (settled, full gc) | RSS | RSS after gc | Python blocks | gc objects | NiceGUI tab storages |')
    print('|---|---|---|---|---|---|')
    for label, row in readings:
        print(f'| {label} | {_mb(row["rss"])} | {_mb(row["rss_after_gc"])} | {row["allocated_blocks"]:,} | '
              f'{row["gc_objects"]:,} | {_number(row.get("nicegui_tab_storages"))} |')
    for (label_a, row_a), (label_b, row_b) in pairwise(readings):
        streams = row_b['streams'] - row_a['streams']
        growth = row_b['rss_after_gc'] - row_a['rss_after_gc']
        print(f'| growth {label_a} → {label_b} | | {_mb(growth)} ({growth / streams / 1024:,.0f} KiB per stream) | '
              f'{row_b["allocated_blocks"] - row_a["allocated_blocks"]:+,} | '
              f'{row_b["gc_objects"] - row_a["gc_objects"]:+,} | |')
    if len(readings) == 3:
        growth = readings[2][1]['rss_after_gc'] - readings[0][1]['rss_after_gc']
        print(f'| growth 10 → {g["done"]:,} (the target\'s measure) | | {_mb(growth)} | | | |')
    if g['after_all'].get('rss_after_trim'):
        print(f'\nafter malloc_trim(0): {_mb(g["after_all"]["rss_after_trim"])}')
    a10, a_all = g['after_10'], g['after_all']
    if a10.get('pymalloc') and a_all.get('pymalloc') and a10.get('malloc') and a_all.get('malloc'):
        print('\nwhere the memory is (after gc): Python\'s small-object arenas (1 MiB each; live = bytes in live '
              'objects), glibc malloc (larger objects, C libraries; free = kept but unused)')
        print('| after | pymalloc arenas | pymalloc live | malloc in use | malloc free | malloc mmap |')
        print('|---|---|---|---|---|---|')
        for label, row in readings:
            py, mc = row['pymalloc'], row['malloc']
            print(f'| {label} | {_mb(py.get("arena_bytes"))} | {_mb(py.get("allocated_bytes"))} | '
                  f'{_mb(mc.get("uordblks"))} | {_mb(mc.get("fordblks"))} | {_mb(mc.get("hblkhd"))} |')
    elif a10.get('malloc') and a_all.get('malloc'):
        print('\nwhere the memory is (after gc): glibc malloc holds every Python object (PYTHONMALLOC=malloc); '
              'free = kept but unused, resident only where a page also holds something in use (malloc_trim '
              'returns the rest)')
        print('| after | malloc heap | malloc in use | malloc free | malloc mmap | resident: main heap | '
              'resident: other anonymous |')
        print('|---|---|---|---|---|---|---|')
        for label, row in readings:
            mc = row['malloc']
            rs = row.get('resident') or {}
            print(f'| {label} | {_mb(mc.get("arena"))} | {_mb(mc.get("uordblks"))} | {_mb(mc.get("fordblks"))} | '
                  f'{_mb(mc.get("hblkhd"))} | {_mb(rs.get("heap"))} | {_mb(rs.get("anonymous"))} |')
    pins = g['after_all'].get('heap_pins') or {}
    if pins.get('pages') is not None:
        print(f'\nin the {_mb(pins["grown_bytes"])} the main heap grew since 10 streams, {pins["objects"]:,} live '
              f'objects (those the collector tracks) keep {pins["pages"]:,} pages of 4 KiB resident; pages by type: '
              + ', '.join(f'{name} {n:,}' for name, n in pins['pages_by_type'].items()))
    base = g.get('after_100') or g['after_10']
    grown = _type_growth(base.get('types', {}), g['after_all'].get('types', {}))
    if grown:
        print(f'\nobject types that grew from {base["streams"]:,} to {g["done"]:,} streams (live objects):')
        print('  ' + ', '.join(f'{name} {n:+,}' for name, n in grown))
    print('\nRSS as the streams ran (no wait, no collection; * = settled, after gc):')
    print('  ' + ', '.join(f'{p["streams"]:,}: {p["rss"] / MB:.1f}{"*" if p.get("settled") else ""}'
                           for p in g['trend']))
    m = g['after_all']['metrics']
    objects = g['after_all']['objects']
    print('\nafter the settle (every page closed, NiceGUI\'s reconnect timeout passed):')
    print('| check | value | expected |')
    print('|---|---|---|')
    for label, value, expected in (
            ('scribe_streams_active', m.get('scribe_streams_active'), 0),
            ('scribe_bus_topics', m.get('scribe_bus_topics'), 0),
            ('scribe_bus_subscriptions', m.get('scribe_bus_subscriptions'), 0),
            ('scribe_clients', m.get('scribe_clients'), g['baseline_clients']),
            *((f'live {name}', objects.get(name), 0) for name in PER_STREAM_TYPES)):
        ok = value is not None and value == expected
        print(f'| {label} | {_number(value)} | {_number(expected)} {"✓" if ok else "✗"} |')
    if g['after_all'].get('nicegui_tab_storages') is not None:
        print(f'| NiceGUI tab storages (kept 30 days by NiceGUI) | {g["after_all"]["nicegui_tab_storages"]:,} | '
              f'one per browser tab ever opened |')
    print(f'\nexact answers: {g["exact"]:,}/{g["done"]:,}; failures: {g["failure_count"]}; pages reloaded after '
          f'HTTP 500 (not built within NiceGUI\'s 3 s): {g.get("page_retries", 0)}')
    for line in g['failures'][:5]:
        print(f'  {line}')
    if a:
        print(f'\nper open page (connected, idle): {_mb(a["per_page"])}; per active stream (beyond its page), '
              f'{a["streaming"]["seconds_in"]} s in, ~{a["streaming"]["chars_shown_mean"]:,} characters shown: '
              f'{_mb(a["per_active_stream"])} (streams active: '
              f'{_number(a["streaming"]["metrics"].get("scribe_streams_active"))}, subscriptions: '
              f'{_number(a["streaming"]["metrics"].get("scribe_bus_subscriptions"))})')
    if g.get('tracemalloc'):
        print('\ntracemalloc, growth since the reading after 10 streams (top sites):')
        for stat in g['tracemalloc'].get('growth', [])[:15]:
            print(f'  {stat["size_diff"] / 1024:+9.1f} KiB {stat["count_diff"]:+7,} blocks  '
                  f'{" < ".join(reversed(stat["traceback"][-3:]))}')
    print(f'\ntarget: growth after {g["done"]:,} streams ≤ {GROWTH_TARGET_MB:g} MB (RSS after gc: {_mb(growth)}) and '
          f'nothing per stream left → {s["verdict"]}')


def _number(value: float | None) -> str:
    if value is None:
        return '—'
    return f'{value:,.0f}' if float(value).is_integer() else f'{value:,.2f}'


def _keep_log(server: AppServer, folder: Path | None, name: str) -> None:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f'{name}.log').write_text(server.tail(10**8))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog='python -m bench.memory_bench', description=__doc__.split('\n\n')[0])
    p.add_argument('--streams', type=int, default=1000, help='answers in the growth phase (1000)')
    p.add_argument('--concurrency', type=int, default=10, help='browsers at a time (10: the first reading, after 10 '
                   'answers, has then seen as many pages at once as every later one)')
    p.add_argument('--history', type=int, default=20, help='messages each pool project holds before the app starts '
                   '(20, what a page shows): pages are as large at the first reading as at the last, so the growth '
                   'is what the answers leave behind, not pages filling up (0: empty projects)')
    p.add_argument('--pool', type=int, default=None, help='projects the growth phase uses (default: one per '
                   'browser at a time, i.e. --concurrency)')
    p.add_argument('--chars', type=int, default=1500, help='answer length in the growth phase (1500)')
    p.add_argument('--active', type=int, default=50, help='concurrent streams for the per-stream figure (50)')
    p.add_argument('--active-speed', type=float, default=200.0, help='their pace, characters per second (200)')
    p.add_argument('--active-chars', type=int, default=4000, help='their length (4000)')
    p.add_argument('--skip-active', action='store_true', help='only the growth phase')
    p.add_argument('--tracemalloc', type=int, default=0, metavar='FRAMES',
                   help='run the growth phase with PYTHONTRACEMALLOC=FRAMES and list what grew')
    p.add_argument('--logs', type=Path, default=None, help='copy the apps\' logs into this folder')
    p.add_argument('--json', type=Path, default=RESULTS, help=f'results file ({RESULTS.relative_to(ROOT)})')
    args = p.parse_args(argv)

    args.pool = args.pool or args.concurrency
    config = {'streams': args.streams, 'concurrency': args.concurrency, 'pool': args.pool, 'chars': args.chars,
              'history': args.history,
              'active': args.active, 'active_speed': args.active_speed, 'active_chars': args.active_chars,
              'tracemalloc': args.tracemalloc,
              'machine': f'{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}',
              'when': time.strftime('%Y-%m-%d %H:%M:%S')}
    summary: dict[str, Any] = {'config': config}
    crashed = False
    with tempfile.TemporaryDirectory(prefix='scribe-memory-') as tmp:
        script, _ = make_answer(size=args.chars)
        script_file = Path(tmp) / 'short.md'
        script_file.write_text(script, encoding='utf-8')
        reference = build_reference(script, chunk=4, speed=math.inf)
        limits = ['--max-concurrent', str(max(args.concurrency, args.active) + 10),
                  '--requests-per-minute', '100000']
        env = {'SCRIBE_DEBUG_MEMORY': '1'}
        if args.tracemalloc:
            env['PYTHONTRACEMALLOC'] = str(args.tracemalloc)
        data = Path(tmp) / 'growth'
        projects = asyncio.run(create_projects(data, args.pool))
        if args.history:
            asyncio.run(fill_history(data, projects, args.history, script))
        print(f'growth phase: {args.streams:,} answers …', flush=True)
        server = AppServer(['--provider', 'demo', '--demo-script', str(script_file), '--demo-chunk', '4',
                            '--demo-speed', 'inf', *limits], data, env=env)
        try:
            with _runner() as runner:
                summary['growth'] = runner.run(growth_phase(server, reference, projects, streams=args.streams,
                                                            concurrency=args.concurrency,
                                                            tracemalloc=bool(args.tracemalloc)))
            crashed |= not server.alive()
        finally:
            server.stop()
            _keep_log(server, args.logs, 'growth')
        if not args.skip_active:
            long_script, _ = make_answer(size=args.active_chars)
            long_file = Path(tmp) / 'long.md'
            long_file.write_text(long_script, encoding='utf-8')
            data = Path(tmp) / 'active'
            projects = asyncio.run(create_projects(data, args.active + 3))
            print(f'active phase: {args.active} answers at {args.active_speed:g} chars/s …', flush=True)
            server = AppServer(['--provider', 'demo', '--demo-script', str(long_file), '--demo-chunk', '4',
                                '--demo-speed', f'{args.active_speed:g}', *limits], data,
                               env={'SCRIBE_DEBUG_MEMORY': '1'})
            try:
                with _runner() as runner:
                    summary['active'] = runner.run(active_phase(server, projects, active=args.active,
                                                                speed=args.active_speed, chars=len(long_script)))
                crashed |= not server.alive()
            finally:
                server.stop()
                _keep_log(server, args.logs, 'active')
    g = summary['growth']
    growth = g['after_all']['rss_after_gc'] - g['after_10']['rss_after_gc']
    m = g['after_all']['metrics']
    left = (m.get('scribe_streams_active', 0) or m.get('scribe_bus_topics', 0) or m.get('scribe_bus_subscriptions', 0)
            or m.get('scribe_clients', 0) > g['baseline_clients']
            or any(g['after_all']['objects'].get(name, 0) for name in PER_STREAM_TYPES))
    summary['growth_mb'] = round(growth / MB, 2)
    summary['left_behind'] = bool(left)
    summary['verdict'] = 'PASS' if growth <= GROWTH_TARGET_MB * MB and not left and not crashed else 'FAIL'
    print_report(summary)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2, default=str) + '\n')
    print(f'results: {args.json}')
    return 1 if crashed else 0


if __name__ == '__main__':
    raise SystemExit(main())
