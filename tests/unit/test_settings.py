"""Command line + environment → Settings: every bad value is one ConfigError line, the command line wins."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from services.errors import ConfigError
from services.providers.demo import DemoProvider
from services.providers.registry import build_providers
from services.settings import Settings, load_settings


def settings(*argv: str, **env: str) -> Settings:
    return load_settings(list(argv), env)


def config_error(*argv: str, **env: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(list(argv), env)
    message = str(info.value)
    assert message and '\n' not in message
    return message


# --- defaults and existing options --------------------------------------------------------------------------------

def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = settings()
    assert (s.host, s.port, s.native, s.show, s.auth) == ('127.0.0.1', 8080, False, True, False)
    assert s.provider == 'demo' and s.model is None
    assert s.demo_speed == 400.0 and s.demo_script is None and s.demo_chunk is None
    assert s.flush_interval == 0.04
    assert s.data_dir == (tmp_path / 'data').resolve()
    assert s.database_url == f'sqlite:///{s.data_dir / "scribe.db"}'


@pytest.mark.parametrize('port', ['abc', '-1', '65536', '80.5'])
def test_bad_port(port: str) -> None:
    assert '--port' in config_error('--port', port)


def test_bad_port_from_the_environment() -> None:
    assert '--port' in config_error(SCRIBE_PORT='http')


def test_unknown_provider() -> None:
    message = config_error('--provider', 'gemini')
    assert '--provider' in message and 'gemini' in message
    assert 'gemini' in config_error(SCRIBE_DEFAULT_PROVIDER='gemini')


def test_provider_is_case_insensitive_and_defaults_to_the_configured_key() -> None:
    assert settings('--provider', ' OpenAI ').provider == 'openai'
    assert settings(OPENAI_API_KEY='sk-x').provider == 'openai'
    assert settings(ANTHROPIC_API_KEY='sk-ant').provider == 'anthropic'
    assert settings('--provider', 'demo', OPENAI_API_KEY='sk-x').provider == 'demo'


@pytest.mark.parametrize('argv', [['--bogus'], ['--port'], ['--native', 'yes'], ['--no-show=1'], ['positional']])
def test_bad_flags(argv: list[str]) -> None:
    config_error(*argv)


@pytest.mark.parametrize(('var', 'value'), [('SCRIBE_NATIVE', 'maybe'), ('SCRIBE_SHOW', '2'), ('SCRIBE_AUTH', 'x')])
def test_bad_boolean_environment(var: str, value: str) -> None:
    assert var in config_error(**{var: value})


@pytest.mark.parametrize(('argv', 'env', 'fragment'), [
    (['--demo-speed', '0'], {}, '--demo-speed'),
    (['--demo-speed', 'fast'], {}, '--demo-speed'),
    (['--demo-speed', 'nan'], {}, '--demo-speed'),
    (['--flush-interval', '2'], {}, '--flush-interval'),
    (['--database-url', 'ftp://x'], {}, '--database-url'),
    (['--redis-url', 'http://x'], {}, '--redis-url'),
    (['--model', ' '], {}, '--model'),
])
def test_bad_values(argv: list[str], env: dict[str, str], fragment: str) -> None:
    assert fragment in config_error(*argv, **env)


def test_demo_speed_inf() -> None:
    assert math.isinf(settings('--demo-speed', 'inf').demo_speed)


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    file = tmp_path / 'file'
    file.write_text('x')
    assert '--data-dir' in config_error('--data-dir', str(file))


def test_command_line_wins_over_environment(tmp_path: Path) -> None:
    env = {'SCRIBE_PORT': '9000', 'SCRIBE_HOST': '0.0.0.0', 'SCRIBE_DEMO_SPEED': '100', 'SCRIBE_SHOW': '1',
           'SCRIBE_FLUSH_INTERVAL': '0.1', 'SCRIBE_DATA_DIR': str(tmp_path / 'env')}
    from_env = settings(**env)
    assert (from_env.port, from_env.host, from_env.demo_speed, from_env.show) == (9000, '0.0.0.0', 100.0, True)
    assert from_env.flush_interval == 0.1 and from_env.data_dir == (tmp_path / 'env').resolve()
    both = settings('--port', '9001', '--host', '127.0.0.2', '--demo-speed', '2000', '--no-show',
                    '--flush-interval', '0.02', '--data-dir', str(tmp_path / 'cli'), **env)
    assert (both.port, both.host, both.demo_speed, both.show) == (9001, '127.0.0.2', 2000.0, False)
    assert both.flush_interval == 0.02 and both.data_dir == (tmp_path / 'cli').resolve()


def test_bad_environment_value_is_ignored_when_the_command_line_overrides_it() -> None:
    assert settings('--port', '8123', SCRIBE_PORT='nope').port == 8123


# --- --demo-script / --demo-chunk ---------------------------------------------------------------------------------

def test_demo_script_is_read(tmp_path: Path) -> None:
    script = tmp_path / 'answer.md'
    script.write_text('Hello ✓\n```python\nprint(1)\n```\n', encoding='utf-8')
    s = settings('--demo-script', str(script))
    assert s.demo_script == 'Hello ✓\n```python\nprint(1)\n```\n'
    assert settings(SCRIBE_DEMO_SCRIPT=str(script)).demo_script == s.demo_script
    assert 'Hello' not in repr(s)  # the text is not dumped into logs of the settings


def test_demo_script_command_line_wins(tmp_path: Path) -> None:
    (tmp_path / 'a.md').write_text('from the command line')
    assert settings('--demo-script', str(tmp_path / 'a.md'),
                    SCRIBE_DEMO_SCRIPT=str(tmp_path / 'missing.md')).demo_script == 'from the command line'


@pytest.mark.parametrize('case', ['missing', 'folder', 'binary', 'empty'])
def test_bad_demo_script(tmp_path: Path, case: str) -> None:
    path = tmp_path / 'script.md'
    if case == 'folder':
        path.mkdir()
    elif case == 'binary':
        path.write_bytes(b'ok \xff\xfe not utf-8')
    elif case == 'empty':
        path.write_text('')
    message = config_error('--demo-script', str(path))
    assert '--demo-script' in message
    assert message == config_error(SCRIBE_DEMO_SCRIPT=str(path))


def test_unreadable_demo_script(tmp_path: Path) -> None:
    path = tmp_path / 'secret.md'
    path.write_text('x')
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):  # root reads anything: nothing to test then
            pytest.skip('running as root')
        assert 'cannot be read' in config_error('--demo-script', str(path))
    finally:
        path.chmod(0o600)


@pytest.mark.parametrize(('argv', 'env', 'expected'), [
    (['--demo-chunk', '4'], {}, 4),
    ([], {'SCRIBE_DEMO_CHUNK': '16'}, 16),
    (['--demo-chunk', '2'], {'SCRIBE_DEMO_CHUNK': '16'}, 2),
    ([], {'SCRIBE_DEMO_CHUNK': ''}, None),
])
def test_demo_chunk(argv: list[str], env: dict[str, str], expected: int | None) -> None:
    assert settings(*argv, **env).demo_chunk == expected


@pytest.mark.parametrize('value', ['0', '-3', '2.5', 'four', '1e3'])
def test_bad_demo_chunk(value: str) -> None:
    assert '--demo-chunk' in config_error('--demo-chunk', value)
    assert '--demo-chunk' in config_error(SCRIBE_DEMO_CHUNK=value)


async def test_registry_passes_the_script_to_the_demo_provider(tmp_path: Path) -> None:
    script = tmp_path / 'answer.md'
    script.write_text('abcdefghij')
    s = settings('--demo-script', str(script), '--demo-chunk', '4', '--demo-speed', 'inf')
    providers = build_providers(s.providers, demo_speed=s.demo_speed, demo_script=s.demo_script,
                                demo_chunk=s.demo_chunk)
    demo = providers['demo']
    assert isinstance(demo, DemoProvider)
    assert demo.chunks('any prompt') == ['abcd', 'efgh', 'ij']


def test_providers_priority_and_default() -> None:
    from services.settings import load_settings

    keys = {'OPENAI_API_KEY': 'k', 'ANTHROPIC_API_KEY': 'k'}
    assert load_settings([], {}).providers == () and load_settings([], {}).provider == 'demo'
    both = load_settings([], keys)
    assert both.providers == ('openai', 'anthropic') and both.provider == 'openai'
    flipped = load_settings(['--providers', 'anthropic,openai'], keys)
    assert flipped.providers == ('anthropic', 'openai') and flipped.provider == 'anthropic'
    off = load_settings([], {**keys, 'SCRIBE_PROVIDERS': 'anthropic'})
    assert off.providers == ('anthropic',)
    chosen = load_settings(['--provider', 'openai', '--providers', 'anthropic'], {})
    assert chosen.providers == ('openai', 'anthropic') and chosen.provider == 'openai'
    assert load_settings(['--provider', 'demo'], keys).provider == 'demo'


@pytest.mark.parametrize(('argv', 'words'), [
    (['--providers', 'openai,gemini'], 'openai and/or anthropic'),
    (['--providers', 'openai,openai'], 'twice'),
    (['--openai-api', 'completions'], 'chat or responses'),
    (['--max-concurrent', '0'], '--max-concurrent must be between'),
    (['--requests-per-minute', 'many'], 'whole number'),
    (['--max-prompt-chars', '-5'], '--max-prompt-chars'),
    (['--retries', '99'], '--retries'),
])
def test_bad_limits_and_provider_lists_are_refused_in_one_line(argv: list[str], words: str) -> None:
    from services.errors import ConfigError
    from services.settings import load_settings

    with pytest.raises(ConfigError, match=words.replace('(', r'\(')):
        load_settings(argv, {})


def test_limits_reach_the_stream_manager() -> None:
    from services.app_services import AppServices
    from services.settings import load_settings

    s = load_settings(['--max-concurrent', '2', '--requests-per-minute', '5', '--retries', '1',
                       '--max-prompt-chars', '50', '--providers', 'anthropic,openai', '--openai-api', 'responses'],
                      {})
    services = AppServices.build(s)
    manager = services.manager
    assert (manager.max_concurrent, manager.requests_per_minute, manager.max_prompt_chars) == (2, 5, 50)
    assert manager.retry_policy.retries == 1
    assert list(services.providers) == ['anthropic', 'openai', 'demo']
    assert services.providers['openai'].api == 'responses'  # type: ignore[attr-defined]
