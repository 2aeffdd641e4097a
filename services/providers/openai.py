"""OpenAI (and OpenAI-compatible servers) through the official ``openai`` SDK's Chat Completions streaming API.

Why the SDK's own retries are off (``max_retries=0``): Scribe's stream manager owns retries, backoff, Retry-After and
fallback to another provider, and it records each attempt in the event log. Retries hidden inside the SDK would
multiply with those, hide attempts from the log and delay a fallback by the SDK's own backoff.

Why a short connect and a 60 s read timeout instead of the SDK's ten minutes: the read timeout applies between two
received bytes, and a streaming answer that is silent for a minute has stalled; the stream manager then decides
whether to retry or continue.

Why the end of the stream is checked here: the SDK ends iteration quietly when the connection closes cleanly, even
when no chunk carried a ``finish_reason``, so a truncated answer would look complete. This module treats that as a
``ProviderStreamError``.

Every SDK, httpx2/httpx and decoding exception is translated in ``translate_error`` and nowhere else.

Note for openai 3.x: the SDK is built on ``httpx2`` (not ``httpx``); it wraps transport errors raised while reading a
stream into ``APIConnectionError``/``APITimeoutError``, but raw ``httpx2``/``httpx`` errors are still translated in
case a custom transport or a future SDK version lets one through.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import ssl
import time
from collections.abc import AsyncGenerator
from typing import Any

import anyio
import httpx
import httpx2
import openai
from openai.types.chat import ChatCompletionMessageParam

from services.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderStreamError,
    ProviderUnavailable,
)
from services.providers.base import ChatMessage, CompletionRequest, Provider

log = logging.getLogger(__name__)

PROVIDER_NAME = 'openai'
DEFAULT_MODEL = 'gpt-4o-mini'
FALLBACK_MODELS: tuple[str, ...] = ('gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'gpt-4.1', 'gpt-4.1-nano', 'o4-mini')
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0

# Model ids that /models lists but Chat Completions cannot stream text from; filtered out of the model picker.
_NON_CHAT_MARKERS = ('embedding', 'whisper', 'tts', 'dall-e', 'moderation', 'transcribe', 'realtime', 'image',
                     'davinci', 'babbage', 'audio', 'sora', 'computer-use')


class OpenAIProvider(Provider):
    """Streams Chat Completions; ``api_key``/``base_url`` default to ``OPENAI_API_KEY``/``OPENAI_BASE_URL``.

    The SDK client is created on first use, not in the constructor, so a missing key is reported as a
    ``ProviderAuthError`` when an answer is requested instead of breaking start-up.
    """

    name = PROVIDER_NAME
    default_model = DEFAULT_MODEL
    supports_streaming = True

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None, default_model: str | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT) -> None:
        self._api_key = api_key
        self._base_url = base_url
        if default_model:
            self.default_model = default_model
        self._timeout = openai.Timeout(read_timeout, connect=connect_timeout)
        self._client: openai.AsyncOpenAI | None = None

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

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[str, None]:
        client = self._get_client()
        options: dict[str, Any] = {}
        if request.temperature is not None:
            options['temperature'] = request.temperature
        if request.max_tokens is not None:
            # max_tokens is deprecated and rejected by reasoning models; max_completion_tokens works for all.
            options['max_completion_tokens'] = request.max_tokens
        if request.extra:
            options['extra_body'] = dict(request.extra)
        finished = False
        try:
            sdk_stream = await client.chat.completions.create(
                model=request.model or self.default_model,
                messages=[_message_param(m) for m in request.messages],
                stream=True,
                stream_options={'include_usage': True},
                **options,
            )
            try:
                async for chunk in sdk_stream:
                    if chunk.usage is not None:
                        log.debug('openai usage for %s: %s', chunk.model, chunk.usage)
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    text = choice.delta.content or choice.delta.refusal
                    if text:
                        yield text
                    if choice.finish_reason is not None:
                        finished = True
            finally:
                # Runs on cancellation and aclose() too, so the provider stops generating (and billing) at once;
                # shielded because a cancelled task would otherwise cancel the close itself and leak the connection.
                with anyio.CancelScope(shield=True):
                    await sdk_stream.close()
        except ProviderError:
            raise
        except Exception as exc:
            if finished and _is_transport_error(exc):
                # The answer was complete; only the trailing usage chunk or [DONE] was lost.
                log.info('openai stream dropped after its finish_reason; keeping the complete answer: %r', exc)
                return
            raise translate_error(exc, model=request.model, where=self._where) from exc
        if not finished:
            raise ProviderStreamError('The OpenAI stream ended without a finish_reason: the answer may be cut short.',
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


def _message_param(message: ChatMessage) -> ChatCompletionMessageParam:
    if message.role == 'system':
        return {'role': 'system', 'content': message.content}
    if message.role == 'assistant':
        return {'role': 'assistant', 'content': message.content}
    return {'role': 'user', 'content': message.content}


_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    openai.APIConnectionError,  # includes APITimeoutError
    httpx2.RequestError,
    httpx.RequestError,
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    ssl.SSLError,
    ConnectionError,
)


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
        # An error event inside a 200 stream (OpenAI sends these when generation fails after headers went out).
        if 'insufficient_quota' in (exc.code, exc.type):
            return ProviderQuotaError(f'OpenAI says the account has run out of quota: {exc.message}', provider=p)
        if exc.code == 'rate_limit_exceeded':
            return ProviderRateLimited(f'OpenAI is rate-limiting requests: {exc.message}', provider=p)
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
    """Seconds to wait, from OpenAI's ``retry-after-ms`` or the standard ``retry-after`` (seconds or HTTP date)."""
    raw_ms = headers.get('retry-after-ms')
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get('retry-after')
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())
