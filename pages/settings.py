"""/settings: every preference, each saved as soon as it changes and applied at once on every open page.

The page only shows values and hands changes to the preference store, which validates them (a refused value gets
its message next to its field and nothing is saved) and tells every open page, this one included.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from nicegui import background_tasks, ui
from nicegui.elements.mixins.value_element import ValueElement

from components.stream_view import StreamView
from pages.workspace import OWNER, page_look, side_page_bar
from services.app_services import AppServices, current
from services.preferences import LABELS, PreferenceError, Preferences, light_and_dark_styles
from services.rendering import render_static

log = logging.getLogger(__name__)

SAMPLE = '''```python
from dataclasses import dataclass


@dataclass
class Point:
    """A point in the plane."""
    x: float = 0.0
    y: float = 0.0

    def distance(self, other: "Point") -> float:
        # Euclid, of course
        return ((self.x - other.x) ** 2 + (self.y - other.y) ** 2) ** 0.5


print(Point(3, 4).distance(Point()), [n for n in range(10) if n % 2])  # 5.0
```
'''
#: Fields typed as text: pydantic reads the text, so "abc" or "5" get the same message wherever they come from.
TEXT_FIELDS = ('smooth_cps', 'temperature', 'max_tokens', 'flush_interval_ms', 'buffer_size', 'code_font_size')
SPEEDS = {'provider': 'As the provider sends it', 'smooth': 'Typewriter', 'instant': 'Instant'}
CURSORS = {'bar': 'Bar', 'block': 'Block', 'underscore': 'Underscore'}
THEMES = {'light': 'Light', 'dark': 'Dark', 'system': 'System'}
PREVIEWED = {'highlight_style': 'light', 'highlight_style_dark': 'dark'}
MODELS_TTL = 300.0
MODELS_TIMEOUT = 8.0

_models: dict[str, tuple[float, list[str]]] = {}


async def models_of(services: AppServices, name: str) -> list[str]:
    """The provider's model list, asked at most every few minutes (it may be a network call)."""
    provider = services.providers.get(name)
    if provider is None:
        return []
    hit = _models.get(name)
    if hit is not None and time.monotonic() - hit[0] < MODELS_TTL:
        return hit[1]
    try:
        models = list(await asyncio.wait_for(provider.models(), MODELS_TIMEOUT))
    except Exception as exc:  # a provider that cannot be asked still has its default model
        log.warning('could not list the models of %s: %s', name, exc)
        models = [provider.default_model] if provider.default_model else []
    _models[name] = (time.monotonic(), models)
    return models


def shown(name: str, value: Any) -> Any:
    """A preference as its control shows it."""
    if name in TEXT_FIELDS:
        return '' if value is None else str(value)
    if name == 'model':
        return value or ''
    return value


