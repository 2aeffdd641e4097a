"""A wire-faithful fake of Anthropic's Messages API, for testing the real ``anthropic`` SDK without a network.

Built on ``tests.fakes.wire`` (raw asyncio streams, no web framework) so the tests control exactly which bytes leave
the socket and when. ``POST /v1/messages`` with ``"stream": true`` answers with the real event sequence::

    event: message_start         the message object: id, type, role, content [], model, stop_reason null, usage
    event: content_block_start   index 0, an empty text block (after a thinking block when ``thinking_text`` is set)
    event: ping
    event: content_block_delta   many, each a text_delta of a few characters
    event: content_block_stop
    event: message_delta         stop_reason 'end_turn', usage.output_tokens
    event: message_stop

each written as ``event: X\\ndata: {json}\\n\\n`` and cut at random byte offsets (inside ``event:``/``data:``, inside
multi-byte UTF-8 sequences, inside the HTTP chunk framing). Without ``stream`` it answers the message JSON;
``GET /v1/models`` answers the real paginated list (``data``, ``has_more``, ``first_id``, ``last_id``).

Like the real API it wants a key (``x-api-key``, or ``Authorization: Bearer``, which SDK 2.x sends) and an
``anthropic-version`` header, and it rejects what the real API rejects (no ``max_tokens``, blank text, a prefill
ending in whitespace), with Anthropic's error bodies (``{"type": "error", "error": {"type", "message"},
"request_id"}``) and headers. Faults (HTTP errors, a dropped socket, a body that ends without ``message_stop``, a
stall, an in-band ``event: error``, a slow first token) are declared per request in a ``Script``, in the same style
as the OpenAI fake's.

Three ways to run it:

* in-process: ``async with FakeAnthropicServer(Script(text='hi')) as srv: ... srv.base_url``
* in a background thread (sync Playwright tests): ``with FakeAnthropicServer(script) as srv: ...``
* as a process: ``python -m tests.fakes.anthropic_server --port 0 --text-file answer.md`` prints its base URL on the
  first line of stdout; ``--scenario scenario.json`` routes prompts to answers and faults (see ``load_scenario``).

``base_url`` has no ``/v1`` (the SDK adds it), so it is what ``ANTHROPIC_BASE_URL`` takes.
"""

from __future__ import annotations

import asyncio
import json
import random
import string
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.fakes.wire import (
    Conn,
    FakeHTTPServer,
    Framing,
    JsonFault,
    RecordedRequest,
    due,
    http_date,
    last_user_text,
    load_scenario_into,
    serve_cli,
)

DEFAULT_API_KEY = 'sk-ant-api03-test-scribe'
DEFAULT_TEXT = 'Hello from the fake Anthropic server.'
# (id, display name, release date), newest first as the real list is.
DEFAULT_MODELS: tuple[tuple[str, str, str], ...] = (
    ('claude-sonnet-5-5', 'Claude Sonnet 5.5', '2026-09-29'),
    ('claude-opus-5-5', 'Claude Opus 5.5', '2026-09-29'),
    ('claude-sonnet-5', 'Claude Sonnet 5', '2026-06-30'),
    ('claude-opus-4-8', 'Claude Opus 4.8', '2026-05-20'),
    ('claude-sonnet-4-6', 'Claude Sonnet 4.6', '2026-02-17'),
    ('claude-haiku-4-5-20251001', 'Claude Haiku 4.5', '2025-10-01'),
)
CREDIT_BALANCE_MESSAGE = ('Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing '
                          'to upgrade or purchase credits.')
PREFILL_MESSAGE = ('This model does not support assistant message prefill. The conversation must end with a user '
                   'message.')
TRAILING_WHITESPACE_MESSAGE = 'messages: final assistant content cannot end with trailing whitespace'
OVERLOADED = {'type': 'overloaded_error', 'message': 'Overloaded'}
PING = b'event: ping\ndata: {"type": "ping"}\n\n'

TextSource = str | Callable[[dict[str, Any]], str]


