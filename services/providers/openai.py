"""OpenAI (and OpenAI-compatible servers) through the official ``openai`` SDK: Chat Completions or the Responses API.

Which API: ``OpenAIProvider(api='chat' | 'responses')``; when not given, ``SCRIBE_OPENAI_API`` (``chat`` or
``responses``), else ``chat``. Chat Completions stays the default because every OpenAI-compatible server (Ollama, vLLM,
LM Studio, proxies) speaks it; the Responses API is OpenAI's newer interface, and some models and account features
are offered only there. Both paths share the client, the error translation and the close-on-stop logic; only the
request and the reading of events differ (``_ChatReader``, ``_ResponsesReader``).

How the Responses request is built: leading system messages become ``instructions`` (the Responses API's own field
for the system/developer message); a system message later in the conversation stays in ``input`` as a ``system``
item at its place, so the order the user saw is kept. ``store=False``: Scribe sends the whole conversation every
time and keeps its own history, so there is no reason to leave a copy on OpenAI's side for 30 days.

How a Responses stream ends: ``response.completed`` is the normal end. ``response.incomplete`` also ends the answer
normally, with what arrived, and is logged: with reason ``max_output_tokens`` the answer was cut by the configured
limit, exactly like ``finish_reason='length'`` on Chat Completions, and retrying would only cut it again. A
``response.failed`` or ``error`` event becomes the ``ProviderError`` that its error code calls for. A stream that ends
with none of these is a ``ProviderStreamError`` (truncated by the network, not by the model).

Why the SDK's own retries are off (``max_retries=0``): Scribe's stream manager owns retries, backoff, Retry-After and
fallback to another provider, and it records each attempt in the event log. Retries hidden inside the SDK would
multiply with those, hide attempts from the log and delay a fallback by the SDK's own backoff.

Why a short connect and a 60 s read timeout instead of the SDK's ten minutes: the read timeout applies between two
received bytes, and a streaming answer that is silent for a minute has stalled; the stream manager then decides
whether to retry or continue.

Why the end of the stream is checked here: the SDK ends iteration quietly when the connection closes cleanly, even
when no chunk carried a ``finish_reason`` (or no ``response.completed`` arrived), so a truncated answer would look
complete. This module treats that as a ``ProviderStreamError``.

Every SDK, httpx2/httpx and decoding exception is translated in ``translate_error`` and nowhere else.

Note for openai 3.x: the SDK is built on ``httpx2`` (not ``httpx``); it wraps transport errors raised while reading a
stream into ``APIConnectionError``/``APITimeoutError``, but raw ``httpx2``/``httpx`` errors are still translated in
case a custom transport or a future SDK version lets one through.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Generic, Literal, TypeVar, cast

import anyio
import httpx
import httpx2
import openai
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam
from openai.types.responses import (
    EasyInputMessageParam,
    ResponseCompletedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    ResponseInputParam,
    ResponseRefusalDeltaEvent,
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
from services.providers.base import ChatMessage, CompletionRequest, Provider
from services.retry import retry_after_seconds

log = logging.getLogger(__name__)

E = TypeVar('E')  # one API's stream event type
T = TypeVar('T')

PROVIDER_NAME = 'openai'
DEFAULT_MODEL = 'gpt-4o-mini'
FALLBACK_MODELS: tuple[str, ...] = ('gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'gpt-4.1', 'gpt-4.1-nano', 'o4-mini')
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0

OpenAIApi = Literal['chat', 'responses']
API_ENV = 'SCRIBE_OPENAI_API'
OPENAI_APIS: tuple[OpenAIApi, ...] = ('chat', 'responses')

# Model ids that /models lists but Chat Completions cannot stream text from; filtered out of the model picker.
_NON_CHAT_MARKERS = ('embedding', 'whisper', 'tts', 'dall-e', 'moderation', 'transcribe', 'realtime', 'image',
                     'davinci', 'babbage', 'audio', 'sora', 'computer-use')


def parse_api(value: str | None, *, source: str = API_ENV) -> OpenAIApi:
    """``chat`` or ``responses`` from a setting; empty means ``chat``. A typo must stop start-up with a clear line
    rather than silently talk to the other API."""
    raw = (value or '').strip().lower()
    if not raw:
        return 'chat'
    for api in OPENAI_APIS:
        if raw == api:
            return api
    raise ConfigError(f'{source} must be one of {", ".join(OPENAI_APIS)} (got {value!r})')


def api_from_env(env: Mapping[str, str] | None = None) -> OpenAIApi:
    env = os.environ if env is None else env
    return parse_api(env.get(API_ENV))


class OpenAIProvider(Provider):
    """Streams Chat Completions or Responses; ``api_key``/``base_url`` default to ``OPENAI_API_KEY``/
    ``OPENAI_BASE_URL`` and ``api`` to ``SCRIBE_OPENAI_API`` (else ``chat``).

    The SDK client is created on first use, not in the constructor, so a missing key is reported as a
    ``ProviderAuthError`` when an answer is requested instead of breaking start-up. A bad ``api`` value, on the
    other hand, is a configuration mistake and raises ``ConfigError`` at once.
    """

    name = PROVIDER_NAME
    default_model = DEFAULT_MODEL
    supports_streaming = True

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None, default_model: str | None = None,
                 api: OpenAIApi | None = None, connect_timeout: float = CONNECT_TIMEOUT,
                 read_timeout: float = READ_TIMEOUT) -> None:
        self._api_key = api_key
        self._base_url = base_url
        if default_model:
            self.default_model = default_model
        self.api: OpenAIApi = api_from_env() if api is None else parse_api(api, source='api')
        self._timeout = openai.Timeout(read_timeout, connect=connect_timeout)
        self._client: openai.AsyncOpenAI | None = None

    def check(self) -> None:
        self._get_client()  # no network: only the key and the configuration are checked

    def _get_client(self) -> openai.AsyncOpenAI:
        if self._client is not None:
            return self._client
        if not (self._api_key or os.environ.get('OPENAI_API_KEY')):
            raise ProviderAuthError('No OpenAI API key is configured: set OPENAI_API_KEY (or choose another provider).',
                                    provider=self.name)
        try:
            # None lets the SDK read OPENAI_API_KEY / OPENAI_BASE_URL itself.
            self._client = openai.AsyncOpenAI(api_key=self._api_key, base_url=self._base_url, max_retries=0,
                                              timeout=self._timeout)
        except openai.OpenAIError as exc:
            raise ProviderBadRequest(f'The OpenAI client could not be configured: {exc}', provider=self.name) from exc
        return self._client

    @property
    def _where(self) -> str:
        if self._client is not None:
            return str(self._client.base_url)
        return self._base_url or os.environ.get('OPENAI_BASE_URL') or 'https://api.openai.com/v1'

    def stream(self, request: CompletionRequest) -> AsyncGenerator[str, None]:
        if self.api == 'responses':
            return self._relay(request, self._open_responses, _ResponsesReader())
        return self._relay(request, self._open_chat, _ChatReader())

    async def _open_chat(self, client: openai.AsyncOpenAI,
                         request: CompletionRequest) -> openai.AsyncStream[ChatCompletionChunk]:
        return await client.chat.completions.create(
            model=request.model or self.default_model,
            messages=[_message_param(m) for m in request.messages],
            stream=True,
            stream_options={'include_usage': True},
            temperature=_given(request.temperature),
            # max_tokens is deprecated and rejected by reasoning models; max_completion_tokens works for all.
            max_completion_tokens=_given(request.max_tokens),
            extra_body=dict(request.extra) if request.extra else None,
        )

    async def _open_responses(self, client: openai.AsyncOpenAI,
                              request: CompletionRequest) -> openai.AsyncStream[ResponseStreamEvent]:
        instructions, items = _responses_input(request.messages)
        return await client.responses.create(
            model=request.model or self.default_model,
            instructions=_given(instructions),
            input=cast(ResponseInputParam, items),  # list is invariant: list[EasyInputMessageParam] is an input list
            stream=True,
            store=False,
            temperature=_given(request.temperature),
            max_output_tokens=_given(request.max_tokens),
            extra_body=dict(request.extra) if request.extra else None,
        )

    async def _relay(self, request: CompletionRequest,
                     open_stream: Callable[[openai.AsyncOpenAI, CompletionRequest], Awaitable[openai.AsyncStream[E]]],
                     reader: _Reader[E]) -> AsyncGenerator[str, None]:
        """The part both APIs share: open, relay text, always close the HTTP response, translate every failure and
        refuse to end quietly without the API's end-of-answer signal."""
        client = self._get_client()
        try:
            sdk_stream = await open_stream(client, request)
            try:
                async for event in sdk_stream:
                    text = reader.read(event, sdk_stream.response.request)
                    if text:
                        yield text
            finally:
                # Runs on cancellation and aclose() too, so the provider stops generating (and billing) at once;
                # shielded because a cancelled task would otherwise cancel the close itself and leak the connection.
                with anyio.CancelScope(shield=True):
                    await sdk_stream.close()
        except ProviderError:
            raise
        except Exception as exc:
            if reader.finished and _is_transport_error(exc):
                # The answer was complete; only what follows the end signal (usage, [DONE], the body's end) was lost.
                log.info('openai stream dropped after %s; keeping the complete answer: %r', reader.end_signal, exc)
                return
            raise translate_error(exc, model=request.model, where=self._where) from exc
        if not reader.finished:
            raise ProviderStreamError(f'The OpenAI stream ended without {reader.missing}: the answer may be cut short.',
                                      provider=self.name)

    async def models(self) -> list[str]:
        try:
            client = self._get_client()
            ids = [model.id async for model in client.models.list()]
        except Exception as exc:
            reason = exc if isinstance(exc, ProviderError) else translate_error(exc, where=self._where)
            log.warning('could not list OpenAI models, using the built-in list: %s', reason)
            return list(FALLBACK_MODELS)
        chat = sorted(i for i in ids if not any(marker in i for marker in _NON_CHAT_MARKERS))
        # A compatible server (Ollama, vLLM, ...) may use names our filter knows nothing about: keep them all then.
        return chat or sorted(ids) or list(FALLBACK_MODELS)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


