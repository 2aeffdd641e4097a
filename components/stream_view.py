"""The delta element: a Python/JS pair (``stream_view.js``) in the way NiceGUI builds its own elements.

The initial state travels once, as a prop, in the page's HTML; after that only batches of small operations go over
the websocket, each batch numbered so the browser can skip what it has seen and ask for a snapshot on a gap. The
element never calls ``update()`` (that would re-send the initial prop), so no message ever carries the whole
answer again except an explicit snapshot, which is sent in parts under Socket.IO's message size limit.

A stored answer's operations can be given already encoded (JSON bytes, as ``services/render_cache.py`` keeps them):
they go into the page's HTML as they are, through ``orjson.Fragment`` in NiceGUI's orjson serialiser, and the page
holds one byte string per answer instead of thousands of small lists and strings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from nicegui import core
from nicegui import json as nicegui_json
from nicegui.element import Element
from nicegui.events import GenericEventArguments

Op = list[Any]
SNAPSHOT_PART_BYTES = 400_000
#: NiceGUI serialises with orjson when it is installed (Scribe requires it), which embeds a Fragment verbatim.
_EMBEDS_FRAGMENTS = nicegui_json.dumps.__module__.endswith('orjson_wrapper')


class StreamView(Element, component='stream_view.js'):
    def __init__(self, ops: Sequence[Op] | bytes, position: int, *, streaming: bool,
                 on_resync: Callable[[int], None] | None = None) -> None:
        super().__init__()
        if isinstance(ops, bytes):
            self._props['initial'] = orjson.Fragment(ops) if _EMBEDS_FRAGMENTS else orjson.loads(ops)
        else:
            self._props['initial'] = list(ops)
        self._props['position'] = position
        self._props['streaming'] = streaming
        self._on_resync = on_resync
        self.on('resync', self._handle_resync)

    def apply(self, first: int, batches: Sequence[Sequence[Op]]) -> None:
        """Send events ``first``, ``first + 1``, … (one list of operations each) in one message."""
        self._call('apply', first, list(batches))

    def reset(self, position: int, ops: Sequence[Op]) -> None:
        """Replace everything with a snapshot, split into messages that fit Socket.IO's limit."""
        part: list[Op] = []
        size = 0
        index = 0
        for op in _split_large(ops):
            op_size = len(json.dumps(op))
            if part and size + op_size > SNAPSHOT_PART_BYTES:
                self._call('reset', position, part, index)
                part, size, index = [], 0, index + 1
            part.append(op)
            size += op_size
        self._call('reset', position, part, index)

    def set_streaming(self, streaming: bool) -> None:
        self._call('setStreaming', streaming)

    def _call(self, name: str, *args: Any) -> None:
        """``run_method`` without its ``return``, in compact JSON, put straight into the page's outbox.

        NiceGUI first evaluates ``run_method``'s code as a plain script and, on the SyntaxError a top-level
        ``return`` raises, parses it again inside an async function: every update's payload would be parsed
        twice. And ``run_javascript`` makes an awaitable response per call (a uuid and a background task that
        decides whether anyone awaits it); nothing here awaits a result, and at a hundred live streams those
        tasks were a tenth of the process's work. The message is the same ``run_javascript`` message NiceGUI
        sends, so it keeps its place among the page's other updates and is replayed after a reconnect."""
        client = self.client
        if not core.is_loop_running() or not self._is_safe_to_interact() or client.is_deleted:
            return
        payload = json.dumps(args, separators=(',', ':'), ensure_ascii=False)
        target = getattr(client, '_temporary_socket_id', None) or client.id
        client.outbox.enqueue_message('run_javascript', {'code': f'runMethod({self.id},{json.dumps(name)},{payload})'},
                                      target)

    def _handle_resync(self, event: GenericEventArguments) -> None:
        if self._on_resync is not None:
            self._on_resync(int(event.args) if isinstance(event.args, int | float | str) else 0)


def _split_large(ops: Sequence[Op]) -> list[Op]:
    """A huge code block's lines become several 'L' operations, so no single message outgrows the limit."""
    out: list[Op] = []
    for op in ops:
        if op[0] != 'L' or len(op[3]) < 2:
            out.append(op)
            continue
        _, index, start, lines = op
        chunk: list[str] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) > SNAPSHOT_PART_BYTES // 2:
                out.append(['L', index, start, chunk])
                start += len(chunk)
                chunk, size = [], 0
            chunk.append(line)
            size += len(line) + 4
        out.append(['L', index, start, chunk])
    return out
