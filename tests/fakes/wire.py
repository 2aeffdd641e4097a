"""The provider-independent half of a wire-faithful fake server: raw HTTP/1.1 on asyncio streams.

A fake (``anthropic_server``, ``provider_server``) subclasses ``FakeHTTPServer`` and only decides what to answer.
This module owns what makes the fakes worth having: every byte that leaves the socket is chosen here, optionally cut
at random offsets (inside SSE field names, inside multi-byte UTF-8 sequences, inside HTTP chunk framing) and written
with a drain and a yield between writes, so a client really sees the pieces arrive separately; a client hanging up
is noticed even while the server is busy writing or stalling; and every request, connection and (optionally) socket
write is recorded for the tests.

A server runs in-process (``async with``), on a private loop in a daemon thread (``with``, for synchronous callers
such as Playwright tests), or from a fake's command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, Self, TypeVar

Framing = Literal['chunked', 'close']


class WireOptions(Protocol):
    """The fields of a fake's ``Script`` that shape the bytes on the wire."""

    split_bytes: bool
    max_write: int | None
    write_pause: float
    seed: int | None
    record_writes: bool
    framing: Framing  # how a streamed body is delimited: chunked, or by closing the connection
    chunk_chars: tuple[int, int]  # characters per streamed delta, like tokens


ScriptT = TypeVar('ScriptT', bound=WireOptions)


class StreamFaults(Protocol):
    """The fields of a fake's ``Fault`` that break a stream once that many characters of text are out."""

    drop_after_chars: int | None
    stall_after_chars: int | None
    inband_error_after_chars: int | None


def due(fault: StreamFaults, sent: int) -> Literal['drop', 'stall', 'error'] | None:
    """The stream fault that fires now that ``sent`` characters are out, if any."""
    if fault.drop_after_chars is not None and sent >= fault.drop_after_chars:
        return 'drop'
    if fault.stall_after_chars is not None and sent >= fault.stall_after_chars:
        return 'stall'
    if fault.inband_error_after_chars is not None and sent >= fault.inband_error_after_chars:
        return 'error'
    return None


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    connection_id: int
    received_at: float
    status: int | None = None
    completed_at: float | None = None  # the whole response was written
    client_closed_at: float | None = None  # the client hung up before the response was complete
    query: str = ''

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get('messages', [])) if isinstance(self.body, dict) else []


@dataclass
class ConnectionRecord:
    id: int
    opened_at: float
    closed_at: float | None = None
    closed_by: Literal['client', 'server'] | None = None


class ClientGone(Exception):
    pass


