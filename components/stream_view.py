"""The delta element: a Python/JS pair (``stream_view.js``) in the way NiceGUI builds its own elements.

The initial state travels once, as a prop, in the page's HTML; after that only batches of small operations go over
the websocket, each batch numbered so the browser can skip what it has seen and ask for a snapshot on a gap. The
element never calls ``update()`` (that would re-send the initial prop), so no message ever carries the whole
answer again except an explicit snapshot, which is sent in parts under Socket.IO's message size limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from nicegui import core
from nicegui.element import Element
from nicegui.events import GenericEventArguments

Op = list[Any]
SNAPSHOT_PART_BYTES = 400_000


class StreamView(Element, component='stream_view.js'):
    def __init__(self, ops: Sequence[Op], position: int, *, streaming: bool,
                 on_resync: Callable[[int], None] | None = None) -> None:
        super().__init__()
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
        """``run_method`` without its ``return``, in compact JSON. NiceGUI first evaluates the code as a plain
        script and, on the SyntaxError a top-level ``return`` raises, parses it again inside an async function:
        every update's payload would be parsed twice. Nothing here awaits a result, so nothing needs the return."""
        if not core.is_loop_running() or not self._is_safe_to_interact():
            return
        payload = json.dumps(args, separators=(',', ':'), ensure_ascii=False)
        self.client.run_javascript(f'runMethod({self.id},{json.dumps(name)},{payload})')

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
