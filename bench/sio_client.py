"""An emulated browser for Scribe: NiceGUI's own Socket.IO protocol spoken from Python, no Chromium.

What a page does in a browser, done the same way over the same wire (``nicegui/static/nicegui.js``):

1. ``GET /`` (or ``/projects/{id}``). The HTML carries the page's elements as JSON (``parseElements(String.raw`…`)``)
   and the socket's query (``client_id``, ``next_message_id``, ``implicit_handshake``).
2. Connect Socket.IO at ``/_nicegui_ws/socket.io`` over a websocket with that query plus a fresh ``document_id``
   and ``tab_id`` (``old_tab_id=null``, as the browser's query encoder writes it); the server's connect handler
   does the implicit handshake. The page's session cookie goes along, as a browser's would.
3. Follow the server: ``update`` messages replace elements (``None`` deletes one); ``run_javascript`` messages
   carry ``runMethod(<id>, "<method>", <json args>)`` (with or without a ``return``) for element methods, which
   is how NiceGUI delivers our ``StreamView.apply(first, batches)`` / ``reset(position, ops, part)`` /
   ``setStreaming(live)``; every message has an ``_id``: one already seen is skipped, exactly as ``nicegui.js``
   does; ``ack`` goes back every 3 s.
4. Act: typing into the prompt is the ``update:value`` event of the ``nicegui-input`` (argument: the text, as a
   JSON string, as ``stringifyEventArgs`` makes it); a click is the button's ``click`` event with no arguments.
   Both go out as ``event`` messages ``{id, client_id, listener_id, args}``.

``StreamModel`` is ``components/stream_view.js`` in Python: the same operations (services/rendering.py: ``P``
append prose html, ``p`` prose tail, ``q`` prose tail as its first n UTF-16 units plus new html, ``C`` code block
opens, ``L`` code lines from n, ``t`` code tail, ``u`` its delta form, ``g`` language, ``X`` close), the same
position bookkeeping (a batch already seen is skipped; a gap asks the server for a snapshot with the element's
``resync`` event) and the text a reader sees: tags stripped and entities decoded, the code block's text being
exactly its lines plus its tail (what ``code-text``'s ``textContent`` is).

Exactness and lag (``build_reference`` / ``analyze``): the demo provider replays a script in fixed chunks at a
fixed pace, and the server flushes only between chunks, so every state a page can show is the state of the
display after some whole number of chunks. ``build_reference`` feeds the script to the real renderer chunk by
chunk and keys each resulting display state (per block: prose html; or language, the finished code lines' html
and the unfinished line's text, whose colours are a guess that depends on earlier flushes) to the smallest source
position that produces it. ``analyze`` replays what a client received: each update that changed
the display must match one of those states (else it is counted as *unmatched*, a display no prefix of the
answer produces), which tells the source position ``k`` of its newest character, so its lag is
``arrival − (t0 + k / speed)``, where ``t0``, the moment the provider produced its first character, is estimated
as the earliest arrival consistent with the pacing (``min(arrival − k / speed)``, so no lag is negative; the first
character's own latency is reported separately as time to first character). The final state must equal the
state of the whole answer rendered at once (``render_static``), and the code blocks' text must equal the code of
the answer as CommonMark parses it (the e2e tests' comparison), character for character.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import hashlib
import html as html_lib
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from pages.housekeeping import GONE_PATH
from services.highlighter import split_lines

Op = list[Any]
TERMINAL = ('completed', 'interrupted', 'error')
SOCKET_PATH = '/_nicegui_ws/socket.io'
# Engine.IO's own account of a dropped connection ("Server has stopped communicating", "Server sent close packet…")
# is logged here at WARNING/INFO; benches attach a handler to report why websockets dropped.
ENGINEIO_LOG = logging.getLogger('bench.sio_client.engineio')
ENGINEIO_LOG.addHandler(logging.NullHandler())
ENGINEIO_LOG.propagate = False

_TAG = re.compile(r'<[^>]*>')
_ELEMENTS = re.compile(r'parseElements\(String\.raw`(.*?)`\)', re.S)
_QUERY = re.compile(r'^\s*query: (\{.*?\}),\s*$', re.M)
_RUN_METHOD = re.compile(r'\s*(?:return )?runMethod\((\d+),\s*')
_UNESCAPE_ELEMENTS = (('&#36;', '$'), ('&#96;', '`'), ('&gt;', '>'), ('&lt;', '<'), ('&amp;', '&'))


def _keep_units(html: str, units: int) -> str:
    """The first ``units`` UTF-16 code units of ``html`` (JavaScript's ``slice``), for the ``q``/``u`` tail deltas."""
    if units >= len(html) and html.isascii():
        return html
    return html.encode('utf-16-le', 'surrogatepass')[:2 * units].decode('utf-16-le', 'surrogatepass')


def html_text(html: str) -> str:
    """The ``textContent`` of an HTML fragment as produced by the renderer: tags removed, references decoded."""
    if '<' in html:
        html = _TAG.sub('', html)
    return html_lib.unescape(html) if '&' in html else html


# --- the display model (components/stream_view.js) --------------------------------------------------------------

class _Prose:
    __slots__ = ('closed', 'done', 'done_text', 'tail', 'tail_text')
    kind = 'prose'

    def __init__(self) -> None:
        self.done: list[str] = []  # html pieces, each inserted on its own (insertAdjacentHTML)
        self.done_text: list[str] = []
        self.tail = ''
        self.tail_text = ''
        self.closed = False

    def text(self) -> str:
        return ''.join(self.done_text) + self.tail_text

    def length(self) -> int:
        return sum(map(len, self.done_text)) + len(self.tail_text)

    def key(self) -> str:
        # committed + tail together: where a flush cut the committed part does not change what is shown
        return 'P\x00' + ''.join(self.done) + self.tail


class _Code:
    __slots__ = ('closed', 'info', 'language', 'line_texts', 'lines', 'streaming', 'tail', 'tail_text')
    kind = 'code'

    def __init__(self, language: str | None, info: str | None) -> None:
        self.language = language or 'text'
        self.info = info or ''
        self.lines: list[str] = []
        self.line_texts: list[str] = []
        self.tail = ''
        self.tail_text = ''
        self.streaming = True
        self.closed = False

    def text(self) -> str:
        return ''.join(self.line_texts) + self.tail_text

    def length(self) -> int:
        return sum(map(len, self.line_texts)) + len(self.tail_text)

    def key(self) -> str:
        # the unfinished line by its text: its colours are a throw-away guess (services/highlighter.py reuses the
        # previous flush's tokens), re-lexed exactly once the line is finished; committed lines by their html
        return 'C\x00' + self.language + '\x00' + '\x01'.join(self.lines) + '\x02' + self.tail_text


class ModelError(Exception):
    """An operation the browser element could not apply (it would throw)."""


class StreamModel:
    """What a ``StreamView`` shows, driven by the same calls as ``stream_view.js``."""

    def __init__(self, initial: Sequence[Op] = (), position: int = 0, streaming: bool = True) -> None:
        self.seq = position or 0
        self.blocks: dict[int, _Prose | _Code] = {}
        self.order: list[_Prose | _Code] = []  # the order the elements were appended to the DOM
        self.resyncing = False
        self.live = streaming
        self.apply_ops(initial)

    # the element's methods ------------------------------------------------------------------------------------

    def apply(self, first: int, batches: Sequence[Sequence[Op]]) -> int | None:
        """Apply numbered batches; returns the position to resync from when there was a gap (the element then
        emits ``resync`` and ignores batches until a ``reset``)."""
        if self.resyncing:
            return None
        for k, ops in enumerate(batches):
            position = first + k
            if position <= self.seq:
                continue
            if position != self.seq + 1:
                self.resyncing = True
                return self.seq
            self.apply_ops(ops)
            self.seq = position
        return None

    def reset(self, position: int, ops: Sequence[Op], part: int) -> None:
        if part == 0:
            self.blocks.clear()
            self.order.clear()
        self.apply_ops(ops)
        self.seq = position
        self.resyncing = False

    def set_streaming(self, live: bool) -> None:
        self.live = bool(live)

    def apply_ops(self, ops: Sequence[Op]) -> None:
        for op in ops:
            self.apply_op(op)

    def apply_op(self, op: Sequence[Any]) -> None:
        kind, i = op[0], op[1]
        if kind == 'P':
            prose = self._prose(i)
            prose.done.append(op[2])
            prose.done_text.append(html_text(op[2]))
        elif kind in ('p', 'q'):
            prose = self._prose(i)
            prose.tail = op[2] if kind == 'p' else _keep_units(prose.tail, op[2]) + op[3]
            prose.tail_text = html_text(prose.tail)
        elif kind == 'C':
            if i not in self.blocks:
                self._add(i, _Code(op[2], op[3] if len(op) > 3 else ''))
        elif kind == 'L':
            code = self._code(i)
            start, htmls = op[2], op[3]
            have = len(code.lines)
            for k, html in enumerate(htmls):
                n = start + k
                if n < have:
                    code.lines[n] = html
                    code.line_texts[n] = html_text(html)
                else:  # like the element: appended after the existing lines, whatever ``start`` says
                    code.lines.append(html)
                    code.line_texts.append(html_text(html))
        elif kind in ('t', 'u'):
            code = self._code(i)
            code.tail = op[2] if kind == 't' else _keep_units(code.tail, op[2]) + op[3]
            code.tail_text = html_text(code.tail)
        elif kind == 'g':
            self._code(i).language = op[2] or 'text'
        elif kind == 'X':
            block = self.blocks.get(i)
            if block is None:
                return
            block.tail = block.tail_text = ''
            if isinstance(block, _Code):
                block.streaming = False
            block.closed = True
        # unknown operations are ignored, as by the element's switch

    def _add(self, i: int, block: _Prose | _Code) -> None:
        self.blocks[i] = block
        self.order.append(block)

    def _prose(self, i: int) -> _Prose:
        block = self.blocks.get(i)
        if block is None:
            block = _Prose()
            self._add(i, block)
        if not isinstance(block, _Prose):
            raise ModelError(f'prose operation on code block {i}')
        return block

    def _code(self, i: int) -> _Code:
        block = self.blocks.get(i)
        if not isinstance(block, _Code):
            raise ModelError(f'code operation on {"missing" if block is None else "prose"} block {i}')
        return block

    # what a reader sees ---------------------------------------------------------------------------------------

    def text(self) -> str:
        """The visible text: prose as rendered text, code exactly (no block headers or buttons)."""
        return ''.join(block.text() for block in self.order)

    def length(self) -> int:
        return sum(block.length() for block in self.order)

    def code_texts(self) -> list[str]:
        """Each code block's ``code-text``, in order."""
        return [block.text() for block in self.order if isinstance(block, _Code)]

    def languages(self) -> list[str]:
        return [block.language for block in self.order if isinstance(block, _Code)]

    def prose_text(self) -> str:
        return ''.join(block.text() for block in self.order if isinstance(block, _Prose))

    def state_key(self) -> str:
        """A digest of everything shown (html, languages), equal for equal displays."""
        digest = hashlib.blake2b(digest_size=16)
        for block in self.order:
            digest.update(block.key().encode('utf-8', 'surrogatepass'))
            digest.update(b'\x03')
        return digest.hexdigest()


def parse_run_method(code: str) -> tuple[int, str, list[Any]] | None:
    """``return runMethod(12, "apply", [5, [...]])`` → ``(12, 'apply', [5, [...]])``; None for other code."""
    match = _RUN_METHOD.match(code)
    if match is None:
        return None
    decoder = json.JSONDecoder()
    try:
        name, end = decoder.raw_decode(code, match.end())
        while code[end] in ' ,':
            end += 1
        args, end = decoder.raw_decode(code, end)
    except (ValueError, IndexError):
        return None
    if not isinstance(name, str) or not isinstance(args, list):
        return None
    return int(match.group(1)), name, args


def parse_page(html: str) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    """(elements by id, the socket query) from a NiceGUI page."""
    found = _ELEMENTS.search(html)
    if found is None:
        raise ValueError('no NiceGUI elements in the page')
    raw = found.group(1)
    for escaped, plain in _UNESCAPE_ELEMENTS:
        raw = raw.replace(escaped, plain)
    elements = {int(k): v for k, v in json.loads(raw).items()}
    query = _QUERY.search(html)
    if query is None:
        raise ValueError('no socket query in the page')
    return elements, ast.literal_eval(query.group(1))  # a Python dict literal in NiceGUI's template


# --- the reference: what a correct display looks like at each source position -------------------------------------

def expected_code(text: str) -> list[str]:
    """The code of each fenced block as CommonMark shows it (the e2e tests' reference)."""
    from services.parser import parse
    out = []
    for block in parse(text):
        if block.kind == 'code':
            out.append(''.join(line[min(block.indent, len(line) - len(line.lstrip(' '))):]
                               for line in split_lines(block.text)))
    return out


@dataclass
class Reference:
    text: str
    speed: float
    keys: dict[str, int]  # display state → smallest source position showing it
    lengths: list[tuple[int, int]]  # (source position, visible length), for a display that matches no state
    final_key: str
    final_text: str
    code: list[str]


def build_reference(text: str, *, chunk: int | None, speed: float) -> Reference:
    """Every display state the live renderer can produce for ``text`` streamed in the demo provider's chunks."""
    from services.providers.demo import DemoProvider
    from services.rendering import MessageRenderer, render_static
    from services.storage import clean_text

    text = clean_text(text)
    chunks = DemoProvider(script=text, chunk_size=chunk).chunks('')
    renderer = MessageRenderer()
    model = StreamModel()
    keys = {model.state_key(): 0}
    lengths = [(0, 0)]
    position = 0
    for piece in chunks:
        renderer.feed(piece)
        position += len(piece)
        model.apply_ops(renderer.take_ops())
        keys.setdefault(model.state_key(), position)
        lengths.append((position, model.length()))
    final = StreamModel(render_static(text))
    keys.setdefault(final.state_key(), len(text))
    return Reference(text, speed, keys, lengths, final.state_key(), final.text(), expected_code(text))


# --- analysis of one client's updates -----------------------------------------------------------------------------

@dataclass
class Update:
    """One call on a StreamView as received: ``method`` is initial / apply / reset / setStreaming."""

    t: float
    method: str
    args: list[Any]
    length: int = 0


@dataclass
class StreamResult:
    updates: int = 0  # updates that changed the display
    matched: int = 0
    unmatched: int = 0
    lags: list[float] = field(default_factory=list)  # per changing update: its newest character's lag, seconds
    lag_times: list[float] = field(default_factory=list)  # when each of ``lags`` arrived (the client's clock)
    first_anchored_lags: list[float] = field(default_factory=list)  # t0 = the first character's arrival
    char_lags: list[float] = field(default_factory=list)  # per source character: lag until first shown
    ttfc: float | None = None  # from the click to the first visible character
    last: float | None = None  # from the click to the final display
    final_exact: bool = False
    code_exact: bool = False
    final_length: int = 0
    model_errors: list[str] = field(default_factory=list)


def _position_for_length(reference: Reference, length: int) -> int:
    for position, shown in reference.lengths:
        if shown >= length:
            return position
    return len(reference.text)


def analyze(updates: Sequence[Update], reference: Reference, t_click: float | None) -> StreamResult:
    """Replay what one StreamView received and measure it against ``reference`` (see the module docstring)."""
    result = StreamResult()
    model = StreamModel()
    key = model.state_key()
    timeline: list[tuple[float, int]] = []  # (arrival, source position of the newest character shown)
    for update in updates:
        try:
            if update.method == 'initial':
                ops, position, streaming = update.args
                model = StreamModel(ops, position, streaming)
            elif update.method == 'apply':
                model.apply(update.args[0], update.args[1])
            elif update.method == 'reset':
                model.reset(update.args[0], update.args[1], update.args[2] if len(update.args) > 2 else 0)
            else:
                continue
        except ModelError as exc:
            result.model_errors.append(str(exc))
            continue
        new_key = model.state_key()
        if new_key == key:
            continue
        key = new_key
        result.updates += 1
        position = reference.keys.get(key)
        if position is None:
            result.unmatched += 1
            position = _position_for_length(reference, model.length())
        else:
            result.matched += 1
        if position > 0:
            timeline.append((update.t, position))
    result.final_length = model.length()
    result.final_exact = key == reference.final_key
    result.code_exact = model.code_texts() == reference.code
    if not timeline:
        return result
    speed = reference.speed
    if t_click is not None:
        result.ttfc = timeline[0][0] - t_click
        result.last = timeline[-1][0] - t_click
    if speed == float('inf') or speed <= 0:
        return result
    t0 = min(t - k / speed for t, k in timeline)
    first_t, first_k = timeline[0]
    t0_first = first_t - first_k / speed
    shown = 0
    for t, k in timeline:
        result.lags.append(t - (t0 + k / speed))
        result.lag_times.append(t)
        result.first_anchored_lags.append(t - (t0_first + k / speed))
        if k > shown:  # characters shown for the first time by this update
            result.char_lags.extend(t - (t0 + j / speed) for j in range(shown + 1, k + 1))
            shown = k
    return result


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100), nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered) - 1e-9)))
    return ordered[rank - 1]


