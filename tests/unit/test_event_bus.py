"""The in-process event bus: ordered positions, subscribe from a position, batches for slow readers, clean-up."""

from __future__ import annotations

import asyncio

import pytest

from services.event_bus import InProcessEventBus, TopicClosed


async def collect(bus: InProcessEventBus, topic: str, after: int) -> list[tuple[int, dict]]:
    seen = []
    async for batch in bus.subscribe(topic, after):
        seen.extend((e.position, e.payload) for e in batch)
    return seen


async def test_positions_are_ordered_and_subscribers_start_where_they_ask() -> None:
    bus = InProcessEventBus()
    assert [bus.publish('t', {'i': i}) for i in range(3)] == [1, 2, 3]
    late = asyncio.create_task(collect(bus, 't', 2))
    early = asyncio.create_task(collect(bus, 't', 0))
    await asyncio.sleep(0)
    bus.publish('t', {'i': 3})
    bus.close_topic('t')
    assert [p for p, _ in await late] == [3, 4]
    assert [p for p, _ in await early] == [1, 2, 3, 4]
    assert bus.topic_count() == 0  # forgotten once closed and read


async def test_a_slow_subscriber_gets_everything_it_missed_in_one_batch() -> None:
    bus = InProcessEventBus()
    bus.publish('t', {})
    sub = bus.subscribe('t', 1)
    batches = []

    async def read() -> None:
        async for batch in sub:
            batches.append([e.position for e in batch])

    task = asyncio.create_task(read())
    for _ in range(5):
        bus.publish('t', {})
    await asyncio.sleep(0.01)
    bus.close_topic('t')
    await task
    assert batches == [[2, 3, 4, 5, 6]]


async def test_closed_topics_refuse_events_and_unknown_topics_cannot_be_followed() -> None:
    bus = InProcessEventBus()
    bus.publish('t', {})
    sub = bus.subscribe('t', 0)
    bus.close_topic('t')
    with pytest.raises(TopicClosed):
        bus.publish('t', {})
    assert not bus.is_open('t')
    with pytest.raises(KeyError):
        bus.subscribe('nope', 0)
    sub.close()
    assert bus.topic_count() == 0


async def test_waiting_subscribers_do_not_spin() -> None:
    """A subscriber that has read everything waits; closing another subscription must not wake it into a loop."""
    bus = InProcessEventBus()
    bus.publish('t', {})
    a, b = bus.subscribe('t', 1), bus.subscribe('t', 1)
    wakeups = 0

    async def read() -> None:
        nonlocal wakeups
        async for _batch in a:
            wakeups += 1

    task = asyncio.create_task(read())
    await asyncio.sleep(0.01)
    b.close()
    await asyncio.sleep(0.05)
    assert wakeups == 0 and not task.done()
    bus.close_topic('t')
    await task