class Conn:
    """A buffered reader over the socket that notices when the client hangs up, even while we are writing."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: ConnectionRecord) -> None:
        self.reader = reader
        self.writer = writer
        self.record = record
        self.buffer = bytearray()
        self.eof = False

    async def fill(self) -> None:
        data = await self.reader.read(65536)
        if not data:
            self.eof = True
        self.buffer += data

    async def read_until(self, marker: bytes, limit: int = 1 << 20) -> bytes | None:
        while (index := self.buffer.find(marker)) < 0:
            if self.eof or len(self.buffer) > limit:
                return None
            await self.fill()
        data = bytes(self.buffer[:index + len(marker)])
        del self.buffer[:index + len(marker)]
        return data

    async def read_exact(self, size: int) -> bytes | None:
        while len(self.buffer) < size:
            if self.eof:
                return None
            await self.fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def watch_for_hangup(self) -> None:
        """Returns when the client closes its end; bytes it sends meanwhile are kept for the next request."""
        while not self.eof:
            await self.fill()


REASONS = {200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden',
           404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 409: 'Conflict',
           413: 'Payload Too Large', 422: 'Unprocessable Entity', 429: 'Too Many Requests',
           500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
           529: 'Site Overloaded'}


def http_date(when: float | None = None) -> str:
    return time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime(time.time() if when is None else when))


def last_user_text(body: dict[str, Any], messages: list[Any] | None = None) -> str:
    """The text of the last user message in ``messages`` (by default the body's), for routing; content may be a
    string or a list of text parts/blocks."""
    for message in reversed(messages if messages is not None else body.get('messages') or []):
        if isinstance(message, dict) and message.get('role') == 'user':
            content = message.get('content')
            if isinstance(content, list):
                return ' '.join(str(part.get('text', '')) for part in content if isinstance(part, dict))
            return str(content or '')
    return ''


class FakeHTTPServer(Generic[ScriptT]):
    """Connection handling, request parsing, byte-splitting writes and recording; subclasses implement
    ``_dispatch`` (and usually ``_base_headers``)."""

    thread_name = 'fake-http'

    def __init__(self, script: ScriptT, *, host: str = '127.0.0.1', port: int = 0) -> None:
        self.script = script
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.connections: list[ConnectionRecord] = []
        self.writes: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._rng = random.Random(self.script.seed)
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    # ---- running -----------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f'http://{self.host}:{self.port}/v1'

    def reseed(self, seed: int | None) -> None:
        self._rng = random.Random(seed)

    async def start(self) -> None:
        self._rng = random.Random(self.script.seed)
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self) -> Self:
        """Run on a private event loop in a daemon thread, for synchronous callers."""
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                await self.start()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                raise
            ready.set()
            await self._stop.wait()
            await self.stop()

        self._thread = threading.Thread(target=asyncio.run, args=(main(),), name=self.thread_name, daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop_thread(self) -> None:
        if self._thread is not None and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll the records until ``predicate`` holds; False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # ---- HTTP ------------------------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        record = ConnectionRecord(id=len(self.connections), opened_at=time.monotonic())
        self.connections.append(record)
        conn = Conn(reader, writer, record)
        try:
            while await self._serve_one(conn):
                pass
        except (ClientGone, ConnectionError):
            record.closed_by = 'client'
        except asyncio.CancelledError:
            record.closed_by = 'server'
        finally:
            if record.closed_by is None:
                record.closed_by = 'client' if conn.eof else 'server'
            record.closed_at = time.monotonic()
            writer.close()
            self._tasks.discard(task)

    async def _serve_one(self, conn: Conn) -> bool:
        """Serve one request; False when the connection should close."""
        head = await conn.read_until(b'\r\n\r\n')
        if head is None:
            return False
        lines = head.decode('latin-1').split('\r\n')
        method, target, _version = lines[0].split(' ', 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ':' in line:
                name, value = line.split(':', 1)
                headers[name.strip().lower()] = value.strip()
        raw = await self._read_body(conn, headers)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode('utf-8', 'replace')
        path, _, query = target.partition('?')
        request = RecordedRequest(method=method, path=path, headers=headers, body=body, query=query,
                                  connection_id=conn.record.id, received_at=time.monotonic())
        self.requests.append(request)
        keep_alive = headers.get('connection', '').lower() != 'close'
        return await self._dispatch(conn, request) and keep_alive

    async def _read_body(self, conn: Conn, headers: dict[str, str]) -> bytes:
        if headers.get('transfer-encoding', '').lower() == 'chunked':
            body = bytearray()
            while True:
                size_line = await conn.read_until(b'\r\n')
                if size_line is None:
                    raise ClientGone
                size = int(size_line.split(b';')[0], 16)
                data = await conn.read_exact(size + 2)
                if data is None:
                    raise ClientGone
                if size == 0:
                    return bytes(body)
                body += data[:-2]
        length = int(headers.get('content-length', '0') or 0)
        data = await conn.read_exact(length) if length else b''
        if data is None:
            raise ClientGone
        return data

    async def _dispatch(self, conn: Conn, request: RecordedRequest) -> bool:
        """Answer ``request``; True to keep the connection for another request."""
        raise NotImplementedError

    # ---- writing ---------------------------------------------------------------------------------------------

    async def _write(self, conn: Conn, data: bytes, *, split: bool) -> None:
        """Write ``data``, cut at random byte offsets into separately drained writes when ``split``."""
        if conn.eof:
            raise ClientGone
        pieces = self._cut(data) if split else [data]
        for piece in pieces:
            if self.script.record_writes:
                self.writes.append(piece)
            conn.writer.write(piece)
            await conn.writer.drain()
            if split:
                await asyncio.sleep(self.script.write_pause)
            if conn.eof:
                raise ClientGone

    def _cut(self, data: bytes) -> Iterator[bytes]:
        if not self.script.split_bytes or len(data) < 2:
            yield data
            return
        rng = self._rng
        if self.script.max_write is not None:
            cuts = set()
            offset = 0
            while offset < len(data):
                offset += rng.randint(1, max(1, self.script.max_write))
                cuts.add(offset)
        else:
            cuts = {rng.randint(1, len(data) - 1)}
            if rng.random() < 0.5:
                cuts.add(rng.randint(1, min(6, len(data) - 1)))  # inside `data: `/`event: ` (or a chunk-size line)
            # Inside the field name of a later SSE line (`event: x\ndata: {...}`): `d|ata:`, `data|:`, ...
            for field_name in (b'\ndata:', b'\nevent:'):
                at = data.find(field_name)
                if at >= 0 and rng.random() < 0.5:
                    cuts.add(at + rng.randint(1, len(field_name)))
            # Inside multi-byte sequences: positions of continuation bytes (0b10xxxxxx).
            inner = [i for i, byte in enumerate(data) if byte & 0xC0 == 0x80]
            if inner:
                cuts.update(rng.sample(inner, min(len(inner), rng.randint(0, 2))))
        start = 0
        for end in sorted(c for c in cuts if 0 < c < len(data)):
            yield data[start:end]
            start = end
        yield data[start:]

    def _pieces(self, text: str) -> Iterator[str]:
        """``text`` in deltas of ``chunk_chars`` characters, like tokens."""
        low, high = self.script.chunk_chars
        start = 0
        while start < len(text):
            end = start + self._rng.randint(max(1, low), max(1, low, high))
            yield text[start:end]
            start = end

    def _base_headers(self) -> dict[str, str]:
        """Headers every response of this fake carries, like the real API's."""
        return {'date': http_date()}

    def _head(self, status: int, headers: dict[str, str]) -> bytes:
        lines = [f'HTTP/1.1 {status} {REASONS.get(status, "Error")}']
        lines += [f'{k}: {v}' for k, v in {**self._base_headers(), **headers}.items()]
        return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1')

    async def _send_json(self, conn: Conn, request: RecordedRequest, status: int, payload: dict[str, Any],
                         extra_headers: dict[str, str] | None = None) -> bool:
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {'content-type': 'application/json', 'content-length': str(len(body)), **(extra_headers or {})}
        request.status = status
        await self._write(conn, self._head(status, headers) + body, split=False)
        request.completed_at = time.monotonic()
        return True

    async def _stall(self, conn: Conn, seconds: float) -> None:
        """Keep the socket open and silent for ``seconds``, as a hung upstream does; ends early if the client
        hangs up (``ClientGone``)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if conn.eof:
                raise ClientGone
            await asyncio.sleep(0.01)

    # ---- streaming -------------------------------------------------------------------------------------------

    def _stream_headers(self, request: RecordedRequest, extra: dict[str, str]) -> dict[str, str]:
        """The head of an SSE answer, delimited as ``framing`` says; the request is answered 200 from here on."""
        chunked = self.script.framing == 'chunked'
        headers = {'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', **extra}
        headers['transfer-encoding' if chunked else 'connection'] = 'chunked' if chunked else 'close'
        request.status = 200
        return headers

    def _frame(self, data: bytes) -> bytes:
        """SSE bytes as the body carries them: with chunked framing, one HTTP chunk per random slice of them, so
        chunk boundaries fall anywhere too."""
        if self.script.framing != 'chunked':
            return data
        return b''.join(f'{len(p):x}\r\n'.encode() + p + b'\r\n' for p in self._cut(data))

    async def _drop(self, conn: Conn, event: bytes) -> bool:
        """Half of ``event``, then the socket goes away: the client must not see the half. False: the connection
        is gone."""
        partial = self._frame(event)
        await self._write(conn, partial[:len(partial) // 2], split=True)
        conn.writer.transport.abort()
        return False

    async def _end_body(self, conn: Conn, request: RecordedRequest) -> bool:
        """End a streamed body cleanly; True when the connection can carry another request."""
        chunked = self.script.framing == 'chunked'
        if chunked:
            await self._write(conn, b'0\r\n\r\n', split=True)
        request.completed_at = time.monotonic()
        return chunked

    @contextlib.asynccontextmanager
    async def _streaming(self, conn: Conn, request: RecordedRequest) -> AsyncIterator[None]:
        """Around the writing of a streamed answer: notices the client hanging up meanwhile and records when."""
        watcher = asyncio.create_task(conn.watch_for_hangup())
        try:
            yield
        except (ClientGone, ConnectionError):
            request.client_closed_at = time.monotonic()
            raise ClientGone from None
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


# ---- scenarios and the command line --------------------------------------------------------------------------


S = TypeVar('S')


class JsonFault:
    """``from_json`` for a fake's ``Fault`` dataclass: unknown fields are an error, retry headers are kept verbatim."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        unknown = set(data) - set(getattr(cls, '__dataclass_fields__', {}))
        if unknown:
            raise ValueError(f'unknown fault fields: {sorted(unknown)}')
        values = dict(data)
        for key in ('retry_after', 'retry_after_ms'):
            if values.get(key) is not None:
                values[key] = str(values[key])
        return cls(**values)


def load_scenario_into(script: S, path: Path, *, route: Callable[..., Any], fault: type[JsonFault],
                       default_text: str) -> S:
    """Fill ``script`` (a fake's ``Script``) from the scenario JSON at ``path``; text files are relative to it.
    ``route`` and ``fault`` are the fake's ``Route`` and ``Fault``; see a fake's ``load_scenario`` for the format."""
    data = json.loads(path.read_text(encoding='utf-8'))
    base = path.parent

    def read_text(item: dict[str, Any], key: str = 'text') -> str | None:
        if item.get(f'{key}_file'):
            return (base / str(item[f'{key}_file'])).read_bytes().decode('utf-8')  # keeps CRLF
        value = item.get(key)
        return value if isinstance(value, str) else None

    def faults(items: list[dict[str, Any] | None] | None) -> list[Any]:
        return [fault.from_json(f) if f is not None else None for f in items or []]

    target: Any = script
    target.text = read_text(data, 'default_text') or read_text(data) or default_text
    target.routes = [route(contains=r['contains'], text=read_text(r) or '', faults=faults(r.get('faults')))
                     for r in data.get('routes', [])]
    target.faults = faults(data.get('faults'))
    reserved = {'default_text', 'default_text_file', 'text', 'text_file', 'routes', 'faults'}
    for key, value in data.items():
        if key in reserved:
            continue
        if key not in type(target).__dataclass_fields__:
            raise ValueError(f'unknown scenario field: {key}')
        if key == 'chunk_chars':
            value = (int(value[0]), int(value[1]))
        elif key == 'model_ids' and value is not None:
            value = tuple(value)
        elif key in ('retry_after', 'retry_after_ms') and value is not None:
            value = str(value)
        setattr(target, key, value)
    return script


def serve_cli(argv: list[str] | None, *, description: str, default_api_key: str,
              load_scenario: Callable[[Path], Any], new_script: Callable[[], Any],
              new_server: Callable[[Any, str, int], FakeHTTPServer[Any]]) -> None:
    """A fake's command line: serve until SIGINT/SIGTERM, with the base URL on the first line of stdout."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--text-file', type=Path, help='the answer to every prompt')
    parser.add_argument('--scenario', type=Path, help='JSON routing prompts to answers and faults')
    parser.add_argument('--api-key', default=None, help=f'required key (default {default_api_key}; "" accepts any)')
    parser.add_argument('--cps', type=float, default=None, help='characters per second')
    parser.add_argument('--seed', type=int, default=None)
    args = parser.parse_args(argv)
    script = load_scenario(args.scenario) if args.scenario else new_script()
    if args.text_file:
        script.text = args.text_file.read_bytes().decode('utf-8')
    if args.api_key is not None:
        script.api_key = args.api_key or None
    if args.cps is not None:
        script.chars_per_second = args.cps
    if args.seed is not None:
        script.seed = args.seed

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        async with new_server(script, args.host, args.port) as server:
            print(server.base_url, flush=True)
            await stop.wait()

    asyncio.run(serve())
    sys.exit(0)
