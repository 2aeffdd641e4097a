"""``/metrics`` on the real app (a subprocess): Prometheus text with the figures the benches read, and an answer
followed over NiceGUI's own websocket protocol (bench/sio_client.py, no browser) leaves nothing behind."""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import platform
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.load_bench import parse_metrics
from bench.sio_client import ScribeBrowser, build_reference, http_session
from tests.e2e.conftest import AppProcess, scripted_app

pytestmark = pytest.mark.e2e

SCRIPT = ('Here is the function, with a **greeting** & a `name`.\n\n'
          '```python\ndef greet(name: str) -> str:\n    return f"Hello, {name}!"\n```\n\n'
          + 'Call it with a name; it returns the greeting as a string. ' * 12 + '\n')  # ~900 chars, ~2 s at 400/s
REQUIRED = (
    'scribe_streams_active', 'scribe_bus_topics', 'scribe_bus_subscriptions', 'scribe_clients',
    'process_resident_memory_bytes', 'process_cpu_seconds_total',
)
LOOP = ('scribe_event_loop_block_seconds_count', 'scribe_event_loop_block_seconds_sum',
        'scribe_event_loop_block_seconds_max', 'scribe_event_loop_block_seconds_bucket{le="+Inf"}',
        'scribe_event_loop_block_seconds_bucket{le="0.1"}')


def _get(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode('utf-8'), response.headers.get('Content-Type', '')


@pytest.fixture(scope='module')
def monitored_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    app = scripted_app(tmp_path_factory.mktemp('metrics-app'), SCRIPT, 400, env={'SCRIBE_LOOP_MONITOR': '1'})
    yield app
    app.stop()


def test_metrics_are_prometheus_text_with_the_contract_names(monitored_app: AppProcess) -> None:
    text, content_type = _get(monitored_app.url + '/metrics')
    assert content_type.startswith('text/plain')
    metrics = parse_metrics(text)
    for name in (*REQUIRED, *LOOP):
        assert name in metrics, name
    assert '# TYPE scribe_event_loop_block_seconds histogram' in text
    assert metrics['process_resident_memory_bytes'] > 0
    # the histogram is consistent: cumulative buckets, +Inf equals the count
    buckets = [(float(key.split('"')[1]), value) for key, value in metrics.items()
               if key.startswith('scribe_event_loop_block_seconds_bucket')]
    ordered = [value for _, value in sorted(buckets, key=lambda b: b[0])]
    assert ordered == sorted(ordered)
    assert metrics['scribe_event_loop_block_seconds_bucket{le="+Inf"}'] == metrics[
        'scribe_event_loop_block_seconds_count'] > 0
    assert not math.isnan(metrics['scribe_event_loop_block_seconds_sum'])
    with pytest.raises(urllib.error.HTTPError):  # the memory debug page exists only with SCRIBE_DEBUG_MEMORY=1
        _get(monitored_app.url + '/debug/memory')


async def _follow_one_answer(app: AppProcess) -> tuple[str | None, bool, dict[str, float]]:
    async with http_session() as http:
        browser = ScribeBrowser(app.url, http)
        await browser.open('/')
        await browser.send('Write the greeting function.')
        during: dict[str, float] = {}
        deadline = time.monotonic() + 30
        # Until the stream runs and the page's card follows it: the card subscribes once the answer's first
        # characters are there (it may wait a moment for them), not at the instant the stream starts.
        while time.monotonic() < deadline and not (during.get('scribe_streams_active')
                                                   and during.get('scribe_bus_subscriptions')):
            during = parse_metrics((await asyncio.to_thread(_get, app.url + '/metrics'))[0])
            await asyncio.sleep(0.05)
        message, status = await browser.wait_for_answer(timeout=60)
        view = browser.view_of(message) if message is not None else None
        reference = build_reference(SCRIPT, chunk=4, speed=400)
        exact = view is not None and browser.views[view].code_texts() == reference.code \
            and browser.views[view].state_key() == reference.final_key
        await browser.close()
    return status, exact, during


def test_an_answer_followed_over_the_websocket_is_exact_and_leaves_nothing_behind(monitored_app: AppProcess) -> None:
    # pages loaded without a websocket (the fixture's readiness check) are pruned by NiceGUI after a minute
    baseline = parse_metrics(_get(monitored_app.url + '/metrics')[0])['scribe_clients']
    # On a thread of its own: the e2e tier shares one process with Playwright's sync API, whose loop is running here.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        status, exact, during = pool.submit(asyncio.run, _follow_one_answer(monitored_app)).result()
    assert status == 'completed'
    assert exact
    assert during.get('scribe_streams_active') == 1
    assert during.get('scribe_bus_subscriptions', 0) >= 1
    # The page closed: NiceGUI deletes it after its reconnect timeout (3 s); then nothing of the stream is left.
    deadline = time.monotonic() + 30
    metrics: dict[str, float] = {}
    while time.monotonic() < deadline:
        metrics = parse_metrics(_get(monitored_app.url + '/metrics')[0])
        if metrics['scribe_clients'] <= baseline and metrics['scribe_bus_topics'] == 0:
            break
        time.sleep(0.25)
    assert metrics['scribe_streams_active'] == 0
    assert metrics['scribe_bus_topics'] == 0
    assert metrics['scribe_bus_subscriptions'] == 0
    assert metrics['scribe_clients'] <= baseline


def test_the_loop_monitor_is_off_by_default(tmp_path: Path) -> None:
    app = AppProcess(tmp_path / 'data', '--provider', 'demo').start()
    try:
        metrics = parse_metrics(_get(app.url + '/metrics')[0])
    finally:
        app.stop()
    assert 'scribe_streams_active' in metrics
    assert not any(key.startswith('scribe_event_loop') for key in metrics)
    # app.py restarted itself on glibc's malloc (services/allocator.py), where the C library is glibc
    expected = 'malloc' if platform.libc_ver()[0] == 'glibc' else 'pymalloc'
    assert metrics[f'scribe_python_allocator{{name="{expected}"}}'] == 1