class _Reader(Generic[E]):
    """Turns one API's stream events into text, and remembers whether the API signalled the end of the answer."""

    end_signal = 'its end-of-answer event'  # for the log
    missing = 'an end-of-answer event'  # for the error

    def __init__(self) -> None:
        self.finished = False

    def read(self, event: E, http_request: httpx2.Request) -> str | None:
        raise NotImplementedError


class _ChatReader(_Reader[ChatCompletionChunk]):
    end_signal = 'its finish_reason'
    missing = 'a finish_reason'

    def read(self, event: ChatCompletionChunk, http_request: httpx2.Request) -> str | None:
        if event.usage is not None:
            log.debug('openai usage for %s: %s', event.model, event.usage)
        if not event.choices:
            return None
        choice = event.choices[0]
        if choice.finish_reason is not None:
            self.finished = True
        return choice.delta.content or choice.delta.refusal


class _ResponsesReader(_Reader[ResponseStreamEvent]):
    """Only text, refusal and terminal events matter; the rest (created, in_progress, item and part bookkeeping,
    reasoning summaries, event types newer than this code) carry nothing to show.

    The SDK itself raises ``openai.APIError`` for an ``error`` event whose payload nests an ``error`` object (the
    shape OpenAI's servers have been seen to send); the documented flat shape arrives as a ``ResponseErrorEvent``,
    and ``response.failed`` carries its error inside the response. Both are raised here as the same
    ``openai.APIError``, so one branch of ``translate_error`` decides for all three.
    """

    end_signal = 'its response.completed'
    missing = 'response.completed or another terminal event'

    def read(self, event: ResponseStreamEvent, http_request: httpx2.Request) -> str | None:
        if isinstance(event, ResponseTextDeltaEvent | ResponseRefusalDeltaEvent):
            return event.delta
        if isinstance(event, ResponseCompletedEvent):
            self.finished = True
            log.debug('openai usage for %s: %s', event.response.model, event.response.usage)
        elif isinstance(event, ResponseIncompleteEvent):
            self.finished = True
            details = event.response.incomplete_details
            reason = details.reason if details is not None else None
            if reason == 'max_output_tokens':
                log.info('openai response %s was cut at max_output_tokens=%s; keeping it as the answer',
                         event.response.id, event.response.max_output_tokens)
            else:
                log.warning('openai response %s ended incomplete (reason: %s); keeping what arrived',
                            event.response.id, reason)
        elif isinstance(event, ResponseFailedEvent):
            error = event.response.error
            body = error.model_dump(mode='json') if error is not None else {'code': None, 'type': None}
            message = error.message if error is not None else 'the response failed without saying why'
            raise openai.APIError(message, http_request, body=body)
        elif isinstance(event, ResponseErrorEvent):
            raise openai.APIError(event.message or 'an error occurred during streaming', http_request,
                                  body={'code': event.code, 'message': event.message, 'param': event.param})
        return None


