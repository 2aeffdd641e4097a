"""Anthropic's Messages API through the official ``anthropic`` SDK (2.x, built on ``httpx2``), streamed.

Why ``messages.create(stream=True)`` and not the ``messages.stream()`` helper: the helper accumulates a snapshot of
the whole message on every event (the stream manager already accumulates), and raises plain ``RuntimeError``,
``IndexError`` or ``ValueError`` when events arrive out of order; the raw event stream gives exactly the events this
module needs (text deltas, the ``stop_reason`` and ``message_stop``) and nothing to translate besides SDK and
transport errors.

Why the SDK's own retries are off (``max_retries=0``): Scribe's stream manager owns retries, backoff, Retry-After and
fallback to another provider, and it records each attempt in the event log. Retries hidden inside the SDK would
multiply with those, hide attempts from the log and delay a fallback by the SDK's own backoff.

Why a 10 s connect and a 60 s read timeout instead of the SDK's ten minutes: the read timeout applies between two
received bytes, and a streaming answer that is silent for a minute has stalled (Anthropic sends ``ping`` events
while a slow model thinks, so a healthy stream is never that quiet); the stream manager then retries or continues.

Why the end of the stream is checked here: the SDK ends iteration quietly when the body ends, even if the body ended
after half the events, and it raises nothing for a connection closed cleanly mid-answer. An answer is complete only
when a ``message_delta`` carried a ``stop_reason`` and ``message_stop`` arrived; anything else is a
``ProviderStreamError``. Dropped connections surface from the SDK as *raw* ``httpx2`` errors
(``RemoteProtocolError``, ``ReadError``, ``ReadTimeout``), not as ``anthropic.APIError``: the SDK wraps transport errors
only while sending the request, not while the body is read. ``translate_error`` maps both kinds.

Continuing an answer (prefill). A trailing assistant message is sent as a prefill: Anthropic continues it rather
than starting a new answer. Two API rules shape this:

* A prefill may not end in whitespace (a 400). The provider strips the trailing whitespace before sending, so the
  model continues from ``prefill.rstrip()``, and it does not put the whitespace back: the model usually writes it
  again itself (``"Hello"`` → ``" world"``), and re-adding it would double it. The stripped suffix is available from
  ``AnthropicProvider.prefill_suffix(request)`` (pure, per request): the exact joined answer is
  ``partial[:len(partial) - len(suffix)] + continuation``. A prefill that is only whitespace is not sent at all; the
  conversation then ends with the user's turn and the model starts the answer afresh.
* Newer models (Claude Opus/Sonnet 4.6 and later, every 5.x model) reject any prefill with a 400. That 400 is raised
  as ``PrefillRejected`` (a ``ProviderBadRequest`` with ``prefill_rejected = True``), so the stream manager can fall
  back to "the partial as an assistant turn plus a user turn asking to continue". ``supports_prefill(model)`` says
  in advance which models accept one, so that fallback can usually be chosen without the failed request.

Other request shaping: every system message goes to the top-level ``system`` parameter (joined by blank lines, in
order); consecutive messages of the same role are joined by a blank line into one turn, and blank messages are left
out (the API rejects empty or whitespace-only text blocks). ``max_tokens`` is mandatory on this API:
``request.max_tokens`` or ``DEFAULT_MAX_TOKENS``. ``temperature`` is no longer a parameter of SDK 2.x (newer models
reject sampling parameters with "`temperature` is deprecated for this model"); when set, it is sent through
``extra_body`` to models that still take it and left out, with a log line, for those known to reject it.

Every SDK, httpx2/httpx and decoding exception is translated in ``translate_error`` and nowhere else.
"""

from __future__ import annotations

import json
import logging
import os
import re
import ssl
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from datetime import datetime

import anthropic
import anyio
import httpx
import httpx2
from anthropic.types import MessageParam

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
from services.retry import retry_after_seconds

log = logging.getLogger(__name__)

