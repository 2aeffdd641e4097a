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
        self.run_method('apply', first, list(batches))

    def reset(self, position: int, ops: Sequence[Op]) -> None:
        """Replace everything with a snapshot, split into messages that fit Socket.IO's limit."""
        part: list[Op] = []
        size = 0
        index = 0
        for op in _split_large(ops):
            op_size = len(json.dumps(op))
            if part and size + op_size > SNAPSHOT_PART_BYTES:
                self.run_method('reset', position, part, index)
                part, size, index = [], 0, index + 1
            part.append(op)
            size += op_size
        self.run_method('reset', position, part, index)

    def set_streaming(self, streaming: bool) -> None:
        self.run_method('setStreaming', streaming)

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
