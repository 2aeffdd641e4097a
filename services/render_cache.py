"""Rendered stored answers, kept in one fixed block of memory.

Opening a project renders its newest stored answers, a highlighter pass each (about 2 ms for 1,500 characters,
10 ms for 20,000), so the display operations of recently shown answers are kept for the next page that shows them.

Where they are kept matters more than how many. Entries arrive and leave all the time while pages open; as lists
of small strings (what the renderer makes), or even as one byte string each, they end up spread over the whole
heap among short-lived objects, and each keeps its pages of memory from going back to the system once the busy
moment is over. The memory bench's growth over 1,000 answers (glibc's malloc): 17.9 MB with no cache, 29.5-31 MB
with 256 answers as lists, 26.5 MB with 2 MB of answers as byte strings, 22.5-24.5 MB with this ring of 2 MB.
So entries are encoded (JSON) into a ring: one buffer of ``capacity`` bytes, written from front to back and again
from the front, each new entry overwriting the oldest. The cache's memory never moves and never grows, and decoding
an entry costs microseconds. An entry read while in the older half of the ring is written again at the front, so
the answers pages keep showing stay in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import orjson

__all__ = ['DEFAULT_CAPACITY', 'RenderCache']

Op = list[Any]
DEFAULT_CAPACITY = 2 * 1024 * 1024


class RenderCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._ring: bytearray | None = None  # allocated at the first entry
        #: Bytes written since the start; the ring holds what was written in the last ``capacity`` of them.
        self._head = 0
        #: key → (where it was written, counted like ``_head``; its length), oldest first.
        self._index: OrderedDict[Hashable, tuple[int, int]] = OrderedDict()

    def put(self, key: Hashable, ops: list[Op]) -> bytes:
        """Keep ``ops``; returns them encoded, as ``get_encoded`` would."""
        data = orjson.dumps(ops)
        self._write(key, data)
        return data

    def get(self, key: Hashable) -> list[Op] | None:
        data = self.get_encoded(key)
        if data is None:
            return None
        ops: list[Op] = orjson.loads(data)
        return ops

    def get_encoded(self, key: Hashable) -> bytes | None:
        """The entry as JSON: a page can send it on as it is (one object, instead of a list of lists of strings)."""
        place = self._index.get(key)
        if place is None or self._ring is None:
            return None
        position, length = place
        start = position % self.capacity
        data = bytes(self._ring[start:start + length])
        if position < self._head - self.capacity // 2:
            self._write(key, data)  # in the older half: keep it by writing it again at the front
        return data

    def _write(self, key: Hashable, data: bytes) -> None:
        self._index.pop(key, None)
        length = len(data)
        if length > self.capacity:
            return  # an answer larger than the whole cache would only push everything else out
        if self._ring is None:
            self._ring = bytearray(self.capacity)
        position = self._head
        start = position % self.capacity
        if start + length > self.capacity:  # entries never wrap around: the rest of the ring is left unused
            position += self.capacity - start
            start = 0
        self._ring[start:start + length] = data
        self._head = position + length
        self._index[key] = (position, length)
        oldest = self._head - self.capacity
        while self._index:
            first = next(iter(self._index.values()))
            if first[0] >= oldest:
                break
            self._index.popitem(last=False)  # overwritten

    def __contains__(self, key: Hashable) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._index)

    @property
    def size(self) -> int:
        """Bytes of the entries held."""
        return sum(length for _, length in self._index.values())
