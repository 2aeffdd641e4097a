"""The pure parts of applying preferences to a page: preferences → body classes, CSS variables and style sheet;
and the compaction of a held backlog of display operations (streaming off), which must not change the result."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from components.appearance import (
    DARK_SCOPE,
    LIGHT_SCOPE,
    body_classes,
    css_variables,
    first_paint_script,
    highlight_sheet,
    look_of,
    style_colors,
)
from components.message_card import compact
from services.preferences import Preferences, light_and_dark_styles
from services.providers.demo import demo_answer
from services.rendering import MessageRenderer


def test_defaults_are_a_blinking_block_cursor_without_numbers_or_wrap() -> None:
    prefs = Preferences()
    assert body_classes(prefs) == ('sc-cursor-block',)
    assert css_variables(prefs) == {'--sv-code-size': '13px'}
    assert look_of(prefs).dark is None  # 'system': Quasar follows the OS


@pytest.mark.parametrize(('changes', 'expected'), [
    ({'cursor': False}, {'sc-cursor-block', 'sc-cursor-off'}),
    ({'cursor_style': 'bar'}, {'sc-cursor-bar'}),
    ({'cursor_style': 'underscore', 'cursor_blink': False}, {'sc-cursor-underscore', 'sc-cursor-steady'}),
    ({'line_numbers': True, 'line_wrap': True}, {'sc-cursor-block', 'sc-lines', 'sc-wrap'}),
])
def test_each_choice_is_one_body_class(changes: dict[str, Any], expected: set[str]) -> None:
    classes = body_classes(Preferences(**changes))
    assert set(classes) == expected
    assert all(c.startswith('sc-') for c in classes)  # appearance.js only ever removes sc-* classes


def test_classes_used_by_the_style_sheet_exist() -> None:
    css = (Path(__file__).parents[2] / 'components' / 'scribe.css').read_text(encoding='utf-8')
    for cls in ('sc-cursor-off', 'sc-cursor-bar', 'sc-cursor-underscore', 'sc-cursor-steady', 'sc-lines', 'sc-wrap'):
        assert f'.{cls}' in css, cls
    assert 'var(--sv-code-size' in css


@pytest.mark.parametrize(('theme', 'dark'), [('light', False), ('dark', True), ('system', None)])
def test_theme_maps_to_dark_mode(theme: str, dark: bool | None) -> None:
    assert look_of(Preferences(theme=theme)).dark is dark  # type: ignore[arg-type]


def test_code_font_size_is_a_css_variable() -> None:
    assert css_variables(Preferences(code_font_size=18)) == {'--sv-code-size': '18px'}


def test_the_sheet_scopes_the_light_style_to_light_pages_and_the_dark_one_to_dark_pages() -> None:
    css = highlight_sheet('vs', 'github-dark')
    assert f'{LIGHT_SCOPE} .k {{ color: #00F }}' in css
    assert f'{DARK_SCOPE} .k {{' in css
    assert f'{LIGHT_SCOPE} {{ background: #fff' in css.replace('#ffffff', '#fff').replace('#FFFFFF', '#fff')
    assert '<' not in css
    assert '.scribe-preview' not in css
    preview = highlight_sheet('vs', 'github-dark', preview=True)
    assert '.scribe-preview[data-variant="light"] .scribe-code .k { color: #00F }' in preview
    assert '.scribe-preview[data-variant="dark"] .scribe-code' in preview


def test_every_installed_style_gives_a_sheet_and_readable_base_colours() -> None:
    light, dark = light_and_dark_styles()
    for style in sorted(set(light) | set(dark)):
        background, text = style_colors(style)
        assert re.fullmatch(r'#[0-9a-fA-F]{3,8}', background), (style, background)
        assert re.fullmatch(r'#[0-9a-fA-F]{3,8}', text), (style, text)
        assert highlight_sheet(style, style)


def test_a_light_style_without_a_text_colour_gets_a_dark_one() -> None:
    assert style_colors('default') == ('#f8f8f8', '#1f1f24')
    assert style_colors('monokai') == ('#272822', '#f8f8f2')


def test_first_paint_script_sets_the_classes_before_the_app_mounts() -> None:
    look = look_of(Preferences(line_numbers=True, theme='dark', code_font_size=16))
    script = first_paint_script(look)
    assert script.startswith('<script>') and script.endswith('</script>')
    payload = json.loads(script[script.index('l = ') + 4:script.index('; b.classList')])
    assert payload['classes'] == ['sc-cursor-block', 'sc-lines']
    assert payload['vars'] == {'--sv-code-size': '16px'}
    assert payload['css'] == ''  # the sheet travels in the head, once
    assert 'if (true)' in script
    assert 'prefers-color-scheme' in first_paint_script(look_of(Preferences()))


# ------------------------------------------------------------------------------------------------------------
# compact(): the held backlog of a page with streaming off, sent at once when the answer ends
# ------------------------------------------------------------------------------------------------------------

def _display(batches: list[list[list[Any]]]) -> dict[int, Any]:
    """What stream_view.js ends up showing for these operations."""
    blocks: dict[int, dict[str, Any]] = {}
    for batch in batches:
        for op in batch:
            kind, i = op[0], op[1]
            b = blocks.setdefault(i, {'done': '', 'tail': '', 'lines': [], 'closed': False, 'lang': None})
            if kind == 'P':
                b['done'] += op[2]
            elif kind in ('p', 't'):
                b['tail'] = op[2]
            elif kind in ('q', 'u'):  # the first op[2] UTF-16 units of the tail, then op[3]
                b['tail'] = b['tail'].encode('utf-16-le')[:2 * op[2]].decode('utf-16-le') + op[3]
            elif kind in ('C', 'g'):
                b['lang'] = op[2]
            elif kind == 'L':
                start, lines = op[2], op[3]
                for k, html in enumerate(lines):
                    if start + k < len(b['lines']):
                        b['lines'][start + k] = html
                    else:
                        b['lines'].append(html)
            elif kind == 'X':
                b['tail'] = ''
                b['closed'] = True
    return blocks


def _batches(text: str, chunk: int, finish: bool) -> list[list[list[Any]]]:
    renderer = MessageRenderer()
    out = []
    for k in range(0, len(text), chunk):
        renderer.feed(text[k:k + chunk])
        out.append(renderer.take_ops())
    if finish:
        renderer.finish()
        out.append(renderer.take_ops())
    return out


def test_compact_keeps_deltas_that_build_on_a_kept_tail() -> None:
    batches = [[['P', 0, '<p>a</p>'], ['p', 0, '<p>hello wor']], [['q', 0, 11, 'ld</p>']], [['t', 1, 'x']],
               [['p', 0, '<p>bye']], [['q', 0, 6, '!</p>']], [['X', 1]]]
    compacted = compact(batches)
    assert compacted == [[['P', 0, '<p>a</p>']], [], [], [['p', 0, '<p>bye']], [['q', 0, 6, '!</p>']], [['X', 1]]]
    assert _display(compacted) == _display(batches)


@pytest.mark.parametrize('prompt', ['a python parser', 'tricky unicode in rust', 'a sql schema'])
@pytest.mark.parametrize('finish', [True, False])
def test_compact_keeps_the_display_and_the_numbering(prompt: str, finish: bool) -> None:
    batches = _batches(demo_answer(prompt), 7, finish)
    compacted = compact(batches)
    assert len(compacted) == len(batches)  # one batch per event position, as the browser counts them
    assert _display(compacted) == _display(batches)
    assert sum(map(len, compacted)) < sum(map(len, batches))  # superseded tails are gone
    # only tails were dropped, never committed text or code lines
    def kept(bs: list[list[list[Any]]]) -> list[Any]:
        return [op for b in bs for op in b if op[0] not in ('p', 't', 'q', 'u')]
    assert kept(compacted) == kept(batches)
