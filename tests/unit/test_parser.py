"""The incremental parser: CommonMark's fence rules, what is withheld and for how long, and chunking invariance."""

from __future__ import annotations

import itertools
import re
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from services.blocks import (
    Block,
    BlockClosed,
    BlockEvent,
    CodeLine,
    CodeOpened,
    CodeTail,
    ProseExtended,
    apply_events,
)
from services.parser import StreamParser, parse

# --- helpers ------------------------------------------------------------------------------------------------------


def stream(chunks: list[str]) -> tuple[list[list[BlockEvent]], list[Block]]:
    """Feed ``chunks`` then flush; return the events of each call (flush's last) and the blocks they build."""
    parser = StreamParser()
    calls = [parser.feed(chunk) for chunk in chunks]
    calls.append(parser.flush())
    return calls, apply_events([], [event for call in calls for event in call])


def shape(blocks: list[Block]) -> list[tuple[str, ...]]:
    """A compact view of blocks for asserting on: prose as (kind, text), code as (kind, opening, text, closing)."""
    out: list[tuple[str, ...]] = []
    for b in blocks:
        assert b.closed
        if b.kind == 'prose':
            out.append(('prose', b.text))
        else:
            out.append(('code', b.opening, b.text, b.closing))
    return out


def code(blocks: list[Block]) -> list[Block]:
    return [b for b in blocks if b.kind == 'code']


def prose_texts(calls: list[list[BlockEvent]]) -> list[str]:
    return [e.text for call in calls for e in call if isinstance(e, ProseExtended)]


# --- fence rules --------------------------------------------------------------------------------------------------


def test_backtick_fence() -> None:
    assert shape(parse('Intro\n```\nx = 1\n```\nOutro\n')) == [
        ('prose', 'Intro\n'),
        ('code', '```\n', 'x = 1\n', '```\n'),
        ('prose', 'Outro\n'),
    ]


def test_tilde_fence() -> None:
    assert shape(parse('~~~\nx\n~~~\n')) == [('code', '~~~\n', 'x\n', '~~~\n')]


@pytest.mark.parametrize('fence', ['```', '~~~', '````', '~~~~~~'])
def test_fence_of_three_or_more(fence: str) -> None:
    assert shape(parse(f'{fence}\nx\n{fence}\n')) == [('code', f'{fence}\n', 'x\n', f'{fence}\n')]


@pytest.mark.parametrize('line', ['``', '~~', '`', '~'])
def test_fewer_than_three_is_prose(line: str) -> None:
    assert shape(parse(f'{line}\nx\n')) == [('prose', f'{line}\nx\n')]


def test_info_string() -> None:
    (block,) = parse('```  python  title="a b"  \nx\n```\n')
    assert block.info == 'python  title="a b"'
    assert block.language == 'python'
    assert block.indent == 0
    (block,) = parse('~~~ruby\nx\n~~~\n')
    assert block.info == 'ruby'


def test_backtick_in_info_is_not_a_backtick_fence() -> None:
    assert shape(parse('```foo`\nx\n```\n')) == [('prose', '```foo`\nx\n'), ('code', '```\n', '', '')]
    assert shape(parse('``` a`b\nx\n')) == [('prose', '``` a`b\nx\n')]


def test_backtick_in_info_is_fine_for_a_tilde_fence() -> None:
    (block,) = parse('~~~ a`b```\nx\n~~~\n')
    assert block.kind == 'code'
    assert block.info == 'a`b```'


def test_closing_fence_must_be_at_least_as_long() -> None:
    assert shape(parse('````\n```\nx\n````\n')) == [('code', '````\n', '```\nx\n', '````\n')]
    assert shape(parse('```\nx\n`````\n')) == [('code', '```\n', 'x\n', '`````\n')]


def test_closing_fence_must_use_the_same_char() -> None:
    assert shape(parse('```\n~~~\nx\n```\n')) == [('code', '```\n', '~~~\nx\n', '```\n')]
    assert shape(parse('~~~\n```\nx\n~~~\n')) == [('code', '~~~\n', '```\nx\n', '~~~\n')]


def test_closing_fence_with_trailing_spaces_and_tabs() -> None:
    assert shape(parse('```\nx\n``` \t \ny\n')) == [('code', '```\n', 'x\n', '``` \t \n'), ('prose', 'y\n')]


def test_closing_fence_with_text_after_is_a_code_line() -> None:
    assert shape(parse('```\nx\n``` y\n```\n')) == [('code', '```\n', 'x\n``` y\n', '```\n')]


