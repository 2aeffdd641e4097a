"""Scribe against stock NiceGUI: one long answer streamed into headless Chromium, paced and unpaced, in one run.

The answer (``bench/answer.py``: prose, one long Python block of about half the text, prose; ~20,000 characters)
is streamed in 4-character chunks, paced at 2,000 characters per second and then unpaced (``--demo-speed inf``),
once by Scribe and once by NiceGUI's own ``ui.markdown`` with ``content +=`` per chunk (``bench/baseline_app.py``).
Each app is measured cold, on a fresh server, for each pace. Measured from the start action (the Enter key / the
click, in the page's clock) to the end of the stream:

- bytes the page receives: websocket payloads as the page sees them, HTTP bodies, and every TCP byte (a relay);
- CPU seconds (utime + stime from ``/proc``) of the server, of the tab's Chromium renderer process(es)
  (``--type=renderer``) and of all Chromium processes; the renderer main thread's own accounting from CDP
  ``Performance.getMetrics`` (task, script, style, layout);
- the first and last visible character, and the display's lag behind the provider's schedule, frame by frame;
- whether the growing code block is syntax-highlighted while it streams;
- Scribe's event loop: blocks of more than 20 ms (``/metrics`` when the app has it, and the bench's own probe).

Nothing is asserted; the tables, a targets table with PASS/FAIL and the ratios against the baseline are printed
and written to ``bench/results/stream.json``. See ``bench/README.md`` for how every column is measured.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import contextlib
import itertools
import json
import math
import os
import platform
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.answer import make_answer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'bench' / 'results' / 'stream.json'
CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--disable-gpu', '--disable-quic']
BYTES_TARGET = 20.0  # the baseline must need at least this many times Scribe's bytes
CPU_TARGET = 10.0  # ... and this many times its server CPU
CLOCK_TICKS = os.sysconf('SC_CLK_TCK')
FRAME_MS = 1000 / 60  # the display the lag is evaluated for

# Issue 7's targets for Scribe (20,000 characters; a --quick run prints them for reference only).
TARGETS = {
    'lag_median_ms': 20.0, 'lag_p95_ms': 50.0, 'last_after_provider_s': 0.1, 'received_bytes': 150_000,
    'server_cpu_s': 0.8, 'renderer_cpu_s': 2.0, 'unpaced_first_to_last_s': 0.6, 'loop_block_s': 0.020,
}

# The issue sets the CPU targets on a machine where the stock NiceGUI baseline cost 45 s of server CPU and 42 s of
# browser CPU for this answer. The machines here are shared, slower and noisy, so each CPU target is also judged
# scaled to the machine of the run: target × this run's baseline / the reference baseline (the renderer's target
# by the baseline's renderer CPU alone, which is less than its browser CPU: the stricter of the two readings).
REFERENCE_BASELINE = {'server_cpu_s': 45.0, 'renderer_cpu_s': 42.0}

SCRIBE_ANSWER = '[data-testid=message][data-role=assistant]'
SCRIBE_CONTENT = f'{SCRIBE_ANSWER} [data-testid=message-content]'
BASELINE_CONTENT = '[data-testid=baseline-markdown]'

# What counts as the answer's visible text, as a JS function of the content element returning its parts (their
# textContent, concatenated). Scribe: each block, a code block by its code-text only (not its language label and
# Copy/Download buttons). The baseline: the markdown element.
SCRIBE_PARTS = ("(el) => Array.from(el.children, (c) => c.classList.contains('sv-code') "
                "? (c.querySelector('[data-testid=code-text]') || c) : c)")
BASELINE_PARTS = '(el) => [el]'
# The growing code block and "is it highlighted": a token span inside it.
SCRIBE_CODE = '[data-testid=code-block][data-streaming="true"] [data-testid=code-text]'
SCRIBE_HIGHLIGHT = '.ln > span[class], .sv-ctail > span[class]'
BASELINE_CODE = 'pre'
BASELINE_HIGHLIGHT = 'span[class]'

# The page-side sampler. The start action's time is taken in a capturing listener (before the app's handlers).
# Frames: after every DOM change (a MutationObserver) one requestAnimationFrame callback records performance.now()
# and the visible length; that callback runs just before the style/layout/paint of the frame that shows the
# change, so the samples are the frames at which the display changed, and between two of them the display shows
# the earlier one. Requesting a frame only when the DOM changed costs no frame that the change would not have cost
# anyway (a permanent rAF loop makes an idle page render 60 frames a second: ``--sampler loop`` does that).
# Also sampled, at most every 50 ms: the growing code block's length and whether it holds highlighting spans;
# and pairs (Date.now(), performance.now()) to put server wall-clock times on the page's clock.
SAMPLER = """(o) => {
  const parts = (0, eval)(o.parts);
  const b = window.__bench = { start: null, frames: [], code: [], clock: [], done: false };
  const root = () => { const a = document.querySelectorAll(o.selector); return a.length ? a[a.length - 1] : null; };
  const count = () => {
    const el = root();
    if (!el) return 0;
    let n = 0;
    for (const p of parts(el)) n += p.textContent.length;
    return n;
  };
  b.text = () => { const el = root(); return el ? parts(el).map((p) => p.textContent).join('') : ''; };
  b.tick = () => b.clock.push([Date.now(), performance.now()]);
  // Scribe's batches: when each reached the page (NiceGUI's runMethod, before the DOM change), for the lag's parts.
  b.applies = [];
  if (typeof window.runMethod === 'function') {
    const run = window.runMethod;
    window.runMethod = function (id, name, args) {
      if (name === 'apply' && !b.done) b.applies.push(performance.now());
      return run.apply(this, arguments);
    };
  }
  window.addEventListener(o.startEvent, (e) => {
    if (b.start === null && (o.startEvent !== 'keydown' || e.key === 'Enter')) b.start = performance.now();
  }, true);
  let last = -1, lastCode = '', lastCodeT = -1e9, lastClock = -1e9, pending = false;
  const frame = () => {
    pending = false;
    const t = performance.now();
    const n = count();
    if (n !== last) { b.frames.push([t, n]); last = n; }
    if (t - lastCodeT >= 50) {
      lastCodeT = t;
      const el = root();
      const all = el ? el.querySelectorAll(o.code) : [];
      const c = all.length ? all[all.length - 1] : null;
      if (c) {
        const len = c.textContent.length, hl = !!c.querySelector(o.highlight);
        if (len + ':' + hl !== lastCode) { b.code.push([t, len, hl]); lastCode = len + ':' + hl; }
      }
    }
    if (t - lastClock >= 250) { b.tick(); lastClock = t; }
    if (o.loop && !b.done) requestAnimationFrame(frame);
  };
  b.tick();
  if (o.loop) requestAnimationFrame(frame);
  if (!o.loop && o.sample) new MutationObserver(() => {
    if (!pending && !b.done) { pending = true; requestAnimationFrame(frame); }
  }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: false });
}"""

COLLECT = """() => {
  const b = window.__bench;
  if (!b) return null;
  b.done = true;
  b.tick();
  return { start: b.start, frames: b.frames, code: b.code, clock: b.clock, text: b.text(), applies: b.applies };
}"""

# Scribe started through this, to add the bench's own event-loop probe: a task that sleeps 5 ms at a time and
# records by how much each wake-up was late (the loop was busy: one long callback, or a burst of ready ones), read
# back from /bench-loop-probe. Costs ~200 wake-ups a second; only used where the server CPU is not the point.
PROBE_BOOT = r'''
import asyncio, sys, time
sys.path.insert(0, sys.argv[1])
from nicegui import app as _app
_lates = []
_state = {"wakeups": 0, "since": time.time()}
async def _probe():
    interval = 0.005
    while True:
        t = time.perf_counter()
        await asyncio.sleep(interval)
        late = time.perf_counter() - t - interval
        _state["wakeups"] += 1
        if late > 0.005:
            _lates.append((round(time.time(), 4), round(late, 4)))
def _start():
    _state["task"] = asyncio.get_running_loop().create_task(_probe())
_app.on_startup(_start)
@_app.get("/bench-loop-probe")
def _report():
    return {"lates": _lates[-20000:], "wakeups": _state["wakeups"], "since": _state["since"]}
import app as _scribe
_scribe.main(sys.argv[2:])
'''


@dataclass
class Run:
    """What one app cost for the answer, at one pace."""

    name: str
    mode: str = 'paced'  # 'paced' | 'unpaced'
    ws_bytes: int = 0
    ws_frames: int = 0
    http_bytes: int = 0
    http_body_bytes: int = 0
    wire_bytes: int = 0
    server_cpu_s: float = 0.0
    renderer_cpu_s: float | None = None
    browser_cpu_s: float | None = None
    browser_cpu_by_type: dict[str, float] = field(default_factory=dict)
    renderer_main: dict[str, float] = field(default_factory=dict)  # CDP Performance.getMetrics deltas (s)
    idle_browser_cpu_per_s: float | None = None
    idle_renderer_cpu_per_s: float | None = None
    idle_server_cpu_per_s: float | None = None
    first_visible_s: float | None = None
    last_visible_s: float | None = None
    first_to_last_s: float | None = None
    t0_s: float | None = None  # the provider's first chunk, from the start action
    t0_source: str | None = None
    last_after_provider_s: float | None = None
    lag_median_ms: float | None = None
    lag_p95_ms: float | None = None
    lag_max_ms: float | None = None
    lag_frames: int = 0
    lag_parts: dict[str, float] = field(default_factory=dict)  # what the lag is made of (lag_parts())
    painted_frames: int = 0
    alignment_unmatched: int | None = None
    highlight: dict[str, Any] = field(default_factory=dict)
    loop: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    final_length: int = 0
    timed_out: bool = False
    exact: bool | None = None
    exact_checks: dict[str, bool] = field(default_factory=dict)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def received_bytes(self) -> int:
        """What the target counts: websocket payloads plus HTTP bodies."""
        return self.ws_bytes + self.http_body_bytes

    @property
    def scribe(self) -> bool:
        return self.name == 'Scribe'


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


def process_type(pid: int) -> str:
    """Chromium's process type from its command line: 'renderer', 'gpu-process', 'utility', 'zygote', … or
    'browser' (the main process has no --type)."""
    try:
        cmdline = Path(f'/proc/{pid}/cmdline').read_bytes().replace(b'\0', b' ')  # Chromium rewrites it with spaces
    except OSError:
        return '?'
    found = re.search(rb'(?:^| )--type=(\S+)', cmdline)
    if found:
        kind = found.group(1).decode(errors='replace')
        sub = re.search(rb' --utility-sub-type=(\S+)', cmdline)
        return f"utility ({sub.group(1).decode(errors='replace').split('.')[0]})" if kind == 'utility' and sub else kind
    return 'browser'


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


def browser_cpu() -> dict[int, tuple[str, float]]:
    """pid → (process type, CPU seconds) for every Chromium process of this run."""
    out: dict[int, tuple[str, float]] = {}
    for pid in browser_pids():
        with contextlib.suppress(OSError):
            out[pid] = (process_type(pid), cpu_seconds(pid))
    return out


def cpu_delta(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds spent between two ``browser_cpu`` readings, per process type (a process that started in
    between counts from zero)."""
    out: dict[str, float] = defaultdict(float)
    for pid, (kind, cpu) in after.items():
        out[kind] += cpu - before.get(pid, (kind, 0.0))[1]
    return {k: round(v, 3) for k, v in sorted(out.items())}