def described(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return 'on' if value else 'off'
    if value is None:
        return "the provider's"
    return {'speed': SPEEDS, 'cursor_style': CURSORS, 'theme': THEMES}.get(name, {}).get(value, str(value))


class SettingsPage:
    def __init__(self, services: AppServices) -> None:
        self.services = services
        self.store = services.preferences
        self.prefs: Preferences = self.store.defaults
        self.controls: dict[str, ValueElement[Any]] = {}
        self.errors: dict[str, ui.label] = {}
        self.resets: dict[str, ui.button] = {}
        self.rows: dict[str, ui.column] = {}
        self.saved: ui.label
        self.preview: ui.element
        self.variant: ui.toggle

    # ---------------------------------------------------------------------------------------------------------
    # Layout
    # ---------------------------------------------------------------------------------------------------------

    async def build(self) -> None:
        appearance = await page_look(self.services, self.apply, preview=True)
        self.prefs = prefs = appearance.prefs
        light, dark = light_and_dark_styles()
        with side_page_bar('Settings', 'settings-back'):
            self.saved = ui.label('').classes('scribe-saved').props('data-testid=settings-saved')
            self.saved.set_visibility(False)
            ui.button('Stats', icon='show_chart', on_click=lambda: ui.navigate.to('/stats')).props(
                'flat no-caps data-testid=settings-stats-link').tooltip("This process's figures as charts")
            ui.button('Reset to defaults', icon='restart_alt', on_click=self.reset_all).props(
                'flat no-caps data-testid=settings-reset').tooltip('Every preference back to its default')
        with ui.column().classes('scribe-settings q-pa-md gap-4'):
            ui.link('← Back to the workspace', '/').props('data-testid=settings-workspace-link').classes('text-sm')
            with self.section('Streaming'):
                self.field('streaming', lambda: ui.switch('Stream answers as they are written'),
                           'Off: a progress bar while the answer is generated, then the whole answer at once.')
                self.field('speed', lambda: ui.toggle(SPEEDS).props('no-caps'),
                           'Typewriter evens out a bursty provider into a steady flow that never falls more than '
                           'a moment behind; instant also skips the catch-up after Resume.')
                self.field('smooth_cps', lambda: self.text_input('Typewriter pace', 'characters per second'),
                           'How fast the typewriter writes, 20 to 20,000 characters per second.')
            with self.section('Cursor'):
                self.field('cursor', lambda: ui.switch('Show a cursor at the end of the live text'),
                           'Marks where the answer is being written.')
                self.field('cursor_style', lambda: ui.toggle(CURSORS).props('no-caps'), 'Its shape.')
                self.field('cursor_blink', lambda: ui.switch('Blinking'), 'Off: a steady cursor, no animation.')
            with self.section('Appearance'):
                self.field('theme', lambda: ui.toggle(THEMES).props('no-caps'),
                           'System follows the light or dark setting of your computer.')
                self.field('highlight_style',
                           lambda: ui.select(_with(light, prefs.highlight_style), label='Code colours, light theme')
                           .props('options-dense').classes('scribe-pref-input'),
                           'Any installed pygments style; the ones made for light backgrounds come first.')
                self.field('highlight_style_dark',
                           lambda: ui.select(_with(dark, prefs.highlight_style_dark), label='Code colours, dark theme')
                           .props('options-dense').classes('scribe-pref-input'),
                           'The ones made for dark backgrounds come first.')
                with ui.row().classes('items-center gap-2'):
                    ui.label('Preview').classes('scribe-pref-hint')
                    variant = 'dark' if prefs.theme == 'dark' else 'light'
                    self.variant = ui.toggle({'light': 'Light', 'dark': 'Dark'}, value=variant,
                                             on_change=lambda e: self.show_variant(e.value)).props(
                        'no-caps dense size=sm data-testid=preview-variant')
                with ui.element('div').classes('scribe-preview').props(
                        f'data-testid=highlight-preview data-variant={variant}') as self.preview:
                    StreamView(render_static(SAMPLE), 0, streaming=False).classes('sv-preview')
                self.field('code_font_size', lambda: self.text_input('Code font size', 'px'),
                           'Size of the code in code blocks, 9 to 28 pixels.')
                self.field('line_numbers', lambda: ui.switch('Line numbers'),
                           'Numbers beside each code line; copying the code never includes them.')
                self.field('line_wrap', lambda: ui.switch('Wrap long lines'),
                           'Off: long code lines scroll sideways.')
            with self.section('Model'):
                self.field('provider', lambda: ui.select(list(self.services.providers), label='Default provider')
                           .classes('scribe-pref-input'),
                           'Asked first for new answers; the others take over if it fails.')
                self.field('model', lambda: ui.select(self.model_options(prefs.provider, []), label='Default model',
                                                      new_value_mode='add-unique')
                           .props('options-dense input-debounce=0').classes('scribe-pref-wide'),
                           "From the provider's list, or type any name the provider accepts and press Enter.")
                self.field('temperature', lambda: self.text_input('Temperature', placeholder="provider's default"),
                           'From 0 (focused) to 2 (adventurous); blank leaves it to the provider.')
                self.field('max_tokens', lambda: self.text_input('Maximum tokens', placeholder="provider's default"),
                           'Longest answer, in tokens; blank leaves it to the provider.')
            with self.section('Advanced'):
                self.field('flush_interval_ms', lambda: self.text_input('Flush interval', 'ms'),
                           'How often new text is sent to the page, 0 to 1,000 ms: shorter is smoother, longer '
                           'sends fewer messages.')
                self.field('buffer_size', lambda: self.text_input('Buffer size', 'characters'),
                           'Text waiting to be sent goes out at once when it reaches this many characters '
                           '(16 to 1,000,000).')
        self.sync_dependents()
        background_tasks.create(self.load_models(prefs.provider), name='settings-models')

    def section(self, title: str) -> ui.column:
        with ui.column().classes('scribe-section gap-3').props(f'data-section="{title.lower()}"') as box:
            ui.label(title).classes('scribe-section-title')
        return box

    def text_input(self, label: str, suffix: str | None = None, placeholder: str | None = None) -> ui.input:
        control = ui.input(label, placeholder=placeholder).props('dense outlined hide-bottom-space').classes(
            'scribe-pref-input')
        if suffix:
            control.props(f'suffix="{suffix}"')
        return control

    def field(self, name: str, make: Callable[[], ValueElement[Any]], hint: str) -> None:
        default = getattr(self.store.defaults, name)
        with ui.column().classes('scribe-pref gap-0').props(f'data-field={name}') as row:
            with ui.row().classes('items-center gap-1 no-wrap'):
                control = make()
                reset = ui.button(icon='undo', on_click=lambda: self.reset_field(name)).props(
                    f'flat round dense size=sm data-testid=pref-reset-{name}').tooltip(
                    f'Changed from the default; back to {described(name, default)}')
            ui.label(f'{hint} Default: {described(name, default)}.').classes('scribe-pref-hint')
            error = ui.label('').classes('scribe-pref-error').props(f'data-testid=pref-error-{name}')
            error.set_visibility(False)
        control.props(f'data-testid=pref-{name}')
        control.value = shown(name, getattr(self.prefs, name))
        self.controls[name] = control
        self.errors[name] = error
        self.resets[name] = reset
        self.rows[name] = row
        if name in TEXT_FIELDS:
            # Typed values are saved when the field is left or Enter is pressed, not at every keystroke.
            control.on('blur', lambda: self.save(name, control.value))
            control.on('keydown.enter', lambda: self.save(name, control.value))
        else:
            async def changed(event: Any) -> None:
                if name in PREVIEWED and event.value != getattr(self.prefs, name):
                    self.variant.value = PREVIEWED[name]  # show the style being chosen
                await self.save(name, event.value)
            control.on_value_change(changed)

    def model_options(self, provider: str, models: list[str]) -> dict[str, str]:
        entry = self.services.providers.get(provider)
        default = entry.default_model if entry is not None else ''
        options = {'': f"Provider's default ({default})" if default else "Provider's default"}
        options.update({m: m for m in models})
        model = self.prefs.model
        if model and model not in options:
            options[model] = model
        return options

    # ---------------------------------------------------------------------------------------------------------
    # Saving
    # ---------------------------------------------------------------------------------------------------------

    async def save(self, name: str, value: Any) -> None:
        if isinstance(value, str):
            value = value.strip()
        prefs = self.store.cached(OWNER)
        if value == shown(name, getattr(prefs, name)):
            self.show_error(name, None)
            return
        changes = {name: value}
        if name == 'provider' and isinstance(value, str) and prefs.model:
            # A model name belongs to its provider: keep it only if the new provider offers it too.
            changes['model'] = prefs.model if prefs.model in await models_of(self.services, value) else None
        try:
            saved = await self.store.update(OWNER, changes)
        except PreferenceError as exc:
            self.show_error(name, exc.errors.get(name) or str(exc))
            self.saved.set_visibility(False)
            return
        self.show_error(name, None)
        if name in TEXT_FIELDS:  # '0600' was saved as 600: show it as stored
            self.controls[name].value = shown(name, getattr(saved, name))
        self.saved.text = f'Saved: {LABELS.get(name, name)}'
        self.saved.set_visibility(True)

    async def reset_all(self) -> None:
        prefs = await self.store.reset(OWNER)
        self.apply(prefs, force=True)
        self.saved.text = 'Back to the defaults'
        self.saved.set_visibility(True)

    async def reset_field(self, name: str) -> None:
        prefs = await self.store.reset(OWNER, [name])
        self.apply(prefs, force=True, only=(name,))
        self.saved.text = f'{LABELS.get(name, name)}: back to the default'
        self.saved.set_visibility(True)

    def show_error(self, name: str, message: str | None) -> None:
        label = self.errors[name]
        if label.text != (message or ''):
            label.text = message or ''
        label.set_visibility(bool(message))
        control = self.controls[name]
        if name in TEXT_FIELDS and bool(control.props.get('error')) != bool(message):
            control.props['error'] = bool(message)

    # ---------------------------------------------------------------------------------------------------------
    # Showing changes (made here or on any other page)
    # ---------------------------------------------------------------------------------------------------------

    def apply(self, prefs: Preferences, *, force: bool = False, only: tuple[str, ...] | None = None) -> None:
        old, self.prefs = self.prefs, prefs
        for name, control in self.controls.items():
            if only is not None and name not in only:
                continue
            value = getattr(prefs, name)
            if not force and value == getattr(old, name):
                continue
            value = shown(name, value)
            if isinstance(control, ui.select):
                options = control.options
                if isinstance(options, dict) and value not in options:
                    control.options = {**options, value: value}
                    control.update()
                elif isinstance(options, list) and value not in options:
                    control.options = [value, *options]
                    control.update()
            if control.value != value:
                control.value = value
            self.show_error(name, None)
        if prefs.theme != old.theme and prefs.theme != 'system':
            self.variant.value = prefs.theme  # the preview shows the variant now in use
        if prefs.provider != old.provider:
            background_tasks.create(self.load_models(prefs.provider), name='settings-models')
        self.sync_dependents()

    def sync_dependents(self) -> None:
        self.rows['smooth_cps'].set_visibility(self.prefs.speed == 'smooth')
        overridden = self.store.overridden(OWNER)
        for name, button in self.resets.items():
            button.set_visibility(name in overridden)

    def show_variant(self, variant: str) -> None:
        if self.preview.props.get('data-variant') != variant:
            self.preview.props['data-variant'] = variant

    async def load_models(self, provider: str) -> None:
        models = await models_of(self.services, provider)
        control = self.controls['model']
        if control.is_deleted or self.prefs.provider != provider:
            return
        control.options = self.model_options(provider, models)
        control.update()


def _with(options: list[str], value: str) -> list[str]:
    return options if value in options else [value, *options]


@ui.page('/settings', title='Settings · Scribe')
async def settings_page() -> None:
    await SettingsPage(current()).build()
