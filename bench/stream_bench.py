"""Scribe against stock NiceGUI: one long answer streamed into headless Chromium, measured in the same run.

The target (from the issue): stream a 20,000-character answer (about half of it one Python block) in 4-character
chunks at 2,000 characters per second (10 s ideal) and compare, beside NiceGUI's own ``ui.markdown`` with
``content +=`` per chunk,

- the bytes the browser receives over the websocket (payloads as the page sees them, UTF-8, from the start action
  to the end; plus any HTTP response bytes in that window),
- the server process's CPU seconds (utime + stime from ``/proc/<pid>/stat``) over the same window,
- the time from the start action (the Enter key / the click, in the page's clock) to the first and to the last
  visible character: a page script samples the answer's text length on every animation frame (what can be
  painted) and on every DOM mutation; "last" is the first frame at which the length reached its final value.

Expected: at least 20 times fewer bytes and 10 times less server CPU than the baseline. The verdict is printed and
written to ``bench/results/stream_bench.json``; nothing is asserted. Run ``python -m bench`` (``--help``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.answer import make_answer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'bench' / 'results' / 'stream_bench.json'
CHROMIUM = '/usr/bin/chromium'
BYTES_TARGET = 20.0  # the baseline must need at least this many times Scribe's bytes
CPU_TARGET = 10.0  # ... and this many times its server CPU
CLOCK_TICKS = os.sysconf('SC_CLK_TCK')

SCRIBE_ANSWER = '[data-testid=message][data-role=assistant]'
SCRIBE_CONTENT = f'{SCRIBE_ANSWER} [data-testid=message-content]'
BASELINE_CONTENT = '[data-testid=baseline-markdown]'

# Samples the answer's text length with performance.now() timestamps: on every animation frame ('f', what the next
# paint shows) and on every DOM mutation ('m'). Only changes are kept. The start action's timestamp is taken in a
# capturing listener, so it is the moment of the key press / click, before any of the app's handlers run.
SAMPLER = """([selector, startEvent]) => {
  const b = window.__bench = { start: null, frames: [], mutations: [], last: -1, lastM: -1, done: false };
  const length = () => {
    const all = document.querySelectorAll(selector);
    return all.length ? all[all.length - 1].textContent.length : 0;
  };
  window.addEventListener(startEvent, (e) => {
    if (b.start === null && (startEvent !== 'keydown' || e.key === 'Enter')) b.start = performance.now();
  }, true);
  const frame = (t) => {
    const n = length();
    if (n !== b.last) { b.frames.push([t, n]); b.last = n; }
    if (!b.done) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  new MutationObserver(() => {
    const n = length();
    if (n !== b.lastM) { b.mutations.push([performance.now(), n]); b.lastM = n; }
  }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: false });
}"""


@dataclass
class Run:
    """What one app cost for the answer."""

    name: str
    ws_bytes: int = 0
    ws_frames: int = 0
    http_bytes: int = 0
    wire_bytes: int = 0
    server_cpu_s: float = 0.0
    browser_cpu_s: float | None = None
    idle_browser_cpu_per_s: float | None = None
    idle_server_cpu_per_s: float | None = None
    first_visible_s: float | None = None
    last_visible_s: float | None = None
    last_mutation_s: float | None = None
    wall_s: float = 0.0
    final_length: int = 0
    timed_out: bool = False
    exact: bool | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


# --- processes ------------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k != 'PYTEST_CURRENT_TEST' and not k.startswith(('NICEGUI_', 'SCRIBE_', 'OPENAI_', 'ANTHROPIC_'))}


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), from /proc."""
    with open(f'/proc/{pid}/stat', 'rb') as f:
        fields = f.read().rsplit(b')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of proc(5)


def _parent(pid: int) -> int | None:
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            return int(f.read().rsplit(b')', 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def browser_pids() -> list[int]:
    """The Chromium processes started by this process (via the Playwright driver), not the driver itself."""
    me = os.getpid()
    found: list[int] = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            comm = Path(f'/proc/{pid}/comm').read_text().strip()
        except OSError:
            continue
        if 'chrom' not in comm.lower() and 'headless' not in comm.lower():
            continue
        ancestor: int | None = pid
        for _ in range(12):
            ancestor = _parent(ancestor) if ancestor else None
            if ancestor in (None, 0, 1):
                break
            if ancestor == me:
                found.append(pid)
                break
    return found


def browser_cpu() -> dict[int, float]:
    out: dict[int, float] = {}
    for pid in browser_pids():
        with contextlib.suppress(OSError):
            out[pid] = cpu_seconds(pid)
    return out


class Server:
    """An app under test as a subprocess on a free port, with its output in a log file."""

    def __init__(self, name: str, argv: list[str], port: int, log: Path) -> None:
        self.name = name
        self.port = port
        self.url = f'http://127.0.0.1:{port}'
        self.log = log
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=clean_env(), stdout=log.open('wb'),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f'{name} exited with {self.proc.returncode}:\n{log.read_text()[-3000:]}')
            try:
                urllib.request.urlopen(self.url, timeout=2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f'{name} did not start in 60 s:\n{log.read_text()[-3000:]}') from None
                time.sleep(0.1)

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Proxy:
    """A TCP relay in front of an app, counting the bytes the app sends to the browser as they are on the wire:
    after the websocket's permessage-deflate (uvicorn negotiates it with Chromium), with frame and HTTP headers."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.counting = False
        self.down_bytes = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(('127.0.0.1', 0))
        self.port = int(self._listener.getsockname()[1])
        self.url = f'http://127.0.0.1:{self.port}'
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name='bench-proxy').start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(('127.0.0.1', self.target_port))
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, down: bool) -> None:
        try:
            while data := source.recv(65536):
                if down and self.counting:
                    with self._lock:
                        self.down_bytes += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def start(self) -> None:
        with self._lock:
            self.down_bytes = 0
        self.counting = True

    def close(self) -> None:
        self._closed = True
        self._listener.close()


# --- one measured run -----------------------------------------------------------------------------------------------

class Wire:
    """Counts what the page receives; only while ``counting`` is set."""

    def __init__(self) -> None:
        self.counting = False
        self.ws_bytes = 0
        self.ws_frames = 0
        self.last_frame = time.monotonic()
        self.requests: list[Any] = []

    def attach(self, page: Any) -> None:
        page.on('websocket', self._websocket)
        page.on('requestfinished', self._request)

    def _websocket(self, ws: Any) -> None:
        ws.on('framereceived', self._frame)

    def _frame(self, payload: str | bytes) -> None:
        self.last_frame = time.monotonic()
        if self.counting:
            self.ws_frames += 1
            self.ws_bytes += len(payload.encode('utf-8')) if isinstance(payload, str) else len(payload)

    def _request(self, request: Any) -> None:
        if self.counting:
            self.requests.append(request)

    def http_bytes(self) -> int:
        total = 0
        for request in self.requests:
            with contextlib.suppress(Exception):
                sizes = request.sizes()
                total += sizes['responseBodySize'] + sizes['responseHeadersSize']
        return total

    def start(self) -> None:
        self.ws_bytes = self.ws_frames = 0
        self.requests.clear()
        self.counting = True


def _settle(page: Any, wire: Wire, quiet: float = 1.0, limit: float = 15.0) -> None:
    """Let Playwright deliver pending events: wait until no frame has arrived for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    page.wait_for_timeout(200)
    while time.monotonic() < deadline and time.monotonic() - wire.last_frame < quiet:
        page.wait_for_timeout(100)


def measure(browser: Any, server: Server, *, scribe: bool, code: str, timeout: float) -> Run:
    run = Run('Scribe' if scribe else 'NiceGUI ui.markdown baseline')
    proxy = Proxy(server.port)
    context = browser.new_context(viewport={'width': 1280, 'height': 900})
    page = context.new_page()
    wire = Wire()
    wire.attach(page)
    errors: list[str] = []
    page.on('pageerror', lambda exc: errors.append(str(exc)))
    reloads: list[float] = []  # when a new document loaded after the start (history.pushState does not count)
    page.on('domcontentloaded', lambda _: reloads.append(time.monotonic()) if wire.counting else None)
    try:
        page.goto(proxy.url)
        page.wait_for_function('window.did_handshake === true', timeout=30_000)
        selector = SCRIBE_CONTENT if scribe else BASELINE_CONTENT
        page.evaluate(SAMPLER, [selector, 'keydown' if scribe else 'click'])
        if scribe:
            box = page.get_by_test_id('prompt-input')
            box.fill('Write the job scheduler, with the code in one block.')
        _settle(page, wire, quiet=0.5)
        # What the page and the server cost doing nothing, for reading the CPU columns (2 s before the start).
        idle_browser, idle_server = browser_cpu(), server.cpu()
        page.wait_for_timeout(2000)
        after_idle = browser_cpu()
        run.idle_browser_cpu_per_s = round(sum(after_idle[p] - idle_browser.get(p, 0.0) for p in after_idle) / 2, 3)
        run.idle_server_cpu_per_s = round((server.cpu() - idle_server) / 2, 3)

        before_browser = browser_cpu()
        before = server.cpu()
        wall = time.monotonic()
        wire.start()
        proxy.start()
        if scribe:
            box.press('Enter')
        else:
            page.get_by_test_id('start-button').click()
        outcome = _wait_until_done(page, scribe=scribe, timeout=timeout, reloads=reloads)
        if outcome == 'timeout':
            run.timed_out = True
            run.notes.append(f'not finished after {timeout:.0f} s; the numbers are what was measured until then')
        elif outcome == 'reloaded':
            run.timed_out = True
            when = f'{reloads[0] - wall:.1f} s' if reloads else 'some time'
            run.notes.append(f'the page reloaded {when} after the start (NiceGUI reloads a page whose websocket '
                             'reconnects after the server dropped its client, e.g. when a starved connection missed '
                             'its pings); the numbers are what was measured until that was noticed')
        else:
            # The end is shown; let the rest of the stream's frames arrive (the baseline's browser lags behind).
            with contextlib.suppress(Exception):
                page.wait_for_function('(n) => (window.__bench.frames.at(-1) || [0, -1])[1] === n',
                                       arg=_current_length(page, selector), timeout=30_000, polling=100)
            _settle(page, wire)
        run.wall_s = round(time.monotonic() - wall, 3)
        run.server_cpu_s = round(server.cpu() - before, 3)
        after_browser = browser_cpu()
        run.browser_cpu_s = round(sum(after_browser[p] - before_browser.get(p, 0.0) for p in after_browser), 3)
        wire.counting = proxy.counting = False
        run.wire_bytes = proxy.down_bytes
        run.ws_bytes, run.ws_frames = wire.ws_bytes, wire.ws_frames
        run.http_bytes = wire.http_bytes()

        samples = None if reloads else page.evaluate(
            '() => { if (!window.__bench) return null; window.__bench.done = true; return window.__bench; }')
        if samples is not None:
            _timings(run, samples)
            if run.timed_out:
                run.notes.append(f'by then the page showed {run.final_length:,} characters of text')
        if scribe and not run.timed_out:
            texts = page.locator(SCRIBE_ANSWER).last.get_by_test_id('code-text').evaluate_all(
                'els => els.map(e => e.textContent)')
            run.exact = texts == [code]
            if not run.exact:
                run.notes.append(f'code-text differs from the answer\'s code ({len(texts)} block(s), '
                                 f'lengths {[len(t) for t in texts]} vs {len(code)})')
        elif not scribe and not run.timed_out:
            shown = page.locator(BASELINE_CONTENT).evaluate("e => e.querySelector('pre')?.textContent ?? ''")
            run.exact = shown == code
        if errors:
            run.notes.append(f'page errors: {errors[:3]}')
    except Exception as exc:
        run.error = f'{type(exc).__name__}: {exc}'.splitlines()[0][:300]
    finally:
        context.close()
        proxy.close()
    return run


DONE_JS = {
    True: f"!!document.querySelector('{SCRIBE_ANSWER}[data-status=completed]')",
    False: "!!document.querySelector('[data-testid=done]')?.textContent.startsWith('done')",
}


def _wait_until_done(page: Any, *, scribe: bool, timeout: float, reloads: list[float]) -> str:
    """'done', 'timeout' or 'reloaded' (the page navigated away: the stream can never finish in it)."""
    check = f"() => window.__bench ? ({DONE_JS[scribe]} ? 'done' : '') : 'reloaded'"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reloads:
            return 'reloaded'
        try:
            state = page.evaluate(check)
        except Exception:  # the page is navigating: the next round sees it
            state = ''
        if state:
            return str(state)
        page.wait_for_timeout(200)
    return 'timeout'


def _current_length(page: Any, selector: str) -> int:
    return int(page.evaluate('(s) => { const a = document.querySelectorAll(s); '
                             'return a.length ? a[a.length - 1].textContent.length : 0; }', selector))


def _timings(run: Run, samples: dict[str, Any]) -> None:
    start = samples.get('start')
    frames: list[list[float]] = samples.get('frames') or []
    mutations: list[list[float]] = samples.get('mutations') or []
    if start is None:
        run.notes.append('the start action was not seen by the page')
        return
    final = frames[-1][1] if frames else 0
    run.final_length = int(final)
    first = next((t for t, n in frames if n > 0 and t >= start), None)
    last = next((t for t, n in frames if n == final and t >= start), None) if final else None
    last_mutation = next((t for t, n in mutations if n == final and t >= start), None) if final else None
    run.first_visible_s = round((first - start) / 1000, 3) if first is not None else None
    run.last_visible_s = round((last - start) / 1000, 3) if last is not None and not run.timed_out else None
    run.last_mutation_s = (round((last_mutation - start) / 1000, 3)
                           if last_mutation is not None and not run.timed_out else None)


# --- report ---------------------------------------------------------------------------------------------------------

def _mb(n: int) -> str:
    return f'{n / 1e6:,.2f} MB' if n >= 100_000 else f'{n / 1e3:,.1f} kB'


def _s(x: float | None) -> str:
    return '—' if x is None else f'{x:,.2f} s'


def report(runs: list[Run], config: dict[str, Any]) -> dict[str, Any]:
    print()
    print(f"Answer: {config['characters']:,} characters ({config['code_characters']:,} in one Python block), "
          f"{config['chunk']}-character chunks at {config['speed']:,.0f} chars/s: "
          f"{config['chunks']:,} chunks, ideal duration {config['ideal_s']:.2f} s (times are from the Enter key / "
          'click in the page)')
    header = ('', 'ws bytes', 'ws frames', 'HTTP bytes', 'wire bytes', 'server CPU', 'browser CPU', 'first char',
              'last char', 'exact')
    rows = [header]
    for r in runs:
        exact = '—' if r.exact is None else ('yes' if r.exact else 'NO')
        rows.append((r.name + (' (TIMED OUT)' if r.timed_out else '') + (' (ERROR)' if r.error else ''),
                     _mb(r.ws_bytes), f'{r.ws_frames:,}', _mb(r.http_bytes), _mb(r.wire_bytes), _s(r.server_cpu_s),
                     _s(r.browser_cpu_s), _s(r.first_visible_s), _s(r.last_visible_s), exact))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for k, row in enumerate(rows):
        cells = zip(row, widths, strict=True)
        print('  '.join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(cells)))
        if k == 0:
            print('  '.join('-' * w for w in widths))
    print('ws bytes: websocket payloads as the page sees them (the target); wire bytes: every TCP byte from the app '
          'to the browser, after permessage-deflate')
    for r in runs:
        if r.idle_browser_cpu_per_s is not None:
            print(f'  {r.name}: idle before the start, per second: server {r.idle_server_cpu_per_s:.3f} s CPU, '
                  f'browser {r.idle_browser_cpu_per_s:.3f} s CPU')
        for note in r.notes:
            print(f'  {r.name}: {note}')
        if r.error:
            print(f'  {r.name}: ERROR {r.error}')
    verdict: dict[str, Any] = {}
    scribe = next((r for r in runs if r.name == 'Scribe'), None)
    base = next((r for r in runs if r.name != 'Scribe'), None)
    if scribe and (scribe.error or scribe.timed_out):
        print('\nScribe did not finish: no verdict')
    elif scribe and base and base.ws_bytes:
        bytes_ratio = base.ws_bytes / max(1, scribe.ws_bytes)
        cpu_ratio = base.server_cpu_s / max(scribe.server_cpu_s, 1 / CLOCK_TICKS)
        bytes_ok, cpu_ok = bytes_ratio >= BYTES_TARGET, cpu_ratio >= CPU_TARGET
        partial = bool(base.timed_out or base.error)
        lower = ' (at least: the baseline did not finish)' if partial else ''

        def word(ok: bool) -> str:  # a lower bound below the target proves nothing either way
            return 'PASS' if ok else ('INCONCLUSIVE' if partial else 'FAIL')

        print()
        print(f'bytes:      baseline / Scribe = {bytes_ratio:,.1f}x{lower}   target >= {BYTES_TARGET:g}x   '
              f'{word(bytes_ok)}')
        print(f'server CPU: baseline / Scribe = {cpu_ratio:,.1f}x{lower}   target >= {CPU_TARGET:g}x   '
              f'{word(cpu_ok)}')
        print(f'(on the wire, after compression: baseline / Scribe = '
              f'{base.wire_bytes / max(1, scribe.wire_bytes):,.1f}x; not a target)')
        if scribe.last_visible_s is not None:
            print(f'Scribe showed the last character {scribe.last_visible_s - config["ideal_s"]:+.2f} s after the '
                  f'ideal {config["ideal_s"]:.2f} s'
                  + (f'; the baseline {base.last_visible_s - config["ideal_s"]:+.2f} s'
                     if base.last_visible_s is not None else ''))
        verdict = {'bytes_ratio': round(bytes_ratio, 2), 'cpu_ratio': round(cpu_ratio, 2),
                   'wire_bytes_ratio': round(base.wire_bytes / max(1, scribe.wire_bytes), 2),
                   'bytes_target': BYTES_TARGET, 'cpu_target': CPU_TARGET, 'bytes_pass': bytes_ok,
                   'cpu_pass': cpu_ok, 'baseline_finished': not partial,
                   'bytes_verdict': word(bytes_ok), 'cpu_verdict': word(cpu_ok)}
    elif scribe:
        print(f'\n(no baseline in this run: ratios need it; Scribe exact: {scribe.exact})')
    return verdict


# --- main -----------------------------------------------------------------------------------------------------------

def _versions(browser: Any) -> dict[str, str]:
    from importlib.metadata import version

    return {'python': platform.python_version(), 'nicegui': version('nicegui'),
            'playwright': version('playwright'), 'chromium': browser.version, 'cpus': str(os.cpu_count()),
            'machine': platform.platform()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m bench', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true', help='a 5,000-character answer instead of 20,000')
    parser.add_argument('--chars', type=int, help='answer size in characters (default 20,000; 5,000 with --quick)')
    parser.add_argument('--speed', type=float, default=2000.0, help='characters per second (default 2,000)')
    parser.add_argument('--chunk', type=int, default=4, help='characters per chunk (default 4)')
    parser.add_argument('--skip-baseline', action='store_true', help='measure Scribe only')
    parser.add_argument('--skip-scribe', action='store_true', help='measure the baseline only')
    parser.add_argument('--timeout', type=float, default=300.0,
                        help='seconds the baseline may take to finish (default 300; Scribe gets 60 + 3x ideal)')
    parser.add_argument('--json', type=Path, default=RESULTS, help=f'where to write the results ({RESULTS})')
    args = parser.parse_args(argv)
    size = args.chars or (5_000 if args.quick else 20_000)
    answer, code = make_answer(size)
    chunks = -(-len(answer) // args.chunk)
    ideal = (len(answer) - (len(answer) - 1) % args.chunk - 1) / args.speed  # when the last chunk is due
    config = {'characters': len(answer), 'code_characters': len(code), 'chunk': args.chunk, 'speed': args.speed,
              'chunks': chunks, 'ideal_s': round(ideal, 3)}

    from playwright.sync_api import sync_playwright

    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix='scribe-bench-') as tmp, sync_playwright() as p:
        work = Path(tmp)
        script = work / 'answer.md'
        script.write_text(answer, encoding='utf-8')
        if os.path.exists(CHROMIUM):
            browser = p.chromium.launch(executable_path=CHROMIUM, args=['--disable-gpu', '--disable-quic'])
        else:
            browser = p.chromium.launch()
        config['versions'] = _versions(browser)
        apps: list[tuple[bool, list[str], float]] = []
        if not args.skip_scribe:
            port = free_port()
            apps.append((True, [sys.executable, str(ROOT / 'app.py'), '--no-show', '--port', str(port),
                                '--data-dir', str(work / 'data'), '--provider', 'demo', '--demo-speed',
                                f'{args.speed:g}', '--demo-chunk', str(args.chunk), '--demo-script', str(script)],
                         60 + 3 * ideal))
        if not args.skip_baseline:
            port = free_port()
            apps.append((False, [sys.executable, str(ROOT / 'bench' / 'baseline_app.py'), '--port', str(port),
                                 '--script', str(script), '--speed', f'{args.speed:g}', '--chunk', str(args.chunk)],
                         args.timeout))
        for scribe, argv_, timeout in apps:
            name = 'Scribe' if scribe else 'baseline'
            print(f'measuring {name} …', flush=True)
            port = int(argv_[argv_.index('--port') + 1])
            try:
                server = Server(name, argv_, port, work / f'{name}.log')
            except RuntimeError as exc:
                run = Run('Scribe' if scribe else 'NiceGUI ui.markdown baseline', error=str(exc).splitlines()[0])
                runs.append(run)
                continue
            try:
                runs.append(measure(browser, server, scribe=scribe, code=code, timeout=timeout))
            finally:
                server.stop()
            log_tail = (work / f'{name}.log').read_text(errors='replace')[-2000:].strip()
            if runs[-1].error and log_tail:
                print(log_tail, file=sys.stderr)
        browser.close()
    verdict = report(runs, config)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({'config': config, 'runs': [asdict(r) for r in runs], 'verdict': verdict,
                                     'when': time.strftime('%Y-%m-%dT%H:%M:%S%z')}, indent=2) + '\n')
    print(f'\nresults: {args.json}')
    return 1 if any(r.error for r in runs) else 0


if __name__ == '__main__':
    raise SystemExit(main())