PROVIDER_NAME = 'anthropic'
DEFAULT_MODEL = 'claude-sonnet-5-5'
# Current ids from SDK 2.13's model list, newest first; deprecated ones (claude-sonnet-4-5, claude-opus-4-5) are left
# out because the SDK warns on every request that names them.
FALLBACK_MODELS: tuple[str, ...] = ('claude-sonnet-5-5', 'claude-opus-5-5', 'claude-haiku-5-5', 'claude-fable-5-2',
                                    'claude-sonnet-5', 'claude-opus-5', 'claude-opus-4-8', 'claude-sonnet-4-6',
                                    'claude-haiku-4-5')
DEFAULT_MAX_TOKENS = 8192
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
KEY_ENV = 'ANTHROPIC_API_KEY'
TOKEN_ENV = 'ANTHROPIC_AUTH_TOKEN'  # the SDK's alternative credential (a bearer token), read by the SDK itself
BASE_URL_ENV = 'ANTHROPIC_BASE_URL'
TURN_SEPARATOR = '\n\n'  # between consecutive messages of one role merged into a single turn


class PrefillRejected(ProviderBadRequest):
    """The model does not accept a trailing assistant message (prefill); continue another way instead.

    ``prefill_rejected`` lets the stream manager test for this without importing the Anthropic SDK
    (``getattr(exc, 'prefill_rejected', False)``).
    """

    prefill_rejected = True


