"""Per-user preferences: what they may be, where their defaults come from, and how a change reaches every page.

Precedence, highest first: the user's saved choice (the ``preference`` table) → ``--pref NAME=VALUE`` on the
command line → the environment (``SCRIBE_PREF_<NAME>``) → the options that already configure the app
(``--provider``, ``--model``, ``--flush-interval``) → the built-in default. Only the fields a user actually set
are stored, so a default changed by the operator reaches everyone who never chose otherwise.

A bad value never crashes anything: the settings page refuses it with a message for its field and saves nothing
(``PreferenceError``); a bad value already in the database or the environment is logged and replaced by the
default, field by field, so one broken entry does not cost the user the rest of their choices.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from services.errors import InvalidRequest
from services.highlighter import available_styles

log = logging.getLogger(__name__)

ENV_PREFIX = 'SCRIBE_PREF_'
Speed = Literal['provider', 'smooth', 'instant']
CursorStyle = Literal['bar', 'block', 'underscore']
Theme = Literal['light', 'dark', 'system']

#: Light and dark pygments styles that read well on Scribe's backgrounds, offered first in the pickers.
LIGHT_STYLES = ('default', 'friendly', 'xcode', 'sas', 'tango', 'vs', 'lovelace', 'emacs')
DARK_STYLES = ('monokai', 'github-dark', 'one-dark', 'dracula', 'nord', 'material', 'native', 'gruvbox-dark',
               'solarized-dark', 'zenburn', 'vim')


class PreferenceError(InvalidRequest):
    """Some values were refused: ``errors`` maps each field to a message fit to show next to it."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__('; '.join(f'{LABELS.get(k, k)}: {v}' for k, v in self.errors.items()))