@pytest.mark.parametrize('indent', [1, 2, 3])
def test_up_to_three_spaces_of_indentation(indent: int) -> None:
    pad = ' ' * indent
    (block,) = parse(f'{pad}```py\nx\n{pad}```\n')
    assert (block.kind, block.indent, block.info, block.closing) == ('code', indent, 'py', f'{pad}```\n')


def test_four_spaces_is_not_a_fence() -> None:
    assert shape(parse('    ```\nx\n    ```\n')) == [('prose', '    ```\nx\n    ```\n')]
    assert shape(parse('\t```\nx\n')) == [('prose', '\t```\nx\n')]


def test_four_spaces_does_not_close() -> None:
    assert shape(parse('```\nx\n    ```\n```\n')) == [('code', '```\n', 'x\n    ```\n', '```\n')]


def test_closing_fence_may_be_indented_differently() -> None:
    assert shape(parse('  ```\nx\n```\n')) == [('code', '  ```\n', 'x\n', '```\n')]
    assert shape(parse('```\nx\n   ```\n')) == [('code', '```\n', 'x\n', '   ```\n')]


def test_fence_interrupts_a_paragraph() -> None:
    assert shape(parse('some text\nmore text\n```js\nf()\n```\n')) == [
        ('prose', 'some text\nmore text\n'),
        ('code', '```js\n', 'f()\n', '```\n'),
    ]


def test_fence_like_lines_inside_code_are_code() -> None:
    body = '``\n~~~\n```python\n    ```\n``` x\n'
    assert shape(parse(f'```\n{body}```\n')) == [('code', '```\n', body, '```\n')]


def test_nested_four_backticks_containing_three() -> None:
    text = '````markdown\nExample:\n```python\nprint(1)\n```\n````\nafter\n'
    assert shape(parse(text)) == [
        ('code', '````markdown\n', 'Example:\n```python\nprint(1)\n```\n', '````\n'),
        ('prose', 'after\n'),
    ]


def test_unterminated_fence_runs_to_the_end() -> None:
    assert shape(parse('a\n```py\nx\ny')) == [('prose', 'a\n'), ('code', '```py\n', 'x\ny', '')]
    assert shape(parse('```py\nx\n')) == [('code', '```py\n', 'x\n', '')]


def test_answer_ending_on_opening_fence_without_newline() -> None:
    calls, blocks = stream(['Look:\n', '```python'])
    assert shape(blocks) == [('prose', 'Look:\n'), ('code', '```python', '', '')]
    assert blocks[1].info == 'python'
    assert not any('`' in text for text in prose_texts(calls))


def test_answer_ending_on_closing_fence_without_newline() -> None:
    calls, blocks = stream(['```\nx\n', '```'])
    assert shape(blocks) == [('code', '```\n', 'x\n', '```')]
    assert calls[-1] == [BlockClosed(0, '```')]


def test_answer_ending_on_unfinished_code_line() -> None:
    calls, blocks = stream(['```\nx\n', 'y = 1'])
    assert shape(blocks) == [('code', '```\n', 'x\ny = 1', '')]
    assert calls[-1] == [CodeLine(0, 'y = 1'), BlockClosed(0, '')]


def test_crlf_line_endings() -> None:
    assert shape(parse('a\r\n```py\r\nx\r\n```\r\nb')) == [
        ('prose', 'a\r\n'),
        ('code', '```py\r\n', 'x\r\n', '```\r\n'),
        ('prose', 'b'),
    ]
    assert parse('```py\r\nx\r\n```\r\n')[0].info == 'py'


def test_lone_cr_line_endings() -> None:
    assert shape(parse('a\r```py\rx\r```\rb')) == [
        ('prose', 'a\r'),
        ('code', '```py\r', 'x\r', '```\r'),
        ('prose', 'b'),
    ]


def test_cr_then_lf_split_across_chunks() -> None:
    calls, blocks = stream(['```py\r', '\nx\r', '\n```\r', '\n'])
    assert shape(blocks) == [('code', '```py\r\n', 'x\r\n', '```\r\n')]
    assert calls[0] == []  # the '\r' may be the first half of '\r\n': not yet an opening line
    assert calls[1] == [CodeOpened(0, '```py\r\n', 'py', 0), CodeTail(0, 'x')]
    assert calls[2] == [CodeLine(0, 'x\r\n')]
    assert calls[3] == [BlockClosed(0, '```\r\n')]
    assert calls[4] == []