class AnthropicProvider(Provider):
    """Streams Messages API answers; ``api_key``/``base_url`` default to ``ANTHROPIC_API_KEY``/``ANTHROPIC_BASE_URL``.

    The SDK client is created on first use, not in the constructor, so a missing key is reported as a
    ``ProviderAuthError`` when an answer is requested instead of breaking start-up.
    """

    name = PROVIDER_NAME
    default_model = DEFAULT_MODEL
    supports_streaming = True

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None, default_model: str | None = None,
                 max_tokens: int = DEFAULT_MAX_TOKENS, connect_timeout: float = CONNECT_TIMEOUT,
                 read_timeout: float = READ_TIMEOUT) -> None:
        self._api_key = api_key
        self._base_url = base_url
        if default_model:
            self.default_model = default_model
        self._max_tokens = max_tokens
        self._timeout = anthropic.Timeout(read_timeout, connect=connect_timeout)
        self._client: anthropic.AsyncAnthropic | None = None
        self._temperature_dropped_for: set[str] = set()

    # ---- capabilities ------------------------------------------------------------------------------------------

    @staticmethod
    def supports_prefill(model: str) -> bool:
        """Whether ``model`` continues a trailing assistant message; see ``supports_prefill`` (module level)."""
        return supports_prefill(model)

    @staticmethod
    def prefill_suffix(request: CompletionRequest) -> str:
        """The trailing whitespace of the request's prefill that is not sent (``''`` without a prefill)."""
        prefill = _prefill_of(_conversation(request.messages))
        return split_prefill(prefill)[1] if prefill is not None else ''

    def continuation_request(self, request: CompletionRequest, partial: str, *, model: str,
                             prefill: bool = True) -> tuple[CompletionRequest, bool, str]:
        """Continue ``partial`` as a prefill where the model accepts one: the most faithful continuation, since
        the model picks up mid-word. Newer models refuse a prefill; they get the portable request instead."""
        head, suffix = split_prefill(partial)
        if not (prefill and head and self.supports_prefill(model)):
            return super().continuation_request(request, partial, model=model, prefill=False)
        messages = (*request.messages, ChatMessage('assistant', partial))
        return (CompletionRequest(messages=messages, model=model, temperature=request.temperature,
                                  max_tokens=request.max_tokens, extra=dict(request.extra)), True, suffix)

    # ---- client ------------------------------------------------------------------------------------------------

    def check(self) -> None:
        self._get_client()  # no network: only the key and the configuration are checked

    def _get_client(self) -> anthropic.AsyncAnthropic:
        if self._client is not None:
            return self._client
        if not (self._api_key or os.environ.get(KEY_ENV) or os.environ.get(TOKEN_ENV)):
            raise ProviderAuthError(f'No Anthropic API key is configured: set {KEY_ENV} (or choose another provider).',
                                    provider=self.name)
        try:
            # None lets the SDK read ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN) and ANTHROPIC_BASE_URL itself.
            self._client = anthropic.AsyncAnthropic(api_key=self._api_key, base_url=self._base_url, max_retries=0,
                                                    timeout=self._timeout)
        except anthropic.CredentialsError as exc:
            raise ProviderAuthError(f'The Anthropic credentials could not be loaded: {exc}',
                                    provider=self.name) from exc
        except (anthropic.AnthropicError, ValueError) as exc:
            raise ProviderBadRequest(f'The Anthropic client could not be configured: {exc}',
                                     provider=self.name) from exc
        return self._client

    @property
    def _where(self) -> str:
        if self._client is not None:
            return str(self._client.base_url)
        return self._base_url or os.environ.get(BASE_URL_ENV) or 'https://api.anthropic.com'

    # ---- streaming ---------------------------------------------------------------------------------------------

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[str, None]:
        client = self._get_client()
        model = request.model or self.default_model
        system, messages = build_messages(request.messages)
        extra_body: dict[str, object] = dict(request.extra)
        if request.temperature is not None:
            if supports_temperature(model):
                extra_body['temperature'] = request.temperature
            elif model not in self._temperature_dropped_for:
                self._temperature_dropped_for.add(model)
                log.info('not sending temperature=%s to %s: the model rejects sampling parameters',
                         request.temperature, model)
        stop_reason: str | None = None
        stopped = False
        try:
            sdk_stream = await client.messages.create(
                model=model,
                max_tokens=request.max_tokens or self._max_tokens,
                messages=messages,
                system=system if system else anthropic.omit,
                stream=True,
                extra_body=extra_body or None,
            )
            try:
                async for event in sdk_stream:
                    if event.type == 'content_block_delta':
                        # thinking, signature, citations and input_json deltas are not part of the answer's text
                        if event.delta.type == 'text_delta' and event.delta.text:
                            yield event.delta.text
                    elif event.type == 'message_delta':
                        if event.delta.stop_reason is not None:
                            stop_reason = event.delta.stop_reason
                        log.debug('anthropic usage: %s', event.usage)
                    elif event.type == 'message_stop':
                        stopped = True
                    elif event.type == 'message_start':
                        log.debug('anthropic message %s from %s', event.message.id, event.message.model)
            finally:
                # Runs on cancellation and aclose() too, so the provider stops generating (and billing) at once;
                # shielded because a cancelled task would otherwise cancel the close itself and leak the connection.
                with anyio.CancelScope(shield=True):
                    await sdk_stream.close()
        except ProviderError:
            raise
        except Exception as exc:
            if stopped and stop_reason is not None and _is_transport_error(exc):
                # The answer was complete; only the end of the HTTP body was lost.
                log.info('anthropic stream dropped after message_stop; keeping the complete answer: %r', exc)
                return
            raise translate_error(exc, model=model, where=self._where) from exc
        if not stopped:
            raise ProviderStreamError('The Anthropic stream ended without message_stop: the answer may be cut short.',
                                      provider=self.name)
        if stop_reason is None:
            raise ProviderStreamError('The Anthropic stream ended without a stop_reason: the answer may be cut short.',
                                      provider=self.name)
        if stop_reason in ('max_tokens', 'model_context_window_exceeded', 'refusal'):
            log.info('anthropic answer from %s ended early: stop_reason=%s', model, stop_reason)

    async def models(self) -> list[str]:
        try:
            client = self._get_client()
            ids: list[str] = []
            async for info in client.models.list(limit=100):  # newest first; the SDK follows the pages
                if info.id not in ids:
                    ids.append(info.id)
        except Exception as exc:
            reason = exc if isinstance(exc, ProviderError) else translate_error(exc, where=self._where)
            log.warning('could not list Anthropic models, using the built-in list: %s', reason)
            return list(FALLBACK_MODELS)
        return ids or list(FALLBACK_MODELS)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


