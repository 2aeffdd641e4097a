"""Time to first character: from the Send click to the first visible character of the answer, in Chromium.

Scribe runs with the demo provider replaying a short answer (``--demo-script``) at ``--demo-speed inf``: a replayed
script has no "thinking" pause and an unpaced provider yields its first chunk the moment it is asked, so the
provider's own time to first token is 0 and everything measured is Scribe's (and the browser's). One page sends
a warm-up prompt (it creates the project and loads the answer element's JavaScript), then ``--prompts`` prompts
into the same project, each once the previous answer is complete.

In the page (``performance.now()``): the click on the Send button, in a capturing listener (before NiceGUI's own
handler); the moment the page's socket sends the click event and receives each message after it; the frame at
which the new answer's card appears and the frame at which its first character is visible (a MutationObserver
requests one animation frame after each DOM change; the callback runs just before that frame's paint).

On the server, the same moments are taken with the wall clock by thin wrappers put around Scribe's functions at
start (this file starts ``app.py`` through a small bootstrap; nothing in the app is changed): the socket event
handler, ``Workspace.send``, every storage call, ``StreamManager.start``, the card's creation, the stream task's
start, the first chunk fed, the first flush, the first operations handed to the page's element, and NiceGUI's
outbox emitting each message. Page times are put on the wall clock with pairs of ``(Date.now(),
performance.now())``. The wrappers cost a few microseconds per call; ``--no-trace`` measures without them.

Printed: the median, p95 and minimum of first character − click (target: ≤ 50 ms over the provider's own, which
is 0 here), and the median timeline of one prompt. Written to ``bench/results/ttfc.json``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stream_bench import ROOT, TRACE_CATEGORIES, Server, _percentile, free_port, launch_browser

RESULTS = ROOT / 'bench' / 'results' / 'ttfc.json'
TARGET_MS = 50.0
PROVIDER_TTFT_MS = 0.0  # the demo provider replaying a script at speed inf: its first chunk is yielded at once

ANSWER = ('Here is a small function that does what you asked, with a test.\n\n'
          '```python\ndef add(a: int, b: int) -> int:\n    return a + b\n\n\nassert add(2, 3) == 5\n```\n\n'
          'Run it with `python add.py`; nothing is printed when the test passes.\n')

# (module, attribute path, label, what to record about the call).
WRAPPED = (
    ('nicegui.client', 'Client.handle_event', 'server: socket event handled', None),
    ('pages.workspace', 'Workspace.send', 'Workspace.send', None),
    ('services.stream_manager', 'StreamManager.validate', 'manager.validate', None),
    ('services.stream_manager', 'StreamManager.start', 'manager.start', None),
    ('services.storage', 'Storage.get_project', 'storage.get_project', None),
    ('services.storage', 'Storage.list_messages', 'storage.list_messages', None),
    ('services.storage', 'Storage.add_message', 'storage.add_message', None),
    ('services.storage', 'Storage.create_project', 'storage.create_project', None),
    ('services.storage', 'Storage.rename_project', 'storage.rename_project', None),
    ('services.storage', 'Storage.list_projects', 'storage.list_projects', None),
    ('services.storage', 'Storage.checkpoint', 'storage.checkpoint', None),
    ('services.stream_manager', 'StreamSession.run', 'stream task', None),
    ('services.stream_manager', 'StreamSession.feed', 'session.feed', None),
    ('services.stream_manager', 'StreamSession.flush', 'session.flush', None),
    ('components.message_card', 'AssistantCard.__init__', 'AssistantCard built', None),
    ('components.stream_view', 'StreamView.apply', 'StreamView.apply', None),
    ('nicegui.outbox', 'Outbox._emit', 'outbox emit', 'message_type'),
)

TRACE_BOOT = r'''
import asyncio, functools, importlib, json, sys, time
sys.path.insert(0, sys.argv[1])
wrapped = json.loads(sys.argv[2])
from nicegui import app as _app
_events = []
def _wrap(module, path, label, detail):
    try:
        owner = importlib.import_module(module)
        parts = path.split(".")
        for part in parts[:-1]:
            owner = getattr(owner, part)
        fn = getattr(owner, parts[-1])
    except Exception as exc:
        _events.append((time.time(), "missing", label, repr(exc)))
        return
    def info(args):
        if detail == "message_type" and len(args) > 1:
            return str(args[1][1])
        return ""
    if asyncio.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def wrapper(*args, **kwargs):
            _events.append((time.time(), "start", label, info(args)))
            try:
                return await fn(*args, **kwargs)
            finally:
                _events.append((time.time(), "end", label, ""))
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            _events.append((time.time(), "start", label, info(args)))
            try:
                return fn(*args, **kwargs)
            finally:
                _events.append((time.time(), "end", label, ""))
    setattr(owner, parts[-1], wrapper)
for item in wrapped:
    _wrap(*item)
@_app.get("/bench-trace")
def _trace(since: float = 0.0):
    return [e for e in _events if e[0] >= since or e[1] == "missing"]
import app as _scribe
_scribe.main(sys.argv[3:])
'''

# The page side: one record per prompt (``begin`` opens it).
PAGE = """() => {
  const T = window.__ttfc = { rounds: [], cur: null, clock: [] };
  const now = () => performance.now();
  T.tick = () => T.clock.push([Date.now(), performance.now()]);
  T.begin = () => {
    T.cur = { n0: document.querySelectorAll('[data-testid=message][data-role=assistant]').length,
              click: null, emit: null, recv: [], card: null, first: null };
    T.rounds.push(T.cur);
    T.tick();
  };
  window.addEventListener('click', (e) => {
    const c = T.cur;
    if (c && c.click === null && e.target.closest('[data-testid=send-button]')) c.click = now();
  }, true);
  window.socket.onAnyOutgoing((event) => {
    const c = T.cur;
    if (c && c.click !== null && c.emit === null && event === 'event') c.emit = now();
  });
  window.socket.onAny((event, msg) => {
    const c = T.cur;
    if (!c || c.click === null || c.first !== null || c.recv.length > 40) return;
    let what = event;
    if (event === 'run_javascript' && msg && typeof msg.code === 'string') {
      const m = msg.code.match(/runMethod\\([^,]+, "([^"]+)"/);
      what += m ? ':' + m[1] : '';
    }
    c.recv.push([now(), what]);
  });
  let pending = false;
  const check = () => {
    pending = false;
    const c = T.cur;
    if (!c || c.click === null) return;
    const t = now();
    const all = document.querySelectorAll('[data-testid=message][data-role=assistant]');
    if (all.length <= c.n0) return;
    if (c.card === null) c.card = t;
    const el = all[all.length - 1].querySelector('[data-testid=message-content]');
    if (c.first === null && el && el.textContent.length > 0) { c.first = t; T.tick(); }
  };
  new MutationObserver(() => {
    if (!pending) { pending = true; requestAnimationFrame(check); }
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""


def _offset(clock: list[list[float]]) -> float:
    """Date.now() − performance.now(), ms (Date.now() is floored to whole ms: add half of one)."""
    return statistics.fmean(d + 0.5 - p for d, p in clock)


def _server_timeline(events: list[list[Any]], click: float, first: float) -> dict[str, float]:
    """Milestones (ms after the click) of one prompt from the server's events between the click and the first
    character (wall-clock seconds, ms)."""
    window = [e for e in events if click / 1000 - 0.002 <= e[0] <= first / 1000 + 0.002]
    out: dict[str, float] = {}

    def at(kind: str, label: str, detail: str | None = None, after: float = 0.0) -> float | None:
        for t, k, lab, det in window:
            if k == kind and lab == label and (detail is None or det == detail) and t * 1000 >= after:
                return t * 1000 - click
        return None

    def put(name: str, value: float | None) -> None:
        if value is not None:
            out[name] = round(value, 2)

    put('server: socket event handled', at('start', 'server: socket event handled'))
    put('Workspace.send starts', at('start', 'Workspace.send'))
    put('manager.start starts', at('start', 'manager.start'))
    put('manager.start returns', at('end', 'manager.start'))
    put('AssistantCard built', at('end', 'AssistantCard built'))
    put('Workspace.send returns', at('end', 'Workspace.send'))
    put('outbox: first update sent (the cards)', at('start', 'outbox emit', 'update'))
    task = at('start', 'stream task')
    put('stream task starts', task)
    after_task = click + (task or 0.0)
    put('first chunk fed', at('start', 'session.feed', after=after_task))
    put('first flush', at('start', 'session.flush', after=after_task))
    put('first StreamView.apply', at('start', 'StreamView.apply', after=after_task))
    apply_at = out.get('first StreamView.apply')
    if apply_at is not None:
        put('outbox: first apply sent', at('start', 'outbox emit', 'run_javascript', after=click + apply_at))
    # Time inside storage calls (each await: a hop to the storage thread and back), by call.
    spans: dict[str, float] = {}
    opened: dict[str, float] = {}
    for t, kind, label, _ in window:
        if not label.startswith('storage.'):
            continue
        if kind == 'start':
            opened[label] = t
        elif kind == 'end' and label in opened:
            spans[label] = spans.get(label, 0.0) + (t - opened.pop(label)) * 1000
    for label, ms in spans.items():
        out[f'[in {label}]'] = round(ms, 2)
    return out


def _page_timeline(round_: dict[str, Any]) -> dict[str, float]:
    click = round_['click']
    out: dict[str, float] = {}
    if round_.get('emit') is not None:
        out['page: click event sent'] = round(round_['emit'] - click, 2)
    seen: set[str] = set()
    for t, what in round_.get('recv') or []:
        if what not in seen:
            seen.add(what)
            out[f'page: first {what} received'] = round(t - click, 2)
    if round_.get('card') is not None:
        out['page: answer card shown (frame)'] = round(round_['card'] - click, 2)
    out['page: first character shown (frame)'] = round(round_['first'] - click, 2)
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {'prompts': args.prompts, 'trace': not args.no_trace, 'answer_chars': len(ANSWER),
                              'provider_ttft_ms': PROVIDER_TTFT_MS, 'target_ms': TARGET_MS}
    with tempfile.TemporaryDirectory(prefix='scribe-ttfc-') as tmp, sync_playwright() as p:
        work = Path(tmp)
        script = work / 'answer.md'
        script.write_text(ANSWER, encoding='utf-8')
        port = free_port()
        app_args = ['--no-show', '--port', str(port), '--data-dir', str(work / 'data'), '--provider', 'demo',
                    '--demo-speed', 'inf', '--demo-chunk', '4', '--demo-script', str(script),
                    '--requests-per-minute', '100000', *args.scribe_arg]
        if args.no_trace:
            argv = [sys.executable, str(ROOT / 'app.py'), *app_args]
        else:
            argv = [sys.executable, '-c', TRACE_BOOT, str(ROOT), json.dumps(WRAPPED), *app_args]
        server = Server('scribe', argv, port, work / 'scribe.log')
        browser = launch_browser(p)
        result['chromium'] = browser.version
        try:
            page = browser.new_page(viewport={'width': 1280, 'height': 900})
            page.goto(server.url)
            page.wait_for_function('window.did_handshake === true', timeout=30_000)
            page.evaluate(PAGE)
            rounds: list[dict[str, Any]] = []
            for i in range(args.prompts + 1):
                if i == 1 and args.trace is not None:
                    browser.start_tracing(page=page, path=str(args.trace), categories=TRACE_CATEGORIES)
                box = page.get_by_test_id('prompt-input')
                box.fill(f'Write the add function, please ({i}).')
                page.wait_for_timeout(args.pause * 1000)  # the typed value reaches the server; the page is idle
                page.evaluate('() => window.__ttfc.begin()')
                page.get_by_test_id('send-button').click()
                page.wait_for_function(
                    '() => { const a = document.querySelectorAll("[data-testid=message][data-role=assistant]"); '
                    'return a.length > window.__ttfc.cur.n0 && a[a.length - 1].dataset.status === "completed" '
                    '&& window.__ttfc.cur.first !== null; }', timeout=30_000, polling=50)
                rounds.append(page.evaluate('() => window.__ttfc.cur'))
            if args.trace is not None:
                browser.stop_tracing()
            clock = page.evaluate('() => { window.__ttfc.tick(); return window.__ttfc.clock; }')
            events = [] if args.no_trace else json.loads(server.get('/bench-trace')[1] or b'[]')
            missing = [e[2] for e in events if e[1] == 'missing']
            if missing:
                result['not_wrapped'] = missing
        finally:
            browser.close()
            server.stop()
        with contextlib.suppress(Exception), contextlib.closing(
                sqlite3.connect(f'file:{work / "data" / "scribe.db"}?mode=ro', uri=True)) as db:
            rows = db.execute("select stream_metadata from message where role = 'assistant' order by rowid").fetchall()
            result['server_ttfc_ms'] = [round(json.loads(r[0]).get('time_to_first_char', 0) * 1000, 2) for r in rows]
    offset = _offset(clock)
    per_prompt = []
    for k, r in enumerate(rounds):
        click, first = r['click'] + offset, r['first'] + offset  # wall clock, ms
        timeline = {**_page_timeline(r), **(_server_timeline(events, click, first) if events else {})}
        raw = [[round(e[0] * 1000 - click, 2), e[1], e[2], e[3]] for e in events
               if click / 1000 - 0.002 <= e[0] <= first / 1000 + 0.002 and e[2] != 'session.feed']
        per_prompt.append({'prompt': k, 'warmup': k == 0, 'ttfc_ms': round(r['first'] - r['click'], 2),
                           'click_page_ms': round(r['click'], 2),
                           'page_events_ms': [[round(t - r['click'], 2), what] for t, what in r.get('recv') or []],
                           'timeline_ms': dict(sorted(timeline.items(), key=lambda kv: kv[1])),
                           'server_events_ms': raw})
    result['per_prompt'] = per_prompt
    return result


def report(result: dict[str, Any]) -> None:
    measured = [p for p in result['per_prompt'] if not p['warmup']]
    values = [p['ttfc_ms'] for p in measured]
    warm = result['per_prompt'][0]['ttfc_ms']
    median, p95, low = statistics.median(values), _percentile(values, 0.95), min(values)
    budget = TARGET_MS + PROVIDER_TTFT_MS
    verdict = 'PASS' if median <= budget else 'FAIL'
    result['summary'] = {'median_ms': round(median, 1), 'p95_ms': round(p95, 1), 'min_ms': round(low, 1),
                         'max_ms': round(max(values), 1), 'warmup_ms': warm, 'verdict': verdict}
    print(f"\nTime to first character, Send click → first visible character ({len(values)} prompts after a "
          f"warm-up; answer of {result['answer_chars']} chars, demo provider at speed inf)")
    print(f'  median {median:.1f} ms   p95 {p95:.1f} ms   min {low:.1f} ms   max {max(values):.1f} ms   '
          f'(warm-up prompt, which creates the project and loads the element\'s JS: {warm:.1f} ms)')
    print(f"  provider's own time to first token: {PROVIDER_TTFT_MS:g} ms (a replayed script at speed inf yields "
          'its first chunk at once)')
    print(f'  target: median ≤ {TARGET_MS:g} ms over the provider\'s own: {verdict}')
    if result.get('server_ttfc_ms'):
        server = result['server_ttfc_ms'][1:]
        print(f'  the app\'s own time_to_first_char (stream session created → first chunk), median '
              f'{statistics.median(server):.2f} ms')
    if not result['trace']:
        print('  (measured without the server-side wrappers: --no-trace)')
    # The median of each milestone over the measured prompts, in the order they happen.
    names: dict[str, list[float]] = {}
    for p in measured:
        for name, ms in p['timeline_ms'].items():
            names.setdefault(name, []).append(ms)
    rows = sorted(((statistics.median(v), name, len(v)) for name, v in names.items() if not name.startswith('[')),
                  key=lambda x: x[0])
    print('\n  Median timeline of one prompt, ms after the click (page: performance.now(); server: wall clock):')
    previous = 0.0
    for ms, name, n in rows:
        print(f'    {ms:7.1f}  (+{ms - previous:5.1f})  {name}' + ('' if n == len(measured) else f'  [{n} prompts]'))
        previous = ms
    storage = sorted(((statistics.median(v), name, len(v)) for name, v in names.items() if name.startswith('[')),
                     key=lambda x: -x[0])
    if storage:
        print('  Inside storage calls between the click and the first character (median per prompt):')
        for ms, name, _ in storage:
            print(f'    {ms:7.1f}  {name.strip("[]")}')
    result['median_timeline_ms'] = {name: round(ms, 2) for ms, name, _ in rows}
    result['median_storage_ms'] = {name.strip('[]'): round(ms, 2) for ms, name, _ in storage}
    if result.get('not_wrapped'):
        print(f"  not instrumented (not found in this version of the app): {result['not_wrapped']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m bench.ttfc_bench', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--prompts', type=int, default=20, help='measured prompts after the warm-up (20)')
    parser.add_argument('--pause', type=float, default=0.5, help='seconds between typing and clicking (0.5)')
    parser.add_argument('--no-trace', action='store_true', help='without the server-side timing wrappers')
    parser.add_argument('--trace', type=Path, help='write a Chromium trace of the measured prompts here')
    parser.add_argument('--scribe-arg', action='append', default=[], metavar='ARG',
                        help="experiment: pass ARG to Scribe's app.py (repeatable)")
    parser.add_argument('--json', type=Path, default=RESULTS, help=f'where to write the results ({RESULTS})')
    args = parser.parse_args(argv)
    result = measure(args)
    report(result)
    result['when'] = time.strftime('%Y-%m-%dT%H:%M:%S%z')
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + '\n')
    print(f'\nresults: {args.json}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
