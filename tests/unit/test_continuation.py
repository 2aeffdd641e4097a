"""Continuations join without duplicating or dropping characters, however the model starts and however the
continuation is chunked."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from services.continuation import ContinuationJoiner

PARTIAL = 'Here is the function:\n\n```python\ndef area(r):\n    return 3.14159 * r'
REST = ' ** 2\n```\n\nIt returns the area of a circle of radius `r`.\n'
FULL = PARTIAL + REST


def join(partial: str, continuation: str, cuts: list[int], **kw: object) -> str:
    joiner = ContinuationJoiner(partial, **kw)  # type: ignore[arg-type]
    out = partial
    points = sorted({0, len(continuation), *(c % (len(continuation) + 1) for c in cuts)})
    for a, b in pairwise(points):
        out += joiner.feed(continuation[a:b])
    return out + joiner.flush()


cuts = st.lists(st.integers(0, 500), max_size=30)


@settings(max_examples=200, deadline=None)
@given(cuts)
def test_a_seamless_continuation_passes_through(c: list[int]) -> None:
    assert join(PARTIAL, REST, c) == FULL


@settings(max_examples=200, deadline=None)
@given(cuts, st.integers(MIN := 4, 40))
def test_a_repeated_tail_is_trimmed(c: list[int], k: int) -> None:
    assert join(PARTIAL, PARTIAL[-k:] + REST, c) == FULL


@settings(max_examples=200, deadline=None)
@given(cuts)
def test_a_restart_from_the_beginning_is_trimmed(c: list[int]) -> None:
    assert join(PARTIAL, FULL, c) == FULL


@settings(max_examples=200, deadline=None)
@given(cuts, st.sampled_from(['', ' ', '\n', '\n\n', '  \n']))
def test_prefill_rewrites_the_stripped_whitespace_once(c: list[int], ws: str) -> None:
    partial = 'Intro text.' + ws
    rest = 'Next sentence.\n'
    assert join(partial, ws + rest, c, prefill=True, stripped=ws) == partial + rest
    assert join(partial, rest, c, prefill=True, stripped=ws) == partial + rest  # the model skipped it


def test_short_chance_overlaps_are_kept() -> None:
    assert join('abc\n', '\nmore', []) == 'abc\n\nmore'
    assert join('x = 1', ' + 2', []) == 'x = 1 + 2'


CODE = ('class Handler:\n    def do_GET(self) -> None:\n        if self.path == "/items":\n'
        '            if item_id.isdigit():\n                return self._send(OK, ITEMS)\n\n\n        x = 1\n')


@settings(max_examples=100, deadline=None)
@given(cuts)
def test_a_cut_inside_indentation_or_blank_lines_loses_nothing(c: list[int]) -> None:
    """The continuation picks up inside a run of spaces or newlines: the rest of the run is new text, not a repeat
    of the partial's end (the pause-past-its-limit e2e test once lost 4 spaces of a line this way)."""
    for k in range(1, len(CODE)):
        if CODE[k - 1] in ' \n' and CODE[k] in ' \n':
            assert join(CODE[:k], CODE[k:], c) == CODE, k


def test_a_repeat_that_is_more_than_whitespace_is_still_trimmed() -> None:
    partial = 'def f():\n        return 1'
    assert join(partial, '        return 1 + 2\n', []) == partial + ' + 2\n'


def test_an_empty_or_tiny_continuation() -> None:
    assert join(PARTIAL, '', []) == PARTIAL
    assert join(PARTIAL, '!', []) == PARTIAL + '!'
    assert join(PARTIAL, PARTIAL[:10], []) == PARTIAL  # it started over and stopped: nothing new