# ---- request shaping ---------------------------------------------------------------------------------------------


def split_prefill(text: str) -> tuple[str, str]:
    """``(sent, stripped)``: the prefill as sent (no trailing whitespace, which the API rejects) and what was cut."""
    sent = text.rstrip()
    return sent, text[len(sent):]


def _conversation(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    return [m for m in messages if m.role != 'system']


def _prefill_of(conversation: Sequence[ChatMessage]) -> str | None:
    return conversation[-1].content if conversation and conversation[-1].role == 'assistant' else None


def build_messages(messages: Sequence[ChatMessage]) -> tuple[str, list[MessageParam]]:
    """``(system, messages)`` for the Messages API, following the rules in the module docstring."""
    system = TURN_SEPARATOR.join(m.content for m in messages if m.role == 'system' and m.content.strip())
    conversation = _conversation(messages)
    prefill = _prefill_of(conversation)
    if prefill is not None:
        conversation[-1] = ChatMessage('assistant', split_prefill(prefill)[0])
    turns: list[tuple[str, str]] = []
    for message in conversation:
        if not message.content.strip():
            continue
        if turns and turns[-1][0] == message.role:
            turns[-1] = (message.role, turns[-1][1] + TURN_SEPARATOR + message.content)
        else:
            turns.append((message.role, message.content))
    if turns and turns[-1][0] == 'assistant':
        # Already stripped above, unless a blank last message was left out after another assistant message.
        turns[-1] = ('assistant', turns[-1][1].rstrip())
    params: list[MessageParam] = [
        {'role': 'assistant', 'content': text} if role == 'assistant' else {'role': 'user', 'content': text}
        for role, text in turns]
    return system, params


_VERSIONED = re.compile(
    r'claude-(?:(?P<family>[a-z]+)-(?P<major>\d+)(?:[-.](?P<minor>\d))?(?!\d)'  # claude-sonnet-4-5, claude-opus-4
    r'|(?P<old_major>\d)(?:[-.](?P<old_minor>\d))?-(?P<old_family>[a-z]+))')  # claude-3-5-sonnet, claude-3-opus
_FAMILY = re.compile(r'claude-([a-z]+)')
_CLASSIC_FAMILIES = ('opus', 'sonnet', 'haiku')


def _model_version(model: str) -> tuple[str, float] | None:
    """``('sonnet', 4.5)`` for ``claude-sonnet-4-5-20250929``, ``('mythos', 0.0)`` for ``claude-mythos-preview``;
    None for a name that does not say (``claude-sonnet-latest``, a proxy's alias)."""
    match = _VERSIONED.search(model.lower())
    if match is None:
        # A newer family named without a version (claude-mythos-preview) is still newer than any 4.x model.
        family_only = _FAMILY.search(model.lower())
        return (family_only[1], 0.0) if family_only and family_only[1] not in _CLASSIC_FAMILIES else None
    family = match['family'] or match['old_family']
    major = match['major'] or match['old_major']
    minor = match['minor'] or match['old_minor'] or '0'
    return family, int(major) + int(minor) / 10


def supports_prefill(model: str) -> bool:
    """Whether ``model`` continues a trailing assistant message instead of rejecting the request with a 400.

    Opus, Sonnet and Haiku before 4.6 do; 4.6 and later, and the newer families (Fable, Mythos), do not. An id that
    names no version (an alias on a proxy) is treated as not supporting it, because the other way to continue works
    on every model while a wrong guess costs a rejected request.
    """
    version = _model_version(model)
    return version is not None and version[0] in _CLASSIC_FAMILIES and version[1] < 4.6


def supports_temperature(model: str) -> bool:
    """Whether ``model`` accepts ``temperature``: Claude Opus 4.7 and later and every 5.x model reject sampling
    parameters with a 400. An id that names no version gets what the user asked for."""
    version = _model_version(model)
    if version is None:
        return True
    family, number = version
    if family not in _CLASSIC_FAMILIES or number >= 5:
        return False
    return not (family == 'opus' and number >= 4.7)


# ---- errors ------------------------------------------------------------------------------------------------------


_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    anthropic.APIConnectionError,  # includes APITimeoutError
    httpx2.TransportError,  # RemoteProtocolError, ReadError, ReadTimeout, ... raised raw while the body is read
    httpx2.StreamError,
    httpx.TransportError,
    httpx.StreamError,
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    ssl.SSLError,
    ConnectionError,
)

