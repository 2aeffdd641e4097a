"""A wire-faithful fake of OpenAI's Chat Completions API, for testing the real SDK without a network.

Built on ``tests.fakes.wire`` (raw asyncio streams, no web framework) so the tests control exactly which bytes leave
the socket and when: SSE events are cut at random byte offsets (inside ``data: ``, inside multi-byte UTF-8
sequences, inside the HTTP chunk framing) and written with a drain and a yield between writes, so the client really
sees them arrive in pieces. Faults (HTTP errors with OpenAI's real bodies and headers, a dropped socket, a stream
that ends without ``finish_reason``, a stall, an in-band error event) are declared per server in a ``Script``.

``POST /v1/responses`` speaks the Responses API the same way: named SSE events (``event: <type>`` + ``data:`` with
``type`` and ``sequence_number``) from ``response.created`` through the ``output_text.delta`` events to
``response.completed``, and the same faults, where an in-band error is an ``error`` event (nested or flat, see
``Fault.error_event_shape``), ``response.failed`` or ``response.incomplete``, and ``max_output_tokens`` in the request
cuts the answer after that many deltas with ``response.incomplete``.

Three ways to run it:

* in-process: ``async with FakeOpenAIServer(Script(text='hi')) as srv: ... srv.base_url``
* in a background thread (sync Playwright tests): ``with FakeOpenAIServer(script) as srv: ...``
* as a process: ``python -m tests.fakes.provider_server --port 0 --text-file answer.md`` prints its base URL on the
  first line of stdout; ``--scenario scenario.json`` routes prompts to answers and faults (see ``load_scenario``).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.fakes.wire import (
    Conn,
    ConnectionRecord,
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

DEFAULT_API_KEY = 'sk-test-scribe'
DEFAULT_TEXT = 'Hello from the fake OpenAI server.'
DEFAULT_MODELS = ('gpt-4o-mini', 'gpt-4o', 'gpt-4.1', 'text-embedding-3-small', 'whisper-1')
SYSTEM_FINGERPRINT = 'fp_fake0000'

TextSource = str | Callable[[dict[str, Any]], str]
__all__ = ['DEFAULT_API_KEY', 'DEFAULT_MODELS', 'DEFAULT_TEXT', 'SYSTEM_FINGERPRINT', 'ConnectionRecord',
           'FakeOpenAIServer', 'Fault', 'Framing', 'RecordedRequest', 'Route', 'Script', 'TextSource',
           'load_scenario', 'main', 'route_by_prompt']


@dataclass
class Fault(JsonFault):
    """What goes wrong with one response. Fields combine: an HTTP error (``status``) replaces the stream entirely;
    the ``*_after_chars`` faults fire once that many characters of content have been sent."""

    status: int | None = None
    code: str | None = None  # OpenAI error code, e.g. 'insufficient_quota'; a realistic one is chosen per status
    error_type: str | None = None
    message: str | None = None
    retry_after: str | None = None  # the retry-after header, verbatim (seconds or an HTTP date)
    retry_after_ms: str | None = None  # OpenAI's retry-after-ms header, verbatim
    drop_after_chars: int | None = None  # close the socket in the middle of the next event
    no_terminal: bool = False  # end the body cleanly with no finish_reason chunk, no usage and no [DONE]
    drop_after_finish: bool = False  # close the socket right after the finish_reason chunk (usage and [DONE] lost)
    stall_after_chars: int | None = None  # stop sending (socket open) for stall_seconds
    stall_seconds: float = 3600.0
    inband_error_after_chars: int | None = None  # send `data: {"error": ...}` and end the stream
    inband_error: dict[str, Any] | None = None
    # Responses API only (POST /v1/responses); `inband_error_after_chars` there sends an `event: error`.
    error_event_shape: Literal['nested', 'flat'] = 'nested'  # the `error` event as served, or as documented
    failed_after_chars: int | None = None  # send `response.failed` (error: inband_error or code/message) and end
    incomplete_after_chars: int | None = None  # end the message and send `response.incomplete`
    incomplete_reason: str = 'content_filter'


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
    chunk_chars: tuple[int, int] = (1, 8)  # characters per content delta, like tokens
    chars_per_second: float | None = None  # pacing of content; None sends as fast as the socket takes it
    split_bytes: bool = True  # cut the wire bytes at random offsets
    # None: a few cuts per event, aimed at the interesting places (inside `data: `, inside multi-byte UTF-8
    # sequences, anywhere); a number: cut everything into writes of 1..max_write bytes (thorough but slow).
    max_write: int | None = None
    write_pause: float = 0.0  # extra pause between split writes (0: just drain and yield to the loop)
    seed: int | None = None
    framing: Framing = 'chunked'  # how the SSE body is delimited
    api_key: str | None = DEFAULT_API_KEY  # None accepts any key (and none)
    model_ids: tuple[str, ...] = DEFAULT_MODELS
    models_status: int | None = None  # make GET /v1/models fail with this status
    finish_reason: str = 'stop'
    include_obfuscation: bool = True  # the real API pads deltas with a random `obfuscation` field
    record_writes: bool = False  # keep every socket write in ``server.writes``, to check where the cuts fell
    # Shorthands: the first ``fail_times`` chat requests get an HTTP error; every other one the stream faults below.
    fail_times: int = 0
    fail_status: int = 429
    fail_code: str | None = None
    retry_after: str | None = None
    retry_after_ms: str | None = None
    drop_after_chars: int | None = None
    no_terminal: bool = False
    stall_after_chars: int | None = None
    stall_seconds: float = 3600.0
    inband_error_after_chars: int | None = None
    faults: list[Fault | None] = field(default_factory=list)  # per chat request, used up before the shorthands


class FakeOpenAIServer(FakeHTTPServer[Script]):
    thread_name = 'fake-openai'

    def __init__(self, script: Script | None = None, *, host: str = '127.0.0.1', port: int = 0) -> None:
        super().__init__(script or Script(), host=host, port=port)
        self._failures_served = 0

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith('/v1/chat/completions')]

    @property
    def responses_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith('/v1/responses')]

    # ---- HTTP ------------------------------------------------------------------------------------------------

    async def _dispatch(self, conn: Conn, request: RecordedRequest) -> bool:
        script = self.script
        if request.path.rstrip('/') not in ('/v1/chat/completions', '/v1/models', '/v1/responses'):
            return await self._send_error(conn, request, Fault(status=404, message=f'Invalid URL ({request.method} '
                                                                                   f'{request.path})'))
        if script.api_key is not None:
            auth = request.headers.get('authorization', '')
            if auth != f'Bearer {script.api_key}':
                key = auth.removeprefix('Bearer ').strip()
                message = (f'Incorrect API key provided: {_redact(key)}. You can find your API key at '
                           'https://platform.openai.com/account/api-keys.') if key else (
                    "You didn't provide an API key. You need to provide your API key in an Authorization header "
                    'using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank '
                    'username) if you\'re accessing the API from your browser and are prompted for a username and '
                    'password. You can obtain an API key from https://platform.openai.com/account/api-keys.')
                return await self._send_error(conn, request, Fault(status=401, message=message))
        if request.path.rstrip('/') == '/v1/models':
            if request.method != 'GET':
                return await self._send_error(conn, request, Fault(status=405, message='Method not allowed.'))
            if script.models_status is not None:
                return await self._send_error(conn, request, Fault(status=script.models_status))
            created = 1_700_000_000
            return await self._send_json(conn, request, 200, {'object': 'list', 'data': [
                {'id': m, 'object': 'model', 'created': created, 'owned_by': 'system'} for m in script.model_ids]})
        if request.method != 'POST' or not isinstance(request.body, dict):
            return await self._send_error(conn, request, Fault(status=400, message='We could not parse the JSON body '
                                                                                   'of your request.'))
        route = self._route(request.body)
        fault = self._next_fault(route)
        if fault.status is not None:
            return await self._send_error(conn, request, fault)
        text = route.text if route is not None else self._text(request.body)
        if request.path.rstrip('/') == '/v1/responses':
            return await self._send_responses(conn, request, text, fault)
        if request.body.get('stream'):
            return await self._send_stream(conn, request, text, fault)
        return await self._send_json(conn, request, 200, self._completion(request.body, text))

    def _route(self, body: dict[str, Any]) -> Route | None:
        prompt = _last_user_text(body)
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
            return Fault(status=script.fail_status, code=script.fail_code, retry_after=script.retry_after,
                         retry_after_ms=script.retry_after_ms)
        return Fault(drop_after_chars=script.drop_after_chars, no_terminal=script.no_terminal,
                     stall_after_chars=script.stall_after_chars, stall_seconds=script.stall_seconds,
                     inband_error_after_chars=script.inband_error_after_chars)

    # ---- responses ---------------------------------------------------------------------------------------------

    def _base_headers(self) -> dict[str, str]:
        return {'date': http_date(), 'x-request-id': f'req_{uuid.uuid4().hex}', 'openai-version': '2020-10-01',
                'openai-organization': 'user-fake', 'openai-processing-ms': str(self._rng.randint(5, 400)),
                'x-ratelimit-limit-requests': '10000', 'x-ratelimit-remaining-requests': '9999',
                'x-ratelimit-reset-requests': '6ms'}

    async def _send_error(self, conn: Conn, request: RecordedRequest, fault: Fault) -> bool:
        status = fault.status or 500
        error = _error_body(status, fault, request.body)
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers['retry-after'] = fault.retry_after
        if fault.retry_after_ms is not None:
            headers['retry-after-ms'] = fault.retry_after_ms
        if status == 429:
            headers.update({'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1s'})
        return await self._send_json(conn, request, status, {'error': error}, headers)

    def _completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        usage = _usage(body, text)
        return {'id': f'chatcmpl-{uuid.uuid4().hex[:24]}', 'object': 'chat.completion', 'created': int(time.time()),
                'model': body.get('model', ''), 'system_fingerprint': SYSTEM_FINGERPRINT, 'service_tier': 'default',
                'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': text, 'refusal': None,
                                                     'annotations': []},
                             'logprobs': None, 'finish_reason': self.script.finish_reason}],
                'usage': usage}

    async def _send_stream(self, conn: Conn, request: RecordedRequest, text: str, fault: Fault) -> bool:
        script = self.script
        headers = self._stream_headers(request, {'access-control-expose-headers': 'X-Request-ID'})
        include_usage = bool((request.body.get('stream_options') or {}).get('include_usage'))
        chunk_id = f'chatcmpl-{uuid.uuid4().hex[:24]}'
        created = int(time.time())
        model = request.body.get('model', '')

        def event(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
            payload: dict[str, Any] = {'id': chunk_id, 'object': 'chat.completion.chunk', 'created': created,
                                       'model': model, 'service_tier': 'default',
                                       'system_fingerprint': SYSTEM_FINGERPRINT, 'choices': choices}
            if include_usage:
                payload['usage'] = usage
            if script.include_obfuscation and choices:
                payload['obfuscation'] = uuid.uuid4().hex[:self._rng.randint(1, 12)]
            return b'data: ' + json.dumps(payload, ensure_ascii=False, separators=(',', ':')).encode() + b'\n\n'

        async def send(data: bytes) -> None:
            await self._write(conn, self._frame(data), split=True)

        async with self._streaming(conn, request):
            await self._write(conn, self._head(200, headers), split=False)
            # Like the real API: the role arrives first, with empty content.
            await send(event([_choice({'role': 'assistant', 'content': '', 'refusal': None})]))
            sent = 0
            for piece in self._pieces(text):
                if action := due(fault, sent):
                    return await self._misbehave(conn, request, action, fault)
                await send(event([_choice({'content': piece})]))
                sent += len(piece)
                if script.chars_per_second:
                    await asyncio.sleep(len(piece) / script.chars_per_second)
            if action := due(fault, sent):
                return await self._misbehave(conn, request, action, fault)
            if not fault.no_terminal:
                await send(event([_choice({}, script.finish_reason)]))
                if fault.drop_after_finish:
                    conn.writer.transport.abort()
                    return False
                if include_usage:
                    await send(event([], _usage(request.body, text)))
                await send(b'data: [DONE]\n\n')
            return await self._end_body(conn, request)

    async def _misbehave(self, conn: Conn, request: RecordedRequest, action: str, fault: Fault) -> bool:
        if action == 'drop':
            return await self._drop(conn, b'data: {"id":"chatcmpl-dropped","object":"chat.completion.chunk",'
                                          b'"choices":[{"ind')
        if action == 'stall':
            await self._stall(conn, fault.stall_seconds)
            return False
        error = fault.inband_error or {'message': fault.message or 'The server had an error while processing your '
                                       'request. Sorry about that!', 'type': fault.error_type or 'server_error',
                                       'param': None, 'code': fault.code}
        await self._write(conn, self._frame(b'data: ' + json.dumps({'error': error}).encode() + b'\n\n'), split=True)
        await self._end_body(conn, request)
        return False

    # ---- Responses API (POST /v1/responses) ---------------------------------------------------------------------

    async def _send_responses(self, conn: Conn, request: RecordedRequest, text: str, fault: Fault) -> bool:
        if not request.body.get('stream'):
            answer = _ResponseBuilder(request.body, text, self._rng)
            return await self._send_json(conn, request, 200, answer.response('completed', text=text))
        script = self.script
        headers = self._stream_headers(request, {'access-control-expose-headers': 'X-Request-ID'})
        answer = _ResponseBuilder(request.body, text, self._rng)
        obfuscate = script.include_obfuscation and (request.body.get('stream_options') or {}).get(
            'include_obfuscation') is not False
        max_tokens = request.body.get('max_output_tokens')

        async def send(event_type: str, **fields: Any) -> None:
            await self._write(conn, self._frame(answer.event(event_type, **fields)), split=True)

        async def close_message(sent_text: str, status: str) -> None:
            await send('response.output_text.done', **answer.part_ref(), text=sent_text, logprobs=[])
            await send('response.content_part.done', **answer.part_ref(), part=_output_text(sent_text))
            await send('response.output_item.done', output_index=0, item=answer.message(sent_text, status))

        async with self._streaming(conn, request):
            await self._write(conn, self._head(200, headers), split=False)
            await send('response.created', response=answer.response('in_progress'))
            await send('response.in_progress', response=answer.response('in_progress'))
            await send('response.output_item.added', output_index=0, item=answer.message('', 'in_progress'))
            await send('response.content_part.added', **answer.part_ref(), part=_output_text(''))
            sent = ''
            action: str | None = None
            for tokens, piece in enumerate(self._pieces(text)):
                action = due(fault, len(sent)) or _responses_due(fault, len(sent))
                if action is None and isinstance(max_tokens, int) and tokens >= max_tokens:
                    action = 'max_output_tokens'
                if action is not None:
                    break
                delta: dict[str, Any] = {**answer.part_ref(), 'delta': piece, 'logprobs': []}
                if obfuscate:
                    delta['obfuscation'] = uuid.uuid4().hex[:self._rng.randint(1, 12)]
                await send('response.output_text.delta', **delta)
                sent += piece
                if script.chars_per_second:
                    await asyncio.sleep(len(piece) / script.chars_per_second)
            else:
                action = due(fault, len(sent)) or _responses_due(fault, len(sent))
            if action == 'drop':
                return await self._drop(conn, answer.event('response.output_text.delta', **answer.part_ref(),
                                                           delta=text[len(sent):len(sent) + 8] or 'x', logprobs=[]))
            if action == 'stall':
                return await self._misbehave(conn, request, action, fault)
            if action == 'error':
                await send('error', **_error_event_fields(fault))
                await self._end_body(conn, request)
                return False
            if action == 'failed':
                error = _responses_error(fault)
                await send('response.failed', response=answer.response('failed', error=error))
                await self._end_body(conn, request)
                return False
            if action in ('incomplete', 'max_output_tokens'):
                reason = 'max_output_tokens' if action == 'max_output_tokens' else fault.incomplete_reason
                await close_message(sent, 'incomplete')
                await send('response.incomplete', response=answer.response('incomplete', text=sent, reason=reason))
                return await self._end_body(conn, request)
            await close_message(text, 'completed')
            if not fault.no_terminal:
                await send('response.completed', response=answer.response('completed', text=text))
                if fault.drop_after_finish:
                    conn.writer.transport.abort()
                    return False
            return await self._end_body(conn, request)


def _choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {'index': 0, 'delta': delta, 'logprobs': None, 'finish_reason': finish_reason}


def _usage(body: dict[str, Any], text: str) -> dict[str, Any]:
    prompt = sum(len(str(m.get('content', ''))) for m in body.get('messages', []) if isinstance(m, dict)) // 4 + 1
    completion = len(text) // 4 + 1
    return {'prompt_tokens': prompt, 'completion_tokens': completion, 'total_tokens': prompt + completion,
            'prompt_tokens_details': {'cached_tokens': 0, 'audio_tokens': 0},
            'completion_tokens_details': {'reasoning_tokens': 0, 'audio_tokens': 0, 'accepted_prediction_tokens': 0,
                                          'rejected_prediction_tokens': 0}}


# ---- Responses API wire objects ----------------------------------------------------------------------------------


class _ResponseBuilder:
    """The objects one Responses answer is made of, with the fields and defaults OpenAI's server fills in; one
    sequence number counter per stream, starting at 0 as the real API's does."""

    def __init__(self, body: dict[str, Any], text: str, rng: random.Random) -> None:
        self.body = body
        self.text = text
        self.id = f'resp_{rng.getrandbits(200):050x}'
        self.message_id = f'msg_{rng.getrandbits(200):050x}'
        self.created_at = int(time.time())
        self.sequence = 0

    def event(self, event_type: str, **fields: Any) -> bytes:
        payload = {'type': event_type, 'sequence_number': self.sequence, **fields}
        self.sequence += 1
        data = json.dumps(payload, ensure_ascii=False, separators=(',', ':'))
        return f'event: {event_type}\ndata: {data}\n\n'.encode()

    def part_ref(self) -> dict[str, Any]:
        return {'item_id': self.message_id, 'output_index': 0, 'content_index': 0}

    def message(self, text: str, status: str) -> dict[str, Any]:
        content = [_output_text(text)] if status != 'in_progress' else []
        return {'id': self.message_id, 'type': 'message', 'status': status, 'content': content, 'role': 'assistant'}

    def response(self, status: str, *, text: str | None = None, reason: str | None = None,
                 error: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.body
        done = status in ('completed', 'incomplete')
        return {
            'id': self.id, 'object': 'response', 'created_at': self.created_at, 'status': status,
            'background': False, 'completed_at': int(time.time()) if status == 'completed' else None,
            'error': error, 'incomplete_details': {'reason': reason} if status == 'incomplete' else None,
            'instructions': body.get('instructions'), 'max_output_tokens': body.get('max_output_tokens'),
            'max_tool_calls': None, 'model': body.get('model', ''),
            'output': [self.message(text if text is not None else '', status)] if done else [],
            'parallel_tool_calls': True, 'previous_response_id': None, 'prompt_cache_key': None,
            'reasoning': {'effort': None, 'summary': None}, 'safety_identifier': None,
            'service_tier': 'default' if done else 'auto', 'store': body.get('store', True),
            'temperature': body.get('temperature', 1.0), 'text': {'format': {'type': 'text'}, 'verbosity': 'medium'},
            'tool_choice': 'auto', 'tools': [], 'top_logprobs': 0, 'top_p': body.get('top_p', 1.0),
            'truncation': 'disabled', 'usage': _responses_usage(body, text) if done and text is not None else None,
            'user': None, 'metadata': body.get('metadata') or {},
        }


def _output_text(text: str) -> dict[str, Any]:
    return {'type': 'output_text', 'annotations': [], 'logprobs': [], 'text': text}


def _responses_due(fault: Fault, sent: int) -> str | None:
    """The Responses-only stream fault that fires now that ``sent`` characters are out, if any."""
    for limit, action in ((fault.failed_after_chars, 'failed'), (fault.incomplete_after_chars, 'incomplete')):
        if limit is not None and sent >= limit:
            return action
    return None


def _responses_error(fault: Fault) -> dict[str, Any]:
    """The ``error`` of a failed response: ``{"code", "message"}`` as the Responses API reports it."""
    if fault.inband_error is not None:
        return dict(fault.inband_error)
    return {'code': fault.code or 'server_error',
            'message': fault.message or 'The server had an error while processing your request. Sorry about that!'}


def _error_event_fields(fault: Fault) -> dict[str, Any]:
    """An ``error`` event's fields: nested in ``error`` as OpenAI's servers send them, or flat as documented (and as
    the SDK's ``ResponseErrorEvent`` type declares them)."""
    error = fault.inband_error or {'type': fault.error_type or 'server_error', 'code': fault.code or 'server_error',
                                   'message': fault.message or 'The server had an error while processing your '
                                   'request. Sorry about that!', 'param': None}
    if fault.error_event_shape == 'flat':
        return {'code': error.get('code'), 'message': error.get('message'), 'param': error.get('param')}
    return {'error': error}


def _responses_usage(body: dict[str, Any], text: str) -> dict[str, Any]:
    prompt = (len(str(body.get('instructions') or '')) + len(_input_text(body))) // 4 + 1
    output = len(text) // 4 + 1
    return {'input_tokens': prompt, 'input_tokens_details': {'cached_tokens': 0, 'cache_write_tokens': 0},
            'output_tokens': output, 'output_tokens_details': {'reasoning_tokens': 0}, 'total_tokens': prompt + output}


def _input_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A Responses request's ``input`` as message items: a bare string is one user message."""
    value = body.get('input')
    if isinstance(value, str):
        return [{'role': 'user', 'content': value}]
    return [item for item in value or [] if isinstance(item, dict)]


def _input_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for item in _input_items(body):
        content = item.get('content')
        if isinstance(content, list):
            parts += [str(part.get('text', '')) for part in content if isinstance(part, dict)]
        else:
            parts.append(str(content or ''))
    return ''.join(parts)


def _last_user_text(body: dict[str, Any]) -> str:
    return last_user_text(body, body.get('messages') or _input_items(body))


def _redact(key: str) -> str:
    return key[:3] + '*' * max(0, len(key) - 7) + key[-4:] if len(key) > 7 else key


def _error_body(status: int, fault: Fault, body: Any) -> dict[str, Any]:
    """OpenAI's error object for ``status``: the messages, types and codes the real API sends."""
    model = body.get('model', 'gpt-4o-mini') if isinstance(body, dict) else 'gpt-4o-mini'
    message: str
    error_type: str
    code: str | None
    param: str | None = None
    if status == 401:
        message, error_type, code = 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'
    elif status == 403:
        message, error_type, code = ('You are not allowed to sample from this model', 'invalid_request_error',
                                     'model_not_allowed')
    elif status == 404:
        message = f'The model `{model}` does not exist or you do not have access to it.'
        error_type, code = 'invalid_request_error', 'model_not_found'
    elif status == 429 and fault.code == 'insufficient_quota':
        message = ('You exceeded your current quota, please check your plan and billing details. For more '
                   'information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/'
                   'api-errors.')
        error_type, code = 'insufficient_quota', 'insufficient_quota'
    elif status == 429:
        message = (f'Rate limit reached for {model} in organization org-fake on requests per min (RPM): Limit 3, '
                   f'Used 3, Requested 1. Please try again in {fault.retry_after or "20"}s. Visit '
                   'https://platform.openai.com/account/rate-limits to learn more.')
        error_type, code = 'requests', 'rate_limit_exceeded'
    elif status == 400:
        message = ("This model's maximum context length is 128000 tokens. However, your messages resulted in "
                   '130000 tokens. Please reduce the length of the messages.')
        error_type, code, param = 'invalid_request_error', 'context_length_exceeded', 'messages'
    elif status == 503:
        message, error_type, code = 'The engine is currently overloaded, please try again later', 'server_error', None
    elif status >= 500:
        message = ('The server had an error while processing your request. Sorry about that! You can retry your '
                   'request, or contact us through our help center at help.openai.com if the error persists.')
        error_type, code = 'server_error', None
    else:
        message, error_type, code = 'Invalid request.', 'invalid_request_error', None
    return {'message': fault.message or message, 'type': fault.error_type or error_type, 'param': param,
            'code': fault.code if fault.code is not None else code}


# ---- command line ------------------------------------------------------------------------------------------------


def route_by_prompt(routes: dict[str, str], default: str) -> Callable[[dict[str, Any]], str]:
    """A ``Script.text`` that answers by the first substring found in the last user message."""

    def answer(body: dict[str, Any]) -> str:
        prompt = _last_user_text(body)
        return next((text for needle, text in routes.items() if needle in prompt), default)

    return answer


def load_scenario(path: Path) -> Script:
    """Build a ``Script`` from JSON; text files are relative to the scenario file. Example::

        {"default_text_file": "answer.md",
         "routes": [{"contains": "poem", "text_file": "poem.md"},
                    {"contains": "flaky", "text": "ok", "faults": [{"status": 429, "retry_after": "1"}, null]}],
         "chars_per_second": 2000, "chunk_chars": [1, 8], "seed": 1, "api_key": null,
         "fail_times": 0, "drop_after_chars": null}

    Every other key is a ``Script`` field; ``faults`` (top level or per route) are lists of ``Fault`` objects.
    """
    return load_scenario_into(Script(), path, route=Route, fault=Fault, default_text=DEFAULT_TEXT)


def main(argv: list[str] | None = None) -> None:
    serve_cli(argv, description='Fake OpenAI Chat Completions server; prints its base URL.',
              default_api_key=DEFAULT_API_KEY, load_scenario=load_scenario, new_script=Script,
              new_server=lambda script, host, port: FakeOpenAIServer(script, host=host, port=port))


if __name__ == '__main__':
    main()
