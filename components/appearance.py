"""A user's look on one page: theme, code colours, cursor, code font size, line numbers and wrapping.

One element per page (``appearance.js``). The look is a few body classes, one CSS variable and a style sheet
with the chosen pygments styles; all of it is static CSS in ``scribe.css`` keyed on those classes, so applying a
preference costs one small message when it changes and nothing per chunk of a stream. The page passes in the
store's ``subscribe``: a change made on any page reaches every open page, including answers being streamed.

The first look is in the page's own HTML (a style sheet in the head, the body classes set by a line of script
before the app mounts), so a page never shows the default look first and then flips.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nicegui import ui
from nicegui.element import Element
from pygments.styles import get_style_by_name
from pygments.token import Token
from pygments.util import ClassNotFound

from services.highlighter import highlight_css
from services.preferences import Preferences

Listener = Callable[[str, Preferences], None]
Subscribe = Callable[[Listener], Callable[[], None]]

#: The page's code blocks, not the settings page's preview (which shows either variant in any theme).
LIGHT_SCOPE = 'body:not(.body--dark) .scribe-stream:not(.sv-preview) .scribe-code'
DARK_SCOPE = 'body.body--dark .scribe-stream:not(.sv-preview) .scribe-code'
PREVIEW_SCOPE = '.scribe-preview[data-variant="{variant}"] .scribe-code'
THEMES: dict[str, bool | None] = {'light': False, 'dark': True, 'system': None}
CLASS_PREFIX = 'sc-'


@dataclass(frozen=True, slots=True)
class Look:
    classes: tuple[str, ...]   # body classes, all starting with CLASS_PREFIX
    variables: dict[str, str]  # CSS custom properties set on the body
    css: str                   # the highlight styles
    dark: bool | None          # ui.dark_mode's value: None follows the system

    def to_props(self) -> dict[str, Any]:
        return {'classes': list(self.classes), 'vars': self.variables, 'css': self.css}


def body_classes(prefs: Preferences) -> tuple[str, ...]:
    classes = [f'{CLASS_PREFIX}cursor-{prefs.cursor_style}']
    if not prefs.cursor:
        classes.append(f'{CLASS_PREFIX}cursor-off')
    if not prefs.cursor_blink:
        classes.append(f'{CLASS_PREFIX}cursor-steady')
    if prefs.line_numbers:
        classes.append(f'{CLASS_PREFIX}lines')
    if prefs.line_wrap:
        classes.append(f'{CLASS_PREFIX}wrap')
    return tuple(classes)


def css_variables(prefs: Preferences) -> dict[str, str]:
    return {'--sv-code-size': f'{prefs.code_font_size}px'}


def _luminance(color: str) -> float:
    color = color.lstrip('#')
    if len(color) == 3:
        color = ''.join(c * 2 for c in color)
    try:
        r, g, b = (int(color[i:i + 2], 16) / 255 for i in (0, 2, 4))
    except (ValueError, IndexError):
        return 1.0
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def style_colors(style: str) -> tuple[str, str]:
    """(background, text colour) of a pygments style. Many light styles leave the text colour to the page, which
    would be white on their light background in a dark page: they get a dark one (and dark styles a light one)."""
    try:
        cls = get_style_by_name(style)
    except ClassNotFound:
        return '#f8f8f8', '#1f1f24'
    background = str(cls.background_color or '#ffffff')
    if not background.startswith('#'):
        background = '#ffffff'
    text = cls.style_for_token(Token.Text).get('color') or cls.style_for_token(Token).get('color')
    if text:
        return background, f'#{text}'
    return background, '#e8e8ec' if _luminance(background) < 0.5 else '#1f1f24'


def _scoped(style: str, scope: str, root: str) -> str:
    """The style's rules under ``scope``, preceded by its base colours (the style's own rules come later and win)
    and the block-header colours for ``root``."""
    background, text = style_colors(style)
    return (f'{root} {{ --sv-style-bg: {background}; --sv-style-fg: {text}; }}\n'
            f'{scope} {{ color: {text}; }}\n' + highlight_css(style, scope))


@functools.lru_cache(maxsize=64)
def highlight_sheet(light: str, dark: str, preview: bool = False) -> str:
    parts = [_scoped(light, LIGHT_SCOPE, 'body:not(.body--dark)'), _scoped(dark, DARK_SCOPE, 'body.body--dark')]
    if preview:
        for variant, style in (('light', light), ('dark', dark)):
            root = f'.scribe-preview[data-variant="{variant}"]'
            parts.append(_scoped(style, PREVIEW_SCOPE.format(variant=variant), root))
    # The sheet goes into a <style> element: nothing in it may close that element.
    return '\n'.join(parts).replace('<', '\\3c ')


def look_of(prefs: Preferences, *, preview: bool = False) -> Look:
    return Look(body_classes(prefs), css_variables(prefs),
                highlight_sheet(prefs.highlight_style, prefs.highlight_style_dark, preview), THEMES[prefs.theme])


def first_paint_script(look: Look) -> str:
    """Runs while the page is parsed, before the app mounts: the body already has the look and, in a dark
    theme, the dark background (Quasar and ``ui.dark_mode`` then confirm it in the same task)."""
    dark = 'true' if look.dark else 'false' if look.dark is False else \
        'matchMedia("(prefers-color-scheme: dark)").matches'
    return ('<script>(function () { var b = document.body, l = ' + json.dumps(look.to_props() | {'css': ''}) +
            '; b.classList.add.apply(b.classList, l.classes); for (var k in l.vars) b.style.setProperty(k, l.vars[k]);'
            ' if (' + dark + ') b.classList.add("body--dark"); })();</script>')


class Appearance(Element, component='appearance.js'):
    """Create once per page, during its build."""

    def __init__(self, prefs: Preferences, *, owner: str, subscribe: Subscribe | None = None,
                 on_change: Callable[[Preferences], None] | None = None, preview: bool = False) -> None:
        super().__init__()
        self.owner = owner
        self.prefs = prefs
        self._preview = preview
        self._on_change = on_change
        look = look_of(prefs, preview=preview)
        self._props['look'] = look.to_props()
        ui.add_head_html(f'<style id="scribe-appearance">{look.css}</style>')
        ui.add_body_html(first_paint_script(look))
        self.dark_mode = ui.dark_mode(look.dark)
        if subscribe is not None:
            self.client.on_delete(subscribe(self._changed))

    def _changed(self, owner: str, prefs: Preferences) -> None:
        if owner != self.owner or self.is_deleted:
            return
        self.apply(prefs)
        if self._on_change is not None:
            self._on_change(prefs)

    def apply(self, prefs: Preferences) -> None:
        """Show ``prefs`` on this page now (only what changed goes to the browser)."""
        self.prefs = prefs
        look = look_of(prefs, preview=self._preview)
        props = look.to_props()
        if props != self._props['look']:
            self._props['look'] = props
            self.run_method('apply', props)
        if self.dark_mode.value != look.dark:
            self.dark_mode.value = look.dark
