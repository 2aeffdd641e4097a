"""Preferences: validation with a message per field, precedence of the sources, and loading that never fails."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.errors import ConfigError
from services.preferences import (
    FIELDS,
    PreferenceError,
    Preferences,
    PreferenceStore,
    defaults_from,
    light_and_dark_styles,
    merge_lenient,
    parse_cli,
    validate,
)
from services.settings import load_settings
from services.storage import Storage


class MemoryBackend:
    """The two calls PreferenceStore makes of Storage, over a dict (Storage itself is tested below)."""

    def __init__(self, stored: dict[str, dict[str, Any]] | None = None) -> None:
        self.stored = stored or {}
        self.saves = 0

    async def load_preferences(self, owner: str) -> dict[str, Any]:
        return dict(self.stored.get(owner, {}))

    async def save_preferences(self, owner: str, values: dict[str, Any]) -> None:
        self.saves += 1
        self.stored[owner] = dict(values)


def errors(values: dict[str, Any], **kw: Any) -> dict[str, str]:
    with pytest.raises(PreferenceError) as info:
        validate(values, **kw)
    return info.value.errors


# --- validation ---------------------------------------------------------------------------------------------------

def test_defaults_are_valid_and_sensible() -> None:
    p = Preferences()
    assert p.streaming and p.speed == 'provider' and p.cursor and p.theme == 'system'
    assert p.flush_interval == 0.04 and p.buffer_size > 0 and 9 <= p.code_font_size <= 28
    assert validate({}) == p


@pytest.mark.parametrize(('field', 'value', 'message'), [
    ('theme', 'purple', 'must be one of light, dark or system'),
    ('speed', 'fast', 'must be one of provider, smooth or instant'),
    ('cursor_style', 'beam', 'must be one of bar, block or underscore'),
    ('cursor', 'maybe', 'must be on or off'),
    ('smooth_cps', 0, 'must be from 20 to 20,000'),
    ('smooth_cps', 'abc', 'must be a whole number'),
    ('temperature', 5, 'must be from 0 to 2'),
    ('temperature', 'warm', 'must be a number'),
    ('temperature', float('nan'), 'must be a number'),
    ('max_tokens', 0, 'must be from 1 to 1,000,000'),
    ('flush_interval_ms', 5000, 'must be from 0 to 1,000'),
    ('buffer_size', 'abc', 'must be a whole number'),
    ('code_font_size', 60, 'must be from 9 to 28'),
    ('highlight_style', 'no-such-style', 'is not an installed pygments style'),
    ('highlight_style_dark', '', 'is not an installed pygments style'),
    ('model', 'm' * 201, 'must be at most 200 characters'),
    ('colour', 'red', 'is not a preference'),
])
def test_each_bad_value_gets_a_message_for_its_field(field: str, value: Any, message: str) -> None:
    assert message in errors({field: value})[field]


def test_every_bad_field_is_reported_at_once() -> None:
    found = errors({'theme': 'x', 'smooth_cps': -1, 'line_wrap': 'sometimes'})
    assert set(found) == {'theme', 'smooth_cps', 'line_wrap'}


def test_values_from_text_are_coerced() -> None:
    p = validate({'cursor': 'off', 'line_numbers': 'on', 'smooth_cps': '250', 'temperature': '0.7',
                  'max_tokens': '', 'model': '  ', 'theme': ' dark '})
    assert (p.cursor, p.line_numbers, p.smooth_cps, p.temperature) == (False, True, 250, 0.7)
    assert p.max_tokens is None and p.model is None and p.theme == 'dark'


def test_provider_must_be_turned_on() -> None:
    assert 'choose one of demo' in errors({'provider': 'openai'}, providers=['demo'])['provider']
    assert validate({'provider': 'OpenAI'}, providers=['demo', 'openai']).provider == 'openai'


def test_preferences_are_frozen() -> None:
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        Preferences().theme = 'dark'  # type: ignore[misc]


def test_style_lists_offer_every_installed_style_suited_ones_first() -> None:
    light, dark = light_and_dark_styles()
    assert sorted(light) == sorted(dark) and len(set(light)) == len(light)
    assert light[0] == 'default' and dark[0] == 'monokai'


@given(st.dictionaries(st.sampled_from(FIELDS), st.one_of(st.text(max_size=8), st.integers(), st.booleans(),
                                                          st.floats(allow_nan=True), st.none())))
def test_lenient_merge_never_raises_and_keeps_only_valid_values(values: dict[str, Any]) -> None:
    prefs, accepted = merge_lenient(Preferences(), values, source='test')
    assert isinstance(prefs, Preferences)
    for name, value in accepted.items():
        validate({name: value})  # each accepted value is valid on its own
    for name in set(values) - set(accepted):
        assert getattr(prefs, name) == getattr(Preferences(), name)


# --- precedence -----------------------------------------------------------------------------------------------------

def test_environment_gives_defaults_and_bad_values_fall_back_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        p = defaults_from({'SCRIBE_PREF_THEME': 'dark', 'SCRIBE_PREF_SMOOTH_CPS': 'fast',
                           'SCRIBE_PREF_NOPE': '1', 'SCRIBE_PREF_LINE_NUMBERS': 'yes'})
    assert p.theme == 'dark' and p.line_numbers and p.smooth_cps == Preferences().smooth_cps
    assert "smooth_cps='fast' is invalid (must be a whole number)" in caplog.text
    assert "unknown preference 'nope'" in caplog.text


def test_command_line_wins_over_environment_which_wins_over_app_options() -> None:
    p = defaults_from({'SCRIBE_PREF_THEME': 'dark', 'SCRIBE_PREF_FLUSH_INTERVAL_MS': '25'},
                      cli={'theme': 'light'}, flush_interval=0.08, model='gpt-x')
    assert (p.theme, p.flush_interval_ms, p.model) == ('light', 25, 'gpt-x')
    assert defaults_from({}, flush_interval=0.08).flush_interval_ms == 80


def test_load_settings_builds_the_defaults_and_refuses_a_bad_pref_on_the_command_line() -> None:
    s = load_settings(['--pref', 'theme=dark', '--pref', 'line-wrap=on', '--model', 'm1'],
                      {'SCRIBE_PREF_THEME': 'light', 'SCRIBE_PREF_CURSOR': 'off'})
    assert (s.preferences.theme, s.preferences.line_wrap, s.preferences.cursor) == ('dark', True, False)
    assert s.preferences.model == 'm1' and s.preferences.provider == 'demo'
    for argv, needle in ((['--pref', 'theme=purple'], '--pref theme: must be one of light, dark or system'),
                         (['--pref', 'theme'], 'expects NAME=VALUE'),
                         (['--pref', 'colour=red'], "'colour' is not a preference")):
        with pytest.raises(ConfigError, match=needle):
            load_settings(argv, {})


def test_a_bad_environment_value_does_not_stop_the_app() -> None:
    s = load_settings([], {'SCRIBE_PREF_THEME': 'purple', 'SCRIBE_PREF_PROVIDER': 'openai'})
    assert s.preferences.theme == 'system' and s.preferences.provider == 'demo'


def test_parse_cli_keeps_the_text_for_validation_in_context() -> None:
    assert parse_cli(['Line-Numbers=1', 'model=gpt-4o']) == {'line_numbers': '1', 'model': 'gpt-4o'}


# --- the store ------------------------------------------------------------------------------------------------------

async def test_saved_choices_win_over_defaults_and_only_they_are_stored() -> None:
    backend = MemoryBackend()
    store = PreferenceStore(backend, Preferences(theme='dark'))
    assert (await store.get('u')).theme == 'dark'
    p = await store.update('u', {'cursor': 'off'})
    assert not p.cursor and p.theme == 'dark'
    assert backend.stored['u'] == {'cursor': False}
    assert store.overridden('u') == {'cursor'}
    # An operator's new default reaches the user for what they never chose.
    fresh = PreferenceStore(backend, Preferences(theme='light'))
    assert (await fresh.get('u')).theme == 'light' and not (await fresh.get('u')).cursor


async def test_a_refused_change_saves_nothing_and_says_why() -> None:
    backend = MemoryBackend()
    store = PreferenceStore(backend, Preferences())
    heard: list[Preferences] = []
    store.subscribe(lambda owner, prefs: heard.append(prefs))
    with pytest.raises(PreferenceError) as info:
        await store.update('u', {'temperature': 3, 'theme': 'dark'})
    assert set(info.value.errors) == {'temperature'} and 'Temperature' in str(info.value)
    assert backend.saves == 0 and heard == [] and (await store.get('u')).theme == 'system'


async def test_bad_saved_values_fall_back_field_by_field(caplog: pytest.LogCaptureFixture) -> None:
    backend = MemoryBackend({'u': {'theme': 'dark', 'cursor_style': 'wavy', 'smooth_cps': 10 ** 9, 'gone': 1,
                                   'provider': 'anthropic'}})
    store = PreferenceStore(backend, Preferences(), providers=['demo'])
    with caplog.at_level(logging.WARNING):
        p = await store.get('u')
    assert p.theme == 'dark' and p.cursor_style == 'block' and p.smooth_cps == 600 and p.provider == 'demo'
    assert "cursor_style='wavy' is invalid" in caplog.text and "provider='anthropic' is invalid" in caplog.text
    assert store.overridden('u') == {'theme'}


async def test_listeners_hear_every_change_and_reset() -> None:
    store = PreferenceStore(MemoryBackend(), Preferences())
    heard: list[tuple[str, str]] = []
    unsubscribe = store.subscribe(lambda owner, prefs: heard.append((owner, prefs.theme)))
    store.subscribe(lambda owner, prefs: 1 / 0)  # a broken listener must not stop the others or the save
    await store.update('u', {'theme': 'dark'})
    await store.update('u', {'line_wrap': True})
    p = await store.reset('u', ['theme'])
    assert p.theme == 'system' and p.line_wrap
    assert (await store.reset('u')).line_wrap is False
    unsubscribe()
    await store.update('u', {'theme': 'light'})
    assert heard == [('u', 'dark'), ('u', 'dark'), ('u', 'system'), ('u', 'system')]
    assert store.cached('u').theme == 'light' and store.cached('nobody') == Preferences()


async def test_users_have_their_own_preferences_in_the_database(tmp_path: Path) -> None:
    async with Storage(f'sqlite:///{tmp_path / "scribe.db"}') as storage:
        store = PreferenceStore(storage, Preferences())
        await store.update('alice', {'theme': 'dark', 'temperature': 0.3})
        await store.update('bob', {'line_numbers': True})
        await store.update('alice', {'theme': 'light'})
    async with Storage(f'sqlite:///{tmp_path / "scribe.db"}') as storage:
        assert await storage.load_preferences('alice') == {'theme': 'light', 'temperature': 0.3}
        again = PreferenceStore(storage, Preferences())
        assert (await again.get('bob')).line_numbers and not (await again.get('alice')).line_numbers
        assert await storage.load_preferences('nobody') == {}