_QUOTA_ERROR_CODES = ('contract_spend_limit_reached', 'enforced_spend_limit_reached',
                      'linked_organization_spend_limit_reached', 'linked_organization_billing_unavailable')


def _is_transport_error(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSPORT_ERRORS)


def translate_error(exc: BaseException, *, model: str = '', where: str = '') -> ProviderError:
    """Turn anything the SDK or its transport raises into Scribe's error tree, with a sentence a user can act on.

    The one place that knows Anthropic's status codes and error types, so the stream manager can decide retry,
    fallback and continuation by error class alone.
    """
    p = PROVIDER_NAME
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, anthropic.APIStatusError):
        return _translate_status_error(exc, model=model, where=where)
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException | httpx.TimeoutException):
        return ProviderStreamError(f'Anthropic at {where} stopped answering (timed out): try again.', provider=p)
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__
        if isinstance(cause, httpx2.ConnectError | httpx.ConnectError):
            return ProviderStreamError(f'Could not connect to Anthropic at {where}: check the network and '
                                       f'{BASE_URL_ENV}.', provider=p)
        reason = f' ({type(cause).__name__}: {cause})' if cause is not None else ''
        return ProviderStreamError(f'The connection to Anthropic at {where} failed or dropped mid-answer{reason}.',
                                   provider=p)
    if _is_transport_error(exc):
        return ProviderStreamError(f'The connection to Anthropic at {where} failed or dropped mid-answer '
                                   f'({type(exc).__name__}: {exc}).', provider=p)
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError | anthropic.APIResponseValidationError):
        return ProviderStreamError(f'Anthropic at {where} sent a malformed stream event ({exc}).', provider=p)
    if isinstance(exc, anthropic.CredentialsError):
        return ProviderAuthError(f'The Anthropic credentials could not be used: {exc}', provider=p)
    if isinstance(exc, anthropic.AnthropicError):
        return ProviderBadRequest(f'The Anthropic SDK refused the request: {exc}', provider=p)
    log.error('unexpected exception from the Anthropic SDK', exc_info=exc)
    return ProviderStreamError(f'Unexpected failure while talking to Anthropic ({type(exc).__name__}: {exc}).',
                               provider=p)