def test_trailing_cr_is_resolved_at_flush() -> None:
    assert shape(stream(['```\rx\r'])[1]) == [('code', '```\r', 'x\r', '')]
    assert shape(stream(['a\r', ''])[1]) == [('prose', 'a\r')]
    assert shape(stream(['```\r', '', '\n'])[1]) == [('code', '```\r\n', '', '')]


@pytest.mark.parametrize('char', ['\u2028', '\u2029', '\x85', '\x0c', '\x0b', '\x1c', '\x1d', '\x1e'])
def test_unicode_line_separators_do_not_split_lines(char: str) -> None:
    assert shape(parse(f'a{char}```\n```\nx{char}```\n```\n')) == [
        ('prose', f'a{char}```\n'),
        ('code', '```\n', f'x{char}```\n', '```\n'),
    ]
    calls, blocks = stream(['```\nx', char, 'y\n```\n'])
    assert blocks[0].text == f'x{char}y\n'
    assert CodeTail(0, f'x{char}') in calls[1]


def test_three_backticks_inside_a_code_line() -> None:
    text = '```python\ns = "```"\nt = "~~~"\n```\n'
    assert shape(parse(text)) == [('code', '```python\n', 's = "```"\nt = "~~~"\n', '```\n')]


def test_three_backticks_inside_a_prose_line() -> None:
    assert shape(parse('use ``` to fence\n')) == [('prose', 'use ``` to fence\n')]


def test_empty_code_block() -> None:
    assert shape(parse('```\n```\n')) == [('code', '```\n', '', '```\n')]
    calls, _ = stream(['```\n```\n'])
    assert [e for call in calls for e in call] == [CodeOpened(0, '```\n', '', 0), BlockClosed(0, '```\n')]


def test_two_adjacent_code_blocks() -> None:
    blocks = parse('```a\n1\n```\n~~~b\n2\n~~~\n')
    assert [(b.index, b.kind, b.info) for b in blocks] == [(0, 'code', 'a'), (1, 'code', 'b')]


def test_blank_line_between_code_blocks_is_prose() -> None:
    assert [b.kind for b in parse('```\n```\n\n```\n```\n')] == ['code', 'prose', 'code']


def test_indices_and_closing_of_prose() -> None:
    events = [e for call in stream(['p1\n```\nc\n```\np2'])[0] for e in call]
    assert events == [
        ProseExtended(0, 'p1\n'),
        BlockClosed(0),
        CodeOpened(1, '```\n', '', 0),
        CodeLine(1, 'c\n'),
        BlockClosed(1, '```\n'),
        ProseExtended(2, 'p2'),
        BlockClosed(2),
    ]


def test_empty_answer() -> None:
    assert stream([]) == ([[]], [])
    assert stream(['', '']) == ([[], [], []], [])


def test_flush_resets_the_parser() -> None:
    parser = StreamParser()
    parser.feed('```\nx')
    parser.flush()
    assert parser.feed('hi') == [ProseExtended(0, 'hi')]
    assert parser.flush() == [BlockClosed(0)]


# --- withholding --------------------------------------------------------------------------------------------------


def test_partial_opening_fence_is_withheld() -> None:
    calls, blocks = stream(['Intro\n', '```', 'py', 'thon\n', 'x'])
    assert not any('`' in text for text in prose_texts(calls))
    assert calls[1] == calls[2] == []
    assert calls[3] == [BlockClosed(0), CodeOpened(1, '```python\n', 'python', 0)]
    assert shape(blocks) == [('prose', 'Intro\n'), ('code', '```python\n', 'x', '')]


@pytest.mark.parametrize('partial', ['`', '``', '```', '  ```py', '~~~~ some info', '~', '   ', '```py ', '~~~ a`b'])
def test_what_could_still_open_a_fence_is_withheld(partial: str) -> None:
    parser = StreamParser()
    assert parser.feed('text\n') == [ProseExtended(0, 'text\n')]
    assert parser.feed(partial) == []


@pytest.mark.parametrize('partial', ['``x', '```foo`', 'hello', '    ```', '\t```', 'a```', '`` `', '~~ ~'])
def test_what_cannot_open_a_fence_is_emitted_at_once(partial: str) -> None:
    parser = StreamParser()
    assert parser.feed(partial) == [ProseExtended(0, partial)]


def test_withheld_prose_is_released_when_its_line_ends() -> None:
    parser = StreamParser()
    assert parser.feed('``') == []
    assert parser.feed('\n') == [ProseExtended(0, '``\n')]
    assert parser.feed('``') == []
    assert parser.feed('x') == [ProseExtended(0, '``x')]
    assert parser.feed(' more') == [ProseExtended(0, ' more')]


