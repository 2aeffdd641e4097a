"""The emulated browser's pure parts (bench/sio_client.py): the StreamView model, the message parsing, and the
reference/analysis that turns what a client received into lag and exactness. Times here are synthetic."""

from __future__ import annotations

import json
import random

import pytest

from bench.sio_client import (
    StreamModel,
    Update,
    analyze,
    build_reference,
    expected_code,
    html_text,
    parse_page,
    parse_run_method,
    percentile,
)
from services.providers.demo import fixed_chunks
from services.rendering import MessageRenderer

SCRIPT = (
    'Here is a **small** helper, with `inline` code & an ampersand.\n\n'
    '```python\n'
    'def add(a: int, b: int) -> int:\n'
    '    """Add <two> numbers."""\n'
    '    return a + b\n'
    '```\n\n'
    'It returns the sum.\r\nThat is all.\n'
)


def test_html_text_strips_tags_and_decodes_references() -> None:
    assert html_text('<p>a &amp; b &lt;c&gt;</p>\n') == 'a & b <c>\n'
    assert html_text('<span class=k>x</span>&#13;\n') == 'x\r\n'
    assert html_text('plain') == 'plain'


def test_operations_build_prose_and_code_like_the_element() -> None:
    model = StreamModel()
    model.apply_ops([
        ['P', 0, '<p>Hello</p>\n'], ['p', 0, '<p>wor</p>'],
        ['C', 1, 'python', 'python'], ['L', 1, 0, ['<span>a = 1</span>\n', 'b = 2\n']], ['t', 1, 'c = '],
    ])
    assert model.text() == 'Hello\nwor' + 'a = 1\nb = 2\nc = '
    assert model.code_texts() == ['a = 1\nb = 2\nc = ']
    assert model.length() == len(model.text())
    # 'L' replaces lines from its start, then appends; 'g' sets the language; 'X' drops the tails and closes
    model.apply_ops([['L', 1, 1, ['b = 3\n', 'c = 4\n']], ['g', 1, 'python3'], ['X', 1], ['X', 0]])
    assert model.code_texts() == ['a = 1\nb = 3\nc = 4\n']
    assert model.languages() == ['python3']
    assert model.prose_text() == 'Hello\n'
    assert all(block.closed for block in model.order)
    # a second 'C' for an existing block is ignored, as stream_view.js does
    model.apply_op(['C', 1, 'rust', ''])
    assert model.languages() == ['python3']


