"""The browser's floor: what the stream bench's answer costs a page that does nothing but show it.

The stream bench's two browser targets pull against each other. The display's lag behind the provider grows
through each of its steps, so its median is about the age of the text a step shows plus half the time between
steps: a median of 20 ms needs a step on nearly every frame of a 60 Hz display. And every step is a frame the
renderer draws. This measures that trade-off without any app in the way: a blank page (one ``<pre>``, no
framework, no network) plays the same answer on the provider's schedule, on the page's own clock, and appends
what is due as one text node every ``--cadences`` ms (a timer, so steps land at any point of a frame, as
messages from a server do). There is no server, no message, no parsing, no highlighting: the age of the text a
step shows is only the wait for the next frame. In the same Chromium and viewport as the stream bench, with the
same page-side sampler, it prints for each cadence the renderer CPU and the lag's median and p95, and the lowest
renderer CPU at which even this page reaches the lag target (``--target-lag``).

Read it against the stream bench's Scribe row: a cadence whose renderer CPU is already near the target here
leaves an app no room for its own work per step. Written to ``bench/results/floor.json``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.answer import make_answer
from bench.stream_bench import (
    COLLECT,
    ROOT,
    SAMPLER,
    _percentile,
    _table,
    browser_cpu,
    cpu_delta,
    lag_series,
    launch_browser,
)

RESULTS = ROOT / 'bench' / 'results' / 'floor.json'
PAGE = ('<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0 auto;max-width:920px;'
        'font:14px/1.6 sans-serif"><pre id="out" style="white-space:pre-wrap;overflow-wrap:anywhere;'
        'font:13px/1.5 monospace"></pre></body></html>')
# The page's own provider: chunk k of the answer is due at t0 + k * chunk / speed. Each step appends everything due
# by then and scrolls to the end, as a chat that follows its answer does.
PLAY = """(o) => new Promise((done) => {
  const out = document.getElementById('out');
  const t0 = performance.now();
  window.__bench.start = t0;
  let shown = 0, steps = 0;
  const step = () => {
    const due = Math.min(o.text.length,
      (Math.floor((performance.now() - t0) * o.speed / 1000 / o.chunk) + 1) * o.chunk);
    if (due > shown) {
      out.appendChild(document.createTextNode(o.text.slice(shown, due)));
      shown = due;
      steps += 1;
      document.scrollingElement.scrollTop = 1e9;
    }
    if (shown < o.text.length) setTimeout(step, o.cadence);
    else setTimeout(() => done({ t0, steps }), 300);
  };
  step();
})"""


def measure(browser: Any, text: str, *, cadence: float, speed: float, chunk: int) -> dict[str, Any]:
    context = browser.new_context(viewport={'width': 1280, 'height': 900})
    page = context.new_page()
    try:
        page.set_content(PAGE)
        page.evaluate(SAMPLER, {'selector': '#out', 'startEvent': 'none', 'parts': '(el) => [el]', 'code': 'pre',
                                'highlight': 'span', 'loop': False, 'sample': True})
        page.wait_for_timeout(500)
        before = browser_cpu()
        played = page.evaluate(PLAY, {'text': text, 'cadence': cadence, 'speed': speed, 'chunk': chunk})
        cpu = cpu_delta(before, browser_cpu())
        samples = page.evaluate(COLLECT)
    finally:
        context.close()
    frames = [(float(t), int(n)) for t, n in samples['frames']]
    exact = samples['text'] == text
    t0 = float(played['t0'])
    last = next((t for t, n in frames if n == len(text)), frames[-1][0] if frames else t0)
    lags = lag_series(frames, list(range(len(text) + 1)), t0, last, speed, chunk, len(text))
    return {'cadence_ms': cadence, 'steps': played['steps'], 'renderer_cpu_s': round(cpu.get('renderer', 0.0), 3),
            'lag_median_ms': round(statistics.median(lags), 1) if lags else None,
            'lag_p95_ms': round(_percentile(lags, 0.95), 1) if lags else None, 'exact': exact}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--chars', type=int, default=20_000, help='answer size in characters (20,000)')
    parser.add_argument('--speed', type=float, default=2000.0, help='characters per second (2,000)')
    parser.add_argument('--chunk', type=int, default=4, help='characters per chunk (4)')
    parser.add_argument('--cadences', default='16,20,25,33,40',
                        help='ms between steps, comma-separated (default 16,20,25,33,40)')
    parser.add_argument('--target-lag', type=float, default=20.0, help='the lag median target, ms (20)')
    parser.add_argument('--json', type=Path, default=RESULTS, help=f'where to write the results ({RESULTS})')
    args = parser.parse_args(argv)
    text, _ = make_answer(args.chars)
    cadences = [float(c) for c in args.cadences.split(',') if c.strip()]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_browser(p)
        rows = [measure(browser, text, cadence=c, speed=args.speed, chunk=args.chunk) for c in cadences]
        version = browser.version
        browser.close()
    print(f'\nA blank page playing the {len(text):,}-character answer at {args.speed:,.0f} chars/s on its own clock '
          f'(no server, no framework), one text node per step, in Chromium {version}:')
    _table(('step every', 'steps', 'renderer CPU', 'lag median', 'lag p95', 'exact'),
           [(f'{r["cadence_ms"]:g} ms', str(r['steps']), f'{r["renderer_cpu_s"]:.2f} s', f'{r["lag_median_ms"]} ms',
             f'{r["lag_p95_ms"]} ms', 'yes' if r['exact'] else 'NO') for r in rows])
    reaching = [r for r in rows if r['lag_median_ms'] is not None and r['lag_median_ms'] <= args.target_lag]
    if reaching:
        best = min(reaching, key=lambda r: r['renderer_cpu_s'])
        verdict = (f'lag median ≤ {args.target_lag:g} ms at the least renderer CPU: a step every '
                   f'{best["cadence_ms"]:g} ms, {best["renderer_cpu_s"]:.2f} s of renderer CPU for a page that only '
                   'appends text')
    else:
        verdict = f'no cadence measured reaches a lag median of {args.target_lag:g} ms even here'
    print(verdict)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({'rows': rows, 'verdict': verdict, 'chromium': version,
                                     'when': time.strftime('%Y-%m-%dT%H:%M:%S%z')}, indent=2) + '\n')
    print(f'\nresults: {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
