"""A websocket opened on a reused keep-alive connection stays open (services/http_protocol.py).

A real uvicorn server (with wsproto, as NiceGUI runs it) and a raw socket replay what the load bench's clients did:
the response to a first request has its whole body sent (its length known) but its last, empty part still pending,
as a Starlette ``BaseHTTPMiddleware`` sends it; the client reuses the connection for a websocket upgrade; then the
response finishes. With uvicorn's own protocol the keep-alive timeout then closes the websocket's connection.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Message, Request, TextMessage

from services.http_protocol import UpgradeSafeHTTPProtocol

KEEP_ALIVE = 0.3


class _App:
    """An HTTP response whose last part waits for ``finish``; a websocket that echoes."""

    def __init__(self) -> None:
        self.finish = threading.Event()
        self.finished = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope['type'] == 'http':
            await receive()
            await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-length', b'2')]})
            await send({'type': 'http.response.body', 'body': b'ok', 'more_body': True})
            while not self.finish.is_set():
                await asyncio.sleep(0.005)
            await send({'type': 'http.response.body', 'body': b'', 'more_body': False})
            self.finished.set()
        elif scope['type'] == 'websocket':
            await receive()
            await send({'type': 'websocket.accept'})
            while True:
                message = await receive()
                if message['type'] == 'websocket.disconnect':
                    return
                await send({'type': 'websocket.send', 'text': message.get('text') or ''})


@pytest.fixture
def server() -> Iterator[tuple[_App, int]]:
    app = _App()
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(app, host='127.0.0.1', port=port, http=UpgradeSafeHTTPProtocol, ws='wsproto',
                            timeout_keep_alive=KEEP_ALIVE, lifespan='off', log_level='warning')
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert instance.started
    yield app, port
    app.finish.set()
    instance.should_exit = True
    thread.join(10)


def _read_until(sock: socket.socket, marker: bytes, have: bytes = b'') -> bytes:
    data = have
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f'closed before {marker!r}: {data!r}')
        data += chunk
    return data


def _events(sock: socket.socket, ws: WSConnection, timeout: float) -> list[Any]:
    """The websocket events of the next bytes to arrive; a closed connection is a CloseConnection."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(65536)
    except (ConnectionResetError, TimeoutError):
        data = b''
    if not data:
        return [CloseConnection(code=1006)]
    ws.receive_data(data)
    return list(ws.events())


def test_a_websocket_on_a_reused_connection_outlives_the_keep_alive_timeout(server: tuple[_App, int]) -> None:
    app, port = server
    with socket.create_connection(('127.0.0.1', port), timeout=5) as sock:
        sock.sendall(b'GET / HTTP/1.1\r\nHost: scribe\r\n\r\n')
        head = _read_until(sock, b'\r\n\r\n')
        assert head.startswith(b'HTTP/1.1 200') and _read_until(sock, b'ok', head.split(b'\r\n\r\n', 1)[1])

        # The whole body is here: the same connection becomes a websocket while the response is still finishing.
        ws = WSConnection(ConnectionType.CLIENT)
        sock.sendall(ws.send(Request(host='scribe', target='/ws')))
        assert any(isinstance(e, AcceptConnection) for e in _events(sock, ws, 5))
        app.finish.set()
        assert app.finished.wait(5)

        time.sleep(KEEP_ALIVE * 3)  # well past the keep-alive timeout armed, before the fix, by that last part
        sock.sendall(ws.send(Message(data='still there?')))
        events = _events(sock, ws, 5)
        assert [e.data for e in events if isinstance(e, TextMessage)] == ['still there?'], events