@dataclass
class Fault(JsonFault):
    """What goes wrong with one response. Fields combine: an HTTP error (``status``) replaces the stream entirely;
    the ``*_after_chars`` faults fire once that many characters of text have been sent."""

    status: int | None = None
    error_type: str | None = None  # Anthropic's error.type; a realistic one is chosen per status
    message: str | None = None
    credit_balance: bool = False  # a 400 invalid_request_error saying the credit balance is too low
    retry_after: str | None = None  # the retry-after header, verbatim (seconds or an HTTP date)
    retry_after_ms: str | None = None  # a retry-after-ms header, verbatim (the real API does not send one)
    drop_after_chars: int | None = None  # close the socket in the middle of the next event
    no_terminal: bool = False  # end the body cleanly after the text: no block stop, message_delta or message_stop
    no_message_stop: bool = False  # send message_delta (with its stop_reason) but end the body before message_stop
    drop_after_stop: bool = False  # close the socket right after message_stop, before the end of the HTTP body
    stall_after_chars: int | None = None  # stop sending (socket open) for stall_seconds
    stall_seconds: float = 3600.0
    inband_error_after_chars: int | None = None  # send `event: error` and end the body
    inband_error: dict[str, Any] | None = None  # its `error` object; overloaded_error when None
    first_token_delay: float = 0.0  # seconds between the first ping and the first text delta


@dataclass
class Route:
    """Answer ``text`` when the last user message contains ``contains``; ``faults`` are used up one per request."""

    contains: str
    text: str
    faults: list[Fault | None] = field(default_factory=list)


@dataclass
class Script:
    """How the server answers. Tests may replace ``server.script`` between requests."""

    text: TextSource = DEFAULT_TEXT  # or a function of the request JSON
    routes: list[Route] = field(default_factory=list)
    chunk_chars: tuple[int, int] = (1, 8)  # characters per text delta, like tokens
    chars_per_second: float | None = None  # pacing of the text; None sends as fast as the socket takes it
    split_bytes: bool = True  # cut the wire bytes at random offsets
    max_write: int | None = None  # cut everything into writes of 1..max_write bytes (thorough but slow)
    write_pause: float = 0.0  # extra pause between split writes (0: just drain and yield to the loop)
    seed: int | None = None
    framing: Framing = 'chunked'  # how the SSE body is delimited: chunked, or by closing the connection
    api_key: str | None = DEFAULT_API_KEY  # None accepts any key (and none)
    require_version: bool = True  # 400 without an anthropic-version header, as the real API
    validate: bool = True  # reject requests the real API rejects (missing max_tokens, blank text, ...)
    reject_prefill: bool = False  # like Claude 4.6+: a 400 when the last message is the assistant's
    thinking_text: str | None = None  # stream a thinking block (thinking + signature deltas) before the text
    stop_reason: str = 'end_turn'
    model_ids: tuple[str, ...] | None = None  # None: DEFAULT_MODELS
    models_status: int | None = None  # make GET /v1/models fail with this status
    ping_interval: float = 0.0  # while the first token is delayed, a ping this often (0: none)
    record_writes: bool = False  # keep every socket write in ``server.writes``, to check where the cuts fell
    # Shorthands: the first ``fail_times`` message requests get an HTTP error; every other one the stream faults.
    fail_times: int = 0
    fail_status: int = 529
    retry_after: str | None = None
    drop_after_chars: int | None = None
    no_terminal: bool = False
    stall_after_chars: int | None = None
    stall_seconds: float = 3600.0
    inband_error_after_chars: int | None = None
    first_token_delay: float = 0.0
    faults: list[Fault | None] = field(default_factory=list)  # per message request, used up before the shorthands


