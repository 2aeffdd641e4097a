"""The renderer's operations, applied the way stream_view.js applies them, build the same display however the
answer was chunked and whenever the flushes fell, and a snapshot taken mid-stream continues seamlessly."""

from __future__ import annotations

import html
import re
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.parser import parse
from services.rendering import MessageRenderer, _tail_op, apply_tail, render_static

ANSWER = (
    'Intro with `code` and <script>alert(1)</script>.\n\n'
    '- one\n- two\n\n'
    '```python\n'
    'def f(x):\n'
    '    """Doc\n    string."""\n'
    '    return "```"\n'
    '```\n'
    'Between.\n'
    '~~~\n'
    'no language here\n'
    '~~~\n'
    '```ts\n'
    'const a = 1; /* multi\n line */\n'
)

FRAGMENTS = ['```', '```python\n', '~~~\n', '\n', '\n\n', 'word ', '# Head\n', '- item\n', '`x`', 'def f():\n',
             '    return 1\n', '"""', '/*', '*/', 'é', '👩‍💻', '\r\n', '<b>', '\u2028', '> quote\n']


class Display:
    """A Python model of stream_view.js."""

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}

    def apply(self, ops: list[list[Any]]) -> None:
        for op in ops:
            kind, i = op[0], op[1]
            if kind in ('P', 'p', 'q'):
                block = self.blocks.setdefault(i, {'kind': 'prose', 'done': '', 'tail': '', 'closed': False})
                if kind == 'P':
                    block['done'] += op[2]
                else:
                    block['tail'] = apply_tail(block['tail'], op)
            elif kind == 'C':
                self.blocks.setdefault(i, {'kind': 'code', 'lang': op[2], 'info': op[3], 'lines': [], 'tail': '',
                                           'closed': False})
            elif kind == 'L':
                self.blocks[i]['lines'][op[2]:op[2] + len(op[3])] = op[3]
            elif kind in ('t', 'u'):
                self.blocks[i]['tail'] = apply_tail(self.blocks[i]['tail'], op)
            elif kind == 'g':
                self.blocks[i]['lang'] = op[2]
            elif kind == 'X' and i in self.blocks:  # a whitespace-only prose block never shows
                self.blocks[i]['tail'] = ''
                self.blocks[i]['closed'] = True


def plain(fragment: str) -> str:
    return html.unescape(re.sub(r'<[^>]+>', '', fragment))


def stream(text: str, cuts: list[int], flush_every: int) -> Display:
    renderer, display = MessageRenderer(), Display()
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    for n, (a, b) in enumerate(pairwise(points)):
        renderer.feed(text[a:b])
        if n % flush_every == 0:
            display.apply(renderer.take_ops())
    renderer.finish()
    display.apply(renderer.take_ops())
    return display


def static(text: str) -> Display:
    display = Display()
    display.apply(render_static(text))
    return display


def test_static_rendering_shows_code_exactly_and_hostile_text_inert() -> None:
    display = static(ANSWER)
    codes = [b for b in display.blocks.values() if b['kind'] == 'code']
    assert [plain(''.join(b['lines'])) for b in codes] == [b.text for b in parse(ANSWER) if b.kind == 'code']
    assert codes[0]['lang'] == 'python' and codes[2]['lang'] in ('ts', 'typescript')
    assert all(b['closed'] for b in display.blocks.values())
    prose = ''.join(b['done'] for b in display.blocks.values() if b['kind'] == 'prose')
    assert '<script>' not in prose and '&lt;script&gt;' in prose


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=400), max_size=40), st.integers(min_value=1, max_value=5))
def test_any_chunking_and_flush_timing_gives_the_static_display(cuts: list[int], flush_every: int) -> None:
    assert stream(ANSWER, cuts, flush_every).blocks == static(ANSWER).blocks


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=25), st.lists(st.integers(0, 300), max_size=20))
def test_generated_answers_render_the_same_live_and_static(parts: list[str], cuts: list[int]) -> None:
    text = ''.join(parts)
    assert stream(text, cuts, 2).blocks == static(text).blocks


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=len(ANSWER)), st.lists(st.integers(0, 400), max_size=20))
def test_snapshot_mid_stream_then_live_ops_equal_the_whole(split: int, cuts: list[int]) -> None:
    renderer = MessageRenderer()
    renderer.feed(ANSWER[:split])
    renderer.take_ops()  # published to earlier subscribers
    late = Display()
    late.apply(renderer.snapshot_ops())
    points = sorted({split, len(ANSWER), *(split + c % (len(ANSWER) - split + 1) for c in cuts)})
    for a, b in pairwise(points):
        renderer.feed(ANSWER[a:b])
        late.apply(renderer.take_ops())
    renderer.finish()
    late.apply(renderer.take_ops())
    assert late.blocks == static(ANSWER).blocks


def test_feed_only_queues_and_take_ops_parses_what_arrived_in_one_go() -> None:
    chunked, whole = MessageRenderer(), MessageRenderer()
    for i in range(0, len(ANSWER), 3):
        chunked.feed(ANSWER[i:i + 3])
    chunked.feed('')
    whole.feed(ANSWER)
    assert chunked.snapshot_ops() == []          # nothing is parsed before the flush
    ops = chunked.take_ops()
    assert ops == whole.take_ops() and ops
    assert chunked.snapshot_ops() == whole.snapshot_ops()
    assert chunked.take_ops() == []               # nothing new arrived
    chunked.finish()
    whole.finish()
    assert chunked.take_ops() == whole.take_ops()


def test_finish_parses_what_is_still_queued() -> None:
    renderer = MessageRenderer()
    for i in range(0, len(ANSWER), 5):
        renderer.feed(ANSWER[i:i + 5])
    renderer.finish()
    display = Display()
    display.apply(renderer.take_ops())
    assert display.blocks == static(ANSWER).blocks


@given(st.text(alphabet=st.sampled_from('ab<>/p😀é\r\n'), max_size=60),
       st.text(alphabet=st.sampled_from('ab<>/p😀é\r\n'), max_size=60))
def test_a_tail_delta_rebuilds_the_new_tail_exactly(old: str, new: str) -> None:
    """A growing tail sends only its changed end, counted in UTF-16 units as JavaScript slices strings."""
    op = _tail_op('p', 'q', 0, old, new)
    assert apply_tail(old, op) == new
    if op[0] == 'q':
        assert len(op[3]) < len(new)


def test_a_growing_paragraph_resends_only_its_end() -> None:
    renderer = MessageRenderer()
    renderer.feed('A paragraph that keeps growing, word by word, ')
    renderer.take_ops()
    renderer.feed('and more 😀 words')
    ops = renderer.take_ops()
    assert [op[0] for op in ops] == ['q'] and 'and more' in ops[0][3] and 'keeps growing' not in ops[0][3]