def test_withheld_prose_is_released_at_flush() -> None:
    parser = StreamParser()
    assert parser.feed('``') == []
    assert parser.flush() == [ProseExtended(0, '``'), BlockClosed(0)]


def test_code_tail_that_may_close_is_withheld() -> None:
    parser = StreamParser()
    parser.feed('```\n')
    assert parser.feed('``') == []
    assert parser.feed('x') == [CodeTail(0, '``x')]
    assert parser.feed('y') == [CodeTail(0, '``xy')]
    assert parser.feed('\n') == [CodeLine(0, '``xy\n')]  # a finished line leaves no tail
    assert parser.feed('```') == []
    assert parser.feed('  ') == []
    assert parser.feed('\n') == [BlockClosed(0, '```  \n')]


@pytest.mark.parametrize('partial', ['`', '``', '```', '```  ', '   ``', '````', '``` \t'])
def test_what_could_still_close_is_withheld(partial: str) -> None:
    parser = StreamParser()
    parser.feed('```\n')
    assert parser.feed(partial) == []


@pytest.mark.parametrize('partial', ['~~~', '``` x', 'x', '    ```', '`` `', '\t```'])
def test_what_cannot_close_is_shown_at_once(partial: str) -> None:
    parser = StreamParser()
    parser.feed('```\n')
    assert parser.feed(partial) == [CodeTail(0, partial)]


def test_short_run_in_a_long_fence_is_shown_once_it_cannot_grow() -> None:
    parser = StreamParser()
    parser.feed('`````\n')
    assert parser.feed('```') == []  # may still grow to five
    assert parser.feed(' ') == [CodeTail(0, '``` ')]


def test_code_tail_reports_only_changes() -> None:
    parser = StreamParser()
    parser.feed('```\n')
    assert parser.feed('ab') == [CodeTail(0, 'ab')]
    assert parser.feed('') == []
    assert parser.feed('c\nd') == [CodeLine(0, 'abc\n'), CodeTail(0, 'd')]
    assert parser.feed('\n') == [CodeLine(0, 'd\n')]  # a finished line leaves no tail
    assert parser.feed('e\n') == [CodeLine(0, 'e\n')]
    # A new tail that reads like the one before the line ended is a new tail: it is reported.
    assert parser.feed('import') == [CodeTail(0, 'import')]
    assert parser.feed(' a\nimport') == [CodeLine(0, 'import a\n'), CodeTail(0, 'import')]


def test_code_tail_is_cleared_before_close() -> None:
    parser = StreamParser()
    parser.feed('```\n')
    parser.feed('ab')
    assert parser.feed('\n```\n') == [CodeLine(0, 'ab\n'), BlockClosed(0, '```\n')]


def test_long_answer_in_small_chunks_is_linear() -> None:
    """A smoke test of the O(len(chunk)) claim: a 200,000-char answer in 4-char chunks parses quickly."""
    unit = 'Some prose with `code` and ``` in it.\n```python\ndef f(x):\n    return "```"\n```\n'
    text = unit * (200_000 // len(unit))
    chunks = [text[i : i + 4] for i in range(0, len(text), 4)]
    start = time.perf_counter()
    _, blocks = stream(chunks)
    assert time.perf_counter() - start < 5
    assert ''.join(b.raw for b in blocks) == text


# --- properties ---------------------------------------------------------------------------------------------------

FRAGMENTS = [
    '```', '~~~', '````', '~~~~', '`', '~', '   ', ' ', '    ', '\t',
    'python', 'x', '"```"', 'é', '👩‍💻',
    '\n', '\n', '\n', '\r\n', '\r', '\u2028', '\x85', '\x0c',
]  # fmt: skip

markdownish = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)),
    max_size=40,
).map(''.join)


@st.composite
def chunked(draw: st.DrawFn) -> tuple[str, list[str]]:
    text = draw(markdownish)
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=max(1, len(text)))))
    bounds = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in itertools.pairwise(bounds)]


