"""Ordered, position-numbered events per topic (one topic per streaming message).

Pages never drive a generation; they follow it. A page that opens mid-stream takes a snapshot at position N and
subscribes from N, so a reload, a second tab and (later) a second app process are all the same case. The
in-process bus keeps each topic's events in one shared list and gives every subscriber a cursor into it, so a
slow subscriber costs nothing until it reads, and then reads everything it missed in one batch (which its
consumer sends as one message: the "merge when a client falls behind" of DESIGN.md). A Redis Streams bus
implements the same interface for several processes (append = XADD, subscribe from a position = XREAD from an id).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class BusEvent:
    position: int
    payload: dict[str, Any]


class TopicClosed(Exception):
    """Raised by ``publish`` on a topic that was closed: its stream has ended."""


class Subscription(ABC):
    """Batches of events after a position, in order; ends when the topic closes and everything was read."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[list[BusEvent]]: ...

    @abstractmethod
    def close(self) -> None: ...


class EventBus(ABC):
    @abstractmethod
    def publish(self, topic: str, payload: dict[str, Any]) -> int:
        """Append an event; returns its position (1 for the first event of a topic)."""

    @abstractmethod
    def subscribe(self, topic: str, after: int) -> Subscription:
        """Events with position > ``after``; raises KeyError for a topic that is not open."""

    @abstractmethod
    def position(self, topic: str) -> int: ...

    @abstractmethod
    def close_topic(self, topic: str) -> None:
        """No more events: subscribers end after reading what is left; the topic is forgotten once they have."""

    @abstractmethod
    def is_open(self, topic: str) -> bool: ...


class _Topic:
    __slots__ = ('closed', 'events', 'subscribers', 'wakeup')

    def __init__(self) -> None:
        self.events: list[BusEvent] = []
        self.closed = False
        self.subscribers = 0
        self.wakeup = asyncio.Event()

    def notify(self) -> None:
        # Wake everyone waiting now, and give later waiters a fresh Event so they block instead of spinning.
        self.wakeup.set()
        self.wakeup = asyncio.Event()


class _InProcessSubscription(Subscription):
    def __init__(self, bus: InProcessEventBus, name: str, topic: _Topic, after: int) -> None:
        self._bus = bus
        self._name = name
        self._topic = topic
        self._cursor = after
        self._closed = False
        topic.subscribers += 1

    async def __aiter__(self) -> AsyncIterator[list[BusEvent]]:
        topic = self._topic
        try:
            while not self._closed:
                if len(topic.events) > self._cursor:
                    batch = topic.events[self._cursor:]
                    self._cursor = len(topic.events)
                    yield batch
                    continue
                if topic.closed:
                    return
                await topic.wakeup.wait()
        finally:
            self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._topic.subscribers -= 1
        self._topic.notify()
        self._bus._forget_if_done(self._name)


class InProcessEventBus(EventBus):
    def __init__(self) -> None:
        self._topics: dict[str, _Topic] = {}

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic()
        return topic

    def publish(self, topic: str, payload: dict[str, Any]) -> int:
        t = self._topic(topic)
        if t.closed:
            raise TopicClosed(topic)
        position = len(t.events) + 1
        t.events.append(BusEvent(position, payload))
        t.notify()
        return position

    def subscribe(self, topic: str, after: int) -> Subscription:
        t = self._topics.get(topic)
        if t is None:
            raise KeyError(topic)
        return _InProcessSubscription(self, topic, t, max(0, after))

    def position(self, topic: str) -> int:
        t = self._topics.get(topic)
        return len(t.events) if t else 0

    def is_open(self, topic: str) -> bool:
        t = self._topics.get(topic)
        return t is not None and not t.closed

    def close_topic(self, topic: str) -> None:
        t = self._topics.get(topic)
        if t is None:
            return
        t.closed = True
        t.notify()
        self._forget_if_done(topic)

    def _forget_if_done(self, name: str) -> None:
        t = self._topics.get(name)
        if t is not None and t.closed and t.subscribers <= 0:
            del self._topics[name]

    def topic_count(self) -> int:
        return len(self._topics)

    def subscription_count(self) -> int:
        """Open subscriptions over all topics (read-only, for /metrics)."""
        return sum(t.subscribers for t in self._topics.values())

    def event_count(self) -> int:
        """Events held for all open or unread topics (read-only, for /metrics): each topic keeps its events until
        it is closed and every subscriber has read them."""
        return sum(len(t.events) for t in self._topics.values())