def _given(value: T | None) -> T | openai.Omit:
    """Leave unset settings out of the request body, so the server's own default applies."""
    return openai.omit if value is None else value


def _message_param(message: ChatMessage) -> ChatCompletionMessageParam:
    if message.role == 'system':
        return {'role': 'system', 'content': message.content}
    if message.role == 'assistant':
        return {'role': 'assistant', 'content': message.content}
    return {'role': 'user', 'content': message.content}


def _responses_input(messages: tuple[ChatMessage, ...]) -> tuple[str | None, list[EasyInputMessageParam]]:
    """``instructions`` from the leading system messages, and the rest of the conversation as input items."""
    start = 0
    while start < len(messages) and messages[start].role == 'system':
        start += 1
    instructions = '\n\n'.join(m.content for m in messages[:start]) if start else None
    items: list[EasyInputMessageParam] = [{'role': m.role, 'content': m.content} for m in messages[start:]]
    return instructions, items


_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    openai.APIConnectionError,  # includes APITimeoutError
    httpx2.RequestError,
    httpx.RequestError,
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    ssl.SSLError,
    ConnectionError,
)


# In-band error codes: rate limits are retried after a pause; the request itself was refused (asking again gets the
# same answer) for the rest. Anything else (server_error, vector_store_timeout, codes newer than this list) is
# treated as a retryable stream failure.
_RATE_LIMIT_CODES = frozenset({'rate_limit_exceeded', 'too_many_requests'})
_REFUSED_CODES = frozenset({'invalid_request_error', 'invalid_prompt', 'context_length_exceeded', 'bio_policy',
                            'misalignment_policy_violation', 'data_residency_mismatch', 'content_policy_violation'})


