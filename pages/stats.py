"""/stats: the figures of ``/metrics`` as charts for people (UI-CONTRACT.md).

The process samples ``pages.metrics.figures()`` every ``INTERVAL`` seconds into a bounded history
(``services/stats.py``) from the first time anyone opens this page, so a page opened later shows the last minutes
at once; each open page redraws its charts from that history on the same beat. Gauges are drawn as they are;
counters as rates (answers per minute, CPU as a share of one core). Nothing is sampled until the page is first
asked for, and the benchmarks never ask for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from nicegui import background_tasks, ui

from pages.metrics import figures
from pages.workspace import page_look, side_page_bar
from services.app_services import current
from services.stats import Point, StatsHistory

log = logging.getLogger(__name__)

INTERVAL = 2.0  # seconds between samples, and between two redraws of an open page
history = StatsHistory(capacity=300)  # ten minutes
_sampler: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class Series:
    label: str
    figure: str
    kind: str = 'gauge'  # 'gauge' | 'rate'
    factor: float = 1.0  # gauge: times this; rate: per this many seconds

    def points(self, source: StatsHistory) -> list[Point]:
        return source.rate(self.figure, self.factor) if self.kind == 'rate' else source.gauge(self.figure, self.factor)


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    unit: str
    series: tuple[Series, ...]


CHARTS = (
    Chart('answers', 'Answers', 'streaming now, and finished per minute', (
        Series('Streaming now', 'scribe_streams_active'),
        Series('Completed /min', 'scribe_streams_completed_total', 'rate', 60),
        Series('Interrupted /min', 'scribe_streams_interrupted_total', 'rate', 60),
        Series('Failed /min', 'scribe_streams_error_total', 'rate', 60),
    )),
    Chart('pages', 'Pages', 'pages', (
        Series('Connected', 'scribe_clients_connected'),
        Series('Held in memory', 'scribe_clients'),
    )),
    Chart('cpu', 'CPU', '% of one core', (
        Series('Process', 'process_cpu_seconds_total', 'rate', 100),
        Series('Event loop busy', 'scribe_loop_utilisation', 'gauge', 100),
    )),
    Chart('memory', 'Memory', 'MB', (
        Series('Resident', 'process_resident_memory_bytes', 'gauge', 1 / 2**20),
    )),
    Chart('bus', 'Event bus', 'count', (
        Series('Topics', 'scribe_bus_topics'),
        Series('Subscriptions', 'scribe_bus_subscriptions'),
        Series('Events held', 'scribe_bus_events'),
    )),
)


def sample_now() -> None:
    try:
        history.add(time.time(), figures())
    except Exception:  # a figure that cannot be read this time must not end the sampling
        log.exception('could not read the figures for /stats')


async def _sample_forever() -> None:
    while True:
        await asyncio.sleep(INTERVAL)
        sample_now()


def start_sampling() -> None:
    global _sampler  # one sampler per process, started by the first visit
    if _sampler is None or _sampler.done():
        sample_now()
        _sampler = background_tasks.create(_sample_forever(), name='stats-sampler')


def tiles() -> dict[str, tuple[str, str]]:
    """The figures of the moment: key → (label, text)."""
    def shown(value: float | None, fmt: str) -> str:
        return '—' if value is None else fmt.format(value)

    rss = history.latest('process_resident_memory_bytes')
    started = history.latest('process_start_time_seconds')
    return {
        'streams': ('Streaming now', shown(history.latest('scribe_streams_active'), '{:.0f}')),
        'pages': ('Pages connected', shown(history.latest('scribe_clients_connected'), '{:.0f}')),
        'cpu': ('CPU', shown(history.recent_rate('process_cpu_seconds_total', 100), '{:.0f} %')),
        'memory': ('Memory', shown(None if rss is None else rss / 2**20, '{:.0f} MB')),
        'threads': ('Threads', shown(history.latest('process_threads'), '{:.0f}')),
        'uptime': ('Up for', '—' if started is None else duration(time.time() - started)),
    }


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f'{days} d {hours} h'
    if hours:
        return f'{hours} h {minutes} min'
    return f'{minutes} min {seconds} s' if minutes else f'{seconds} s'


def _options(chart: Chart) -> dict[str, Any]:
    muted = '#8a8a96'  # readable on the light and the dark theme alike
    return {
        'animation': False,
        'backgroundColor': 'transparent',
        'grid': {'left': 48, 'right': 16, 'top': 32, 'bottom': 28},
        'legend': {'type': 'scroll', 'top': 0, 'textStyle': {'color': muted}},
        'tooltip': {'trigger': 'axis'},
        'xAxis': {'type': 'time', 'axisLabel': {'color': muted}},
        'yAxis': {'type': 'value', 'min': 0, 'axisLabel': {'color': muted},
                  'splitLine': {'lineStyle': {'opacity': 0.3}}},
        'series': [{'type': 'line', 'name': s.label, 'showSymbol': False, 'connectNulls': False, 'data': []}
                   for s in chart.series],
    }


class StatsPage:
    def __init__(self) -> None:
        self.charts: dict[str, ui.echart] = {}
        self.tiles: dict[str, ui.label] = {}

    async def build(self) -> None:
        await page_look(current())
        with side_page_bar('Stats', 'stats-back'):
            ui.link('Prometheus text', '/metrics').classes('text-sm').props('data-testid=stats-metrics-link')
        with ui.column().classes('scribe-stats q-pa-md gap-4').props('data-testid=stats-page'):
            ui.label(f'This process, sampled every {INTERVAL:g} s; the last {history.capacity * INTERVAL / 60:g} '
                     'minutes.').classes('scribe-pref-hint')
            with ui.row().classes('scribe-stats-tiles gap-3'):
                for key, (label, _) in tiles().items():
                    with ui.column().classes('scribe-stats-tile gap-0'):
                        ui.label(label).classes('scribe-pref-hint')
                        self.tiles[key] = ui.label('—').classes('text-lg font-semibold').props(
                            f'data-testid=stats-value-{key}')
            with ui.element('div').classes('scribe-stats-grid'):
                for chart in CHARTS:
                    with ui.column().classes('scribe-section gap-1'):
                        with ui.row().classes('items-baseline gap-2'):
                            ui.label(chart.title).classes('scribe-section-title')
                            ui.label(chart.unit).classes('scribe-pref-hint')
                        self.charts[chart.key] = ui.echart(_options(chart)).classes('scribe-stats-chart').props(
                            f'data-testid=stats-chart-{chart.key}')
        self.refresh()
        ui.timer(INTERVAL, self.refresh)

    def refresh(self) -> None:
        for key, (_, text) in tiles().items():
            self.tiles[key].text = text
        for chart in CHARTS:
            element = self.charts[chart.key]
            for entry, series in zip(element.options['series'], chart.series, strict=True):
                entry['data'] = [[round(at * 1000), None if value is None else round(value, 3)]
                                 for at, value in series.points(history)]
            element.update()


@ui.page('/stats', title='Stats · Scribe')
async def stats_page() -> None:
    start_sampling()
    await StatsPage().build()
