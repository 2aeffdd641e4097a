"""Command line and environment → one validated ``Settings`` object.

Every option has an environment variable (UI-CONTRACT.md) so deployments can configure Scribe without a command
line; an explicit command-line option wins over the environment, which wins over the built-in default. A bad
value never starts a half-configured app: ``load_settings`` raises ``ConfigError`` with one line that names the
option, and ``app.py`` prints it and exits non-zero.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from services.errors import ConfigError
from services.preferences import PreferenceError, Preferences, defaults_from, parse_cli

PROVIDERS = ('demo', 'openai', 'anthropic')


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = '127.0.0.1'
    port: int = 8080
    native: bool = False
    show: bool = True
    data_dir: Path = Path('data')
    database_url: str = ''
    redis_url: str | None = None
    provider: str = 'demo'
    model: str | None = None
    auth: bool = False
    demo_speed: float = 400.0
    demo_script: str | None = field(default=None, repr=False)  # the text of --demo-script, not its path
    demo_chunk: int | None = None
    flush_interval: float = 0.04
    checkpoint_interval: float = 1.0
    providers: tuple[str, ...] = ()  # real providers turned on, highest priority first
    openai_api: str = 'chat'
    max_concurrent: int = 4
    requests_per_minute: int = 30
    max_prompt_chars: int = 100_000
    retries: int = 3
    pause_limit: float = 600.0
    #: Every user's starting preferences (services/preferences.py says which source wins).
    preferences: Preferences = field(default_factory=Preferences)


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so every bad value becomes one clear line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog='app.py', description='Scribe: watch an AI model write code, highlighted as it streams.')
    p.add_argument('--host', help='interface to listen on [SCRIBE_HOST, default 127.0.0.1]')
    p.add_argument('--port', help='port [SCRIBE_PORT, default 8080]')
    p.add_argument('--native', action='store_true', default=None,
                   help='open in a desktop-style native window (pywebview) [SCRIBE_NATIVE=1]')
    p.add_argument('--no-show', dest='show', action='store_false', default=None,
                   help='do not open a browser tab on start [SCRIBE_SHOW=0]')
    p.add_argument('--data-dir', help='where the embedded database and local state live [SCRIBE_DATA_DIR, ./data]')
    p.add_argument('--database-url', help='any SQLAlchemy URL, e.g. postgresql+psycopg://… '
                   '[SCRIBE_DATABASE_URL, default sqlite:///<data-dir>/scribe.db]')
    p.add_argument('--redis-url', help='Redis for streams shared by several app processes [SCRIBE_REDIS_URL]')
    p.add_argument('--provider', help='openai, anthropic or demo [SCRIBE_DEFAULT_PROVIDER, first configured, '
                   'else demo]')
    p.add_argument('--model', help="model name passed to the provider as given [SCRIBE_DEFAULT_MODEL]")
    p.add_argument('--auth', action='store_true', default=None, help='accounts and sign-in [SCRIBE_AUTH=1]')
    p.add_argument('--demo-speed', help='demo provider pace in characters per second, or "inf" '
                   '[SCRIBE_DEMO_SPEED, default 400]')
    p.add_argument('--demo-script', metavar='FILE', help='the demo provider answers every prompt with this UTF-8 '
                   'text file, replayed at --demo-speed (benchmarks) [SCRIBE_DEMO_SCRIPT]')
    p.add_argument('--demo-chunk', metavar='N', help='the demo provider streams chunks of exactly N characters '
                   '[SCRIBE_DEMO_CHUNK, default token-like sizes of 1-8]')
    p.add_argument('--flush-interval', help='seconds between batched updates to the browser '
                   '[SCRIBE_FLUSH_INTERVAL, default 0.04]')
    p.add_argument('--providers', help='real providers to use, highest priority first, comma-separated '
                   '(e.g. anthropic,openai) [SCRIBE_PROVIDERS, default: those whose key or base URL is set]')
    p.add_argument('--openai-api', help='chat (Chat Completions) or responses (Responses API) '
                   '[SCRIBE_OPENAI_API, default chat]')
    p.add_argument('--max-concurrent', help='answers generated at once per user; more wait in a queue '
                   '[SCRIBE_MAX_CONCURRENT, default 4]')
    p.add_argument('--requests-per-minute', help='prompts per user per minute [SCRIBE_REQUESTS_PER_MINUTE, 30]')
    p.add_argument('--max-prompt-chars', help='longest prompt accepted [SCRIBE_MAX_PROMPT_CHARS, 100000]')
    p.add_argument('--pause-limit', help='seconds a paused answer keeps its provider request open; Resume then '
                   'continues from the saved text [SCRIBE_PAUSE_LIMIT, default 600]')
    p.add_argument('--pref', action='append', default=[], metavar='NAME=VALUE',
                   help='a default preference for every user, e.g. --pref theme=dark --pref line_numbers=on; '
                   'a user\'s own choice on /settings wins [SCRIBE_PREF_<NAME>]')
    p.add_argument('--retries', help='retries per provider before falling back [SCRIBE_RETRIES, default 3]')
    return p


def _bool(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in ('1', 'true', 'yes', 'on'):
        return True
    if v in ('0', 'false', 'no', 'off', ''):
        return False
    raise ConfigError(f'{name} must be 1 or 0 (got {value!r})')


def _number(name: str, value: str, *, low: float, high: float, integer: bool = False) -> float:
    try:
        number = float(value) if not integer else int(value)
    except ValueError:
        raise ConfigError(f'{name} must be a {"whole " if integer else ""}number (got {value!r})') from None
    if math.isnan(number) or not low <= number <= high:
        raise ConfigError(f'{name} must be between {low:g} and {high:g} (got {value!r})')
    return number


def _script(path_text: str) -> str:
    """The text of ``--demo-script``: an existing, readable, non-empty UTF-8 file."""
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ConfigError(f'--demo-script {path_text!r} is not a file')
    try:
        text = path.read_text(encoding='utf-8')
    except UnicodeDecodeError as exc:
        raise ConfigError(f'--demo-script {path_text!r} is not UTF-8 text (byte {exc.start})') from None
    except OSError as exc:
        raise ConfigError(f'--demo-script {path_text!r} cannot be read ({exc.strerror or exc})') from None
    if not text:
        raise ConfigError(f'--demo-script {path_text!r} is empty')
    return text


def _chunk(text: str) -> int:
    """``--demo-chunk``: a whole number of characters, at least 1."""
    try:
        size = int(text)
    except ValueError:
        size = 0
    if not 1 <= size <= 1_000_000:
        raise ConfigError(f'--demo-chunk must be a whole number of characters from 1 to 1000000 (got {text!r})')
    return size


def _configured(env: Mapping[str, str]) -> tuple[str, ...]:
    """The real providers whose key or base URL is set, in the default priority order."""
    return tuple(name for name, prefix in (('openai', 'OPENAI'), ('anthropic', 'ANTHROPIC'))
                 if env.get(f'{prefix}_API_KEY') or env.get(f'{prefix}_BASE_URL'))


def _provider_list(text: str) -> tuple[str, ...]:
    names = tuple(n.strip().lower() for n in text.split(',') if n.strip())
    for name in names:
        if name not in ('openai', 'anthropic'):
            raise ConfigError(f'--providers takes openai and/or anthropic, comma-separated (got {name!r})')
    if len(set(names)) != len(names):
        raise ConfigError(f'--providers names a provider twice (got {text!r})')
    return names


def load_settings(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    args = build_parser().parse_args(list(argv) if argv is not None else None)

    def pick(arg: object, var: str) -> str | None:
        if arg is not None:
            return str(arg)
        return env.get(var)

    host = pick(args.host, 'SCRIBE_HOST') or '127.0.0.1'
    port_text = pick(args.port, 'SCRIBE_PORT')
    port = int(_number('--port', port_text, low=0, high=65535, integer=True)) if port_text else 8080
    native = args.native if args.native is not None else _bool('SCRIBE_NATIVE', env.get('SCRIBE_NATIVE', '0'))
    show = args.show if args.show is not None else _bool('SCRIBE_SHOW', env.get('SCRIBE_SHOW', '1'))
    auth = args.auth if args.auth is not None else _bool('SCRIBE_AUTH', env.get('SCRIBE_AUTH', '0'))
    data_dir = Path(pick(args.data_dir, 'SCRIBE_DATA_DIR') or 'data').expanduser().resolve()
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f'--data-dir {str(data_dir)!r} exists and is not a folder')

    database_url = pick(args.database_url, 'SCRIBE_DATABASE_URL') or f'sqlite:///{data_dir / "scribe.db"}'
    scheme = urlparse(database_url).scheme
    if not scheme.startswith(('sqlite', 'postgresql', 'mysql', 'mariadb')):
        raise ConfigError(f'--database-url must be an SQLAlchemy URL such as sqlite:///path or '
                          f'postgresql+psycopg://host/db (got {database_url!r})')

    redis_url = pick(args.redis_url, 'SCRIBE_REDIS_URL') or None
    if redis_url and urlparse(redis_url).scheme not in ('redis', 'rediss', 'unix'):
        raise ConfigError(f'--redis-url must start with redis:// or rediss:// (got {redis_url!r})')

    providers_text = pick(args.providers, 'SCRIBE_PROVIDERS')
    providers = _provider_list(providers_text) if providers_text is not None else _configured(env)
    chosen = pick(args.provider, 'SCRIBE_DEFAULT_PROVIDER')
    provider = (chosen or (providers[0] if providers else 'demo')).strip().lower()
    if provider not in PROVIDERS:
        raise ConfigError(f'--provider must be one of {", ".join(PROVIDERS)} (got {provider!r})')
    if provider != 'demo' and provider not in providers:
        providers = (provider, *providers)  # the chosen default is on, first
    openai_api = (pick(args.openai_api, 'SCRIBE_OPENAI_API') or 'chat').strip().lower()
    if openai_api not in ('chat', 'responses'):
        raise ConfigError(f'--openai-api must be chat or responses (got {openai_api!r})')

    def whole(option: str, var: str, default: int, low: int, high: int) -> int:
        text = pick(getattr(args, option.lstrip('-').replace('-', '_')), var)
        return int(_number(option, text, low=low, high=high, integer=True)) if text else default

    max_concurrent = whole('--max-concurrent', 'SCRIBE_MAX_CONCURRENT', 4, 1, 1000)
    requests_per_minute = whole('--requests-per-minute', 'SCRIBE_REQUESTS_PER_MINUTE', 30, 1, 100_000)
    max_prompt_chars = whole('--max-prompt-chars', 'SCRIBE_MAX_PROMPT_CHARS', 100_000, 1, 10_000_000)
    retries = whole('--retries', 'SCRIBE_RETRIES', 3, 0, 20)
    pause_text = pick(args.pause_limit, 'SCRIBE_PAUSE_LIMIT')
    pause_limit = _number('--pause-limit', pause_text, low=0.1, high=86_400) if pause_text else 600.0
    model = pick(args.model, 'SCRIBE_DEFAULT_MODEL') or None
    if model is not None and (not model.strip() or len(model) > 200):
        raise ConfigError(f'--model must be a model name (got {model!r})')

    speed_text = pick(args.demo_speed, 'SCRIBE_DEMO_SPEED')
    demo_speed = _number('--demo-speed', speed_text, low=1, high=math.inf) if speed_text else 400.0
    script_path = pick(args.demo_script, 'SCRIBE_DEMO_SCRIPT') or None
    demo_script = _script(script_path) if script_path else None
    chunk_text = pick(args.demo_chunk, 'SCRIBE_DEMO_CHUNK') or None
    demo_chunk = _chunk(chunk_text) if chunk_text else None
    flush_text = pick(args.flush_interval, 'SCRIBE_FLUSH_INTERVAL')
    flush_interval = _number('--flush-interval', flush_text, low=0.0, high=1.0) if flush_text else 0.04

    try:
        cli_prefs = parse_cli(args.pref)
        preferences = defaults_from(env, cli=cli_prefs, provider=provider, model=model,
                                    flush_interval=flush_interval, providers=('demo', *providers))
    except PreferenceError as exc:
        raise ConfigError(str(exc)) from None

    return Settings(host=host, port=port, native=native, show=show, data_dir=data_dir, database_url=database_url,
                    redis_url=redis_url, provider=provider, model=model, auth=auth, demo_speed=demo_speed,
                    demo_script=demo_script, demo_chunk=demo_chunk, flush_interval=flush_interval,
                    providers=providers,
                    openai_api=openai_api, max_concurrent=max_concurrent, requests_per_minute=requests_per_minute,
                    max_prompt_chars=max_prompt_chars, retries=retries, pause_limit=pause_limit,
                    preferences=preferences)