def _is_transport_error(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSPORT_ERRORS)


def translate_error(exc: BaseException, *, model: str = '', where: str = '') -> ProviderError:
    """Turn anything the SDK or its transport raises into Scribe's error tree, with a sentence a user can act on.

    The one place that knows OpenAI's status codes and error codes, so the stream manager can decide retry,
    fallback and continuation by error class alone.
    """
    p = PROVIDER_NAME
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = _server_message(exc)
        if isinstance(exc, openai.AuthenticationError):
            return ProviderAuthError(f'OpenAI rejected the API key ({status}): check OPENAI_API_KEY.{detail}',
                                     provider=p, status=status)
        if isinstance(exc, openai.PermissionDeniedError):
            return ProviderAuthError(f'OpenAI refused access ({status}): the key, project or region may not be '
                                     f'allowed to use this model; check the key\'s permissions.{detail}',
                                     provider=p, status=status)
        if isinstance(exc, openai.RateLimitError):
            if 'insufficient_quota' in (exc.code, exc.type):
                return ProviderQuotaError(f'OpenAI says the account has run out of quota ({status}): check the plan '
                                          f'and billing details of this API key.{detail}', provider=p, status=status)
            retry_after = _retry_after(exc.response.headers)
            when = f'retry in {retry_after:g} s' if retry_after is not None else 'wait a moment and retry'
            return ProviderRateLimited(f'OpenAI is rate-limiting requests ({status}): {when}.{detail}',
                                       provider=p, status=status, retry_after=retry_after)
        if isinstance(exc, openai.NotFoundError):
            return ProviderBadRequest(f'OpenAI could not find model {model!r} or the endpoint ({status}): check the '
                                      f'model name and OPENAI_BASE_URL ({where}).{detail}', provider=p, status=status)
        if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
            return ProviderBadRequest(f'OpenAI rejected the request ({status}): shorten the conversation or change '
                                      f'the model or settings.{detail}', provider=p, status=status)
        if status >= 500:
            return ProviderUnavailable(f'OpenAI had a server error ({status}): try again in a moment.{detail}',
                                       provider=p, status=status, retry_after=_retry_after(exc.response.headers))
        if status in (408, 409):
            return ProviderUnavailable(f'OpenAI could not take the request right now ({status}): try again.{detail}',
                                       provider=p, status=status, retry_after=_retry_after(exc.response.headers))
        return ProviderBadRequest(f'OpenAI refused the request ({status}).{detail}', provider=p, status=status)
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException | httpx.TimeoutException):
        return ProviderStreamError(f'OpenAI at {where} stopped answering (timed out): try again.', provider=p)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        if isinstance(cause, httpx2.ConnectError | httpx.ConnectError):
            return ProviderStreamError(f'Could not connect to OpenAI at {where}: check the network and '
                                       f'OPENAI_BASE_URL.', provider=p)
        reason = f' ({type(cause).__name__}: {cause})' if cause is not None else ''
        return ProviderStreamError(f'The connection to OpenAI at {where} failed or dropped mid-answer{reason}.',
                                   provider=p)
    if _is_transport_error(exc):
        return ProviderStreamError(f'The connection to OpenAI at {where} failed or dropped mid-answer '
                                   f'({type(exc).__name__}: {exc}).', provider=p)
    if isinstance(exc, openai.APIError):
        # An error inside a 200 stream (OpenAI sends these when generation fails after the headers went out): a
        # Chat Completions `{"error": ...}` chunk, a Responses `error` event or a `response.failed` event.
        codes = (exc.code, exc.type)
        if 'insufficient_quota' in codes:
            return ProviderQuotaError(f'OpenAI says the account has run out of quota: {exc.message}', provider=p)
        if any(code in _RATE_LIMIT_CODES for code in codes):
            return ProviderRateLimited(f'OpenAI is rate-limiting requests: {exc.message}', provider=p)
        if any(code in _REFUSED_CODES for code in codes):
            return ProviderBadRequest(f'OpenAI refused to answer this request: {exc.message}', provider=p)
        return ProviderStreamError(f'OpenAI reported an error while streaming: {exc.message}', provider=p)
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return ProviderStreamError(f'OpenAI at {where} sent a malformed stream event ({exc}).', provider=p)
    if isinstance(exc, openai.OpenAIError):
        return ProviderBadRequest(f'The OpenAI SDK refused the request: {exc}', provider=p)
    log.error('unexpected exception from the OpenAI SDK', exc_info=exc)
    return ProviderStreamError(f'Unexpected failure while talking to OpenAI ({type(exc).__name__}: {exc}).',
                               provider=p)


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = body.get('message') if isinstance(body, dict) else None
    return f' OpenAI said: {message}' if isinstance(message, str) and message else ''


def _retry_after(headers: httpx2.Headers | httpx.Headers) -> float | None:
    return retry_after_seconds(headers)
