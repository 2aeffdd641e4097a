"""The real ``openai`` SDK's Responses API, through OpenAIProvider(api='responses'), against the wire-faithful fake."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import typing
from collections.abc import AsyncIterator
from typing import Any, Literal

import pydantic
import pytest
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseOutputItemAddedEvent,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
)

from services.errors import (
    ConfigError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderStreamError,
    ProviderUnavailable,
)
from services.providers.base import ChatMessage, CompletionRequest
from services.providers.openai import API_ENV, OpenAIProvider
from tests.fakes.provider_server import DEFAULT_API_KEY, FakeOpenAIServer, Fault, Framing, Route, Script

LOGGER = 'services.providers.openai'

TRICKY = (
    'Intro: 👩‍💻 wrote e\u0301 (not é) near 🇯🇵, 漢字とかな, مرحبا بالعالم, and a line\u2028separator.\r\n'
    'event: not an SSE field\ndata: nor this\n\n'
    '<script>alert(1)</script> stays text.\r\n'
    '\n```python\n'
    'FENCE = "```"  # three backticks inside a string\n'
    '```\n'
    'Tail 🇯🇵👩‍💻e\u0301'
)

# The event order of one plain text answer, as OpenAI's server sends it.
EVENT_ORDER = ['response.created', 'response.in_progress', 'response.output_item.added',
               'response.content_part.added', 'response.output_text.delta', 'response.output_text.done',
               'response.content_part.done', 'response.output_item.done', 'response.completed']


# The SDK's union carries its discriminator in its own annotation, which pydantic does not read: index it by type.
EVENT_CLASSES: dict[str, type[pydantic.BaseModel]] = {
    typing.get_args(cls.model_fields['type'].annotation)[0]: cls
    for cls in typing.get_args(typing.get_args(ResponseStreamEvent)[0])}


@pytest.fixture
async def provider(fake_openai: FakeOpenAIServer) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider(api_key=DEFAULT_API_KEY, base_url=fake_openai.base_url, api='responses')
    yield provider
    await provider.aclose()


def request(prompt: str = 'Hello', **settings: Any) -> CompletionRequest:
    return CompletionRequest(messages=(ChatMessage('user', prompt),), model='gpt-4o-mini', **settings)


async def collect(provider: OpenAIProvider, req: CompletionRequest | None = None) -> str:
    chunks = [chunk async for chunk in provider.stream(req or request())]
    assert all(chunks), 'no empty chunks'
    return ''.join(chunks)


async def collect_until_error(provider: OpenAIProvider) -> tuple[str, ProviderError]:
    received: list[str] = []
    with pytest.raises(ProviderError) as info:
        async for chunk in provider.stream(request()):
            received.append(chunk)
    return ''.join(received), info.value


def sse_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in raw.decode('utf-8').split('\n\n'):
        if block:
            event_line, data_line = block.split('\n')
            events.append((event_line.removeprefix('event: '), json.loads(data_line.removeprefix('data: '))))
    return events


# ---- exact text, and the wire format itself -----------------------------------------------------------------------


@pytest.mark.parametrize('framing', ['chunked', 'close'])
@pytest.mark.parametrize('seed', [1, 2, 3])
async def test_text_arrives_exactly_despite_random_byte_splits(fake_openai: FakeOpenAIServer,
                                                               provider: OpenAIProvider, seed: int,
                                                               framing: Framing) -> None:
    fake_openai.script = Script(text=TRICKY, chunk_chars=(1, 8), framing=framing, record_writes=True)
    fake_openai.reseed(seed)

    assert await collect(provider) == TRICKY

    [sent] = fake_openai.responses_requests
    assert sent.path == '/v1/responses' and sent.completed_at is not None
    body_writes = fake_openai.writes[1:]
    assert any(_splits_utf8(w) for w in body_writes)
    assert any(w.endswith((b'e', b'ev', b'eve', b'even', b'event', b'event:')) for w in body_writes)


async def test_text_arrives_exactly_in_writes_of_one_to_three_bytes(fake_openai: FakeOpenAIServer,
                                                                    provider: OpenAIProvider) -> None:
    text = 'e\u0301👩‍💻🇯🇵漢字مرحبا\u2028<script>\r\n```py\ns = "```"\n```\r\n'
    fake_openai.script = Script(text=text, chunk_chars=(1, 3), max_write=3, record_writes=True, seed=9)

    assert await collect(provider) == text
    assert max(len(w) for w in fake_openai.writes[1:]) <= 3


def _splits_utf8(piece: bytes) -> bool:
    try:
        piece.decode('utf-8')
    except UnicodeDecodeError:
        return True
    return False


async def test_every_event_validates_against_the_sdk_types(fake_openai: FakeOpenAIServer,
                                                           provider: OpenAIProvider) -> None:
    fake_openai.script = Script(text=TRICKY, framing='close', split_bytes=False, record_writes=True, seed=3)

    assert await collect(provider) == TRICKY

    events = sse_events(b''.join(fake_openai.writes[1:]))
    # Validated (not just constructed, as the SDK does) by each event's own class: every required field is there.
    parsed = [EVENT_CLASSES[data['type']].model_validate(data) for _, data in events]
    assert [name for name, _ in events] == [data['type'] for _, data in events]
    assert [data['sequence_number'] for _, data in events] == list(range(len(events)))
    assert [t for t, _ in events if t != 'response.output_text.delta'] == \
        [t for t in EVENT_ORDER if t != 'response.output_text.delta']
    deltas = [e for e in parsed if isinstance(e, ResponseTextDeltaEvent)]
    assert len(deltas) > 5 and ''.join(d.delta for d in deltas) == TRICKY
    created, added = parsed[0], parsed[2]
    assert isinstance(created, ResponseCreatedEvent) and created.response.status == 'in_progress'
    assert isinstance(added, ResponseOutputItemAddedEvent)
    message_id = added.item.id
    assert all(d.item_id == message_id and d.output_index == 0 and d.content_index == 0 and d.logprobs == []
               for d in deltas)
    assert all('obfuscation' in data for name, data in events if name == 'response.output_text.delta')
    completed = parsed[-1]
    assert isinstance(completed, ResponseCompletedEvent)
    assert completed.response.status == 'completed' and completed.response.output_text == TRICKY
    assert completed.response.usage is not None and completed.response.usage.output_tokens > 0


async def test_non_streaming_answer_is_a_real_response_object(fake_openai: FakeOpenAIServer) -> None:
    import openai

    fake_openai.script = Script(text=TRICKY)
    client = openai.AsyncOpenAI(api_key=DEFAULT_API_KEY, base_url=fake_openai.base_url, max_retries=0)
    try:
        response = await client.responses.create(model='gpt-4o-mini', input='hi', instructions='Be terse.')
    finally:
        await client.close()

    Response.model_validate(response.model_dump())
    assert response.output_text == TRICKY and response.status == 'completed'
    assert response.instructions == 'Be terse.'


async def test_routes_match_the_last_user_input_item(fake_openai: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    fake_openai.script = Script(text='default answer', routes=[Route(contains='poem', text='roses are red')])

    assert await collect(provider, request('write a poem')) == 'roses are red'
    assert await collect(provider, request('anything else')) == 'default answer'


# ---- what is sent ------------------------------------------------------------------------------------------------


async def test_instructions_input_and_settings_are_sent(fake_openai: FakeOpenAIServer,
                                                        provider: OpenAIProvider) -> None:
    history = (ChatMessage('system', 'Be terse.'), ChatMessage('system', 'Use British spelling.'),
               ChatMessage('user', 'Hi 👋'), ChatMessage('assistant', 'Hello.\n```py\nx = 1\n```'),
               ChatMessage('system', 'From now on, answer in French.'), ChatMessage('user', 'Again'))
    req = CompletionRequest(messages=history, model='my-custom-model-2', temperature=0.3, max_tokens=123,
                            extra={'top_p': 0.5})

    assert await collect(provider, req) == fake_openai.script.text

    [sent] = fake_openai.responses_requests
    body = sent.body
    assert body['instructions'] == 'Be terse.\n\nUse British spelling.'
    assert body['input'] == [{'role': m.role, 'content': m.content} for m in history[2:]]
    assert body['model'] == 'my-custom-model-2'
    assert body['stream'] is True and body['store'] is False
    assert body['temperature'] == 0.3 and body['max_output_tokens'] == 123 and body['top_p'] == 0.5
    assert 'messages' not in body and 'max_tokens' not in body and 'max_completion_tokens' not in body
    assert sent.headers['authorization'] == f'Bearer {DEFAULT_API_KEY}'


async def test_unset_settings_are_not_sent(fake_openai: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    await collect(provider)

    body = fake_openai.responses_requests[0].body
    assert body['input'] == [{'role': 'user', 'content': 'Hello'}]
    assert not {'instructions', 'temperature', 'max_output_tokens'} & set(body)


async def test_the_api_comes_from_the_environment(fake_openai: FakeOpenAIServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_ENV, 'Responses')
    from_env = OpenAIProvider(api_key=DEFAULT_API_KEY, base_url=fake_openai.base_url)
    explicit = OpenAIProvider(api_key=DEFAULT_API_KEY, base_url=fake_openai.base_url, api='chat')
    try:
        assert (from_env.api, explicit.api) == ('responses', 'chat')
        await collect(from_env)
        await collect(explicit)
    finally:
        await from_env.aclose()
        await explicit.aclose()
    assert [r.path for r in fake_openai.requests] == ['/v1/responses', '/v1/chat/completions']

    monkeypatch.delenv(API_ENV)
    assert OpenAIProvider().api == 'chat'
    monkeypatch.setenv(API_ENV, 'response')
    with pytest.raises(ConfigError, match=f'{API_ENV} must be one of chat, responses'):
        OpenAIProvider()


# ---- HTTP errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(('fault', 'expected', 'retry_after'), [
    (Fault(status=429, retry_after='7', retry_after_ms='1500'), ProviderRateLimited, 1.5),
    (Fault(status=429, retry_after='7'), ProviderRateLimited, 7.0),
    (Fault(status=429, code='insufficient_quota'), ProviderQuotaError, None),
    (Fault(status=500), ProviderUnavailable, None),
    (Fault(status=503), ProviderUnavailable, None),
    (Fault(status=400), ProviderBadRequest, None),
    (Fault(status=404), ProviderBadRequest, None),
    (Fault(status=403), ProviderAuthError, None),
    (Fault(status=401), ProviderAuthError, None),
])
async def test_http_errors_are_translated(fake_openai: FakeOpenAIServer, provider: OpenAIProvider, fault: Fault,
                                          expected: type[ProviderError], retry_after: float | None) -> None:
    fake_openai.script = Script(faults=[fault])

    _, error = await collect_until_error(provider)

    assert type(error) is expected
    assert error.status == fault.status and error.provider == 'openai'
    assert error.retry_after == retry_after
    assert f'({fault.status})' in str(error)
    assert len(fake_openai.responses_requests) == 1, 'the SDK must not retry on its own'


async def test_wrong_key_is_an_auth_error(fake_openai: FakeOpenAIServer) -> None:
    provider = OpenAIProvider(api_key='sk-wrong-key-123456', base_url=fake_openai.base_url, api='responses')
    try:
        _, error = await collect_until_error(provider)
    finally:
        await provider.aclose()

    assert isinstance(error, ProviderAuthError) and 'OPENAI_API_KEY' in str(error)


# ---- broken streams and in-band ends ---------------------------------------------------------------------------


@pytest.mark.parametrize('framing', ['chunked', 'close'])
@pytest.mark.parametrize('drop_after', [1, 60])
async def test_dropped_connection_keeps_an_exact_prefix(fake_openai: FakeOpenAIServer, provider: OpenAIProvider,
                                                        drop_after: int, framing: Framing) -> None:
    fake_openai.script = Script(text=TRICKY, drop_after_chars=drop_after, framing=framing)

    received, error = await collect_until_error(provider)

    assert isinstance(error, ProviderStreamError) and error.retryable
    assert TRICKY.startswith(received)
    assert drop_after <= len(received) < len(TRICKY)


@pytest.mark.parametrize('framing', ['chunked', 'close'])
async def test_stream_without_a_terminal_event_is_an_error(fake_openai: FakeOpenAIServer, provider: OpenAIProvider,
                                                           framing: Framing) -> None:
    # Every delta and even output_item.done arrive; only response.completed is missing.
    fake_openai.script = Script(text=TRICKY, no_terminal=True, framing=framing)

    received, error = await collect_until_error(provider)

    assert received == TRICKY
    assert isinstance(error, ProviderStreamError) and error.retryable
    assert 'without response.completed' in str(error)


async def test_drop_after_completed_keeps_the_complete_answer(fake_openai: FakeOpenAIServer,
                                                              provider: OpenAIProvider,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    fake_openai.script = Script(text=TRICKY, faults=[Fault(drop_after_finish=True)])

    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert await collect(provider) == TRICKY

    assert 'dropped after its response.completed' in caplog.text


@pytest.mark.parametrize('shape', ['nested', 'flat'])
@pytest.mark.parametrize(('code', 'expected'), [
    ('server_error', ProviderStreamError),
    ('rate_limit_exceeded', ProviderRateLimited),
    ('insufficient_quota', ProviderQuotaError),
])
async def test_error_event_is_translated(fake_openai: FakeOpenAIServer, provider: OpenAIProvider,
                                         shape: Literal['nested', 'flat'],
                                         code: str, expected: type[ProviderError]) -> None:
    fake_openai.script = Script(text=TRICKY, faults=[Fault(inband_error_after_chars=20, code=code,
                                                           message=f'it went wrong: {code}',
                                                           error_event_shape=shape)])

    received, error = await collect_until_error(provider)

    assert TRICKY.startswith(received) and len(received) >= 20
    assert type(error) is expected and error.provider == 'openai'
    assert f'it went wrong: {code}' in str(error)


@pytest.mark.parametrize(('code', 'expected'), [
    ('server_error', ProviderStreamError),
    ('rate_limit_exceeded', ProviderRateLimited),
    ('invalid_prompt', ProviderBadRequest),
])
async def test_failed_response_is_translated(fake_openai: FakeOpenAIServer, provider: OpenAIProvider, code: str,
                                             expected: type[ProviderError]) -> None:
    fake_openai.script = Script(text=TRICKY, faults=[Fault(failed_after_chars=30, code=code, message='no luck')])

    received, error = await collect_until_error(provider)

    assert TRICKY.startswith(received) and len(received) >= 30
    assert type(error) is expected
    assert 'no luck' in str(error)


async def test_max_output_tokens_ends_normally_with_the_truncated_answer(
        fake_openai: FakeOpenAIServer, provider: OpenAIProvider, caplog: pytest.LogCaptureFixture) -> None:
    fake_openai.script = Script(text=TRICKY, chunk_chars=(2, 2))

    with caplog.at_level(logging.INFO, logger=LOGGER):
        received = await collect(provider, request(max_tokens=5))

    assert received == TRICKY[:10]
    assert fake_openai.responses_requests[0].body['max_output_tokens'] == 5
    assert 'cut at max_output_tokens=5' in caplog.text


async def test_other_incomplete_reasons_end_normally_with_a_warning(
        fake_openai: FakeOpenAIServer, provider: OpenAIProvider, caplog: pytest.LogCaptureFixture) -> None:
    fake_openai.script = Script(text=TRICKY, faults=[Fault(incomplete_after_chars=25)])

    with caplog.at_level(logging.INFO, logger=LOGGER):
        received = await collect(provider)

    assert TRICKY.startswith(received) and 25 <= len(received) < len(TRICKY)
    assert any(r.levelno == logging.WARNING and 'content_filter' in r.getMessage() for r in caplog.records)


async def test_stall_hits_the_read_timeout(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script = Script(text=TRICKY, stall_after_chars=10, stall_seconds=5)
    provider = OpenAIProvider(api_key=DEFAULT_API_KEY, base_url=fake_openai.base_url, api='responses',
                              read_timeout=0.3)
    try:
        received, error = await collect_until_error(provider)
    finally:
        await provider.aclose()

    assert TRICKY.startswith(received) and len(received) >= 10
    assert isinstance(error, ProviderStreamError) and 'timed out' in str(error)


# ---- stopping closes the HTTP response at once -------------------------------------------------------------------


async def test_aclose_closes_the_connection_promptly(fake_openai: FakeOpenAIServer,
                                                     provider: OpenAIProvider) -> None:
    fake_openai.script = Script(text=TRICKY * 10, chars_per_second=400)
    stream = provider.stream(request())
    received = [await anext(stream) for _ in range(3)]
    [sent] = fake_openai.responses_requests
    assert sent.client_closed_at is None

    closed_at = time.monotonic()
    await stream.aclose()

    assert await fake_openai.wait_for(lambda: sent.client_closed_at is not None, timeout=2.0)
    assert sent.client_closed_at is not None and sent.client_closed_at - closed_at < 1.0
    assert sent.completed_at is None
    assert TRICKY.startswith(''.join(received))


@pytest.mark.parametrize('stall', [False, True])
async def test_cancelling_the_task_closes_the_connection_promptly(fake_openai: FakeOpenAIServer,
                                                                  provider: OpenAIProvider, stall: bool) -> None:
    fake_openai.script = Script(text=TRICKY * 10, chars_per_second=None if stall else 400,
                                stall_after_chars=20 if stall else None)
    received: list[str] = []

    async def consume() -> None:
        async for chunk in provider.stream(request()):
            received.append(chunk)

    task = asyncio.create_task(consume())
    assert await fake_openai.wait_for(lambda: len(''.join(received)) >= (20 if stall else 1))
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    [sent] = fake_openai.responses_requests
    assert await fake_openai.wait_for(lambda: sent.client_closed_at is not None, timeout=2.0)
    assert sent.client_closed_at is not None and sent.client_closed_at - cancelled_at < 1.0