class Preferences(BaseModel):
    """Every choice a user can make. Frozen: a change is a new object, handed to whoever listens."""

    model_config = ConfigDict(frozen=True, extra='forbid', str_strip_whitespace=True)

    streaming: bool = True
    speed: Speed = 'provider'
    smooth_cps: int = Field(default=600, ge=20, le=20_000)
    cursor: bool = True
    cursor_style: CursorStyle = 'block'
    cursor_blink: bool = True
    theme: Theme = 'system'
    highlight_style: str = 'default'
    highlight_style_dark: str = 'monokai'
    provider: str = 'demo'
    model: str | None = Field(default=None, max_length=200)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, allow_inf_nan=False)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    flush_interval_ms: int = Field(default=40, ge=0, le=1000)
    buffer_size: int = Field(default=4096, ge=16, le=1_000_000)
    code_font_size: int = Field(default=13, ge=9, le=28)
    line_numbers: bool = False
    line_wrap: bool = False

    @field_validator('*', mode='before')
    @classmethod
    def _strip(cls, value: object) -> object:
        """Values typed into a form or an environment variable often carry stray spaces."""
        return value.strip() if isinstance(value, str) else value

    @field_validator('highlight_style', 'highlight_style_dark')
    @classmethod
    def _known_style(cls, value: str) -> str:
        if value not in _styles():
            raise ValueError(f'{value!r} is not an installed pygments style')
        return value

    @field_validator('provider')
    @classmethod
    def _enabled_provider(cls, value: str, info: ValidationInfo) -> str:
        value = value.lower()
        providers = (info.context or {}).get('providers')
        if providers is not None and value not in providers:
            raise ValueError(f'{value!r} is not turned on here; choose one of {", ".join(providers)}')
        return value

    @field_validator('model', mode='before')
    @classmethod
    def _blank_model(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator('temperature', 'max_tokens', mode='before')
    @classmethod
    def _blank_number(cls, value: object) -> object:
        return None if value is None or (isinstance(value, str) and not value.strip()) else value

    @property
    def flush_interval(self) -> float:
        return self.flush_interval_ms / 1000


FIELDS: tuple[str, ...] = tuple(Preferences.model_fields)

LABELS: dict[str, str] = {
    'streaming': 'Streaming', 'speed': 'Speed', 'smooth_cps': 'Typewriter pace', 'cursor': 'Cursor',
    'cursor_style': 'Cursor style', 'cursor_blink': 'Blinking cursor', 'theme': 'Theme',
    'highlight_style': 'Highlight style (light)', 'highlight_style_dark': 'Highlight style (dark)',
    'provider': 'Default provider', 'model': 'Default model', 'temperature': 'Temperature',
    'max_tokens': 'Maximum tokens', 'flush_interval_ms': 'Flush interval', 'buffer_size': 'Buffer size',
    'code_font_size': 'Code font size', 'line_numbers': 'Line numbers', 'line_wrap': 'Line wrap',
}

_style_cache: frozenset[str] | None = None


def _styles() -> frozenset[str]:
    global _style_cache
    if _style_cache is None:
        _style_cache = frozenset(available_styles())
    return _style_cache


def light_and_dark_styles() -> tuple[list[str], list[str]]:
    """The installed styles, the ones known to suit each theme first."""
    styles = sorted(_styles())
    light = [s for s in LIGHT_STYLES if s in _styles()] + [s for s in styles if s not in LIGHT_STYLES]
    dark = [s for s in DARK_STYLES if s in _styles()] + [s for s in styles if s not in DARK_STYLES]
    return light, dark


def _message(error: Mapping[str, Any]) -> str:
    """pydantic's wording, made to read well next to a field."""
    kind, msg = str(error.get('type', '')), str(error.get('msg', 'invalid value'))
    ctx = error.get('ctx') or {}
    if kind == 'value_error':
        return msg.removeprefix('Value error, ')
    if kind in ('bool_parsing', 'bool_type'):
        return 'must be on or off'
    if kind in ('int_parsing', 'int_type', 'int_from_float'):
        return 'must be a whole number'
    if kind in ('float_parsing', 'float_type', 'finite_number'):
        return 'must be a number'
    if kind in ('greater_than_equal', 'less_than_equal') and error.get('loc'):
        low, high = _bounds(str(error['loc'][0]))
        if low is not None and high is not None:
            return f'must be from {_num(low)} to {_num(high)}'
    if kind == 'literal_error' and 'expected' in ctx:
        return f'must be one of {ctx["expected"]}'.replace("'", '')
    if kind == 'string_too_long':
        return f'must be at most {ctx.get("max_length")} characters'
    if kind == 'extra_forbidden':
        return 'is not a preference'
    return msg


def _num(x: float) -> str:
    return f'{int(x):,}' if float(x).is_integer() else f'{x:g}'


def _bounds(name: str) -> tuple[float | None, float | None]:
    field = Preferences.model_fields.get(name)
    metadata = field.metadata if field is not None else []
    low = next((m.ge for m in metadata if getattr(m, 'ge', None) is not None), None)
    high = next((m.le for m in metadata if getattr(m, 'le', None) is not None), None)
    return low, high


def errors_of(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for error in exc.errors():
        loc = error.get('loc') or ('',)
        out.setdefault(str(loc[0]), _message(error))
    return out


def validate(values: Mapping[str, Any], *, providers: Iterable[str] | None = None) -> Preferences:
    """All values at once; raises ``PreferenceError`` naming every bad field."""
    context = {'providers': tuple(providers)} if providers is not None else None
    try:
        return Preferences.model_validate(dict(values), context=context)
    except ValidationError as exc:
        raise PreferenceError(errors_of(exc)) from None


def merge_lenient(base: Preferences, values: Mapping[str, Any], *, source: str,
                  providers: Iterable[str] | None = None) -> tuple[Preferences, dict[str, Any]]:
    """``base`` with each valid value of ``values`` applied; each bad one is logged and skipped, never fatal.
    Returns the result and the values that were accepted."""
    providers = tuple(providers) if providers is not None else None
    accepted: dict[str, Any] = {}
    current = base.model_dump()
    for name, value in values.items():
        if name not in FIELDS:
            log.warning('%s: ignoring unknown preference %r', source, name)
            continue
        try:
            validate({**current, name: value}, providers=providers)
        except PreferenceError as exc:
            log.warning('%s: %s=%r is invalid (%s); using %r', source, name, value,
                        exc.errors.get(name, exc), current[name])
            continue
        current[name] = value
        accepted[name] = value
    return validate(current, providers=providers), accepted


def defaults_from(env: Mapping[str, str], *, cli: Mapping[str, str] | None = None, provider: str = 'demo',
                  model: str | None = None, flush_interval: float | None = None,
                  providers: Iterable[str] | None = None) -> Preferences:
    """The defaults every user starts from. The app's own options seed them, then the environment's
    ``SCRIBE_PREF_*`` (bad values are logged and skipped), then ``--pref`` (already checked by ``parse_cli``)."""
    seed: dict[str, Any] = {'provider': provider, 'model': model}
    if flush_interval is not None:
        seed['flush_interval_ms'] = round(flush_interval * 1000)
    base, _ = merge_lenient(Preferences(), seed, source='command line', providers=providers)
    from_env = {key[len(ENV_PREFIX):].lower(): value for key, value in env.items() if key.startswith(ENV_PREFIX)}
    base, _ = merge_lenient(base, from_env, source='environment', providers=providers)
    if cli:
        base = validate({**base.model_dump(), **cli}, providers=providers)
    return base


def parse_cli(items: Iterable[str]) -> dict[str, str]:
    """``--pref NAME=VALUE`` items; each is checked on its own, as a typo on the command line should stop the app
    with a clear line rather than be silently ignored."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition('=')
        name = name.strip().lower().replace('-', '_')
        if not sep or not name:
            raise PreferenceError({'--pref': f'expects NAME=VALUE (got {item!r})'})
        if name not in FIELDS:
            raise PreferenceError({'--pref': f'{name!r} is not a preference; one of {", ".join(FIELDS)}'})
        try:
            Preferences.model_validate({name: value})
        except ValidationError as exc:
            raise PreferenceError({f'--pref {name}': errors_of(exc).get(name, str(exc))}) from None
        out[name] = value
    return out


class PreferenceBackend(Protocol):
    async def load_preferences(self, owner: str) -> dict[str, Any]: ...

    async def save_preferences(self, owner: str, values: dict[str, Any]) -> None: ...


Listener = Callable[[str, Preferences], None]


class PreferenceStore:
    """Loads, validates, saves and announces each user's preferences.

    Pages and the stream manager read the cached value synchronously after a page's first ``get``; a change is
    written first, then announced to every listener, so what a page shows is what a reload will show.
    """

    def __init__(self, backend: PreferenceBackend, defaults: Preferences,
                 providers: Iterable[str] | None = None) -> None:
        self.backend = backend
        self.defaults = defaults
        self.providers = tuple(providers) if providers is not None else None
        self._overrides: dict[str, dict[str, Any]] = {}
        self._cache: dict[str, Preferences] = {}
        self._listeners: set[Listener] = set()

    async def get(self, owner: str) -> Preferences:
        cached = self._cache.get(owner)
        if cached is not None:
            return cached
        stored = await self.backend.load_preferences(owner)
        prefs, accepted = merge_lenient(self.defaults, stored, source=f'saved preferences of {owner!r}',
                                        providers=self.providers)
        self._overrides[owner] = accepted
        self._cache[owner] = prefs
        return prefs

    def cached(self, owner: str) -> Preferences:
        """The value loaded by ``get`` (or the defaults), for code that cannot await."""
        return self._cache.get(owner, self.defaults)

    def overridden(self, owner: str) -> frozenset[str]:
        """The fields this user set; the rest follow the defaults."""
        return frozenset(self._overrides.get(owner, {}))

    async def update(self, owner: str, changes: Mapping[str, Any]) -> Preferences:
        """Validate ``changes`` on top of the user's current preferences; save and announce them, or raise
        ``PreferenceError`` and change nothing."""
        current = await self.get(owner)
        prefs = validate({**current.model_dump(), **changes}, providers=self.providers)
        overrides = {**self._overrides.get(owner, {}), **prefs.model_dump(include=set(changes))}
        await self.backend.save_preferences(owner, overrides)
        return self._publish(owner, overrides, prefs)

    async def reset(self, owner: str, fields: Iterable[str] | None = None) -> Preferences:
        """Back to the defaults: every field, or only ``fields``."""
        await self.get(owner)
        overrides = dict(self._overrides.get(owner, {}))
        for name in (list(overrides) if fields is None else fields):
            overrides.pop(name, None)
        await self.backend.save_preferences(owner, overrides)
        prefs = validate({**self.defaults.model_dump(), **overrides}, providers=self.providers)
        return self._publish(owner, overrides, prefs)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """``listener(owner, prefs)`` after every change; returns the function that unsubscribes."""
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    def _publish(self, owner: str, overrides: dict[str, Any], prefs: Preferences) -> Preferences:
        self._overrides[owner] = overrides
        self._cache[owner] = prefs
        for listener in list(self._listeners):
            try:
                listener(owner, prefs)
            except Exception:
                log.exception('a listener failed to apply new preferences')
        return prefs
