"""/stats' sampling and tiles without a browser: a figure that cannot be read skips a sample and is logged, the
tiles say "—" until there is something to show, and durations read plainly."""

from __future__ import annotations

import logging

import pytest

import pages.stats as stats
from services.stats import StatsHistory


@pytest.fixture
def history(monkeypatch: pytest.MonkeyPatch) -> StatsHistory:
    fresh = StatsHistory(capacity=10)
    monkeypatch.setattr(stats, 'history', fresh)
    return fresh


def test_a_failed_reading_skips_the_sample_and_is_logged(history: StatsHistory, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> dict[str, float]:
        raise OSError('/proc is gone')

    monkeypatch.setattr(stats, 'figures', broken)
    with caplog.at_level(logging.ERROR, logger='pages.stats'):
        stats.sample_now()
    assert len(history) == 0
    assert 'could not read the figures' in caplog.text
    monkeypatch.setattr(stats, 'figures', lambda: {'process_threads': 7.0})
    stats.sample_now()
    assert history.latest('process_threads') == 7.0


def test_the_real_figures_are_sampled(history: StatsHistory) -> None:
    stats.sample_now()
    assert history.latest('process_resident_memory_bytes') or history.latest('process_threads')


def test_tiles_show_a_dash_until_there_is_a_figure(history: StatsHistory) -> None:
    assert {text for _, text in stats.tiles().values()} == {'—'}
    history.add(100.0, {'process_cpu_seconds_total': 1.0, 'process_resident_memory_bytes': 150 * 2**20,
                        'scribe_streams_active': 2, 'process_start_time_seconds': 0.0})
    history.add(102.0, {'process_cpu_seconds_total': 1.5, 'process_resident_memory_bytes': 151 * 2**20,
                        'scribe_streams_active': 1, 'process_start_time_seconds': 0.0})
    shown = {key: text for key, (_, text) in stats.tiles().items()}
    assert shown['cpu'] == '25 %'
    assert shown['memory'] == '151 MB'
    assert shown['streams'] == '1'
    assert shown['pages'] == '—'


@pytest.mark.parametrize(('seconds', 'text'), [
    (0, '0 s'), (59.9, '59 s'), (61, '1 min 1 s'), (3600, '1 h 0 min'), (90061, '1 d 1 h'), (-5, '0 s'),
])
def test_durations_read_plainly(seconds: float, text: str) -> None:
    assert stats.duration(seconds) == text