def test_tail_deltas_keep_utf16_units_of_the_previous_tail() -> None:
    model = StreamModel([['p', 0, '<p>naïve 😀 caf</p>'], ['C', 1, 'python', ''], ['t', 1, 'x = "😀"']])
    # 'q'/'u': the first n UTF-16 code units of the old tail (an emoji is two), then the new html
    model.apply_ops([['q', 0, len('<p>naïve 😀 caf'.encode('utf-16-le')) // 2, 'é</p>'],
                     ['u', 1, len('x = "😀'.encode('utf-16-le')) // 2, '!"']])
    assert model.blocks[0].tail == '<p>naïve 😀 café</p>'
    assert model.text() == 'naïve 😀 café' + 'x = "😀!"'


def test_a_prose_operation_on_a_code_block_is_an_error() -> None:
    model = StreamModel([['C', 0, 'text', '']])
    with pytest.raises(Exception, match='prose operation'):
        model.apply_op(['P', 0, 'x'])


def test_positions_skip_seen_batches_and_a_gap_asks_for_a_snapshot() -> None:
    model = StreamModel([], position=3)
    assert model.apply(2, [[['P', 0, 'old']], [['P', 0, 'also old']], [['P', 0, 'a']]]) is None  # 2, 3 seen; 4 new
    assert model.text() == 'a' and model.seq == 4
    assert model.apply(6, [[['P', 0, 'b']]]) == 4  # 5 is missing: resync from 4
    assert model.resyncing
    assert model.apply(5, [[['P', 0, 'c']]]) is None and model.text() == 'a'  # ignored while resyncing
    model.reset(6, [['P', 0, 'x']], 0)
    model.reset(6, [['P', 0, 'y']], 1)  # a second part appends
    assert model.text() == 'xy' and model.seq == 6 and not model.resyncing


def test_state_key_ignores_how_flushes_cut_prose_but_not_content() -> None:
    a = StreamModel([['P', 0, '<p>one</p>'], ['P', 0, '<p>two</p>']])
    b = StreamModel([['P', 0, '<p>one</p><p>two</p>']])
    c = StreamModel([['P', 0, '<p>one</p><p>tw</p>']])
    assert a.state_key() == b.state_key() != c.state_key()


def test_run_method_messages_are_parsed() -> None:
    batches = [[['P', 0, 'a ), "b", [c]']], [['t', 1, '\\u00e9 ))']]]
    code = f'return runMethod(12, "apply", {json.dumps([5, batches])})'
    assert parse_run_method(code) == (12, 'apply', [5, batches])
    assert parse_run_method('history.pushState({}, "", "/projects/x");') is None


def test_page_elements_and_socket_query_are_extracted() -> None:
    elements = {'0': {'tag': 'q-layout', 'children': [3]},
                '3': {'tag': 'nicegui-input', 'props': {'data-testid': 'prompt-input', 'placeholder': 'a `b` $c <d>'}}}
    raw = json.dumps(elements).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;') \
        .replace('`', '&#96;').replace('$', '&#36;')
    html = (f'<script>const app = createApp(parseElements(String.raw`{raw}`), {{\n'
            '        version: "3.18.0",\n'
            "        query: {'client_id': 'abc', 'next_message_id': 0, 'implicit_handshake': True},\n"
            '      });</script>')
    parsed, query = parse_page(html)
    assert parsed[3]['props']['placeholder'] == 'a `b` $c <d>'
    assert query == {'client_id': 'abc', 'next_message_id': 0, 'implicit_handshake': True}


def test_expected_code_is_the_fenced_code_exactly() -> None:
    code = 'def add(a: int, b: int) -> int:\n    """Add <two> numbers."""\n    return a + b\n'
    assert expected_code(SCRIPT) == [code]


def _server_like_updates(script: str, *, chunk: int, speed: float, delays: list[float],
                         seed: int = 1) -> list[Update]:
    """What a page receives from the real renderer when the server flushes after random whole chunks: an initial
    empty view, then numbered batches; batch n arrives ``delays[n % len(delays)]`` after its newest character was
    due."""
    rng = random.Random(seed)
    renderer = MessageRenderer()
    updates = [Update(0.0, 'initial', [[], 1, True])]
    position, seq = 0, 1
    chunks = fixed_chunks(script, chunk)
    pending = False
    for n, piece in enumerate(chunks):
        renderer.feed(piece)
        position += len(piece)
        pending = True
        if rng.random() < 0.3 or n == len(chunks) - 1:
            if n == len(chunks) - 1:
                renderer.finish()
            seq += 1
            t = position / speed + delays[len(updates) % len(delays)]
            updates.append(Update(t, 'apply', [seq, [renderer.take_ops()]]))
            pending = False
    assert not pending
    return updates


def test_analysis_recovers_the_lag_of_each_update_and_checks_exactness() -> None:
    speed = 400.0
    reference = build_reference(SCRIPT, chunk=4, speed=speed)
    updates = _server_like_updates(SCRIPT, chunk=4, speed=speed, delays=[0.010, 0.010, 0.110])
    result = analyze(updates, reference, t_click=0.0)
    assert result.unmatched == 0 and not result.model_errors
    assert result.final_exact and result.code_exact
    assert result.final_length == len(reference.final_text)
    # t0 is estimated from the best-served update, so the lags are the delays above minus the smallest one (0 or
    # 0.1 s), plus whole chunks where a display is shown by a range of positions (characters withheld, such as a
    # fence line being typed): such a display is charged from the first position that shows it, never later.
    assert result.lags
    chunk_time = 4 / speed
    for lag in result.lags:
        base = 0.1 if lag >= 0.1 - 1e-9 else 0.0
        extra = (lag - base) / chunk_time
        assert extra > -1e-6 and abs(extra - round(extra)) < 1e-6, lag
    assert min(result.lags) == pytest.approx(0.0, abs=1e-9)
    assert sum(1 for lag in result.lags if lag == pytest.approx(0.1, abs=1e-9)) >= len(result.lags) // 4
    assert len(result.char_lags) == len(SCRIPT)  # every character's first appearance
    assert percentile(result.lags, 50) == pytest.approx(0.0, abs=1e-9)


def test_a_display_that_no_prefix_produces_is_counted_and_a_lost_batch_is_not_exact() -> None:
    reference = build_reference(SCRIPT, chunk=4, speed=400.0)
    updates = _server_like_updates(SCRIPT, chunk=4, speed=400.0, delays=[0.0])
    tampered = [*updates[:3], Update(updates[3].t, 'apply', [updates[3].args[0], [[['P', 0, 'injected']]]]),
                *updates[4:]]
    result = analyze(tampered, reference, t_click=0.0)
    assert result.unmatched >= 1 and not result.final_exact
    lost = [u for i, u in enumerate(updates) if i != 2]  # a batch never arrives: the view waits for a snapshot
    result = analyze(lost, reference, t_click=0.0)
    assert not result.final_exact


def test_percentile_is_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 100) == 100.0
    assert percentile([], 95) is None
