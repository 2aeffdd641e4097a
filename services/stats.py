"""A few minutes of the process's figures, for people (``/stats``): the numbers ``/metrics`` serves, sampled.

Prometheus keeps history for machines; a person opening ``/stats`` wants the last minutes at a glance without
running one. So the page samples the same figures every few seconds into a bounded ring, and draws gauges as they
are and counters as rates (answers per minute, CPU as a share of one core). A counter that went down was reset
(the process restarted under the same history, or a figure was re-based): that interval has no rate rather than a
negative one. Nothing here knows NiceGUI or where the figures come from.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ['Point', 'Sample', 'StatsHistory']

#: A point of a series: (seconds since the epoch, value or None where there is none).
Point = tuple[float, float | None]


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    values: Mapping[str, float]


class StatsHistory:
    """The last ``capacity`` samples, oldest first. Samples must move forward in time; one that does not (a clock
    stepped back) replaces nothing and is dropped, so every interval between two samples is positive."""

    def __init__(self, capacity: int = 300) -> None:
        if capacity < 2:
            raise ValueError(f'a history needs room for at least 2 samples, got {capacity}')
        self._samples: deque[Sample] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def capacity(self) -> int:
        maxlen = self._samples.maxlen
        assert maxlen is not None
        return maxlen

    def add(self, at: float, values: Mapping[str, float]) -> bool:
        """Keep a sample of finite numbers; False when it is not later than the last one."""
        if not math.isfinite(at) or (self._samples and at <= self._samples[-1].at):
            return False
        self._samples.append(Sample(at, {k: float(v) for k, v in values.items() if math.isfinite(v)}))
        return True

    def samples(self) -> list[Sample]:
        return list(self._samples)

    def latest(self, name: str) -> float | None:
        for sample in reversed(self._samples):
            if name in sample.values:
                return sample.values[name]
        return None

    def gauge(self, name: str, scale: float = 1.0) -> list[Point]:
        """The figure at every sample (None where that sample lacks it), times ``scale``."""
        return [(s.at, s.values[name] * scale if name in s.values else None) for s in self._samples]

    def rate(self, name: str, per: float = 1.0) -> list[Point]:
        """How fast a counter grew between each sample and the one before, per ``per`` seconds. The first sample,
        a sample lacking the figure and an interval where the counter went down have None."""
        out: list[Point] = []
        previous: Sample | None = None
        for sample in self._samples:
            value: float | None = None
            if previous is not None and name in sample.values and name in previous.values:
                grown = sample.values[name] - previous.values[name]
                if grown >= 0:
                    value = grown / (sample.at - previous.at) * per
            out.append((sample.at, value))
            previous = sample
        return out

    def recent_rate(self, name: str, per: float = 1.0) -> float | None:
        """The counter's rate over the last interval that has one."""
        for _, value in reversed(self.rate(name, per)):
            if value is not None:
                return value
        return None
