"""``/stats`` in Chromium: the figures of ``/metrics`` as charts, counting an answer finished in another tab."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from bench.load_bench import parse_metrics
from tests.e2e.conftest import AppProcess, scripted_app
from tests.e2e.test_streaming import send, wait_done

pytestmark = pytest.mark.e2e

SCRIPT = 'Here it is:\n\n```python\nprint("hello")\n```\n\n' + 'A few more words about it. ' * 30 + '\n'
SERIES = '''(key) => {
  const el = document.querySelector(`[data-testid=stats-chart-${key}]`);
  const chart = el && getElement(el.id.slice(1))?.chart;
  return chart ? chart.getOption().series.map((s) => ({ name: s.name, data: s.data })) : null;
}'''
COMPLETED = '''() => {
  const el = document.querySelector('[data-testid=stats-chart-answers]');
  const chart = el && getElement(el.id.slice(1))?.chart;
  const series = chart && chart.getOption().series.find((s) => s.name === 'Completed /min');
  return !!series && series.data.some((p) => p[1] > 0);
}'''


@pytest.fixture(scope='module')
def stats_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    app = scripted_app(tmp_path_factory.mktemp('stats-app'), SCRIPT, 800)
    yield app
    app.stop()


def _series(page: Page, key: str) -> dict[str, list[Any]]:
    found = page.evaluate(SERIES, key)
    assert found is not None, key
    return {s['name']: s['data'] for s in found}


def test_stats_draws_the_process_and_counts_a_finished_answer(stats_app: AppProcess, page: Page) -> None:
    page.goto(stats_app.url + '/stats')
    expect(page.get_by_test_id('stats-page')).to_be_visible()
    expect(page.get_by_test_id('stats-value-memory')).to_have_text(re.compile(r'^\d+ MB$'))
    expect(page.get_by_test_id('stats-value-threads')).to_have_text(re.compile(r'^\d+$'))
    expect(page.get_by_test_id('stats-value-uptime')).to_have_text(re.compile(r'\d+ (s|min|h|d)'))
    for key in ('answers', 'pages', 'cpu', 'memory', 'bus'):
        expect(page.get_by_test_id(f'stats-chart-{key}').locator('canvas').first).to_be_attached()

    # An answer in another tab: once it is done, the next sample counts it.
    workspace = page.context.new_page()
    workspace.goto(stats_app.url)
    send(workspace, 'Print a greeting.')
    wait_done(workspace)
    page.wait_for_function(COMPLETED, timeout=15_000)
    expect(page.get_by_test_id('stats-value-pages')).not_to_have_text('0')

    # The memory chart draws the resident memory /metrics reports, in MB.
    with urllib.request.urlopen(stats_app.url + '/metrics', timeout=30) as response:
        rss_mb = parse_metrics(response.read().decode())['process_resident_memory_bytes'] / 2**20
    drawn = [value for _, value in _series(page, 'memory')['Resident'] if value is not None]
    assert drawn and abs(drawn[-1] - rss_mb) < 0.25 * rss_mb

    # A page opened later shows the history so far at once, not only what it samples itself.
    later = page.context.new_page()
    later.goto(stats_app.url + '/stats')
    expect(later.get_by_test_id('stats-page')).to_be_visible()
    assert len(_series(later, 'memory')['Resident']) >= 3
    later.get_by_test_id('stats-back').click()
    later.wait_for_url(stats_app.url + '/')
    later.goto(stats_app.url + '/settings')
    later.get_by_test_id('settings-stats-link').click()
    later.wait_for_url(stats_app.url + '/stats')
