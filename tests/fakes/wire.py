"""The provider-independent half of a wire-faithful fake server: raw HTTP/1.1 on asyncio streams.

A fake (``anthropic_server``; the OpenAI one in ``provider_server`` predates this module and could move onto it)
subclasses ``FakeHTTPServer`` and only decides what to answer. This module owns what makes the fakes worth having:
every byte that leaves the socket is chosen here, optionally cut at random offsets (inside SSE field names, inside
multi-byte UTF-8 sequences, inside HTTP chunk framing) and written with a drain and a yield between writes, so a
client really sees the pieces arrive separately; a client hanging up is noticed even while the server is busy
writing or stalling; and every request, connection and (optionally) socket write is recorded for the tests.

A server runs in-process (``async with``), on a private loop in a daemon thread (``with``, for synchronous callers
such as Playwright tests), or from a fake's command line.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, Self, TypeVar


class WireOptions(Protocol):
    """The fields of a fake's ``Script`` that shape the bytes on the wire."""

    split_bytes: bool
    max_write: int | None
    write_pause: float
    seed: int | None
    record_writes: bool


ScriptT = TypeVar('ScriptT', bound=WireOptions)


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


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user message, for routing; content may be a string or a list of text parts/blocks."""
    for message in reversed(body.get('messages') or []):
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
