"""The workspace's quick menu: the preferences one changes while reading (streaming, speed, cursor, theme, code
colours) and a link to all of them. It shows values and reports changes; the page saves them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui
from nicegui.elements.mixins.value_element import ValueElement

from services.preferences import Preferences

Save = Callable[[str, Any], Awaitable[None]]

SPEEDS = {'provider': 'As sent', 'smooth': 'Typewriter', 'instant': 'Instant'}
THEMES = {'light': 'Light', 'dark': 'Dark', 'system': 'System'}


class QuickSettings:
    def __init__(self, prefs: Preferences, *, styles: tuple[list[str], list[str]], save: Save,
                 settings_url: str = '/settings') -> None:
        self._save = save
        self.prefs = prefs
        self.controls: dict[str, ValueElement[Any]] = {}
        light, dark = styles
        self.button = ui.button(icon='tune').props('flat round dense data-testid=quick-settings')
        self.button.tooltip('Quick settings')
        with self.button, ui.menu().props('data-testid=quick-menu') as self.menu:
            with ui.column().classes('scribe-quick gap-2'):
                self._add('streaming', ui.switch('Stream answers live', value=prefs.streaming))
                ui.label('Speed').classes('scribe-pref-hint')
                self._add('speed', ui.toggle(SPEEDS, value=prefs.speed).props('dense no-caps size=sm'))
                self._add('cursor', ui.switch('Cursor', value=prefs.cursor))
                ui.label('Theme').classes('scribe-pref-hint')
                self._add('theme', ui.toggle(THEMES, value=prefs.theme).props('dense no-caps size=sm'))
                for name, label, options in (('highlight_style', 'Code colours (light)', light),
                                             ('highlight_style_dark', 'Code colours (dark)', dark)):
                    value = getattr(prefs, name)
                    self._add(name, ui.select(_with(options, value), label=label, value=value).props(
                        'dense options-dense').classes('w-full'))
                ui.separator()
                ui.link('All settings…', settings_url).props('data-testid=quick-all-settings').classes('text-sm')

    def _add(self, name: str, control: ValueElement[Any]) -> None:
        control.props(f'data-testid=quick-{name}')
        self.controls[name] = control

        async def changed(event: Any) -> None:
            if event.value != getattr(self.prefs, name):
                await self._save(name, event.value)

        control.on_value_change(changed)

    def apply(self, prefs: Preferences) -> None:
        """Show ``prefs`` (changed here or on another page)."""
        self.prefs = prefs
        for name, control in self.controls.items():
            value = getattr(prefs, name)
            if control.value != value:
                if isinstance(control, ui.select) and value not in control.options:
                    control.options = [*control.options, value]
                    control.update()
                control.value = value


def _with(options: list[str], value: str) -> list[str]:
    return options if value in options else [value, *options]
