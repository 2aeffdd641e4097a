"""Uvicorn's HTTP protocol, without the keep-alive timer that closed websockets five seconds after they opened.

A client may reuse a kept-alive HTTP connection for its websocket upgrade (Python's aiohttp does, and so can a
reverse proxy with a pool of upstream connections). NiceGUI's middlewares are Starlette ``BaseHTTPMiddleware``\\ s,
which send a response's body and then, after an await, an empty last part. The client has the whole body by then
(its length is known), so its upgrade request can arrive before that last part is sent: uvicorn hands the connection
to the websocket protocol, then finishes the old response and arms the HTTP keep-alive timeout on the connection
it no longer owns, and ``timeout_keep_alive`` (5 s) later closes it under the websocket. The page reconnects and
replays what it missed, but the stream stalls for a second. The load bench saw 1-9 of 100 websockets dropped this
way in every run.

This protocol finishes such a response without arming the timer. It is passed to uvicorn (``ui.run(http=...)``).
"""

from __future__ import annotations

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _HTTPProtocol
except ImportError:  # pragma: no cover - uvicorn's own fallback when httptools is not installed
    from uvicorn.protocols.http.h11_impl import H11Protocol as _HTTPProtocol  # type: ignore[assignment]


class UpgradeSafeHTTPProtocol(_HTTPProtocol):
    def _upgraded(self) -> bool:
        """Whether this connection now belongs to another protocol (a websocket took it over)."""
        return self.transport.get_protocol() is not self

    def on_response_complete(self) -> None:
        if self._upgraded():
            self.server_state.total_requests += 1
            return
        super().on_response_complete()

    def timeout_keep_alive_handler(self) -> None:
        if self._upgraded():
            return
        super().timeout_keep_alive_handler()
