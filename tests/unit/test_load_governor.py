"""The load governor's control law (pure) and its probe on a real loop."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.load_governor import LoadGovernor


def test_an_idle_loop_leaves_the_preferred_interval_alone() -> None:
    governor = LoadGovernor()
    for _ in range(20):
        governor.observe(0.1, 0.01, 0.0005)
    assert governor.stretch == 1.0
    assert governor.interval(0.04) == 0.04


def test_a_saturated_loop_stretches_the_interval_up_to_the_cap() -> None:
    governor = LoadGovernor(max_interval=0.25)
    for _ in range(50):
        governor.observe(0.1, 0.1, 0.05)
    assert governor.stretch == governor.max_stretch
    assert governor.interval(0.04) == 0.25
    assert governor.interval(0.5) == 0.5  # a preference longer than the cap is kept as it is


def test_the_stretch_grows_with_the_overload_and_decays_slowly_when_it_ends() -> None:
    governor = LoadGovernor(target_utilisation=0.6, smoothing=1.0)
    governor.observe(0.1, 0.072, 0.0)  # 72 % busy: 1.2 × the target
    assert governor.stretch == pytest.approx(1.2)
    governor.observe(0.1, 0.1, 0.0)  # saturated: at most 1.5× per period
    assert governor.stretch == pytest.approx(1.2 * 1.5)
    before = governor.stretch
    governor.observe(0.1, 0.0, 0.0)  # idle: down by at most 5 % per period, so a lull does not undo it at once
    assert governor.stretch == pytest.approx(before * 0.95)


def test_lateness_alone_counts_as_overload() -> None:
    """CPU taken by other processes does not show in the loop's own CPU time, but its timers fire late."""
    governor = LoadGovernor(target_lateness=0.01)
    governor.observe(0.1, 0.0, 0.03)
    assert governor.stretch > 1.0


@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(-0.01, 2.0)), max_size=60),
       st.floats(0.0, 1.0))
def test_the_interval_stays_between_the_preference_and_the_cap(samples: list[tuple[float, float, float]],
                                                              preferred: float) -> None:
    governor = LoadGovernor()
    for wall, cpu, lateness in samples:
        governor.observe(wall, cpu, lateness)
        assert 1.0 <= governor.stretch <= governor.max_stretch
        assert preferred <= governor.interval(preferred) <= max(preferred, governor.max_interval)


async def test_the_probe_measures_a_busy_loop_and_stops_cleanly() -> None:
    governor = LoadGovernor(period=0.02)
    governor.start()
    governor.start()  # idempotent
    deadline = asyncio.get_running_loop().time() + 0.3
    while asyncio.get_running_loop().time() < deadline:
        sum(range(20_000))  # keep the loop busy between short yields
        await asyncio.sleep(0)
    assert governor.utilisation > 0.3
    assert governor.stretch > 1.0
    await governor.stop()
    assert governor.stretch == 1.0
