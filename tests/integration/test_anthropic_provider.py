"""The real ``anthropic`` SDK, through AnthropicProvider, against a server that speaks Anthropic's SSE wire format."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anthropic
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
from services.providers.anthropic import (
    DEFAULT_MAX_TOKENS,
    FALLBACK_MODELS,
    AnthropicProvider,
    PrefillRejected,
    supports_prefill,
    supports_temperature,
)
from services.providers.base import ChatMessage, CompletionRequest
from tests.fakes.anthropic_server import (
    CREDIT_BALANCE_MESSAGE,
    DEFAULT_API_KEY,
    FakeAnthropicServer,
    Fault,
    Framing,
    Route,
    Script,
)

ROOT = Path(__file__).resolve().parents[2]
OLD_MODEL = 'claude-haiku-4-5'  # takes a prefill and a temperature

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


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropicServer]:
    async with FakeAnthropicServer(Script(seed=0)) as server:
        yield server


@pytest.fixture
async def provider(fake: FakeAnthropicServer) -> AsyncIterator[AnthropicProvider]:
    provider = AnthropicProvider(api_key=DEFAULT_API_KEY, base_url=fake.base_url)
    yield provider
    await provider.aclose()


def request(prompt: str = 'Hello', *, model: str = OLD_MODEL) -> CompletionRequest:
    return CompletionRequest(messages=(ChatMessage('user', prompt),), model=model)


async def collect(provider: AnthropicProvider, req: CompletionRequest | None = None) -> list[str]:
    return [chunk async for chunk in provider.stream(req or request())]


async def collect_until_error(provider: AnthropicProvider,
                              req: CompletionRequest | None = None) -> tuple[str, ProviderError]:
    received: list[str] = []
    with pytest.raises(ProviderError) as info:
        async for chunk in provider.stream(req or request()):
            received.append(chunk)
    return ''.join(received), info.value


# ---- exact text under random byte splitting ----------------------------------------------------------------------


@pytest.mark.parametrize('framing', ['chunked', 'close'])
@pytest.mark.parametrize('seed', [1, 2, 3])
async def test_text_arrives_exactly_despite_random_byte_splits(fake: FakeAnthropicServer, provider: AnthropicProvider,
                                                               seed: int, framing: Framing) -> None:
    fake.script = Script(text=TRICKY, chunk_chars=(1, 8), framing=framing, record_writes=True)
    fake.reseed(seed)

    chunks = await collect(provider)

    assert ''.join(chunks) == TRICKY
    assert all(chunks), 'no empty chunks'
    # The cuts really fell inside UTF-8 sequences and inside the `event:` and `data:` field names.
    body_writes = fake.writes[1:]
    assert any(_splits_utf8(w) for w in body_writes)
    assert any(w.endswith((b'\ne', b'\nev', b'\neve', b'\nevent', b'\nevent:')) or w in (b'e', b'ev', b'eve', b'even')
               for w in body_writes)
    assert any(w.endswith((b'\nd', b'\nda', b'\ndat', b'\ndata', b'\ndata:')) for w in body_writes)


@pytest.mark.parametrize('framing', ['chunked', 'close'])
async def test_text_arrives_exactly_in_writes_of_one_to_three_bytes(fake: FakeAnthropicServer,
                                                                    provider: AnthropicProvider,
                                                                    framing: Framing) -> None:
    text = 'e\u0301👩‍💻🇯🇵漢字مرحبا\u2028<script>\r\n```py\ns = "```"\n```\r\n'
    fake.script = Script(text=text, chunk_chars=(1, 3), max_write=3, framing=framing, record_writes=True, seed=9)

    assert ''.join(await collect(provider)) == text
    assert max(len(w) for w in fake.writes[1:]) <= 3


def _splits_utf8(piece: bytes) -> bool:
    try:
        piece.decode('utf-8')
    except UnicodeDecodeError:
        return True
    return False


async def test_thinking_is_not_part_of_the_answer(fake: FakeAnthropicServer, provider: AnthropicProvider) -> None:
    fake.script = Script(text=TRICKY, thinking_text='Let me think about 👩‍💻 first.', seed=3)

    assert ''.join(await collect(provider)) == TRICKY


async def test_routes_choose_the_answer_by_prompt(fake: FakeAnthropicServer, provider: AnthropicProvider) -> None:
    fake.script = Script(text='default answer', routes=[Route(contains='poem', text='roses are red')])

    assert ''.join(await collect(provider, request('write a poem'))) == 'roses are red'
    assert ''.join(await collect(provider, request('anything else'))) == 'default answer'


# ---- what is sent --------------------------------------------------------------------------------------------------


async def test_system_history_and_settings_are_sent_as_the_api_wants(fake: FakeAnthropicServer,
                                                                     provider: AnthropicProvider) -> None:
    history = (ChatMessage('system', 'Be terse.'), ChatMessage('user', 'Hi 👋'),
               ChatMessage('assistant', 'Hello.\n```py\nx = 1\n```'), ChatMessage('system', 'Use Python.'),
               ChatMessage('user', 'Again'), ChatMessage('user', 'and once more'), ChatMessage('assistant', ''),
               ChatMessage('user', 'last'))
    req = CompletionRequest(messages=history, model='claude-sonnet-4-5-20250929', temperature=0.3, max_tokens=123,
                            extra={'metadata': {'user_id': 'u1'}})

    assert ''.join(await collect(provider, req)) == fake.script.text

    [sent] = fake.message_requests
    assert sent.body['system'] == 'Be terse.\n\nUse Python.'
    assert sent.messages == [{'role': 'user', 'content': 'Hi 👋'},
                             {'role': 'assistant', 'content': 'Hello.\n```py\nx = 1\n```'},
                             {'role': 'user', 'content': 'Again\n\nand once more\n\nlast'}]
    assert sent.body['model'] == 'claude-sonnet-4-5-20250929'
    assert sent.body['stream'] is True
    assert sent.body['max_tokens'] == 123
    assert sent.body['temperature'] == 0.3
    assert sent.body['metadata'] == {'user_id': 'u1'}
    # SDK 2.x sends the key as a bearer token, not as x-api-key.
    assert sent.headers['authorization'] == f'Bearer {DEFAULT_API_KEY}'
    assert sent.headers['anthropic-version']


async def test_defaults_when_nothing_is_set(fake: FakeAnthropicServer, provider: AnthropicProvider) -> None:
    await collect(provider, CompletionRequest(messages=(ChatMessage('user', 'hi'),), model=''))

    body = fake.message_requests[0].body
    assert body['max_tokens'] == DEFAULT_MAX_TOKENS
    assert body['model'] == provider.default_model
    assert not {'temperature', 'system', 'top_p'} & set(body)


async def test_temperature_is_left_out_for_models_that_reject_it(fake: FakeAnthropicServer,
                                                                 provider: AnthropicProvider) -> None:
    req = CompletionRequest(messages=(ChatMessage('user', 'hi'),), model='claude-sonnet-5-5', temperature=0.7)

    await collect(provider, req)

    assert 'temperature' not in fake.message_requests[0].body


@pytest.mark.parametrize(('prefill', 'sent', 'suffix'), [
    ('def f():\n    return "', 'def f():\n    return "', ''),
    ('The answer is 42.  \n\n', 'The answer is 42.', '  \n\n'),
    ('```py\nx = 1\n\t \r\n', '```py\nx = 1', '\n\t \r\n'),
])
async def test_prefill_is_sent_without_its_trailing_whitespace(fake: FakeAnthropicServer, provider: AnthropicProvider,
                                                               prefill: str, sent: str, suffix: str) -> None:
    fake.script = Script(text=' continued.')
    req = CompletionRequest(messages=(ChatMessage('system', 'sys'), ChatMessage('user', 'go'),
                                      ChatMessage('assistant', prefill)), model=OLD_MODEL)

    answer = ''.join(await collect(provider, req))

    # The fake, like the real API, answers 400 to a prefill that ends in whitespace: this one was accepted.
    assert fake.message_requests[0].messages[-1] == {'role': 'assistant', 'content': sent}
    assert answer == ' continued.'
    assert provider.prefill_suffix(req) == suffix
    partial = prefill
    assert partial[:len(partial) - len(suffix)] + answer == sent + ' continued.'


async def test_a_whitespace_only_prefill_is_not_sent(fake: FakeAnthropicServer, provider: AnthropicProvider) -> None:
    req = CompletionRequest(messages=(ChatMessage('user', 'go'), ChatMessage('assistant', ' \n ')), model=OLD_MODEL)

    await collect(provider, req)

    assert fake.message_requests[0].messages == [{'role': 'user', 'content': 'go'}]
    assert provider.prefill_suffix(req) == ' \n '
    assert provider.prefill_suffix(request()) == ''


async def test_prefill_rules_hold_around_system_and_blank_messages(fake: FakeAnthropicServer,
                                                                   provider: AnthropicProvider) -> None:
    after_system = CompletionRequest(messages=(ChatMessage('user', 'go'), ChatMessage('assistant', 'Half '),
                                               ChatMessage('system', 'be brief')), model=OLD_MODEL)
    after_blank = CompletionRequest(messages=(ChatMessage('user', 'go'), ChatMessage('assistant', 'Half '),
                                              ChatMessage('assistant', '  ')), model=OLD_MODEL)

    await collect(provider, after_system)
    await collect(provider, after_blank)  # would be a 400 if 'Half ' were sent as the prefill

    first, second = fake.message_requests
    assert first.messages[-1] == {'role': 'assistant', 'content': 'Half'} and first.body['system'] == 'be brief'
    assert provider.prefill_suffix(after_system) == ' '
    assert second.messages[-1] == {'role': 'assistant', 'content': 'Half'}


@pytest.mark.parametrize(('model', 'prefill', 'temperature'), [
    ('claude-3-5-sonnet-20241022', True, True),
    ('claude-3-opus-20240229', True, True),
    ('claude-opus-4-20250514', True, True),
    ('claude-opus-4-1', True, True),
    ('claude-sonnet-4-5-20250929', True, True),
    ('claude-haiku-4-5', True, True),
    ('claude-sonnet-4-6', False, True),
    ('claude-opus-4-6', False, True),
    ('claude-opus-4-7', False, False),
    ('claude-opus-4-8', False, False),
    ('claude-sonnet-5', False, False),
    ('claude-sonnet-5-5', False, False),
    ('claude-haiku-5-5', False, False),
    ('claude-fable-5-2', False, False),
    ('claude-mythos-preview', False, False),
    ('my-proxy-alias', False, True),
])
def test_model_capabilities(model: str, prefill: bool, temperature: bool) -> None:
    assert supports_prefill(model) is prefill
    assert AnthropicProvider.supports_prefill(model) is prefill
    assert supports_temperature(model) is temperature


# ---- HTTP errors -------------------------------------------------------------------------------------------------


async def test_wrong_key_is_an_auth_error(fake: FakeAnthropicServer) -> None:
    provider = AnthropicProvider(api_key='sk-ant-wrong-key', base_url=fake.base_url)
    try:
        _, error = await collect_until_error(provider)
    finally:
        await provider.aclose()

    assert isinstance(error, ProviderAuthError)
    assert error.status == 401 and not error.retryable
    assert 'Anthropic rejected the API key (401): check ANTHROPIC_API_KEY' in str(error)
    assert 'invalid x-api-key' in str(error)


async def test_missing_key_is_an_auth_error_without_a_request(fake: FakeAnthropicServer,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('ANTHROPIC_API_KEY', raising=False)
    monkeypatch.delenv('ANTHROPIC_AUTH_TOKEN', raising=False)
    provider = AnthropicProvider(base_url=fake.base_url)  # constructing it must not fail

    _, error = await collect_until_error(provider)

    assert isinstance(error, ProviderAuthError)
    assert 'ANTHROPIC_API_KEY' in str(error)
    assert fake.requests == []


async def test_key_and_base_url_come_from_the_environment(fake: FakeAnthropicServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('ANTHROPIC_API_KEY', DEFAULT_API_KEY)
    monkeypatch.setenv('ANTHROPIC_BASE_URL', fake.base_url)
    provider = AnthropicProvider()
    try:
        assert ''.join(await collect(provider)) == fake.script.text
    finally:
        await provider.aclose()


def _in(seconds: float) -> str:
    return email.utils.formatdate(time.time() + seconds, usegmt=True)


@pytest.mark.parametrize(('fault', 'expected', 'status', 'retry_after'), [
    (Fault(status=429, retry_after='7'), ProviderRateLimited, 429, 7.0),
    (Fault(status=429, retry_after='7', retry_after_ms='1500'), ProviderRateLimited, 429, 1.5),
    (Fault(status=529), ProviderUnavailable, 529, None),
    (Fault(status=529, retry_after='3'), ProviderUnavailable, 529, 3.0),
    (Fault(status=500), ProviderUnavailable, 500, None),
    (Fault(status=503, error_type='api_error'), ProviderUnavailable, 503, None),
    (Fault(status=400), ProviderBadRequest, 400, None),
    (Fault(status=404), ProviderBadRequest, 404, None),
    (Fault(status=413), ProviderBadRequest, 413, None),
    (Fault(status=403), ProviderAuthError, 403, None),
    (Fault(status=401), ProviderAuthError, 401, None),
    (Fault(credit_balance=True), ProviderQuotaError, 400, None),
    (Fault(status=402), ProviderQuotaError, 402, None),
])
async def test_http_errors_are_translated(fake: FakeAnthropicServer, provider: AnthropicProvider, fault: Fault,
                                          expected: type[ProviderError], status: int,
                                          retry_after: float | None) -> None:
    fake.script = Script(faults=[fault])

    _, error = await collect_until_error(provider)

    assert type(error) is expected
    assert error.status == status and error.provider == 'anthropic'
    assert error.retry_after == retry_after
    assert f'({status})' in str(error)
    assert 'request id req_' in str(error)
    assert len(fake.requests) == 1, 'the SDK must not retry on its own'


async def test_retry_after_as_an_http_date(fake: FakeAnthropicServer, provider: AnthropicProvider) -> None:
    fake.script = Script(fail_times=1, fail_status=429, retry_after=_in(30))

    _, error = await collect_until_error(provider)

    assert isinstance(error, ProviderRateLimited)
    assert error.retry_after is not None and 25 <= error.retry_after <= 31
    # The failure was used up: the next attempt streams.
    assert ''.join(await collect(provider)) == fake.script.text


async def test_retry_after_from_the_rate_limit_reset_headers(fake: FakeAnthropicServer,
                                                             provider: AnthropicProvider) -> None:
    fake.script = Script(faults=[Fault(status=429)])  # no retry-after: anthropic-ratelimit-requests-reset in ~30 s

    _, error = await collect_until_error(provider)

    assert isinstance(error, ProviderRateLimited)
    assert error.retry_after is not None and 25 <= error.retry_after <= 31


async def test_error_messages_say_what_to_do(fake: FakeAnthropicServer, provider: AnthropicProvider) -> None:
    fake.script = Script(faults=[Fault(credit_balance=True), Fault(status=404)])

    _, credit = await collect_until_error(provider)
    _, missing = await collect_until_error(provider)

    assert CREDIT_BALANCE_MESSAGE in str(credit) and 'Plans & Billing' in str(credit) and not credit.retryable
    assert f"'{OLD_MODEL}'" in str(missing) and 'ANTHROPIC_BASE_URL' in str(missing)


async def test_a_rejected_prefill_is_recognisable(fake: FakeAnthropicServer, provider: AnthropicProvider) -> None:
    fake.script = Script(reject_prefill=True)
    req = CompletionRequest(messages=(ChatMessage('user', 'go'), ChatMessage('assistant', 'Half an answer ')),
                            model='claude-sonnet-5-5')

    _, error = await collect_until_error(provider, req)

    assert isinstance(error, PrefillRejected) and isinstance(error, ProviderBadRequest)
    assert getattr(error, 'prefill_rejected', False) is True
    assert error.status == 400 and not error.retryable
    assert 'prefill' in str(error)
    # Without the prefill the same model answers.
    assert ''.join(await collect(provider, CompletionRequest(messages=req.messages[:1], model=req.model)))


async def test_other_bad_requests_are_not_prefill_rejections(fake: FakeAnthropicServer,
                                                             provider: AnthropicProvider) -> None:
    fake.script = Script(faults=[Fault(status=400)])

    _, error = await collect_until_error(provider)

    assert type(error) is ProviderBadRequest
    assert not getattr(error, 'prefill_rejected', False)


async def test_unreachable_server_is_a_stream_error() -> None:
    async with FakeAnthropicServer() as server:
        base_url = server.base_url  # the port is free again once the server is gone
    provider = AnthropicProvider(api_key=DEFAULT_API_KEY, base_url=base_url)
    try:
        _, error = await collect_until_error(provider)
    finally:
        await provider.aclose()

    assert isinstance(error, ProviderStreamError) and error.retryable
    assert 'Could not connect' in str(error)


# ---- broken streams ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize('framing', ['chunked', 'close'])
@pytest.mark.parametrize('drop_after', [1, 37, 200])
async def test_dropped_connection_keeps_an_exact_prefix(fake: FakeAnthropicServer, provider: AnthropicProvider,
                                                        drop_after: int, framing: Framing) -> None:
    fake.script = Script(text=TRICKY, drop_after_chars=drop_after, framing=framing)

    received, error = await collect_until_error(provider)

    assert isinstance(error, ProviderStreamError) and error.retryable
    assert TRICKY.startswith(received)
    assert drop_after <= len(received) < len(TRICKY)
    if framing == 'chunked':  # the SDK lets the raw httpx2 error through; it was translated
        assert 'RemoteProtocolError' in str(error)
    else:  # a body delimited by the close just ends: only the missing message_stop tells
        assert 'without message_stop' in str(error)


@pytest.mark.parametrize('fault', [Fault(no_terminal=True), Fault(no_message_stop=True)])
@pytest.mark.parametrize('framing', ['chunked', 'close'])
async def test_stream_without_message_stop_is_an_error(fake: FakeAnthropicServer, provider: AnthropicProvider,
                                                       fault: Fault, framing: Framing) -> None:
    fake.script = Script(text=TRICKY, framing=framing, faults=[fault])

    received, error = await collect_until_error(provider)

    assert received == TRICKY
    assert isinstance(error, ProviderStreamError) and error.retryable
    assert 'without message_stop' in str(error)


async def test_drop_after_message_stop_keeps_the_complete_answer(
        fake: FakeAnthropicServer, provider: AnthropicProvider, caplog: pytest.LogCaptureFixture) -> None:
    fake.script = Script(text=TRICKY, faults=[Fault(drop_after_stop=True)])

    with caplog.at_level(logging.INFO, logger='services.providers.anthropic'):
        assert ''.join(await collect(provider)) == TRICKY

    assert 'dropped after message_stop' in caplog.text


@pytest.mark.parametrize(('inband', 'expected'), [
    (None, ProviderUnavailable),  # {"type": "overloaded_error", "message": "Overloaded"}
    ({'type': 'rate_limit_error', 'message': 'Rate limited'}, ProviderRateLimited),
    ({'type': 'api_error', 'message': 'Internal server error'}, ProviderStreamError),
])
async def test_in_band_error_event_is_translated(fake: FakeAnthropicServer, provider: AnthropicProvider,
                                                 inband: dict[str, str] | None,
                                                 expected: type[ProviderError]) -> None:
    fake.script = Script(text=TRICKY, faults=[Fault(inband_error_after_chars=20, inband_error=inband)])

    received, error = await collect_until_error(provider)

    assert TRICKY.startswith(received) and len(received) >= 20
    assert type(error) is expected and error.retryable
    assert (inband or {'message': 'Overloaded'})['message'] in str(error)


async def test_stall_hits_the_read_timeout(fake: FakeAnthropicServer) -> None:
    fake.script = Script(text=TRICKY, stall_after_chars=10, stall_seconds=5)
    provider = AnthropicProvider(api_key=DEFAULT_API_KEY, base_url=fake.base_url, read_timeout=0.3)
    started = time.monotonic()
    try:
        received, error = await collect_until_error(provider)
    finally:
        await provider.aclose()

    assert time.monotonic() - started < 2.0
    assert TRICKY.startswith(received) and len(received) >= 10
    assert isinstance(error, ProviderStreamError) and 'timed out' in str(error)


@pytest.mark.parametrize('pings', [True, False])
async def test_slow_first_token(fake: FakeAnthropicServer, pings: bool) -> None:
    # Pings keep a slow start alive past the read timeout; silence does not.
    fake.script = Script(text='late but fine', first_token_delay=0.8, ping_interval=0.1 if pings else 0.0)
    provider = AnthropicProvider(api_key=DEFAULT_API_KEY, base_url=fake.base_url, read_timeout=0.4)
    try:
        if pings:
            assert ''.join(await collect(provider)) == 'late but fine'
        else:
            received, error = await collect_until_error(provider)
            assert received == '' and isinstance(error, ProviderStreamError) and 'timed out' in str(error)
    finally:
        await provider.aclose()


# ---- stopping closes the HTTP response at once -------------------------------------------------------------------


async def test_aclose_closes_the_connection_promptly(fake: FakeAnthropicServer, provider: AnthropicProvider) -> None:
    fake.script = Script(text=TRICKY * 10, chars_per_second=400)
    stream = provider.stream(request())
    received = [await anext(stream) for _ in range(3)]
    [sent] = fake.message_requests
    assert sent.client_closed_at is None

    closed_at = time.monotonic()
    await stream.aclose()

    assert await fake.wait_for(lambda: sent.client_closed_at is not None, timeout=2.0)
    assert sent.client_closed_at is not None and sent.client_closed_at - closed_at < 1.0
    assert sent.completed_at is None
    assert TRICKY.startswith(''.join(received))


@pytest.mark.parametrize('stall', [False, True])
async def test_cancelling_the_task_closes_the_connection_promptly(fake: FakeAnthropicServer,
                                                                  provider: AnthropicProvider, stall: bool) -> None:
    # Stalled: the server holds the socket open and silent, as a hung provider does; the client waits in a read.
    fake.script = Script(text=TRICKY * 10, chars_per_second=None if stall else 400,
                         stall_after_chars=20 if stall else None)
    received: list[str] = []

    async def consume() -> None:
        async for chunk in provider.stream(request()):
            received.append(chunk)

    task = asyncio.create_task(consume())
    assert await fake.wait_for(lambda: len(''.join(received)) >= (20 if stall else 1))
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    [sent] = fake.message_requests
    assert await fake.wait_for(lambda: sent.client_closed_at is not None, timeout=2.0)
    assert sent.client_closed_at is not None and sent.client_closed_at - cancelled_at < 1.0


# ---- models ------------------------------------------------------------------------------------------------------


async def test_models_come_from_the_server_in_its_order(fake: FakeAnthropicServer,
                                                        provider: AnthropicProvider) -> None:
    assert (await provider.models())[:2] == ['claude-sonnet-5-5', 'claude-opus-5-5']
    models_request = fake.requests[-1]
    assert models_request.path == '/v1/models' and models_request.method == 'GET'


async def test_models_follow_the_pages(fake: FakeAnthropicServer, provider: AnthropicProvider) -> None:
    ids = tuple(f'claude-test-{i:03d}' for i in range(130))
    fake.script = Script(model_ids=ids)

    assert await provider.models() == list(ids)
    assert len([r for r in fake.requests if r.path == '/v1/models']) == 2


async def test_models_fall_back_when_the_server_fails(fake: FakeAnthropicServer, provider: AnthropicProvider) -> None:
    fake.script = Script(models_status=500)

    assert await provider.models() == list(FALLBACK_MODELS)


async def test_models_fall_back_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('ANTHROPIC_API_KEY', raising=False)
    monkeypatch.delenv('ANTHROPIC_AUTH_TOKEN', raising=False)

    assert await AnthropicProvider().models() == list(FALLBACK_MODELS)


# ---- the fake server's other ways to run -------------------------------------------------------------------------


async def test_server_answers_without_streaming_too(fake: FakeAnthropicServer) -> None:
    fake.script = Script(text=TRICKY)
    async with anthropic.AsyncAnthropic(api_key=DEFAULT_API_KEY, base_url=fake.base_url, max_retries=0) as client:
        message = await client.messages.create(model=OLD_MODEL, max_tokens=10,
                                               messages=[{'role': 'user', 'content': 'hi'}])

    assert message.content[0].type == 'text' and message.content[0].text == TRICKY
    assert message.stop_reason == 'end_turn' and message.id.startswith('msg_')


async def test_server_runs_in_a_thread() -> None:
    server = FakeAnthropicServer(Script(text='from a thread 👩‍💻')).start_in_thread()
    provider = AnthropicProvider(api_key=DEFAULT_API_KEY, base_url=server.base_url)
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
    process = subprocess.Popen([sys.executable, '-m', 'tests.fakes.anthropic_server', '--port', '0',
                                '--scenario', str(tmp_path / 'scenario.json')],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    try:
        assert process.stdout is not None
        base_url = (await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 10)).strip()
        assert base_url.startswith('http://127.0.0.1:')
        provider = AnthropicProvider(api_key=DEFAULT_API_KEY, base_url=base_url)
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
