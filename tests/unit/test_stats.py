"""The history behind /stats: bounded, forward in time only, gauges as they are, counters as rates."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.stats import StatsHistory


def test_a_history_keeps_only_its_capacity_oldest_first() -> None:
    history = StatsHistory(capacity=3)
    for t in range(5):
        assert history.add(float(t), {'x': t * 10.0})
    assert len(history) == 3
    assert [s.at for s in history.samples()] == [2.0, 3.0, 4.0]
    assert history.latest('x') == 40.0


def test_samples_must_move_forward_in_time() -> None:
    history = StatsHistory()
    assert history.add(10.0, {'x': 1.0})
    assert not history.add(10.0, {'x': 2.0})  # same instant
    assert not history.add(9.0, {'x': 3.0})  # the clock stepped back
    assert not history.add(math.nan, {'x': 4.0})
    assert [s.values['x'] for s in history.samples()] == [1.0]


def test_too_small_a_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match='at least 2'):
        StatsHistory(capacity=1)


def test_gauges_are_scaled_and_missing_figures_are_gaps() -> None:
    history = StatsHistory()
    history.add(1.0, {'rss': 2.0 * 2**20})
    history.add(2.0, {})
    history.add(3.0, {'rss': 3.0 * 2**20, 'bad': math.inf})
    assert history.gauge('rss', 1 / 2**20) == [(1.0, 2.0), (2.0, None), (3.0, 3.0)]
    assert history.gauge('bad') == [(1.0, None), (2.0, None), (3.0, None)]  # non-finite values are not kept
    assert history.latest('rss') == 3.0 * 2**20
    assert history.latest('nothing') is None


def test_counters_become_rates_per_interval_and_a_reset_has_none() -> None:
    history = StatsHistory()
    for at, completed in ((0.0, 5.0), (2.0, 7.0), (4.0, 7.0), (6.0, 1.0), (8.0, 4.0)):
        history.add(at, {'done': completed})
    per_minute = history.rate('done', 60)
    assert per_minute == [(0.0, None), (2.0, 60.0), (4.0, 0.0), (6.0, None), (8.0, 90.0)]
    assert history.recent_rate('done', 60) == 90.0
    # CPU seconds as a share of one core, in %: 0.5 s of CPU over 2 s is 25 %
    cpu = StatsHistory()
    cpu.add(0.0, {'cpu': 10.0})
    cpu.add(2.0, {'cpu': 10.5})
    assert cpu.rate('cpu', 100) == [(0.0, None), (2.0, 25.0)]


def test_a_rate_needs_the_figure_on_both_sides() -> None:
    history = StatsHistory()
    history.add(0.0, {'done': 1.0})
    history.add(1.0, {})
    history.add(2.0, {'done': 3.0})
    assert history.rate('done') == [(0.0, None), (1.0, None), (2.0, None)]
    assert history.recent_rate('done') is None


@given(st.lists(st.tuples(st.floats(0.01, 100.0), st.floats(0.0, 1e6)), min_size=2, max_size=50))
def test_the_rates_of_a_growing_counter_add_up_to_its_growth(steps: list[tuple[float, float]]) -> None:
    history = StatsHistory(capacity=100)
    at, value = 0.0, 0.0
    history.add(at, {'c': value})
    for dt, grown in steps:
        at += dt
        value += grown
        assert history.add(at, {'c': value})
    rates = history.rate('c')
    assert all(r is not None and r >= 0 for _, r in rates[1:])
    samples = history.samples()
    intervals = [b.at - a.at for a, b in itertools.pairwise(samples)]
    total = sum(dt * r for dt, (_, r) in zip(intervals, rates[1:], strict=True) if r is not None)
    assert total == pytest.approx(value, rel=1e-6, abs=1e-6)
