"""The real ``openai`` SDK, through OpenAIProvider, against a server that speaks OpenAI's SSE wire format."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderStreamError,
    ProviderUnavailable,
)
from services.providers.base import ChatMessage, CompletionRequest
from services.providers.openai import FALLBACK_MODELS, OpenAIProvider
from tests.fakes.provider_server import DEFAULT_API_KEY, FakeOpenAIServer, Fault, Framing, Route, Script

ROOT = Path(__file__).resolve().parents[2]

TRICKY = (
    'Intro: 👩‍💻 wrote e\u0301 (not é) near 🇯🇵, 漢字とかな, مرحبا بالعالم, and a line\u2028separator.\r\n'
    '<script>alert(1)</script> stays text.\r\n'
    '\n```python\n'
    'FENCE = "```"  # three backticks inside a string\n'
    'print(f"{FENCE} is not a fence here")\n'
    '```\n'
    'Windows line\r\nanother one\r\n'
    'Tail 🇯🇵👩‍💻e\u0301'
)


def request(prompt: str = 'Hello', *, model: str = 'gpt-4o-mini') -> CompletionRequest:
    return CompletionRequest(messages=(ChatMessage('user', prompt),), model=model)


async def collect(provider: OpenAIProvider, req: CompletionRequest | None = None) -> list[str]:
    return [chunk async for chunk in provider.stream(req or request())]


async def collect_until_error(provider: OpenAIProvider) -> tuple[str, ProviderError]:
    received: list[str] = []
    with pytest.raises(ProviderError) as info:
        async for chunk in provider.stream(request()):
            received.append(chunk)
    return ''.join(received), info.value


# ---- (a) exact text under random byte splitting ------------------------------------------------------------------


@pytest.mark.parametrize('framing', ['chunked', 'close'])
@pytest.mark.parametrize('seed', [1, 2, 3, 4])
async def test_text_arrives_exactly_despite_random_byte_splits(
        fake_openai: FakeOpenAIServer, openai_provider: OpenAIProvider, seed: int, framing: Framing) -> None:
    fake_openai.script = Script(text=TRICKY, chunk_chars=(1, 8), framing=framing,
                                record_writes=True)
    fake_openai.reseed(seed)

    chunks = await collect(openai_provider)

    assert ''.join(chunks) == TRICKY
    assert all(chunks), 'no empty chunks'
    # The cuts really fell inside UTF-8 sequences and inside the `data: ` prefix.
    body_writes = fake_openai.writes[1:]
    assert any(_splits_utf8(w) for w in body_writes)
    assert any(w.endswith((b'd', b'da', b'dat', b'data', b'data:')) for w in body_writes)


@pytest.mark.parametrize('framing', ['chunked', 'close'])
async def test_text_arrives_exactly_in_writes_of_one_to_three_bytes(
        fake_openai: FakeOpenAIServer, openai_provider: OpenAIProvider, framing: Framing) -> None:
    text = 'e\u0301👩‍💻🇯🇵漢字مرحبا\u2028<script>\r\n```py\ns = "```"\n```\r\n'
    fake_openai.script = Script(text=text, chunk_chars=(1, 3), max_write=3, framing=framing,
                                record_writes=True, seed=9)

    assert ''.join(await collect(openai_provider)) == text
    assert max(len(w) for w in fake_openai.writes[1:]) <= 3


def _splits_utf8(piece: bytes) -> bool:
    try:
        piece.decode('utf-8')
    except UnicodeDecodeError:
        return True
    return False


async def test_routes_choose_the_answer_by_prompt(fake_openai: FakeOpenAIServer,
                                                  openai_provider: OpenAIProvider) -> None:
    fake_openai.script = Script(text='default answer', routes=[Route(contains='poem', text='roses are red')])

    assert ''.join(await collect(openai_provider, request('write a poem'))) == 'roses are red'
    assert ''.join(await collect(openai_provider, request('anything else'))) == 'default answer'


# ---- (b) what is sent ------------------------------------------------------------------------------------------


async def test_history_model_and_settings_are_sent_as_given(fake_openai: FakeOpenAIServer,
                                                            openai_provider: OpenAIProvider) -> None:
    history = (ChatMessage('system', 'Be terse.'), ChatMessage('user', 'Hi 👋'),
               ChatMessage('assistant', 'Hello.\n```py\nx = 1\n```'), ChatMessage('user', 'Again'))
    req = CompletionRequest(messages=history, model='my-custom-model-2', temperature=0.3, max_tokens=123)

    assert ''.join(await collect(openai_provider, req)) == fake_openai.script.text

    [sent] = fake_openai.chat_requests
    assert sent.messages == [{'role': m.role, 'content': m.content} for m in history]
    assert sent.body['model'] == 'my-custom-model-2'
    assert sent.body['stream'] is True
    assert sent.body['stream_options'] == {'include_usage': True}
    assert sent.body['temperature'] == 0.3
    assert sent.body['max_completion_tokens'] == 123
    assert sent.headers['authorization'] == f'Bearer {DEFAULT_API_KEY}'


async def test_unset_settings_are_not_sent(fake_openai: FakeOpenAIServer, openai_provider: OpenAIProvider) -> None:
    await collect(openai_provider)

    body = fake_openai.chat_requests[0].body
    assert not {'temperature', 'max_tokens', 'max_completion_tokens'} & set(body)


# ---- (c) HTTP errors -----------------------------------------------------------------------------------------


async def test_wrong_key_is_an_auth_error(fake_openai: FakeOpenAIServer) -> None:
    provider = OpenAIProvider(api_key='sk-wrong-key-123456', base_url=fake_openai.base_url)
    try:
        _, error = await collect_until_error(provider)
    finally:
        await provider.aclose()

    assert isinstance(error, ProviderAuthError)
    assert error.status == 401 and not error.retryable
    assert 'OpenAI rejected the API key (401): check OPENAI_API_KEY' in str(error)


async def test_missing_key_is_an_auth_error_without_a_request(fake_openai: FakeOpenAIServer,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    provider = OpenAIProvider(base_url=fake_openai.base_url)  # constructing it must not fail

    _, error = await collect_until_error(provider)

    assert isinstance(error, ProviderAuthError)
    assert 'OPENAI_API_KEY' in str(error)
    assert fake_openai.requests == []


async def test_key_and_base_url_come_from_the_environment(fake_openai: FakeOpenAIServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('OPENAI_API_KEY', DEFAULT_API_KEY)
    monkeypatch.setenv('OPENAI_BASE_URL', fake_openai.base_url)
    provider = OpenAIProvider()
    try:
        assert ''.join(await collect(provider)) == fake_openai.script.text
    finally:
        await provider.aclose()


def _in(seconds: float) -> str:
    return email.utils.formatdate(time.time() + seconds, usegmt=True)


@pytest.mark.parametrize(('fault', 'expected', 'status', 'retry_after'), [
    (Fault(status=429, retry_after='7'), ProviderRateLimited, 429, 7.0),
    (Fault(status=429, retry_after='7', retry_after_ms='1500'), ProviderRateLimited, 429, 1.5),
    (Fault(status=429), ProviderRateLimited, 429, None),
    (Fault(status=429, code='insufficient_quota'), ProviderQuotaError, 429, None),
    (Fault(status=500), ProviderUnavailable, 500, None),
    (Fault(status=503), ProviderUnavailable, 503, None),
    (Fault(status=400), ProviderBadRequest, 400, None),
    (Fault(status=404), ProviderBadRequest, 404, None),
    (Fault(status=403), ProviderAuthError, 403, None),
])
async def test_http_errors_are_translated(fake_openai: FakeOpenAIServer, openai_provider: OpenAIProvider,
                                          fault: Fault, expected: type[ProviderError], status: int,
                                          retry_after: float | None) -> None:
    fake_openai.script = Script(faults=[fault])

    _, error = await collect_until_error(openai_provider)

    assert type(error) is expected
    assert error.status == status and error.provider == 'openai'
    assert error.retry_after == retry_after
    assert f'({status})' in str(error)
    assert len(fake_openai.requests) == 1, 'the SDK must not retry on its own'


async def test_retry_after_as_an_http_date(fake_openai: FakeOpenAIServer, openai_provider: OpenAIProvider) -> None:
    fake_openai.script = Script(fail_times=1, fail_status=429, retry_after=_in(30))

    _, error = await collect_until_error(openai_provider)

    assert isinstance(error, ProviderRateLimited)
    assert error.retry_after is not None and 25 <= error.retry_after <= 31
    # The failure was used up: the next attempt streams.
    assert ''.join(await collect(openai_provider)) == fake_openai.script.text


async def test_error_messages_say_what_to_do(fake_openai: FakeOpenAIServer, openai_provider: OpenAIProvider) -> None:
    fake_openai.script = Script(faults=[Fault(status=429, code='insufficient_quota'), Fault(status=404)])

    _, quota = await collect_until_error(openai_provider)
    _, missing = await collect_until_error(openai_provider)

    assert 'quota' in str(quota) and 'billing' in str(quota)
    assert "'gpt-4o-mini'" in str(missing) and 'OPENAI_BASE_URL' in str(missing)


async def test_unreachable_server_is_a_stream_error() -> None:
    async with FakeOpenAIServer() as server:
        base_url = server.base_url  # the port is free again once the server is gone
    provider = OpenAIProvider(api_key=DEFAULT_API_KEY, base_url=base_url)
    try:
        _, error = await collect_until_error(provider)
    finally:
        await provider.aclose()

    assert isinstance(error, ProviderStreamError) and error.retryable
    assert 'Could not connect' in str(error)


# ---- (d, e) broken streams -------------------------------------------------------------------------------------


@pytest.mark.parametrize('framing', ['chunked', 'close'])
@pytest.mark.parametrize('drop_after', [1, 37, 200])
async def test_dropped_connection_keeps_an_exact_prefix(fake_openai: FakeOpenAIServer,
                                                        openai_provider: OpenAIProvider, drop_after: int,
                                                        framing: Framing) -> None:
    fake_openai.script = Script(text=TRICKY, drop_after_chars=drop_after, framing=framing)

    received, error = await collect_until_error(openai_provider)

    assert isinstance(error, ProviderStreamError) and error.retryable
    assert TRICKY.startswith(received)
    assert drop_after <= len(received) < len(TRICKY)


@pytest.mark.parametrize('framing', ['chunked', 'close'])
async def test_stream_without_finish_reason_is_an_error(fake_openai: FakeOpenAIServer,
                                                        openai_provider: OpenAIProvider, framing: Framing) -> None:
    fake_openai.script = Script(text=TRICKY, no_terminal=True, framing=framing)

    received, error = await collect_until_error(openai_provider)

    assert received == TRICKY
    assert isinstance(error, ProviderStreamError)
    assert 'without a finish_reason' in str(error)


async def test_drop_after_the_finish_reason_keeps_the_complete_answer(
        fake_openai: FakeOpenAIServer, openai_provider: OpenAIProvider, caplog: pytest.LogCaptureFixture) -> None:
    fake_openai.script = Script(text=TRICKY, faults=[Fault(drop_after_finish=True)])

    with caplog.at_level(logging.INFO, logger='services.providers.openai'):
        assert ''.join(await collect(openai_provider)) == TRICKY

    assert 'dropped after its finish_reason' in caplog.text


async def test_in_band_error_event_is_a_stream_error(fake_openai: FakeOpenAIServer,
                                                     openai_provider: OpenAIProvider) -> None:
    fake_openai.script = Script(text=TRICKY, inband_error_after_chars=20)

    received, error = await collect_until_error(openai_provider)

    assert TRICKY.startswith(received) and len(received) >= 20
    assert isinstance(error, ProviderStreamError)
    assert 'The server had an error' in str(error)


async def test_stall_hits_the_read_timeout(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script = Script(text=TRICKY, stall_after_chars=10, stall_seconds=5)
    provider = OpenAIProvider(api_key=DEFAULT_API_KEY, base_url=fake_openai.base_url, read_timeout=0.3)
    try:
        received, error = await collect_until_error(provider)
    finally:
        await provider.aclose()

    assert TRICKY.startswith(received) and len(received) >= 10
    assert isinstance(error, ProviderStreamError) and 'timed out' in str(error)


# ---- (f) stopping closes the HTTP response at once ---------------------------------------------------------------


async def test_aclose_closes_the_connection_promptly(fake_openai: FakeOpenAIServer,
                                                     openai_provider: OpenAIProvider) -> None:
    fake_openai.script = Script(text=TRICKY * 10, chars_per_second=400)
    stream = openai_provider.stream(request())
    received = [await anext(stream) for _ in range(3)]
    [sent] = fake_openai.chat_requests
    assert sent.client_closed_at is None

    closed_at = time.monotonic()
    await stream.aclose()  # type: ignore[attr-defined]

    assert await fake_openai.wait_for(lambda: sent.client_closed_at is not None, timeout=2.0)
    assert sent.client_closed_at is not None and sent.client_closed_at - closed_at < 1.0
    assert sent.completed_at is None
    assert TRICKY.startswith(''.join(received))


@pytest.mark.parametrize('stall', [False, True])
async def test_cancelling_the_task_closes_the_connection_promptly(fake_openai: FakeOpenAIServer,
                                                                  openai_provider: OpenAIProvider,
                                                                  stall: bool) -> None:
    # Stalled: the server holds the socket open and silent, as a hung provider does; the client waits in a read.
    fake_openai.script = Script(text=TRICKY * 10, chars_per_second=None if stall else 400,
                                stall_after_chars=20 if stall else None)
    received: list[str] = []

    async def consume() -> None:
        async for chunk in openai_provider.stream(request()):
            received.append(chunk)

    task = asyncio.create_task(consume())
    assert await fake_openai.wait_for(lambda: len(''.join(received)) >= (20 if stall else 1))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    [sent] = fake_openai.chat_requests
    assert await fake_openai.wait_for(lambda: sent.client_closed_at is not None, timeout=2.0)


# ---- (g) models -------------------------------------------------------------------------------------------------


async def test_models_come_from_the_server(fake_openai: FakeOpenAIServer, openai_provider: OpenAIProvider) -> None:
    fake_openai.script = Script(model_ids=('gpt-4o', 'o4-mini', 'text-embedding-3-large', 'whisper-1', 'tts-1'))

    assert await openai_provider.models() == ['gpt-4o', 'o4-mini']
    assert fake_openai.requests[-1].path == '/v1/models'


async def test_compatible_servers_keep_unfamiliar_model_names(fake_openai: FakeOpenAIServer,
                                                              openai_provider: OpenAIProvider) -> None:
    fake_openai.script = Script(model_ids=('qwen2.5-coder:7b', 'llama3.1:8b'))

    assert await openai_provider.models() == ['llama3.1:8b', 'qwen2.5-coder:7b']


async def test_models_fall_back_when_the_server_fails(fake_openai: FakeOpenAIServer,
                                                      openai_provider: OpenAIProvider) -> None:
    fake_openai.script = Script(models_status=500)

    assert await openai_provider.models() == list(FALLBACK_MODELS)


async def test_models_fall_back_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('OPENAI_API_KEY', raising=False)

    assert await OpenAIProvider().models() == list(FALLBACK_MODELS)


# ---- the fake server's other ways to run --------------------------------------------------------------------


async def test_server_runs_in_a_thread() -> None:
    server = FakeOpenAIServer(Script(text='from a thread 👩‍💻')).start_in_thread()
    provider = OpenAIProvider(api_key=DEFAULT_API_KEY, base_url=server.base_url)
    try:
        assert ''.join(await collect(provider)) == 'from a thread 👩‍💻'
    finally:
        await provider.aclose()
        await asyncio.to_thread(server.stop_thread)


async def test_server_runs_as_a_process(tmp_path: Path) -> None:
    (tmp_path / 'default.md').write_text('default ✓', encoding='utf-8')
    (tmp_path / 'poem.md').write_text('roses\r\nare red', encoding='utf-8')
    (tmp_path / 'scenario.json').write_text(json.dumps({
        'default_text_file': 'default.md',
        'routes': [{'contains': 'poem', 'text_file': 'poem.md'},
                   {'contains': 'flaky', 'text': 'ok', 'faults': [{'status': 429, 'retry_after': 2}, None]}],
        'chunk_chars': [1, 3], 'seed': 5,
    }), encoding='utf-8')
    process = subprocess.Popen([sys.executable, '-m', 'tests.fakes.provider_server', '--port', '0',
                                '--scenario', str(tmp_path / 'scenario.json')],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    try:
        assert process.stdout is not None
        base_url = (await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 10)).strip()
        assert base_url.startswith('http://127.0.0.1:') and base_url.endswith('/v1')
        provider = OpenAIProvider(api_key=DEFAULT_API_KEY, base_url=base_url)
        try:
            assert ''.join(await collect(provider, request('a poem please'))) == 'roses\r\nare red'
            assert ''.join(await collect(provider, request('hello'))) == 'default ✓'
            with pytest.raises(ProviderRateLimited) as info:
                await collect(provider, request('flaky one'))
            assert info.value.retry_after == 2
            assert ''.join(await collect(provider, request('flaky one'))) == 'ok'
        finally:
            await provider.aclose()
    finally:
        process.terminate()
        process.wait(5)