def launch_browser(p: Any) -> Any:
    if os.path.exists(CHROMIUM):
        return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    return p.chromium.launch(args=CHROMIUM_ARGS)


class Server:
    """An app under test as a subprocess on a free port, with its output in a log file."""

    def __init__(self, name: str, argv: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = port
        self.url = f'http://127.0.0.1:{port}'
        self.log = log
        self.proc = subprocess.Popen(argv, cwd=ROOT, env={**clean_env(), **(env or {})}, stdout=log.open('wb'),
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

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        """(status, body) of a GET on the app itself (not through the relay); status 0 when unreachable."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, b''
        except OSError:
            return 0, b''

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


# --- the event loop: /metrics and the probe -------------------------------------------------------------------------

_METRIC = re.compile(r'^(scribe_event_loop_(?:block_seconds(?:_bucket|_count|_sum|_max)|slowest_seconds))'
                     r'(\{.*\})?\s+(\S+)$')


def loop_metrics(server: Server) -> dict[str, Any] | None:
    """The app's event-loop histogram from ``/metrics`` (Prometheus text), or None where it has none."""
    status, body = server.get('/metrics')
    if status != 200:
        return None
    out: dict[str, Any] = {'buckets': {}, 'slowest': []}
    for line in body.decode('utf-8', 'replace').splitlines():
        m = _METRIC.match(line)
        if not m:
            continue
        name, labels, value = m.groups()
        try:
            number = float(value)
        except ValueError:
            continue
        if name.endswith('_bucket'):
            le = re.search(r'le="([^"]+)"', labels or '')
            if le:
                out['buckets'][float(le.group(1))] = number
        elif name.endswith('slowest_seconds'):
            callback = re.search(r'callback="((?:[^"\\]|\\.)*)"', labels or '')
            out['slowest'].append((number, callback.group(1) if callback else '?'))
        else:
            out[name.rsplit('_', 1)[1]] = number
    return out if 'count' in out else None


def loop_from_metrics(before: dict[str, Any] | None, after: dict[str, Any] | None,
                      threshold: float = TARGETS['loop_block_s']) -> dict[str, Any]:
    """Event-loop blocks longer than ``threshold`` between two scrapes of ``/metrics``.

    services/loop_monitor.py's histogram has an edge at the threshold (20 ms), which makes the count exact. An app
    whose histogram has none is bracketed by the edges around it, and made exact from the list of slowest callbacks
    (the entries that are new since the first scrape) when that list holds every block above the lower edge."""
    if before is None or after is None:
        return {'available': False}
    common = sorted(set(after['buckets']) & set(before['buckets']))
    count = int(after['count'] - before['count'])

    def over(edge: float) -> int:
        return int(count - (after['buckets'][edge] - before['buckets'][edge]))

    out: dict[str, Any] = {'available': True, 'callbacks': count,
                           'sum_s': round(after.get('sum', 0.0) - before.get('sum', 0.0), 4)}
    lower = [e for e in common if e <= threshold]
    upper = [e for e in common if e >= threshold and not math.isinf(e)]
    new = list(after['slowest'])
    for item in before['slowest']:
        if item in new:
            new.remove(item)
    out['slowest'] = sorted(new, reverse=True)[:8]
    low_n = over(lower[-1]) if lower else None
    high_n = over(upper[0]) if upper else None
    out['over_low'] = (lower[-1], low_n) if lower else None
    out['over_high'] = (upper[0], high_n) if upper else None
    listed = [sec for sec, _ in new if sec > threshold]
    if low_n is not None and high_n is not None and low_n == high_n:
        out['blocks_over'] = high_n  # nothing between the two edges
    elif low_n is not None and len([sec for sec, _ in new if sec > lower[-1]]) >= low_n:
        out['blocks_over'] = len(listed)  # every block above the lower edge is in the list
    else:
        out['blocks_over_range'] = (high_n, low_n)
    if new:
        out['max_s'] = round(max(sec for sec, _ in new), 4)
    elif 'max' in after and after['max'] > before.get('max', 0.0):
        out['max_s'] = after['max']
    else:  # no block of the run made the list: all were under the list's threshold (10 ms) or the lower edge
        out['max_below_s'] = lower[-1] if lower else None
    return out


def probe_lates(server: Server, since: float, until: float) -> dict[str, Any]:
    status, body = server.get('/bench-loop-probe')
    if status != 200:
        return {'available': False}
    data = json.loads(body)
    lates = [late for end, late in data['lates'] if since <= end <= until + 0.5]
    over = [late for late in lates if late > TARGETS['loop_block_s']]
    return {'available': True, 'late_wakeups_over_5ms': len(lates), 'over_20ms': len(over),
            'max_s': round(max(lates), 4) if lates else 0.0, 'worst_s': sorted(lates, reverse=True)[:10]}


# --- one measured run -----------------------------------------------------------------------------------------------

class Wire:
    """Counts what the page receives; only while ``counting`` is set."""

    def __init__(self) -> None:
        self.counting = False
        self.ws_bytes = 0
        self.ws_frames = 0
        self.last_frame = time.monotonic()
        self.requests: list[Any] = []
        self.payloads: list[str | bytes] | None = None  # kept when asked (--dump-frames)

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
            if self.payloads is not None:
                self.payloads.append(payload)

    def _request(self, request: Any) -> None:
        if self.counting:
            self.requests.append(request)

    def http_bytes(self) -> tuple[int, int]:
        """(bodies + headers, bodies) of the HTTP responses finished while counting."""
        total = bodies = 0
        for request in self.requests:
            with contextlib.suppress(Exception):
                sizes = request.sizes()
                total += sizes['responseBodySize'] + sizes['responseHeadersSize']
                bodies += sizes['responseBodySize']
        return total, bodies

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


@dataclass
class Options:
    """What one measurement needs to know besides the app."""

    answer: str
    code: str
    speed: float  # math.inf when unpaced
    chunk: int
    timeout: float
    sampler: str = 'mutation'
    inject_css: str | None = None
    inject_js: str | None = None
    trace: Path | None = None
    profile: Path | None = None
    data_dir: Path | None = None  # Scribe's, to read its stored answer
    log: Path | None = None  # the baseline's, for its stream start time
    probe: bool = False
    dump_frames: Path | None = None


def measure(browser: Any, server: Server, *, scribe: bool, mode: str, opts: Options) -> Run:
    run = Run('Scribe' if scribe else 'NiceGUI ui.markdown baseline', mode=mode)
    proxy = Proxy(server.port)
    context = browser.new_context(viewport={'width': 1280, 'height': 900})
    page = context.new_page()
    wire = Wire()
    if opts.dump_frames is not None:
        wire.payloads = []
    wire.attach(page)
    errors: list[str] = []
    page.on('pageerror', lambda exc: errors.append(str(exc)))
    reloads: list[float] = []  # when a new document loaded after the start (history.pushState does not count)
    page.on('domcontentloaded', lambda _: reloads.append(time.monotonic()) if wire.counting else None)
    cdp = context.new_cdp_session(page)
    cdp.send('Performance.enable', {'timeDomain': 'threadTicks'})
    tracing = False
    try:
        page.goto(proxy.url)
        page.wait_for_function('window.did_handshake === true', timeout=30_000)
        if opts.inject_css:
            page.add_style_tag(content=opts.inject_css)
            run.notes.append(f'experiment: injected CSS {opts.inject_css!r}')
        if opts.inject_js:
            page.evaluate(opts.inject_js)
            run.notes.append(f'experiment: ran {opts.inject_js!r} in the page')
        selector = SCRIBE_CONTENT if scribe else BASELINE_CONTENT
        page.evaluate(SAMPLER, {
            'selector': selector, 'startEvent': 'keydown' if scribe else 'click',
            'parts': SCRIBE_PARTS if scribe else BASELINE_PARTS, 'code': SCRIBE_CODE if scribe else BASELINE_CODE,
            'highlight': SCRIBE_HIGHLIGHT if scribe else BASELINE_HIGHLIGHT, 'loop': opts.sampler == 'loop',
            'sample': opts.sampler != 'none'})
        if scribe:
            box = page.get_by_test_id('prompt-input')
            box.fill('Write the job scheduler, with the code in one block.')
        _settle(page, wire, quiet=0.5)
        # What the page and the server cost doing nothing, for reading the CPU columns (2 s before the start).
        idle_browser, idle_server = browser_cpu(), server.cpu()
        page.wait_for_timeout(2000)
        idle = cpu_delta(idle_browser, browser_cpu())
        run.idle_browser_cpu_per_s = round(sum(idle.values()) / 2, 3)
        run.idle_renderer_cpu_per_s = round(idle.get('renderer', 0.0) / 2, 3)
        run.idle_server_cpu_per_s = round((server.cpu() - idle_server) / 2, 3)

        metrics_before = loop_metrics(server) if scribe else None
        if opts.trace is not None:
            browser.start_tracing(page=page, path=str(opts.trace), categories=TRACE_CATEGORIES)
            tracing = True
        if opts.profile is not None:
            cdp.send('Profiler.enable')
            cdp.send('Profiler.setSamplingInterval', {'interval': 200})
            cdp.send('Profiler.start')
        perf_before = _perf_metrics(cdp)
        before_browser = browser_cpu()
        before = server.cpu()
        wall, epoch = time.monotonic(), time.time()
        wire.start()
        proxy.start()
        if scribe:
            box.press('Enter')
        else:
            page.get_by_test_id('start-button').click()
        outcome = _wait_until_done(page, scribe=scribe, timeout=opts.timeout, reloads=reloads)
        if outcome == 'timeout':
            run.timed_out = True
            run.notes.append(f'not finished after {opts.timeout:.0f} s; the numbers are what was measured until then')
        elif outcome == 'reloaded':
            run.timed_out = True
            when = f'{reloads[0] - wall:.1f} s' if reloads else 'some time'
            run.notes.append(f'the page reloaded {when} after the start (NiceGUI reloads a page whose websocket '
                             'reconnects after the server dropped its client, e.g. when a starved connection missed '
                             'its pings); the numbers are what was measured until that was noticed')
        else:
            # The end is shown; let the rest of the stream's frames arrive (the baseline's browser lags behind).
            with contextlib.suppress(Exception):
                page.wait_for_function('() => { const b = window.__bench; const n = b.text().length; '
                                       'return (b.frames.at(-1) || [0, -1])[1] === n; }', timeout=30_000,
                                       polling=100)
            _settle(page, wire)
        run.wall_s = round(time.monotonic() - wall, 3)
        run.server_cpu_s = round(server.cpu() - before, 3)
        by_type = cpu_delta(before_browser, browser_cpu())
        perf_after = _perf_metrics(cdp)
        end_epoch = time.time()
        if tracing:
            browser.stop_tracing()
            tracing = False
        if opts.profile is not None:
            opts.profile.write_text(json.dumps(cdp.send('Profiler.stop')['profile']))
        run.browser_cpu_by_type = by_type
        run.browser_cpu_s = round(sum(by_type.values()), 3)
        run.renderer_cpu_s = by_type.get('renderer', 0.0)
        run.renderer_main = {k: round(perf_after.get(k, 0.0) - perf_before.get(k, 0.0), 3)
                             for k in PERF_KEYS if k in perf_after}
        wire.counting = proxy.counting = False
        run.wire_bytes = proxy.down_bytes
        run.ws_bytes, run.ws_frames = wire.ws_bytes, wire.ws_frames
        run.http_bytes, run.http_body_bytes = wire.http_bytes()
        if scribe:
            run.loop = {'metrics': loop_from_metrics(metrics_before, loop_metrics(server))}
            if opts.probe:
                run.loop['probe'] = probe_lates(server, epoch, end_epoch)

        samples = None if reloads else page.evaluate(COLLECT)
        if samples is not None:
            _analyse(run, samples, opts, scribe=scribe, finished=not run.timed_out)
            if run.timed_out:
                run.notes.append(f'by then the page showed {run.final_length:,} characters of text')
        if not run.timed_out:
            _check_exact(run, page, samples, opts, scribe=scribe)
        if errors:
            run.notes.append(f'page errors: {errors[:3]}')
        if opts.dump_frames is not None and wire.payloads is not None:
            opts.dump_frames.write_text(json.dumps(
                [p if isinstance(p, str) else p.hex() for p in wire.payloads], indent=0) + '\n')
    except Exception as exc:
        run.error = f'{type(exc).__name__}: {exc}'.splitlines()[0][:300]
    finally:
        if tracing:
            with contextlib.suppress(Exception):
                browser.stop_tracing()
        context.close()
        proxy.close()
    return run


# Per code element: is it at least as tall as 90 % of its lines at its own line height?
VISIBLE_LINES = '''els => els.map((e) => { const lines = (e.textContent.match(/\\n/g) || []).length;
    const height = parseFloat(getComputedStyle(e).lineHeight) || 1;
    return e.getBoundingClientRect().height >= 0.9 * lines * height; })'''
PERF_KEYS = ('TaskDuration', 'ScriptDuration', 'RecalcStyleDuration', 'LayoutDuration', 'TaskOtherDuration',
             'V8CompileDuration', 'LayoutCount', 'RecalcStyleCount', 'Nodes', 'JSHeapUsedSize')
TRACE_CATEGORIES = ['toplevel', 'devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8.execute', 'blink',
                    'cc', 'viz', 'benchmark', 'disabled-by-default-devtools.timeline.frame']


def _perf_metrics(cdp: Any) -> dict[str, float]:
    try:
        return {m['name']: float(m['value']) for m in cdp.send('Performance.getMetrics')['metrics']}
    except Exception:
        return {}


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
        page.wait_for_timeout(100)
    return 'timeout'


# --- analysis -------------------------------------------------------------------------------------------------------

def align(rendered: str, source: str, window: int = 300) -> tuple[list[int], int]:
    """For each prefix length ``k`` of the rendered text, how many characters of the source it shows: the
    position just after the source character that rendered character ``k - 1`` came from. The rendered text is
    the source without its markup (heading marks, fences, backticks, list markers, link targets), so each
    rendered character is looked for a little ahead in the source; whitespace that markdown adds or folds (a line
    break between block elements) only matches nearby whitespace. Returns (the map, characters not found)."""
    out = [0] * (len(rendered) + 1)
    j = 0
    unmatched = 0
    for k, ch in enumerate(rendered):
        if ch.isspace():
            found = next((i for i in range(j, min(len(source), j + 4)) if source[i].isspace()), -1)
        else:
            found = source.find(ch, j, j + window)
        if found < 0:
            unmatched += 1
        else:
            j = found + 1
        out[k + 1] = j
    return out, unmatched


def _clock_offset(clock: list[list[float]]) -> float | None:
    """Date.now() − performance.now() in ms: the page's clock to the wall clock. Date.now() is whole ms, floored,
    so half a millisecond is added to each pair."""
    if not clock:
        return None
    return statistics.fmean(d + 0.5 - p for d, p in clock)


def _t0_epoch(opts: Options, scribe: bool) -> tuple[float | None, str]:
    """The wall-clock time of the provider's first chunk, and how it is known.

    Scribe: the stored answer's metadata has ``start_time`` (wall clock when its stream session was created) and
    ``time_to_first_char`` (monotonic seconds from then to the first chunk arriving in the session, i.e. the demo
    provider's start: a replayed script's first chunk is due the moment the request arrives, and its pacing is
    measured from there). Baseline: ``bench/baseline_app.py`` prints its stream's start."""
    if scribe:
        if opts.data_dir is None:
            return None, 'unknown'
        try:
            with contextlib.closing(sqlite3.connect(f'file:{opts.data_dir / "scribe.db"}?mode=ro', uri=True)) as db:
                row = db.execute("select stream_metadata from message where role = 'assistant' "
                                 'order by rowid desc limit 1').fetchone()
            meta = json.loads(row[0])
            start = datetime.fromisoformat(meta['start_time']).timestamp()
            return start + float(meta['time_to_first_char']), 'server: first chunk into the stream session'
        except Exception as exc:
            return None, f'unknown ({type(exc).__name__})'
    if opts.log is not None:
        found = re.findall(r'bench: stream started at ([0-9.]+)', opts.log.read_text(errors='replace'))
        if found:
            return float(found[-1]), 'baseline: its stream task started'
    return None, 'unknown'


def lag_series(frames: list[tuple[float, int]], amap: list[int], t0: float, end: float, speed: float,
               chunk: int, total: int) -> list[float]:
    """The display's lag behind the provider, in ms, on every frame of a 60 Hz display from ``t0`` to ``end``
    (page clock, ms). The provider emits chunk k (characters ``k * chunk`` …) at ``t0 + k * chunk / speed``; the
    display at time t shows the source characters of the last sample at or before t. The lag is the age of the
    oldest character the provider has emitted and the display does not show yet (0 when it shows them all)."""
    times = [t for t, _ in frames]
    out: list[float] = []
    n_frames = int((end - t0) / FRAME_MS) + 1
    for i in range(n_frames + 1):
        g = min(end, t0 + i * FRAME_MS)
        k = bisect.bisect_right(times, g) - 1
        shown = amap[min(frames[k][1], len(amap) - 1)] if k >= 0 else 0
        emitted = min(total, chunk * (math.floor((g - t0) * speed / 1000 / chunk + 1e-9) + 1))
        if shown >= emitted:
            out.append(0.0)
        else:
            out.append(max(0.0, g - _due(shown, t0, chunk, speed)))
    return out


def _due(position: int, t0: float, chunk: int, speed: float) -> float:
    """When the provider emits the chunk holding source character ``position`` (page clock, ms)."""
    return t0 + (position // chunk) * chunk / speed * 1000


def lag_parts(frames: list[tuple[float, int]], applies: list[float], amap: list[int], t0: float, end: float,
              opts: Options) -> dict[str, float]:
    """What the lag is made of, as medians over the frames that changed the text (ms): ``interval``, the time
    between two such frames (the display's steps; the lag grows through each, so half of it is in the median);
    ``age_shown``, how old the newest character a frame shows is at that frame; of which ``frame_wait``, from the
    batch reaching the page (Scribe only) to the frame that shows it, and ``to_page``, the rest (the server's
    batching cut, its work, the network, the message's handling)."""
    changed = [(t, n) for t, n in frames if t0 <= t <= end and n > 0]
    if len(changed) < 3:
        return {}
    newest = [(t, amap[min(n, len(amap)) - 1]) for t, n in changed]  # the source character a frame shows last
    intervals = [b[0] - a[0] for a, b in itertools.pairwise(changed)]
    parts = {'interval': statistics.median(intervals), 'interval_p95': _percentile(intervals, 0.95),
             'age_shown': statistics.median(t - _due(i, t0, opts.chunk, opts.speed) for t, i in newest)}
    if applies:
        arrived = [t for t in applies if t0 <= t <= end]
        if len(arrived) > 2:
            parts['apply_interval_p95'] = _percentile([b - a for a, b in itertools.pairwise(arrived)], 0.95)
        waits: list[float] = []
        for t, _ in changed:
            k = bisect.bisect_right(applies, t) - 1
            if k >= 0 and t - applies[k] < 1000:
                waits.append(t - applies[k])
        if waits:
            parts['frame_wait'] = statistics.median(waits)
            parts['to_page'] = parts['age_shown'] - parts['frame_wait']
    return {k: round(v, 1) for k, v in parts.items()}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _analyse(run: Run, samples: dict[str, Any], opts: Options, *, scribe: bool, finished: bool) -> None:
    start = samples.get('start')
    frames: list[tuple[float, int]] = [(float(t), int(n)) for t, n in samples.get('frames') or []]
    text: str = samples.get('text') or ''
    if start is None:
        run.notes.append('the start action was not seen by the page')
        return
    final = frames[-1][1] if frames else 0
    run.final_length = int(final)
    run.painted_frames = sum(1 for t, _ in frames if t >= start)
    first = next((t for t, n in frames if n > 0 and t >= start), None)
    last = next((t for t, n in frames if n == final and t >= start), None) if final and finished else None
    run.first_visible_s = round((first - start) / 1000, 3) if first is not None else None
    run.last_visible_s = round((last - start) / 1000, 3) if last is not None else None
    if first is not None and last is not None:
        run.first_to_last_s = round((last - first) / 1000, 3)

    # Highlighting while the code block grows: samples of the growing block shorter than the whole code.
    code_len = len(opts.code)
    growing = [(t, n, hl) for t, n, hl in samples.get('code') or [] if 0 < n < code_len and t >= start]
    run.highlight = {
        'samples_growing': len(growing), 'highlighted_growing': sum(1 for _, _, hl in growing if hl),
        'mid_stream': any(hl for _, _, hl in growing),
        'first_code_s': round((growing[0][0] - start) / 1000, 3) if growing else None,
        'first_highlighted_s': next((round((t - start) / 1000, 3) for t, _, hl in growing if hl), None),
    }

    # The provider's schedule on the page's clock.
    epoch, source = _t0_epoch(opts, scribe)
    offset = _clock_offset(samples.get('clock') or [])
    if epoch is not None and offset is not None:
        t0 = epoch * 1000 - offset
        run.t0_source = source
    elif first is not None:
        t0 = first
        run.t0_source = f'the first visible character ({source})'
    else:
        return
    run.t0_s = round((t0 - start) / 1000, 3)
    total = len(opts.answer)
    if math.isinf(opts.speed) or last is None:
        return
    last_due = t0 + ((total - 1) // opts.chunk) * opts.chunk / opts.speed * 1000
    run.last_after_provider_s = round((last - last_due) / 1000, 3)
    amap, unmatched = align(text, opts.answer)
    run.alignment_unmatched = unmatched
    if unmatched > 50:
        run.notes.append(f'{unmatched} rendered characters were not found in the answer: the lag is approximate')
    lags = lag_series(frames, amap, t0, last, opts.speed, opts.chunk, total)
    run.lag_frames = len(lags)
    run.lag_median_ms = round(statistics.median(lags), 1)
    run.lag_p95_ms = round(_percentile(lags, 0.95), 1)
    run.lag_max_ms = round(max(lags), 1)
    run.lag_parts = lag_parts(frames, [float(t) for t in samples.get('applies') or []], amap, t0, last, opts)


def _check_exact(run: Run, page: Any, samples: dict[str, Any] | None, opts: Options, *, scribe: bool) -> None:
    """Scribe: the code block's code-text is the answer's code, the stored answer is the answer, and the streamed
    page shows the same text as the page loaded afresh afterwards (a server-side render of the stored answer).
    Baseline: the rendered <pre> is the answer's code."""
    checks: dict[str, bool] = {}
    if scribe:
        texts = page.locator(SCRIBE_ANSWER).last.get_by_test_id('code-text').evaluate_all(
            'els => els.map(e => e.textContent)')
        checks['code_text'] = texts == [opts.code]
        if not checks['code_text']:
            run.notes.append(f'code-text differs from the answer\'s code ({len(texts)} block(s), '
                             f'lengths {[len(t) for t in texts]} vs {len(opts.code)})')
        # The text must also be drawn, not only present: a style that hides lines (a class name another
        # stylesheet also uses, say) leaves textContent exact and makes the page cheap to render.
        drawn = page.locator(SCRIBE_ANSWER).last.get_by_test_id('code-text').evaluate_all(VISIBLE_LINES)
        checks['code_drawn'] = bool(drawn) and all(drawn)
        if not checks['code_drawn']:
            run.notes.append('the code block is shorter than its lines: some of its text is not drawn')
        if opts.data_dir is not None:
            with contextlib.suppress(Exception), contextlib.closing(
                    sqlite3.connect(f'file:{opts.data_dir / "scribe.db"}?mode=ro', uri=True)) as db:
                row = db.execute("select content from message where role = 'assistant' "
                                 'order by rowid desc limit 1').fetchone()
                checks['stored'] = row[0] == opts.answer
        streamed = (samples or {}).get('text')
        if streamed is not None:
            with contextlib.suppress(Exception):
                page.reload()
                page.wait_for_function('window.did_handshake === true', timeout=30_000)
                page.locator(SCRIBE_CONTENT).last.wait_for(state='attached', timeout=30_000)
                fresh = page.locator(SCRIBE_CONTENT).last.evaluate(
                    f'(el) => ({SCRIBE_PARTS})(el).map((p) => p.textContent).join("")')
                checks['streamed_equals_reloaded'] = fresh == streamed
                if fresh != streamed:
                    at = next((i for i, (a, b) in enumerate(zip(fresh, streamed, strict=False)) if a != b),
                              min(len(fresh), len(streamed)))
                    run.notes.append(f'streamed text differs from the reloaded page at {at}: '
                                     f'{streamed[at:at + 40]!r} vs {fresh[at:at + 40]!r}')
    else:
        shown = page.locator(BASELINE_CONTENT).evaluate("e => e.querySelector('pre')?.textContent ?? ''")
        checks['code_text'] = shown == opts.code
        checks['code_drawn'] = all(page.locator(BASELINE_CONTENT).locator('pre code').evaluate_all(VISIBLE_LINES))
    run.exact_checks = checks
    run.exact = all(checks.values()) if checks else None


# --- report ---------------------------------------------------------------------------------------------------------

def _kb(n: int) -> str:
    return f'{n / 1e6:,.2f} MB' if n >= 1_000_000 else f'{n / 1e3:,.1f} kB'


def _s(x: float | None, plus: bool = False) -> str:
    return '—' if x is None else (f'{x:+,.2f} s' if plus else f'{x:,.2f} s')


def _ms(x: float | None) -> str:
    if x is None:
        return '—'
    return f'{x / 1000:,.1f} s' if x >= 10_000 else f'{x:,.0f} ms'


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    everything = [header, *rows]
    widths = [max(len(row[i]) for row in everything) for i in range(len(header))]
    for k, row in enumerate(everything):
        cells = zip(row, widths, strict=True)
        print('  '.join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(cells)).rstrip())
        if k == 0:
            print('  '.join('-' * w for w in widths))


def _label(r: Run) -> str:
    return r.name + (' (TIMED OUT)' if r.timed_out else '') + (' (ERROR)' if r.error else '')


def _exact(r: Run) -> str:
    return '—' if r.exact is None else ('yes' if r.exact else 'NO')


def _loop_text(r: Run) -> str:
    m = r.loop.get('metrics') or {}
    if not m.get('available'):
        return 'not available'
    if 'blocks_over' in m:
        text = f"{m['blocks_over']} > 20 ms"
    elif m.get('blocks_over_range'):
        high, low = m['blocks_over_range']
        text = f'{high}-{low} > 20 ms'
    else:
        text = '? > 20 ms'
    if 'max_s' in m:
        text += f", max {m['max_s'] * 1000:.0f} ms"
    elif m.get('max_below_s') is not None:
        text += f", max < {m['max_below_s'] * 1000:g} ms"
    return text


def _probe_text(r: Run) -> str:
    probe = r.loop.get('probe') or {}
    if not probe.get('available'):
        return '—'
    return f"{probe['over_20ms']} > 20 ms, max {probe['max_s'] * 1000:.0f} ms"


def report(runs: list[Run], config: dict[str, Any]) -> dict[str, Any]:
    print()
    print(f"Answer: {config['characters']:,} characters ({config['code_characters']:,} in one Python block), "
          f"{config['chunk']}-character chunks ({config['chunks']:,}). Times are from the Enter key / click in the "
          "page; 'after provider' is from the provider's last chunk.")
    paced = [r for r in runs if r.mode == 'paced']
    unpaced = [r for r in runs if r.mode == 'unpaced']
    if paced:
        print(f"\nPaced, {config['speed']:,.0f} chars/s (the provider's last chunk is due "
              f"{config['ideal_s']:.2f} s after its first):")
        _table(('', 'received', 'ws frames', 'wire', 'server CPU', 'renderer CPU', 'browser CPU', 'first char',
                'last char', 'after provider', 'lag median', 'lag p95', 'lag max', 'hl mid-stream', 'exact'),
               [(_label(r), _kb(r.received_bytes), f'{r.ws_frames:,}', _kb(r.wire_bytes), _s(r.server_cpu_s),
                 _s(r.renderer_cpu_s), _s(r.browser_cpu_s), _s(r.first_visible_s), _s(r.last_visible_s),
                 _s(r.last_after_provider_s, plus=True), _ms(r.lag_median_ms), _ms(r.lag_p95_ms), _ms(r.lag_max_ms),
                 '—' if not r.highlight else ('yes' if r.highlight.get('mid_stream') else 'no'), _exact(r))
                for r in paced])
    if unpaced:
        print('\nUnpaced (--demo-speed inf):')
        _table(('', 'received', 'ws frames', 'server CPU', 'renderer CPU', 'first char', 'last char',
                'first→last', 'loop (/metrics)', 'loop (probe)', 'exact'),
               [(_label(r), _kb(r.received_bytes), f'{r.ws_frames:,}', _s(r.server_cpu_s), _s(r.renderer_cpu_s),
                 _s(r.first_visible_s), _s(r.last_visible_s), _s(r.first_to_last_s),
                 _loop_text(r) if r.scribe else '—', _probe_text(r) if r.scribe else '—', _exact(r))
                for r in unpaced])
    pacing = config.get('pacing') or {}
    scribe_paced = next((r for r in paced if r.scribe and not r.error), None)
    if scribe_paced is not None and 'cpu_s' in pacing:
        own = scribe_paced.server_cpu_s - pacing['cpu_s']
        print(f"\nServer CPU, paced: the provider's pacing alone (an event loop, {pacing['loop']}, waking for each "
              f"of the {config['chunks']:,} chunks on the same schedule, no app) costs {pacing['cpu_s']:.2f} s; "
              f"Scribe's own work is the other {own:.2f} s of its {scribe_paced.server_cpu_s:.2f} s.")
    elif 'error' in pacing:
        print(f"\nServer CPU, paced: the provider's pacing alone could not be measured ({pacing['error']}).")
    print('\nreceived: websocket payloads as the page sees them + HTTP bodies (the target); wire: every TCP byte '
          'from the app, after permessage-deflate. renderer CPU: the tab\'s --type=renderer process(es); browser '
          'CPU: all Chromium processes.')
    for r in runs:
        where = f'  {r.name} ({r.mode})'
        if r.idle_browser_cpu_per_s is not None:
            print(f'{where}: idle before the start, per second: server {r.idle_server_cpu_per_s:.3f} s CPU, '
                  f'renderer {r.idle_renderer_cpu_per_s:.3f} s, browser {r.idle_browser_cpu_per_s:.3f} s')
        if r.browser_cpu_by_type:
            print(f'{where}: browser CPU by process: '
                  + ', '.join(f'{k} {v:.2f} s' for k, v in r.browser_cpu_by_type.items()))
        if r.renderer_main:
            m = r.renderer_main
            print(f'{where}: renderer main thread (CDP, thread time): tasks {m.get("TaskDuration", 0):.2f} s = '
                  f'script {m.get("ScriptDuration", 0):.2f} + style {m.get("RecalcStyleDuration", 0):.2f} '
                  f'({m.get("RecalcStyleCount", 0):.0f}×) + layout {m.get("LayoutDuration", 0):.2f} '
                  f'({m.get("LayoutCount", 0):.0f}×) + other {m.get("TaskOtherDuration", 0):.2f}')
        if r.t0_source and r.mode == 'paced':
            print(f'{where}: provider\'s first chunk {r.t0_s:+.3f} s after the start ({r.t0_source}); '
                  f'{r.painted_frames} frames changed the text; lag over {r.lag_frames} display frames')
        if r.lag_parts:
            p = r.lag_parts
            parts = (f' = to the page {p["to_page"]:.1f} + waiting for a frame {p["frame_wait"]:.1f}'
                     if 'frame_wait' in p else '')
            print(f'{where}: lag, medians: a frame shows text {p["age_shown"]:.1f} ms old{parts}, and the display '
                  f'steps every {p["interval"]:.1f} ms (the lag grows through each step: ≈ {p["age_shown"]:.0f} + '
                  f'{p["interval"] / 2:.0f} = {p["age_shown"] + p["interval"] / 2:.0f} ms); 5 % of the steps take '
                  f'longer than {p.get("interval_p95", 0):.1f} ms'
                  + (f' (between batches reaching the page: {p["apply_interval_p95"]:.1f} ms)'
                     if 'apply_interval_p95' in p else ''))
        if r.highlight.get('samples_growing'):
            h = r.highlight
            print(f'{where}: growing code block seen at {_s(h["first_code_s"])}, highlighted at '
                  f'{_s(h["first_highlighted_s"])}; {h["highlighted_growing"]}/{h["samples_growing"]} samples of it '
                  'highlighted')
        if r.scribe and r.loop:
            slow = (r.loop.get('metrics') or {}).get('slowest') or []
            print(f'{where}: event loop: /metrics {_loop_text(r)}'
                  + (f'; probe {_probe_text(r)}' if (r.loop.get('probe') or {}).get('available') else '')
                  + ('; slowest callbacks: ' + ', '.join(f'{name} {sec * 1000:.0f} ms' for sec, name in slow[:4])
                     if slow else ''))
        for note in r.notes:
            print(f'{where}: {note}')
        if r.error:
            print(f'{where}: ERROR {r.error}')
    targets = _targets(runs, config)
    ratios = _ratios(runs)
    return {'targets': targets, 'ratios': ratios, 'verdict': _verdict(runs, config)}


def _targets(runs: list[Run], config: dict[str, Any]) -> list[dict[str, Any]]:
    paced = next((r for r in runs if r.scribe and r.mode == 'paced'), None)
    unpaced = next((r for r in runs if r.scribe and r.mode == 'unpaced'), None)
    rows: list[dict[str, Any]] = []

    def add(run: Run | None, name: str, value: Any, shown: str, ok: bool | None) -> None:
        if run is None:
            return
        if run.error or run.timed_out:
            ok, shown = None, shown + ' (run did not finish)'
        rows.append({'target': name, 'value': value, 'measured': shown,
                     'verdict': 'PASS' if ok else ('FAIL' if ok is False else 'N/A')})

    T = TARGETS
    base = next((r for r in runs if not r.scribe and r.mode == 'paced'), None)
    if base is not None and (base.error or base.timed_out):
        base = None  # a baseline that did not finish gives no machine scale
    if paced is not None:
        add(paced, f'paced: lag median ≤ {T["lag_median_ms"]:g} ms', paced.lag_median_ms, _ms(paced.lag_median_ms),
            None if paced.lag_median_ms is None else paced.lag_median_ms <= T['lag_median_ms'])
        add(paced, f'paced: lag p95 ≤ {T["lag_p95_ms"]:g} ms', paced.lag_p95_ms, _ms(paced.lag_p95_ms),
            None if paced.lag_p95_ms is None else paced.lag_p95_ms <= T['lag_p95_ms'])
        add(paced, f'paced: last char ≤ {T["last_after_provider_s"]:g} s after the provider\'s last chunk',
            paced.last_after_provider_s, _s(paced.last_after_provider_s, plus=True),
            None if paced.last_after_provider_s is None else paced.last_after_provider_s <= T['last_after_provider_s'])
        add(paced, f'paced: received ≤ {T["received_bytes"] / 1000:g} kB (ws payloads + HTTP bodies)',
            paced.received_bytes, f'{_kb(paced.received_bytes)} (ws {_kb(paced.ws_bytes)}, wire '
            f'{_kb(paced.wire_bytes)})', paced.received_bytes <= T['received_bytes'])
        add(paced, f'paced: server CPU ≤ {T["server_cpu_s"]:g} s', paced.server_cpu_s, _s(paced.server_cpu_s),
            paced.server_cpu_s <= T['server_cpu_s'])
        add(paced, f'paced: renderer CPU ≤ {T["renderer_cpu_s"]:g} s', paced.renderer_cpu_s, _s(paced.renderer_cpu_s),
            None if paced.renderer_cpu_s is None else paced.renderer_cpu_s <= T['renderer_cpu_s'])
        for key, what in (('server_cpu_s', 'server'), ('renderer_cpu_s', 'renderer')):
            mine, theirs = getattr(paced, key), getattr(base, key) if base is not None else None
            if mine is None or not theirs:
                continue
            scaled = T[key] * theirs / REFERENCE_BASELINE[key]
            add(paced, f'paced: {what} CPU ≤ {T[key]:g} s, scaled to this machine by the baseline '
                f'({theirs:.1f} s here, {REFERENCE_BASELINE[key]:g} s in the issue)', mine,
                f'{_s(mine)} ≤ {scaled:.2f} s', mine <= scaled)
        add(paced, 'paced: code highlighted mid-stream', paced.highlight.get('mid_stream'),
            'yes' if paced.highlight.get('mid_stream') else 'no', bool(paced.highlight.get('mid_stream')))
        add(paced, 'paced: exact final text', paced.exact, _exact(paced), paced.exact)
    if unpaced is not None:
        add(unpaced, f'unpaced: last char ≤ {T["unpaced_first_to_last_s"]:g} s after the first',
            unpaced.first_to_last_s, _s(unpaced.first_to_last_s),
            None if unpaced.first_to_last_s is None else unpaced.first_to_last_s <= T['unpaced_first_to_last_s'])
        metrics = unpaced.loop.get('metrics') or {}
        probe = unpaced.loop.get('probe') or {}
        if metrics.get('available'):
            n = metrics.get('blocks_over')
            if n is None:
                high, low = metrics.get('blocks_over_range') or (None, None)
                n = None if high is None or low is None else (0 if low == 0 else (high if high else None))
            add(unpaced, 'unpaced: no event-loop block > 20 ms (/metrics)', n, _loop_text(unpaced),
                None if n is None else n == 0)
        else:
            add(unpaced, 'unpaced: no event-loop block > 20 ms (/metrics)', None, 'not available', None)
        if probe.get('available'):
            add(unpaced, 'unpaced: no event-loop lag > 20 ms (bench probe)', probe['over_20ms'], _probe_text(unpaced),
                probe['over_20ms'] == 0)
        add(unpaced, 'unpaced: exact final text', unpaced.exact, _exact(unpaced), unpaced.exact)
    if rows:
        small = config['characters'] < 19_000
        print('\nTargets (Scribe' + (f"; set for 20,000 characters, this run has {config['characters']:,}" if small
                                     else '') + '):')
        _table(('target', 'measured', ''), [(row['target'], row['measured'], row['verdict']) for row in rows])
    return rows


def _ratios(runs: list[Run]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ('paced', 'unpaced'):
        scribe = next((r for r in runs if r.scribe and r.mode == mode), None)
        base = next((r for r in runs if not r.scribe and r.mode == mode), None)
        if scribe is None or base is None or scribe.error or scribe.timed_out or not base.ws_bytes:
            continue
        lower = bool(base.timed_out or base.error)

        def ratio(b: float | None, s: float | None, floor: float) -> float | None:
            return None if b is None or s is None else round(b / max(s, floor), 1)

        values = {
            'received bytes': ratio(base.received_bytes, scribe.received_bytes, 1),
            'server CPU': ratio(base.server_cpu_s, scribe.server_cpu_s, 1 / CLOCK_TICKS),
            'renderer CPU': ratio(base.renderer_cpu_s, scribe.renderer_cpu_s, 1 / CLOCK_TICKS),
            'browser CPU (all)': ratio(base.browser_cpu_s, scribe.browser_cpu_s, 1 / CLOCK_TICKS),
            'wire bytes': ratio(base.wire_bytes, scribe.wire_bytes, 1),
        }
        if mode == 'paced' and not lower:
            values['lag p95'] = ratio(base.lag_p95_ms, scribe.lag_p95_ms, 1.0)
        if mode == 'unpaced' and not lower:
            values['first→last'] = ratio(base.first_to_last_s, scribe.first_to_last_s, 0.001)
        out[mode] = {'baseline_finished': not lower, **{k: v for k, v in values.items() if v is not None}}
        print(f'\n{mode.capitalize()}: baseline / Scribe'
              + (' (at least: the baseline did not finish)' if lower else '')
              + ': ' + ', '.join(f'{k} {v:,.1f}x' for k, v in values.items() if v is not None))
    return out


def _verdict(runs: list[Run], config: dict[str, Any]) -> dict[str, Any]:
    """The first benchmark's verdict (paced): ≥ 20× fewer websocket bytes and ≥ 10× less server CPU."""
    scribe = next((r for r in runs if r.scribe and r.mode == 'paced'), None)
    base = next((r for r in runs if not r.scribe and r.mode == 'paced'), None)
    if scribe is None or base is None or scribe.error or scribe.timed_out or not base.ws_bytes:
        return {}
    bytes_ratio = base.ws_bytes / max(1, scribe.ws_bytes)
    cpu_ratio = base.server_cpu_s / max(scribe.server_cpu_s, 1 / CLOCK_TICKS)
    bytes_ok, cpu_ok = bytes_ratio >= BYTES_TARGET, cpu_ratio >= CPU_TARGET
    partial = bool(base.timed_out or base.error)

    def word(ok: bool) -> str:  # a lower bound below the target proves nothing either way
        return 'PASS' if ok else ('INCONCLUSIVE' if partial else 'FAIL')

    lower = ' (at least)' if partial else ''
    print(f'paced ws bytes: baseline / Scribe = {bytes_ratio:,.1f}x{lower}, target ≥ {BYTES_TARGET:g}x: '
          f'{word(bytes_ok)}; server CPU {cpu_ratio:,.1f}x{lower}, target ≥ {CPU_TARGET:g}x: {word(cpu_ok)}')
    return {'bytes_ratio': round(bytes_ratio, 2), 'cpu_ratio': round(cpu_ratio, 2), 'bytes_target': BYTES_TARGET,
            'cpu_target': CPU_TARGET, 'baseline_finished': not partial, 'bytes_verdict': word(bytes_ok),
            'cpu_verdict': word(cpu_ok)}


# --- a Chromium trace: where the renderer's time went ---------------------------------------------------------------

# Trace event names grouped into what they are. Durations are exclusive (a child's time is taken out of its parent),
# so the groups add up to each thread's busy time.
TRACE_GROUPS = {
    'script': ('FunctionCall', 'EvaluateScript', 'v8.callFunction', 'V8.Execute', 'TimerFire', 'EventDispatch',
               'FireAnimationFrame', 'RunMicrotasks', 'v8.run', 'V8.RunMicrotasks', 'v8.compile', 'MinorGC', 'MajorGC',
               'XHRReadyStateChange', 'v8.compileModule', 'SerializedScriptValueFactory::create', 'AsyncTask Run',
               'FrameRequestCallbackCollection::ExecuteFrameCallbacks', 'PageAnimator::serviceScriptedAnimations',
               'LocalFrameView::NotifyResizeObservers', 'HTMLDocumentParser::append',
               'HTMLDocumentParser::PumpTokenizerIfPossible', 'ParseHTML'),
    'style': ('UpdateLayoutTree', 'RecalculateStyles', 'Document::recalcStyle', 'Document::updateStyle',
              'Document::rebuildLayoutTree', 'StyleEngine::scheduleInvalidationsForRuleSets',
              'Document::updateStyleInvalidationIfNeeded', 'Blink.Style.UpdateTime'),
    'layout': ('Layout', 'LocalFrameView::performLayout', 'LocalFrameView::layout', 'Blink.Layout.UpdateTime',
               'InlineNode::ShapeTextIncludingFirstLine', 'LocalFrameView::UpdateStyleAndLayout',
               'Document::UpdateStyleAndLayout', 'Blink.ForcedStyleAndLayout.UpdateTime',
               'LocalFrameView::RunStyleAndLayoutLifecyclePhases'),
    'paint/pre-paint': ('Paint', 'PrePaint', 'PaintImage', 'UpdateLayer', 'UpdateLayerTree', 'Layerize',
                        'Blink.PrePaint.UpdateTime', 'Blink.Paint.UpdateTime', 'Blink.CompositingInputs.UpdateTime',
                        'PaintArtifactCompositor::Update', 'LocalFrameView::RunPrePaintLifecyclePhase',
                        'LocalFrameView::RunPaintLifecyclePhase', 'WebFrameWidgetImpl::UpdateLifecycle'),
    'commit/composite': ('Commit', 'ProxyMain::BeginMainFrame::commit', 'ProxyMain::BeginMainFrame',
                         'ActivateLayerTree', 'DrawFrame', 'LayerTreeHostImpl::PrepareToDraw', 'Graphics.Pipeline',
                         'CompositeLayers', 'TreeSynchronizer::PushLayerPropertiesTo.Active',
                         'LayerTreeHostImpl::ActivateSyncTree', 'Scheduler::BeginImplFrame',
                         'LayerTreeImpl::PullProperties',
                         'ProxyImpl::ScheduledActionSendBeginMainFrame', 'MainFrameAborted',
                         'WebFrameWidgetImpl::BeginMainFrame'),
    'raster/tiles': ('RasterTask', 'Rasterize', 'RasterizerTaskImpl::RunOnWorkerThread', 'ImageDecodeTask',
                     'DisplayItemList::Raster', 'ZeroCopyRasterBuffer::Playback', 'TileManager::AssignGpuMemoryToTiles',
                     'TileTaskManagerImpl::ScheduleTasks', 'TileManager::ScheduleTasks',
                     'RasterSource::PerformSolidColorAnalysis', 'TaskSetFinishedTaskImpl::RunOnWorkerThread',
                     'TileTaskManagerImpl::CheckForCompletedTasks', 'LayerTreeHostImpl::NotifyTileStateChanged',
                     'TileManager::CheckPendingGpuWorkAndIssueSignals'),
    'animation': ('Animation', 'CompositorAnimation', 'UpdateAnimations', 'ScrollAnimation',
                  'AnimationHost::TickAnimations', 'AnimationTimeline::serviceAnimations', 'Blink.Animate.UpdateTime'),
    'scheduling/IPC': ('ThreadControllerImpl::RunTask', 'RunTask', 'ThreadPool_RunTask', 'Receive mojo message',
                       'SimpleWatcher::OnHandleReady', 'EpollEvent', 'TaskGraphRunner::RunTask'),
    'hit test': ('HitTest',),
}


def print_profile_summary(path: Path, top: int = 25) -> list[tuple[str, float]]:
    """Self time per function (name, script and line) in a CDP CPU profile, heaviest first."""
    profile = json.loads(path.read_text())
    nodes = {n['id']: n for n in profile['nodes']}
    samples = profile.get('samples') or []
    # timeDeltas[i] is the time before sample i: a sample's own time is the delta that follows it.
    following = [*(profile.get('timeDeltas') or [])[1:], 0][:len(samples)]
    self_us: collections.Counter[str] = collections.Counter()
    for node_id, delta in zip(samples, following, strict=True):
        frame = nodes[node_id]['callFrame']
        url = frame.get('url', '').rsplit('/', 1)[-1]
        self_us[f"{frame.get('functionName') or '(anonymous)'} {url}:{frame.get('lineNumber', 0) + 1}"] += delta
    rows = [(name, us / 1e6) for name, us in self_us.most_common(top)]
    print(f'\nJavaScript CPU profile {path} (self time, sampled every 0.2 ms):')
    for name, s in rows:
        print(f'  {s * 1000:8.1f} ms  {name}')
    return rows


def print_trace_summary(path: Path, top: int = 12) -> dict[str, Any]:
    """Exclusive CPU time per thread and per group of trace events in the renderer(s) of a Chromium trace."""
    data = json.loads(path.read_text())
    events = data['traceEvents'] if isinstance(data, dict) else data
    names: dict[tuple[int, int], str] = {}
    process_names: dict[int, str] = {}
    for e in events:
        if e.get('ph') == 'M' and e.get('name') == 'thread_name':
            names[(e['pid'], e['tid'])] = e['args']['name']
        if e.get('ph') == 'M' and e.get('name') == 'process_name':
            process_names[e['pid']] = e['args']['name']
    renderers = {pid for pid, name in process_names.items() if 'Renderer' in name}
    # Complete ('X') events and B/E pairs on the renderers' threads, with thread time where recorded.
    spans: dict[tuple[int, int], list[tuple[float, float, str, float | None]]] = defaultdict(list)
    stacks: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e.get('pid') not in renderers:
            continue
        key = (e['pid'], e['tid'])
        ph = e.get('ph')
        if ph == 'X' and 'dur' in e:
            spans[key].append((e['ts'], e['ts'] + e['dur'], e['name'], e.get('tdur')))
        elif ph == 'B':
            stacks[key].append(e)
        elif ph == 'E' and stacks[key]:
            b = stacks[key].pop()
            tdur = e['tts'] - b['tts'] if 'tts' in e and 'tts' in b else None
            spans[key].append((b['ts'], e['ts'], b['name'], tdur))
    per_thread: dict[str, float] = defaultdict(float)
    per_name: dict[str, float] = defaultdict(float)
    per_group: dict[str, float] = defaultdict(float)
    for key, items in spans.items():
        thread = names.get(key, f'tid {key[1]}')
        items.sort(key=lambda s: (s[0], -s[1]))
        # Exclusive wall durations, scaled per top-level span to its thread time where the trace has it.
        stack: list[list[Any]] = []
        exclusive: list[list[Any]] = []  # [name, exclusive_us, root_index]
        roots: list[tuple[float, float | None]] = []
        for start, end, name, tdur in items:
            while stack and stack[-1][1] <= start:
                stack.pop()
            if stack:
                exclusive[stack[-1][2]][1] -= min(end, stack[-1][1]) - start
                root = exclusive[stack[-1][2]][2]
            else:
                root = len(roots)
                roots.append((end - start, tdur))
            exclusive.append([name, end - start, root])
            stack.append([start, end, len(exclusive) - 1])
        for name, us, root in exclusive:
            wall, cpu = roots[root]
            scale = (cpu / wall) if cpu is not None and wall > 0 else 1.0
            seconds = max(0.0, us) * scale / 1e6
            per_thread[thread] += seconds
            per_name[name] += seconds
            group = next((g for g, members in TRACE_GROUPS.items() if name in members), None)
            if group is None and any(name.startswith(p) for p in ('V8.', 'v8.')):
                group = 'script'
            per_group[f'{thread}: {group or "other"}'] += seconds
    print(f'\nChromium trace {path} (renderer processes; exclusive time, thread CPU time where recorded):')
    for thread, seconds in sorted(per_thread.items(), key=lambda kv: -kv[1]):
        if seconds >= 0.005:
            print(f'  thread {thread}: {seconds:.3f} s')
            for group, gs in sorted(((g, s) for g, s in per_group.items() if g.startswith(thread + ': ')),
                                    key=lambda kv: -kv[1]):
                if gs >= 0.005:
                    print(f'      {group.split(": ", 1)[1]:<18} {gs:.3f} s')
    print('  top events:')
    for name, seconds in sorted(per_name.items(), key=lambda kv: -kv[1])[:top]:
        print(f'      {name:<50} {seconds:.3f} s')
    return {'threads': dict(per_thread), 'groups': dict(per_group), 'events': dict(per_name)}


# --- main -----------------------------------------------------------------------------------------------------------

def _versions(browser: Any) -> dict[str, str]:
    from importlib.metadata import version

    return {'python': platform.python_version(), 'nicegui': version('nicegui'),
            'playwright': version('playwright'), 'chromium': browser.version, 'cpus': str(os.cpu_count()),
            'machine': platform.platform()}


# The provider's pacing alone: an event loop of the kind the app runs on (uvloop where installed, as uvicorn picks
# it) that wakes for every chunk on the provider's schedule and does nothing else. Part of any paced server's CPU
# (a real provider's chunks wake the loop as they arrive over the network), printed beside it so that the rest can
# be read as the app's own work. Run alone, before the apps, in a process of its own.
PACING = r"""
import asyncio, resource, sys, time
chunks, speed = int(sys.argv[1]), float(sys.argv[2])
async def pace():
    start = time.monotonic()
    for k in range(chunks):
        await asyncio.sleep(max(0.0, start + k / speed - time.monotonic()))
try:
    import uvloop
    run, loop = uvloop.run, 'uvloop'
except ImportError:
    run, loop = asyncio.run, 'asyncio'
before = resource.getrusage(resource.RUSAGE_SELF)
run(pace())
after = resource.getrusage(resource.RUSAGE_SELF)
print(loop, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
"""


def pacing_cpu(chunks: int, chunks_per_s: float) -> dict[str, Any]:
    """CPU seconds of an event loop that only waits for each of ``chunks`` chunks on the provider's schedule."""
    try:
        out = subprocess.run([sys.executable, '-c', PACING, str(chunks), repr(chunks_per_s)], capture_output=True,
                             text=True, timeout=60 + 2 * chunks / chunks_per_s, check=True).stdout.split()
        return {'loop': out[0], 'cpu_s': round(float(out[1]), 3)}
    except (subprocess.SubprocessError, OSError, IndexError, ValueError) as exc:
        return {'error': f'{type(exc).__name__}: {exc}'.splitlines()[0]}

def scribe_argv(port: int, data: Path, script: Path, speed: float, chunk: int, *, probe: bool,
                extra: list[str] | None = None) -> list[str]:
    args = ['--no-show', '--port', str(port), '--data-dir', str(data), '--provider', 'demo', '--demo-speed',
            f'{speed:g}', '--demo-chunk', str(chunk), '--demo-script', str(script), *(extra or [])]
    if probe:
        return [sys.executable, '-c', PROBE_BOOT, str(ROOT), *args]
    return [sys.executable, str(ROOT / 'app.py'), *args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m bench', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true', help='a 5,000-character answer instead of 20,000')
    parser.add_argument('--chars', type=int, help='answer size in characters (default 20,000; 5,000 with --quick)')
    parser.add_argument('--speed', type=float, default=2000.0, help='characters per second when paced (2,000)')
    parser.add_argument('--chunk', type=int, default=4, help='characters per chunk (default 4)')
    parser.add_argument('--modes', default='paced,unpaced', help='paced, unpaced or both (default: both)')
    parser.add_argument('--skip-baseline', action='store_true', help='measure Scribe only')
    parser.add_argument('--skip-scribe', action='store_true', help='measure the baseline only')
    parser.add_argument('--timeout', type=float, default=300.0,
                        help='seconds the baseline may take to finish, per pace (default 300; Scribe gets '
                             '60 + 3x ideal)')
    parser.add_argument('--sampler', choices=('mutation', 'loop', 'none'), default='mutation',
                        help='frames sampled after each DOM change (default), by a permanent rAF loop, or not at '
                             "all (to measure the sampler's own cost: no character timings then)")
    parser.add_argument('--probe', choices=('unpaced', 'both', 'none'), default='unpaced',
                        help="run Scribe with the bench's event-loop probe (default: in the unpaced run only, "
                             'where server CPU is not a target)')
    parser.add_argument('--inject-css', help='experiment: add this CSS to the page before the start')
    parser.add_argument('--inject-js', help='experiment: evaluate this JS (a function expression) in the page '
                        'before the start')
    parser.add_argument('--trace', type=Path, help="experiment: write a Chromium trace of Scribe's paced run here "
                        '(and print where the renderer\'s time went); tracing adds CPU of its own')
    parser.add_argument('--profile', type=Path, help="experiment: write a CPU profile of the page's JavaScript in "
                        "Scribe's paced run here (.cpuprofile, DevTools' format) and print its heaviest functions")
    parser.add_argument('--scribe-arg', action='append', default=[], metavar='ARG',
                        help="experiment: pass ARG to Scribe's app.py (repeatable), e.g. "
                             '--scribe-arg=--flush-interval=0.02')
    parser.add_argument('--dump-frames', type=Path, help="write Scribe's paced websocket payloads here (JSON)")
    parser.add_argument('--json', type=Path, default=RESULTS, help=f'where to write the results ({RESULTS})')
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(',') if m.strip()]
    if not modes or any(m not in ('paced', 'unpaced') for m in modes):
        parser.error('--modes takes paced, unpaced or paced,unpaced')
    size = args.chars or (5_000 if args.quick else 20_000)
    answer, code = make_answer(size)
    chunks = -(-len(answer) // args.chunk)
    ideal = ((len(answer) - 1) // args.chunk) * args.chunk / args.speed  # when the last chunk is due
    config = {'characters': len(answer), 'code_characters': len(code), 'chunk': args.chunk, 'speed': args.speed,
              'chunks': chunks, 'ideal_s': round(ideal, 3), 'modes': modes, 'sampler': args.sampler,
              'targets': TARGETS, 'inject_css': args.inject_css, 'inject_js': args.inject_js,
              'scribe_args': args.scribe_arg}

    from playwright.sync_api import sync_playwright

    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix='scribe-bench-') as tmp, sync_playwright() as p:
        work = Path(tmp)
        script = work / 'answer.md'
        script.write_text(answer, encoding='utf-8')
        if 'paced' in modes and not args.skip_scribe:
            print('measuring the provider\'s pacing alone …', flush=True)
            config['pacing'] = pacing_cpu(chunks, args.speed / args.chunk)
        browser = launch_browser(p)
        config['versions'] = _versions(browser)
        plan: list[tuple[bool, str]] = []
        for scribe in ([True] if not args.skip_scribe else []) + ([False] if not args.skip_baseline else []):
            plan += [(scribe, mode) for mode in modes]
        for scribe, mode in plan:
            speed = args.speed if mode == 'paced' else math.inf
            name = f"{'scribe' if scribe else 'baseline'}-{mode}"
            print(f'measuring {name} …', flush=True)
            port = free_port()
            log = work / f'{name}.log'
            probe = args.probe == 'both' or args.probe == mode
            if scribe:
                data = work / f'data-{mode}'
                argv_ = scribe_argv(port, data, script, speed, args.chunk, probe=probe, extra=args.scribe_arg)
                timeout = 60 + 3 * ideal
            else:
                data = None
                argv_ = [sys.executable, str(ROOT / 'bench' / 'baseline_app.py'), '--port', str(port), '--script',
                         str(script), '--speed', f'{speed:g}', '--chunk', str(args.chunk)]
                timeout = args.timeout
            opts = Options(answer=answer, code=code, speed=speed, chunk=args.chunk, timeout=timeout,
                           sampler=args.sampler, inject_css=args.inject_css, inject_js=args.inject_js,
                           data_dir=data, log=log,
                           probe=scribe and probe,
                           trace=args.trace if scribe and mode == 'paced' else None,
                           profile=args.profile if scribe and mode == 'paced' else None,
                           dump_frames=args.dump_frames if scribe and mode == 'paced' else None)
            try:
                # The loop monitor times every callback, which costs CPU of its own: it is on where its figure is
                # a target (unpaced), off where the server's CPU is (paced).
                monitor = scribe and mode == 'unpaced'
                server = Server(name, argv_, port, log, env={'SCRIBE_LOOP_MONITOR': '1'} if monitor else None)
            except RuntimeError as exc:
                runs.append(Run('Scribe' if scribe else 'NiceGUI ui.markdown baseline', mode=mode,
                                error=str(exc).splitlines()[0]))
                continue
            try:
                runs.append(measure(browser, server, scribe=scribe, mode=mode, opts=opts))
            finally:
                server.stop()
            log_tail = log.read_text(errors='replace')[-2000:].strip()
            if runs[-1].error and log_tail:
                print(log_tail, file=sys.stderr)
        browser.close()
    summary = report(runs, config)
    if args.trace is not None and args.trace.exists():
        print_trace_summary(args.trace)
    if args.profile is not None and args.profile.exists():
        print_profile_summary(args.profile)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({'config': config, 'runs': [{**asdict(r), 'received_bytes': r.received_bytes}
                                                               for r in runs],
                                     **summary, 'when': time.strftime('%Y-%m-%dT%H:%M:%S%z')}, indent=2) + '\n')
    print(f'\nresults: {args.json}')
    return 1 if any(r.error for r in runs) else 0


if __name__ == '__main__':
    raise SystemExit(main())