class FakeAnthropicServer(FakeHTTPServer[Script]):
    thread_name = 'fake-anthropic'

    def __init__(self, script: Script | None = None, *, host: str = '127.0.0.1', port: int = 0) -> None:
        super().__init__(script or Script(), host=host, port=port)
        self._failures_served = 0

    @property
    def base_url(self) -> str:
        return f'http://{self.host}:{self.port}'

    @property
    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.rstrip('/') == '/v1/messages']

    # ---- HTTP ------------------------------------------------------------------------------------------------

    async def _dispatch(self, conn: Conn, request: RecordedRequest) -> bool:
        script = self.script
        path = request.path.rstrip('/')
        if path not in ('/v1/messages', '/v1/models'):
            return await self._send_error(conn, request, 404, 'not_found_error', 'Not Found')
        if script.api_key is not None:
            key = request.headers.get('x-api-key') or request.headers.get('authorization', '').removeprefix('Bearer ')
            if key.strip() != script.api_key:
                message = 'invalid x-api-key' if key.strip() else 'x-api-key header is required'
                return await self._send_error(conn, request, 401, 'authentication_error', message)
        if script.require_version and not request.headers.get('anthropic-version'):
            return await self._send_error(conn, request, 400, 'invalid_request_error',
                                          'anthropic-version: header is required')
        if path == '/v1/models':
            if request.method != 'GET':
                return await self._send_error(conn, request, 405, 'invalid_request_error', 'Method Not Allowed')
            if script.models_status is not None:
                return await self._send_error(conn, request, script.models_status)
            return await self._send_json(conn, request, 200, self._models_page(request.query))
        if request.method != 'POST' or not isinstance(request.body, dict):
            return await self._send_error(conn, request, 400, 'invalid_request_error',
                                          'There was an issue with the format or content of your request.')
        if script.validate and (problem := _invalid(request.body)):
            return await self._send_error(conn, request, 400, 'invalid_request_error', problem)
        if script.reject_prefill and _ends_with_assistant(request.body):
            return await self._send_error(conn, request, 400, 'invalid_request_error', PREFILL_MESSAGE)
        route = self._route(request.body)
        fault = self._next_fault(route)
        if fault.status is not None or fault.credit_balance:
            return await self._send_fault(conn, request, fault)
        text = route.text if route is not None else self._text(request.body)
        if request.body.get('stream'):
            return await self._send_stream(conn, request, text, fault)
        return await self._send_json(conn, request, 200, self._message(request.body, text, self.script.stop_reason),
                                     self._ratelimit_headers())

    def _route(self, body: dict[str, Any]) -> Route | None:
        prompt = last_user_text(body)
        return next((r for r in self.script.routes if r.contains in prompt), None)

    def _text(self, body: dict[str, Any]) -> str:
        source = self.script.text
        return source(body) if callable(source) else source

    def _next_fault(self, route: Route | None) -> Fault:
        script = self.script
        queue = route.faults if route is not None and route.faults else script.faults
        if queue:
            return queue.pop(0) or Fault()
        if self._failures_served < script.fail_times:
            self._failures_served += 1
            return Fault(status=script.fail_status, retry_after=script.retry_after)
        return Fault(drop_after_chars=script.drop_after_chars, no_terminal=script.no_terminal,
                     stall_after_chars=script.stall_after_chars, stall_seconds=script.stall_seconds,
                     inband_error_after_chars=script.inband_error_after_chars,
                     first_token_delay=script.first_token_delay)

    def _models_page(self, query: str) -> dict[str, Any]:
        params = dict(part.split('=', 1) for part in query.split('&') if '=' in part)
        entries = [(m, m, '2026-01-01') for m in self.script.model_ids] if self.script.model_ids is not None \
            else list(DEFAULT_MODELS)
        ids = [e[0] for e in entries]
        limit = max(1, min(1000, int(params.get('limit', 20))))
        start = ids.index(params['after_id']) + 1 if params.get('after_id') in ids else 0
        page = entries[start:start + limit]
        data = [{'type': 'model', 'id': model_id, 'display_name': name, 'created_at': f'{released}T00:00:00Z',
                 'lifecycle': 'active', 'deprecated_at': None, 'retires_at': None, 'line': None,
                 'max_input_tokens': 1_000_000, 'max_tokens': 128_000, 'capabilities': None}
                for model_id, name, released in page]
        return {'data': data, 'has_more': start + limit < len(entries),
                'first_id': data[0]['id'] if data else None, 'last_id': data[-1]['id'] if data else None}

    # ---- responses ---------------------------------------------------------------------------------------------

    def _base_headers(self) -> dict[str, str]:
        return {'date': http_date(), 'request-id': _request_id(self._rng),
                'anthropic-organization-id': str(uuid.UUID(int=self._rng.getrandbits(128))),
                'via': '1.1 google', 'cf-cache-status': 'DYNAMIC', 'x-robots-tag': 'none', 'server': 'cloudflare',
                'cf-ray': f'{self._rng.getrandbits(64):016x}-AMS'}

    @staticmethod
    def _ratelimit_headers(remaining: int = 49, reset_in: float = 1.0) -> dict[str, str]:
        reset = (datetime.now(UTC) + timedelta(seconds=reset_in)).strftime('%Y-%m-%dT%H:%M:%SZ')
        headers = {}
        for limit, size in (('requests', 50), ('input-tokens', 30000), ('output-tokens', 8000), ('tokens', 38000)):
            headers[f'anthropic-ratelimit-{limit}-limit'] = str(size)
            headers[f'anthropic-ratelimit-{limit}-remaining'] = str(remaining if limit == 'requests' else size)
            headers[f'anthropic-ratelimit-{limit}-reset'] = reset
        return headers

    async def _send_error(self, conn: Conn, request: RecordedRequest, status: int, error_type: str | None = None,
                          message: str | None = None, headers: dict[str, str] | None = None) -> bool:
        default_type, default_message = _ERRORS.get(status, ('api_error', 'Internal server error'))
        payload = {'type': 'error', 'error': {'type': error_type or default_type, 'message': message or
                                              default_message}, 'request_id': _request_id(self._rng)}
        retryable = status in (408, 409, 429) or status >= 500
        return await self._send_json(conn, request, status, payload,
                                     {'x-should-retry': 'true' if retryable else 'false', **(headers or {})})

    async def _send_fault(self, conn: Conn, request: RecordedRequest, fault: Fault) -> bool:
        if fault.credit_balance:
            return await self._send_error(conn, request, fault.status or 400, fault.error_type or
                                          'invalid_request_error', fault.message or CREDIT_BALANCE_MESSAGE)
        status = fault.status or 500
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers['retry-after'] = fault.retry_after
        if fault.retry_after_ms is not None:
            headers['retry-after-ms'] = fault.retry_after_ms
        if status == 429:
            wait = float(fault.retry_after) if (fault.retry_after or '').isdigit() else 30.0
            headers = {**self._ratelimit_headers(remaining=0, reset_in=wait), **headers}
        message = fault.message
        if status == 429 and message is None:
            message = ('This request would exceed the rate limit for your organization of 50 requests per minute. '
                       'For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response '
                       'headers for current usage. Please reduce the prompt length or the maximum tokens requested, '
                       'or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to '
                       'discuss your options for a rate limit increase.')
        elif status == 404 and message is None and isinstance(request.body, dict):
            message = f'model: {request.body.get("model", "")}'
        return await self._send_error(conn, request, status, fault.error_type, message, headers)

    def _message(self, body: dict[str, Any], text: str, stop_reason: str | None) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if self.script.thinking_text is not None:
            content.append({'type': 'thinking', 'thinking': self.script.thinking_text, 'signature': _signature()})
        content.append({'type': 'text', 'text': text})
        return {'id': _message_id(self._rng), 'type': 'message', 'role': 'assistant', 'model': body.get('model', ''),
                'content': content, 'stop_reason': stop_reason, 'stop_sequence': None,
                'usage': _usage(body, len(text) // 4 + 1)}

    async def _send_stream(self, conn: Conn, request: RecordedRequest, text: str, fault: Fault) -> bool:
        script = self.script
        headers = self._stream_headers(request, self._ratelimit_headers())
        body = request.body

        async def send(name: str, payload: dict[str, Any]) -> None:
            await self._write(conn, self._frame(_event(name, payload)), split=True)

        async with self._streaming(conn, request):
            await self._write(conn, self._head(200, headers), split=False)
            start = self._message(body, '', None)
            start['content'] = []
            start['usage']['output_tokens'] = 1
            await send('message_start', {'type': 'message_start', 'message': start})
            index = 0
            if script.thinking_text is not None:
                await send('content_block_start', {'type': 'content_block_start', 'index': index,
                                                   'content_block': {'type': 'thinking', 'thinking': '',
                                                                     'signature': ''}})
                for piece in self._pieces(script.thinking_text):
                    await send('content_block_delta', {'type': 'content_block_delta', 'index': index,
                                                       'delta': {'type': 'thinking_delta', 'thinking': piece}})
                await send('content_block_delta', {'type': 'content_block_delta', 'index': index,
                                                   'delta': {'type': 'signature_delta', 'signature': _signature()}})
                await send('content_block_stop', {'type': 'content_block_stop', 'index': index})
                index += 1
            await send('content_block_start', {'type': 'content_block_start', 'index': index,
                                               'content_block': {'type': 'text', 'text': ''}})
            await self._write(conn, self._frame(PING), split=True)
            if fault.first_token_delay:
                await self._wait_first_token(conn, fault.first_token_delay)
            sent = 0
            for piece in self._pieces(text):
                if action := due(fault, sent):
                    return await self._misbehave(conn, request, action, fault)
                await send('content_block_delta', {'type': 'content_block_delta', 'index': index,
                                                   'delta': {'type': 'text_delta', 'text': piece}})
                sent += len(piece)
                if script.chars_per_second:
                    await asyncio.sleep(len(piece) / script.chars_per_second)
            if action := due(fault, sent):
                return await self._misbehave(conn, request, action, fault)
            if fault.no_terminal:
                return await self._end_body(conn, request)
            await send('content_block_stop', {'type': 'content_block_stop', 'index': index})
            await send('message_delta', {'type': 'message_delta',
                                         'delta': {'stop_reason': script.stop_reason, 'stop_sequence': None},
                                         'usage': {'output_tokens': len(text) // 4 + 1}})
            if fault.no_message_stop:
                return await self._end_body(conn, request)
            await send('message_stop', {'type': 'message_stop'})
            if fault.drop_after_stop:
                conn.writer.transport.abort()
                return False
            return await self._end_body(conn, request)

    async def _wait_first_token(self, conn: Conn, seconds: float) -> None:
        """A model that is slow to start: silence, or a ping every ``ping_interval`` as the real API sends."""
        interval = self.script.ping_interval
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            await self._stall(conn, min(left, interval) if interval else left)
            if interval and time.monotonic() < end:
                await self._write(conn, self._frame(PING), split=True)

    async def _misbehave(self, conn: Conn, request: RecordedRequest, action: str, fault: Fault) -> bool:
        if action == 'drop':
            return await self._drop(conn, _event('content_block_delta', {
                'type': 'content_block_delta', 'index': 0, 'delta': {'type': 'text_delta', 'text': 'DROPPED'}}))
        if action == 'stall':
            await self._stall(conn, fault.stall_seconds)
            return False
        error = fault.inband_error or OVERLOADED
        await self._write(conn, self._frame(_event('error', {'type': 'error', 'error': error})), split=True)
        await self._end_body(conn, request)
        return False


_ERRORS: dict[int, tuple[str, str]] = {
    400: ('invalid_request_error', 'prompt is too long: 215000 tokens > 200000 maximum'),
    401: ('authentication_error', 'invalid x-api-key'),
    402: ('billing_error', CREDIT_BALANCE_MESSAGE),
    403: ('permission_error', 'Your API key does not have permission to use the specified resource.'),
    404: ('not_found_error', 'Not Found'),
    413: ('request_too_large', 'Request exceeds the maximum allowed number of bytes.'),
    429: ('rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit.'),
    500: ('api_error', 'Internal server error'),
    504: ('timeout_error', 'Request timed out'),
    529: ('overloaded_error', 'Overloaded'),
}


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return f'event: {name}\ndata: {json.dumps(payload, ensure_ascii=False, separators=(",", ":"))}\n\n'.encode()


def _invalid(body: dict[str, Any]) -> str | None:
    """The real API's complaint about ``body``, if it has one."""
    for name in ('model', 'max_tokens', 'messages'):
        if name not in body:
            return f'{name}: Field required'
    if not isinstance(body['max_tokens'], int) or body['max_tokens'] < 0:
        return 'max_tokens: Input should be a valid integer'
    messages = body['messages']
    if not isinstance(messages, list) or not messages:
        return 'messages: at least one message is required'
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get('role') not in ('user', 'assistant', 'system'):
            return f'messages.{i}.role: Input should be \'user\', \'assistant\' or \'system\''
        content = message.get('content')
        texts = [content] if isinstance(content, str) else [
            str(b.get('text', '')) for b in content or [] if isinstance(b, dict) and b.get('type') == 'text']
        if not any(texts) and not (isinstance(content, list) and content):
            return f'messages.{i}: all messages must have non-empty content except for the optional final ' \
                   'assistant message'
        if any(not t.strip() for t in texts):
            return 'messages: text content blocks must contain non-whitespace text'
    if _ends_with_assistant(body):
        content = messages[-1].get('content')
        last = content if isinstance(content, str) else str((content or [{}])[-1].get('text', ''))
        if last != last.rstrip():
            return TRAILING_WHITESPACE_MESSAGE
    system = body.get('system')
    if isinstance(system, str) and system and not system.strip():
        return 'system: text content blocks must contain non-whitespace text'
    return None


def _ends_with_assistant(body: dict[str, Any]) -> bool:
    messages = body.get('messages')
    return isinstance(messages, list) and bool(messages) and isinstance(messages[-1], dict) \
        and messages[-1].get('role') == 'assistant'


def _usage(body: dict[str, Any], output_tokens: int) -> dict[str, Any]:
    prompt = json.dumps(body.get('messages', [])) + json.dumps(body.get('system', ''))
    return {'input_tokens': len(prompt) // 4 + 1, 'cache_creation_input_tokens': 0, 'cache_read_input_tokens': 0,
            'cache_creation': {'ephemeral_5m_input_tokens': 0, 'ephemeral_1h_input_tokens': 0},
            'output_tokens': output_tokens, 'service_tier': 'standard', 'inference_geo': 'global'}


_ID_ALPHABET = string.ascii_letters + string.digits


def _message_id(rng: random.Random) -> str:
    return 'msg_01' + ''.join(rng.choice(_ID_ALPHABET) for _ in range(22))


def _request_id(rng: random.Random) -> str:
    return 'req_011C' + ''.join(rng.choice(_ID_ALPHABET) for _ in range(20))


def _signature() -> str:
    return uuid.uuid4().hex * 4


# ---- command line ------------------------------------------------------------------------------------------------


def load_scenario(path: Path) -> Script:
    """Build a ``Script`` from JSON; text files are relative to the scenario file. Example::

        {"default_text_file": "answer.md",
         "routes": [{"contains": "poem", "text_file": "poem.md"},
                    {"contains": "flaky", "text": "ok", "faults": [{"status": 529}, null]}],
         "chars_per_second": 2000, "chunk_chars": [1, 8], "seed": 1, "api_key": null, "reject_prefill": true}

    Every other key is a ``Script`` field; ``faults`` (top level or per route) are lists of ``Fault`` objects.
    """
    return load_scenario_into(Script(), path, route=Route, fault=Fault, default_text=DEFAULT_TEXT)


def main(argv: list[str] | None = None) -> None:
    serve_cli(argv, description='Fake Anthropic Messages API server; prints its base URL.',
              default_api_key=DEFAULT_API_KEY, load_scenario=load_scenario, new_script=Script,
              new_server=lambda script, host, port: FakeAnthropicServer(script, host=host, port=port))


if __name__ == '__main__':
    main()