def check_stream(calls: list[list[BlockEvent]], final: list[Block]) -> None:
    """What was shown is never taken back: indices are in order, prose only grows with what it finally holds, and
    committed code plus the reported tail is always a prefix of the code block's final text."""
    blocks: list[Block] = []
    tails: dict[int, str] = {}
    for call in calls:
        for event in call:
            match event:
                case ProseExtended(index, text):
                    assert text
                    if index == len(blocks):
                        assert not blocks or blocks[-1].closed
                    else:
                        assert index == len(blocks) - 1 and blocks[-1].kind == 'prose' and not blocks[-1].closed
                case CodeOpened(index):
                    assert index == len(blocks)
                    assert not blocks or blocks[-1].closed
                case CodeTail(index, text):
                    assert text != tails.get(index, '')
                    tails[index] = text
                case CodeLine(index):
                    tails[index] = ''  # a finished line leaves no tail
                case _:
                    pass
            apply_events(blocks, [event])
        for b in blocks:
            assert final[b.index].kind == b.kind
            assert final[b.index].text.startswith(b.text + ('' if b.closed else tails.get(b.index, '')))
    assert all(not t for t in tails.values())
    for i, b in enumerate(final):
        assert b.index == i and b.closed
        assert b.raw
        if b.kind == 'prose':
            assert b.text and not b.opening and not b.closing


def view(events: list[BlockEvent]) -> list[tuple[str, str]]:
    """What a consumer shows after these events: each block's committed text and, for code, its tail."""
    blocks = apply_events([], events)
    tails: dict[int, str] = {}
    for event in events:
        if isinstance(event, CodeTail):
            tails[event.index] = event.text
        elif isinstance(event, CodeLine):
            tails[event.index] = ''
    return [(b.text, tails.get(b.index, '')) for b in blocks]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunked())
@example(('```\nx\nx', ['```\nx', '\nx']))
@example(('```py\nimport heapq\nimport logging\nimport os\n',
          ['```py\nimport heapq\nimport', ' logging\nimport', ' os\n']))
def test_what_is_shown_depends_on_the_text_received_not_on_how_it_was_cut(case: tuple[str, list[str]]) -> None:
    """After every chunk, the events so far show what one call with all the text so far shows. A tail that read
    the same as the one before a line ended was once not reported again, and the display lost it until the
    next change (the load bench saw those displays)."""
    _, chunks = case
    parser = StreamParser()
    events: list[BlockEvent] = []
    received = ''
    for chunk in chunks:
        events.extend(parser.feed(chunk))
        received += chunk
        assert view(events) == view(StreamParser().feed(received))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunked())
def test_chunking_does_not_matter(case: tuple[str, list[str]]) -> None:
    text, chunks = case
    whole = parse(text)
    assert ''.join(b.raw for b in whole) == text
    calls, blocks = stream(chunks)
    assert blocks == whole
    check_stream(calls, whole)


@settings(max_examples=300, deadline=None)
@given(markdownish)
def test_char_by_char_feeding(text: str) -> None:
    whole = parse(text)
    calls, blocks = stream(list(text))
    assert blocks == whole
    assert ''.join(b.raw for b in blocks) == text
    check_stream(calls, whole)


# --- against a real CommonMark parser -----------------------------------------------------------------------------

_md = MarkdownIt('commonmark')
_EOL = re.compile(r'\r\n?|\n')

# Only what can't build other container blocks (lists, quotes, HTML, setext headings), where top-level fences are
# all the parser claims to find.
COMMONMARK_FRAGMENTS = ['```', '~~~', '````', '`', '~', ' ', '   ', '\t', 'py', 'x', '\n', '\n', '\r\n', '\r', '\u2028']


def displayed(block: Block) -> str:
    """The code as CommonMark shows it: line endings normalised, the fence's indentation removed from each line."""
    out = []
    pos = 0
    for m in [*_EOL.finditer(block.text), None]:
        line = block.text[pos : m.start() if m else None]
        if m or line:
            strip = min(block.indent, len(line) - len(line.lstrip(' ')))
            out.append(line[strip:] + ('\n' if m else ''))
        pos = m.end() if m else pos
    return ''.join(out)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(COMMONMARK_FRAGMENTS), max_size=40).map(''.join))
def test_agrees_with_markdown_it(text: str) -> None:
    fences = [t for t in _md.parse(text) if t.type == 'fence' and t.level == 0]
    blocks = parse(text)
    ours = []
    line = 0
    for b in blocks:
        if b.kind == 'code':
            ours.append((line, b.info, b.opening.strip(' \t\r\n')[:3]))
        line += len(_EOL.findall(b.raw))
    theirs = []
    for t in fences:
        assert t.map is not None
        theirs.append((t.map[0], t.info.strip(' \t'), t.markup[:3]))
    assert ours == theirs
    # markdown-it expands tabs in indentation, and drops a last line of only spaces when no line ending follows.
    if '\t' not in text and not re.search(r'(?:^|[\r\n]) +\Z', text):
        assert [displayed(b) for b in code(blocks)] == [t.content for t in fences]