# --- the browser ------------------------------------------------------------------------------------------------------

class PageError(Exception):
    pass


class ScribeBrowser:
    """One emulated browser tab on a Scribe page (see the module docstring)."""

    def __init__(self, base_url: str, http: Any, *, name: str = '', clock: Callable[[], float] = time.perf_counter,
                 on_view_update: Callable[[ScribeBrowser, int, Update], None] | None = None,
                 reconnect: bool = True, deflate: bool = True) -> None:
        self.base_url = base_url.rstrip('/')
        self.http = http  # an aiohttp.ClientSession (a connector without a connection limit for many clients)
        self.name = name
        self.clock = clock
        self.on_view_update = on_view_update
        self.elements: dict[int, dict[str, Any]] = {}
        self.views: dict[int, StreamModel] = {}
        self.updates: dict[int, list[Update]] = {}
        self.client_id = ''
        self.path = ''
        self.sio: Any = None
        self.next_message_id = 0
        self.acked_message_id = -1
        self.duplicates = 0
        self.message_gaps = 0
        self.messages = 0
        self.resyncs = 0
        self.page_retries = 0
        self.errors: list[str] = []
        self.reconnect = reconnect
        self.deflate = deflate  # offer permessage-deflate, as browsers do (the server then compresses every frame)
        self.disconnected = False  # for good: no reconnection (reconnect=False), or closed
        self.disconnects = 0
        self.reconnects = 0
        self.disconnect_reasons: list[str] = []
        self._connected_once = False
        self.lost = False
        self._socket_query: dict[str, Any] = {}
        self.closing = False
        self.says_gone = False  # the page sends a beacon on pagehide (pages/housekeeping.py)
        self.location: str | None = None
        self.downloads: list[tuple[float, bytes | str, str | None]] = []
        self._changed = asyncio.Event()
        self._last_view_update = 0.0
        self._ack_task: asyncio.Task[None] | None = None

    # --- connection ---------------------------------------------------------------------------------------------

    async def open(self, path: str = '/', *, timeout: float = 60.0, retries: int = 0) -> None:
        """Load the page and connect its websocket, as the browser does on load. ``retries``: reload a page that
        answered with a server error (NiceGUI answers 500 when a page is not built within its response timeout,
        3 s), as a person would, after 1 s, 2 s, …; ``page_retries`` counts them."""
        import socketio

        self.path = path
        for attempt in range(retries + 1):
            async with self.http.get(self.base_url + path, timeout=_timeout(timeout)) as response:
                if response.status == 200:
                    html = await response.text()
                    break
                if response.status < 500 or attempt == retries:
                    raise PageError(f'GET {path}: HTTP {response.status}')
            self.page_retries += 1
            await asyncio.sleep(1.0 + attempt)
        elements, query = parse_page(html)
        self.says_gone = GONE_PATH in html
        self.elements = elements
        self.client_id = str(query['client_id'])
        self.next_message_id = int(query.get('next_message_id') or 0)
        for element_id, element in elements.items():
            self._maybe_mount(element_id, element)
        self._socket_query = {
            'client_id': self.client_id,
            'next_message_id': self.next_message_id,
            'implicit_handshake': 'true' if query.get('implicit_handshake') else 'false',
            'document_id': str(uuid.uuid4()),
            'tab_id': str(uuid.uuid4()),
            'old_tab_id': 'null',
        }
        cookies = self.http.cookie_jar.filter_cookies(self.base_url + path)
        headers = {'Cookie': '; '.join(f'{k}={v.value}' for k, v in cookies.items())} if cookies else {}
        # socket.io's defaults in the browser: reconnect after 1 s, backing off to 5 s, ±50 % jitter
        self.sio = socketio.AsyncClient(reconnection=self.reconnect, reconnection_delay=1, reconnection_delay_max=5,
                                        randomization_factor=0.5, http_session=self.http,
                                        engineio_logger=ENGINEIO_LOG,
                                        websocket_extra_options={} if self.deflate else {'compress': 0})
        for event in ('update', 'run_javascript', 'load_js_components', 'download', 'notify', 'open'):
            self.sio.on(event, self._handler(event))
        self.sio.on('connect', self._on_connect)
        self.sio.on('connect_error', self._on_connect_error)
        self.sio.on('disconnect', self._on_disconnect)
        self.sio.on('*', self._on_other)
        await self.sio.connect(self._socket_url, headers=headers, transports=['websocket'],
                               socketio_path=SOCKET_PATH, wait_timeout=timeout)
        self._ack_task = asyncio.create_task(self._ack_loop())

    def _socket_url(self) -> str:
        # nicegui.js keeps the reconnect query's next_message_id current, so the server replays only what was missed
        self._socket_query['next_message_id'] = self.next_message_id
        return f'{self.base_url}/?{urlencode(self._socket_query)}'

    def _on_connect(self) -> None:
        if self._connected_once:
            self.reconnects += 1
        self._connected_once = True

    async def close(self) -> None:
        """Close the tab: the page's ``pagehide`` beacon (pages/housekeeping.py: the server frees the page at once),
        then the websocket goes away (the server deletes the page's client after its reconnect timeout)."""
        self.closing = True
        if self._ack_task is not None:
            self._ack_task.cancel()
        if self.sio is not None:
            if self.says_gone:  # the page's pagehide beacon
                with contextlib.suppress(Exception):
                    async with self.http.post(self.base_url + GONE_PATH, data=self.client_id.encode(),
                                              headers={'Content-Type': 'text/plain;charset=UTF-8'}) as response:
                        await response.read()
            with contextlib.suppress(Exception):
                await self.sio.disconnect()
            reconnecting = getattr(self.sio, '_reconnect_task', None)  # let a reconnection in flight give up first
            if reconnecting is not None and not reconnecting.done():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(reconnecting), 10)

    async def _ack_loop(self) -> None:
        while True:
            await asyncio.sleep(3.0)
            if self.acked_message_id < self.next_message_id and self.sio is not None and self.sio.connected:
                with contextlib.suppress(Exception):
                    await self.sio.emit('ack', {'client_id': self.client_id,
                                                'next_message_id': self.next_message_id})
                self.acked_message_id = self.next_message_id

    def _on_connect_error(self, data: Any = None) -> None:
        message = data.get('message') if isinstance(data, dict) else str(data)
        if self._connected_once and 'handshake' in str(message).lower():
            # The server deleted the page while its websocket was away (NiceGUI's reconnect timeout): a browser
            # reloads here. The emulation stops following; the bench counts the page as lost.
            self.lost = True
            self.errors.append(f'page lost: {message} (a browser would reload it)')
            self.disconnected = True
            self._changed.set()

    def _on_disconnect(self, *args: Any) -> None:
        if not self.closing:
            self.disconnects += 1
            self.disconnect_reasons.append(str(args[0]) if args else 'no reason')
        if self.closing or not self.reconnect:
            self.disconnected = True
        self._changed.set()

    def _on_other(self, event: str, *args: Any) -> None:
        if args and isinstance(args[0], dict):
            self._accept(args[0])

    def _handler(self, event: str) -> Callable[[Any], None]:
        method = getattr(self, f'_on_{event}')

        def handle(data: Any) -> None:
            t = self.clock()
            if isinstance(data, dict) and not self._accept(data):
                return
            try:
                method(t, data)
            except Exception as exc:  # a bug in the emulation must show up, not hang the client
                self.errors.append(f'{event}: {exc!r}')
            self._changed.set()
        return handle

    def _accept(self, data: dict[str, Any]) -> bool:
        """nicegui.js: skip a message already seen (replayed after a reconnect); count gaps."""
        self.messages += 1
        message_id = data.pop('_id', None)
        if message_id is None:
            return True
        if message_id < self.next_message_id:
            self.duplicates += 1
            return False
        if message_id > self.next_message_id:
            self.message_gaps += 1
        self.next_message_id = message_id + 1
        return True

    # --- server messages ----------------------------------------------------------------------------------------

    def _on_update(self, t: float, data: dict[str, Any]) -> None:
        for key, element in data.items():
            element_id = int(key)
            if element is None:
                self.elements.pop(element_id, None)
                self.views.pop(element_id, None)
                continue
            self.elements[element_id] = element
            self._maybe_mount(element_id, element, t)

    def _maybe_mount(self, element_id: int, element: dict[str, Any], t: float | None = None) -> None:
        props = element.get('props') or {}
        if element_id in self.views or 'initial' not in props or 'position' not in props:
            return
        ops, position, streaming = props.get('initial') or [], int(props.get('position') or 0), \
            bool(props.get('streaming'))
        self.views[element_id] = StreamModel(ops, position, streaming)
        self._record(element_id, Update(self.clock() if t is None else t, 'initial', [ops, position, streaming]))

    def _on_run_javascript(self, t: float, data: dict[str, Any]) -> None:
        request_id = data.get('request_id')
        call = parse_run_method(str(data.get('code', '')))
        result = None
        if call is not None:
            element_id, name, args = call
            view = self.views.get(element_id)
            if view is not None and name in ('apply', 'reset', 'setStreaming'):
                if name == 'apply':
                    gap = view.apply(args[0], args[1])
                    if gap is not None:
                        self.resyncs += 1
                        self._emit_event(element_id, 'resync', [json.dumps(gap)])
                elif name == 'reset':
                    view.reset(args[0], args[1], args[2] if len(args) > 2 else 0)
                else:
                    view.set_streaming(bool(args[0]))
                self._record(element_id, Update(t, name, args, view.length()))
        elif 'history.pushState' in str(data.get('code', '')) or 'history.replaceState' in str(data.get('code', '')):
            found = re.search(r'"(/[^"]*)"', str(data.get('code', '')))
            if found:
                self.location = found.group(1)
        if request_id:
            self._spawn(self.sio.emit('javascript_response', {
                'request_id': request_id, 'client_id': self.client_id, 'result': result}))

    def _record(self, element_id: int, update: Update) -> None:
        self.updates.setdefault(element_id, []).append(update)
        if update.method != 'setStreaming':
            self._last_view_update = update.t
        if self.on_view_update is not None:
            self.on_view_update(self, element_id, update)

    def _on_load_js_components(self, t: float, data: dict[str, Any]) -> None:
        pass  # the browser imports the components' modules; the model needs none

    def _on_download(self, t: float, data: dict[str, Any]) -> None:
        self.downloads.append((t, data.get('src', b''), data.get('filename')))

    def _on_notify(self, t: float, data: dict[str, Any]) -> None:
        if data.get('type') == 'negative':
            self.errors.append(f'notification: {data.get("message")}')

    def _on_open(self, t: float, data: dict[str, Any]) -> None:
        self.location = str(data.get('path'))

    # --- acting on the page -------------------------------------------------------------------------------------

    def find(self, testid: str) -> int:
        """The id of the last element with this ``data-testid`` (PageError when there is none)."""
        found = [i for i, e in self.elements.items() if (e.get('props') or {}).get('data-testid') == testid]
        if not found:
            raise PageError(f'no element with data-testid={testid} on {self.path}')
        return max(found)

    def _listener(self, element_id: int, event_type: str) -> str:
        for listener in self.elements[element_id].get('events') or []:
            if listener.get('type') == event_type:
                return str(listener['listener_id'])
        raise PageError(f'element {element_id} has no {event_type} listener')

    def _emit_event(self, element_id: int, event_type: str, args: list[str]) -> None:
        self._spawn(self.sio.emit('event', {'id': element_id, 'client_id': self.client_id,
                                            'listener_id': self._listener(element_id, event_type), 'args': args}))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(_ignore_result)

    async def _emit(self, data: dict[str, Any], timeout: float = 30.0) -> None:
        """An ``event`` message, kept while the websocket is down and sent once it is back, as socket.io-client
        does for a page (a click during a reconnect is not lost in a browser either)."""
        import socketio
        deadline = self.clock() + timeout
        while True:
            try:
                await self.sio.emit('event', data)
                return
            except socketio.exceptions.BadNamespaceError:
                if self.clock() > deadline:
                    raise
                await asyncio.sleep(0.05)

    async def type_text(self, testid: str, text: str) -> None:
        """Typing into a NiceGUI input: its ``update:value`` event with the text (a JSON string argument)."""
        element_id = self.find(testid)
        await self._emit({'id': element_id, 'client_id': self.client_id,
                          'listener_id': self._listener(element_id, 'update:value'), 'args': [json.dumps(text)]})

    async def click(self, testid: str) -> float:
        """A click on a button: its ``click`` event, no arguments. Returns the time it was sent."""
        element_id = self.find(testid)
        listener = self._listener(element_id, 'click')
        t = self.clock()
        await self._emit({'id': element_id, 'client_id': self.client_id, 'listener_id': listener, 'args': []})
        return t

    async def send(self, prompt: str) -> float:
        """Type the prompt and press send; returns the time of the click."""
        await self.type_text('prompt-input', prompt)
        return await self.click('send-button')

    def answers(self) -> list[int]:
        """Ids of the assistant message elements, oldest first."""
        return sorted(i for i, e in self.elements.items()
                      if (e.get('props') or {}).get('data-testid') == 'message'
                      and (e.get('props') or {}).get('data-role') == 'assistant')

    def status(self, message_element: int) -> str | None:
        element = self.elements.get(message_element)
        return None if element is None else (element.get('props') or {}).get('data-status')

    def view_of(self, message_element: int) -> int | None:
        """The StreamView inside an assistant message element."""
        stack = [message_element]
        while stack:
            element_id = stack.pop()
            if element_id in self.views:
                return element_id
            element = self.elements.get(element_id)
            if element is not None:
                stack.extend(element.get('children') or [])
                for slot in (element.get('slots') or {}).values():
                    stack.extend(slot.get('ids') or [])
        return None

    async def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = self.clock() + timeout
        while not condition():
            if self.disconnected:
                return condition()
            remaining = deadline - self.clock()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
        return True

    async def wait_for_answer(self, *, after: int = 0, timeout: float = 120.0, quiet: float = 0.3) -> tuple[
            int | None, str | None]:
        """Wait for a new assistant message (element id > ``after``) to reach a final status and for its view to
        have every block closed: NiceGUI sends element updates (the status) before the method calls of the same
        round (the last batch of operations), so the status alone can come first. Returns (message element,
        status); the status is not final when ``timeout`` passed first."""
        def done() -> bool:
            answers = [a for a in self.answers() if a > after]
            if not answers or self.status(answers[-1]) not in TERMINAL:
                return False
            view = self.view_of(answers[-1])
            # an ended answer's last batch closes every block ('X'); it may come just after the status update
            return view is not None and all(block.closed for block in self.views[view].order)

        finished = await self.wait_for(done, timeout)
        answers = [a for a in self.answers() if a > after]
        if not answers:
            return None, None
        message = answers[-1]
        if not finished:  # e.g. an answer whose page shows no blocks: give late operations a moment
            while self.clock() - self._last_view_update < quiet and not self.disconnected:
                await asyncio.sleep(quiet / 3)
        return message, self.status(message)

    async def export(self, timeout: float = 60.0) -> str | None:
        """Press Export and return the downloaded Markdown (``ui.download`` sends the bytes over the socket)."""
        before = len(self.downloads)
        await self.click('export-button')
        if not await self.wait_for(lambda: len(self.downloads) > before, timeout):
            return None
        src = self.downloads[-1][1]
        return src.decode('utf-8') if isinstance(src, bytes | bytearray) else str(src)


def _timeout(seconds: float) -> Any:
    import aiohttp
    return aiohttp.ClientTimeout(total=seconds)


def _ignore_result(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def shared_connector() -> Any:
    """One connection pool for many emulated browsers, without aiohttp's default limit of 100 connections (each
    websocket holds one for its whole life)."""
    import aiohttp
    return aiohttp.TCPConnector(limit=0)


def http_session(connector: Any = None) -> Any:
    """A browser's own HTTP session (its own cookie jar, like a separate browser profile) on a shared pool."""
    import aiohttp
    if connector is None:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    return aiohttp.ClientSession(connector=connector, connector_owner=False)