def _translate_status_error(exc: anthropic.APIStatusError, *, model: str, where: str) -> ProviderError:
    p = PROVIDER_NAME
    status = exc.status_code
    kind = exc.type or ''
    text = (exc.api_message or '').lower()
    detail = _server_message(exc)
    if status < 400:
        # An `event: error` inside a 200 stream: Anthropic sends these when generation fails after the headers.
        if kind == 'overloaded_error':
            return ProviderUnavailable(f'Anthropic is overloaded and stopped the answer: try again in a moment.'
                                       f'{detail}', provider=p)
        if kind == 'rate_limit_error':
            return ProviderRateLimited(f'Anthropic is rate-limiting requests and stopped the answer: wait a moment '
                                       f'and retry.{detail}', provider=p)
        if kind == 'billing_error':
            return ProviderQuotaError(f'Anthropic stopped the answer for a billing problem: check Plans & Billing.'
                                      f'{detail}', provider=p)
        return ProviderStreamError(f'Anthropic reported an error while streaming ({kind or "unknown"}).{detail}',
                                   provider=p)
    retry_after = _retry_after(exc.response.headers)
    if isinstance(exc, anthropic.AuthenticationError):
        return ProviderAuthError(f'Anthropic rejected the API key ({status}): check {KEY_ENV}.{detail}',
                                 provider=p, status=status)
    if isinstance(exc, anthropic.PermissionDeniedError):
        return ProviderAuthError(f'Anthropic refused access ({status}): the key or workspace may not be allowed to '
                                 f'use this model; check the key\'s permissions.{detail}', provider=p, status=status)
    if (status == 402 or kind == 'billing_error' or exc.error_code in _QUOTA_ERROR_CODES
            or (status == 400 and 'credit balance' in text)):
        return ProviderQuotaError(f'Anthropic says the account cannot pay for this request ({status}): add credits '
                                  f'or raise the spend limit under Plans & Billing.{detail}', provider=p, status=status)
    if isinstance(exc, anthropic.RateLimitError):
        when = f'retry in {retry_after:g} s' if retry_after is not None else 'wait a moment and retry'
        return ProviderRateLimited(f'Anthropic is rate-limiting requests ({status}): {when}.{detail}',
                                   provider=p, status=status, retry_after=retry_after)
    if status == 529 or kind == 'overloaded_error':
        return ProviderUnavailable(f'Anthropic is overloaded ({status}): try again in a moment.{detail}',
                                   provider=p, status=status, retry_after=retry_after)
    if status == 400 and 'prefill' in text:
        return PrefillRejected(f'Model {model!r} does not accept a prefilled answer to continue ({status}): continue '
                               f'it with a new user turn instead.{detail}', provider=p, status=status)
    if status == 400 and 'temperature' in text:
        return ProviderBadRequest(f'Model {model!r} does not accept a temperature ({status}): clear the temperature '
                                  f'setting for this model.{detail}', provider=p, status=status)
    if isinstance(exc, anthropic.NotFoundError):
        return ProviderBadRequest(f'Anthropic could not find model {model!r} or the endpoint ({status}): check the '
                                  f'model name and {BASE_URL_ENV} ({where}).{detail}', provider=p, status=status)
    if status == 413:
        return ProviderBadRequest(f'The request is too large for Anthropic ({status}): shorten the conversation.'
                                  f'{detail}', provider=p, status=status)
    if isinstance(exc, anthropic.BadRequestError | anthropic.UnprocessableEntityError):
        return ProviderBadRequest(f'Anthropic rejected the request ({status}): shorten the conversation or change '
                                  f'the model or settings.{detail}', provider=p, status=status)
    if status >= 500:
        return ProviderUnavailable(f'Anthropic had a server error ({status}): try again in a moment.{detail}',
                                   provider=p, status=status, retry_after=retry_after)
    if status in (408, 409):
        return ProviderUnavailable(f'Anthropic could not take the request right now ({status}): try again.{detail}',
                                   provider=p, status=status, retry_after=retry_after)
    return ProviderBadRequest(f'Anthropic refused the request ({status}).{detail}', provider=p, status=status)


def _server_message(exc: anthropic.APIStatusError) -> str:
    message = exc.api_message
    request_id = exc.request_id or _body_request_id(exc.body)
    said = f' Anthropic said: {message}' if message else ''
    return f'{said} (request id {request_id})' if said and request_id else said


def _body_request_id(body: object) -> str | None:
    value = body.get('request_id') if isinstance(body, dict) else None
    return value if isinstance(value, str) and value else None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date); without either, the
    earliest ``anthropic-ratelimit-*-reset`` (RFC 3339) of a limit whose ``-remaining`` is 0."""
    waited = retry_after_seconds(headers)
    if waited is not None:
        return waited
    resets: list[float] = []
    for limit in ('requests', 'tokens', 'input-tokens', 'output-tokens'):
        if headers.get(f'anthropic-ratelimit-{limit}-remaining') != '0':
            continue
        reset = headers.get(f'anthropic-ratelimit-{limit}-reset')
        try:
            resets.append(datetime.fromisoformat(reset.replace('Z', '+00:00')).timestamp() if reset else -1.0)
        except ValueError:
            continue
    resets = [r for r in resets if r >= 0]
    return max(0.0, min(resets) - time.time()) if resets else None

