"""A user's preferences through the whole server side: pacing, batching and the request's provider, model,
temperature and maximum tokens; changes reach a stream that is already running."""

from __future__ import annotations

import asyncio
import itertools
import math
from pathlib import Path
from typing import Any

import pytest

from services import stream_manager
from services.event_bus import InProcessEventBus
from services.preferences import Preferences, PreferenceStore
from services.providers.demo import DemoProvider
from services.providers.openai import OpenAIProvider
from services.storage import Storage
from services.stream_manager import StreamManager, StreamSession
from tests.fakes.provider_server import DEFAULT_API_KEY, FakeOpenAIServer, Script

ANSWER = 'Some prose first.\n\n```python\n' + ''.join(f'value_{i} = {i} * 2\n' for i in range(120)) + '```\nDone.\n'


@pytest.fixture
async def storage(tmp_path: Path):
    async with Storage(f'sqlite:///{tmp_path / "scribe.db"}') as s:
        yield s


def build(storage: Storage, providers: dict[str, Any], **prefs: Any) -> tuple[StreamManager, PreferenceStore]:
    store = PreferenceStore(storage, Preferences(**prefs), providers=list(providers))
    manager = StreamManager(storage, InProcessEventBus(), providers, default_provider=next(iter(providers)),
                            preferences=store)
    return manager, store


async def received(session: StreamSession, length: int) -> None:
    """Until the provider has delivered ``length`` characters (it sends at once; give it up to 2 s)."""
    for _ in range(200):
        await asyncio.sleep(0.01)
        if session.length == length:
            return


async def shown_counts(manager: StreamManager, message_id: str) -> list[int]:
    """The displayed character count of every published batch, in order, until the stream ends."""
    attachment = manager.attach(message_id)
    assert attachment is not None
    counts: list[int] = []
    async for batch in attachment.subscription:
        counts.extend(event.payload['n'] for event in batch if 'n' in event.payload)
    return counts


async def test_smoothing_types_a_burst_out_over_many_frames_and_loses_nothing(storage: Storage,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider sends the whole answer at once; the display still grows step by step (the typewriter),
    and the stored and displayed text end exactly equal to what was sent. The limits on how far the display may
    fall behind are lifted here, so that the pace alone decides the steps: with them, a loop that stalls for
    half a second on a busy machine shows the whole rest at once, as it should (seen in CI: 3 steps)."""
    monkeypatch.setattr(stream_manager, 'MAX_DISPLAY_LAG', 60.0)
    monkeypatch.setattr(stream_manager, 'CATCH_UP', 60.0)
    manager, _store = build(storage, {'demo': DemoProvider(speed=math.inf, script=ANSWER, chunk_size=4)},
                            speed='smooth', smooth_cps=2000)
    project = await storage.create_project('p')
    _user, answer = await manager.start(project.id, 'go')
    counts = await shown_counts(manager, answer.id)
    assert counts == sorted(counts) and counts[-1] == len(ANSWER)
    assert len(set(counts)) >= 4, counts
    stored = await storage.get_message(answer.id)
    assert stored is not None and stored.content == ANSWER and stored.streaming_status == 'completed'


async def test_without_smoothing_a_burst_is_shown_as_it_comes(storage: Storage) -> None:
    manager, _store = build(storage, {'demo': DemoProvider(speed=math.inf, script=ANSWER, chunk_size=4)},
                            flush_interval_ms=1000)
    project = await storage.create_project('p')
    _user, answer = await manager.start(project.id, 'go')
    counts = await shown_counts(manager, answer.id)
    assert counts[-1] == len(ANSWER) and len(counts) <= 3, counts  # the first chunk, then one batch


async def test_buffer_size_sends_a_batch_before_the_flush_interval(storage: Storage) -> None:
    manager, _store = build(storage, {'demo': DemoProvider(speed=math.inf, script=ANSWER, chunk_size=4)},
                            flush_interval_ms=1000, buffer_size=64)
    project = await storage.create_project('p')
    _user, answer = await manager.start(project.id, 'go')
    counts = await shown_counts(manager, answer.id)
    assert counts[-1] == len(ANSWER)
    assert len(counts) >= len(ANSWER) // 64 - 2, counts
    assert all(b - a <= 64 + 4 for a, b in itertools.pairwise(counts[1:])), counts


async def test_turning_smoothing_off_mid_stream_shows_the_held_back_text_at_once(storage: Storage) -> None:
    manager, store = build(storage, {'demo': DemoProvider(speed=math.inf, script=ANSWER * 20, chunk_size=50)},
                           speed='smooth', smooth_cps=20)
    project = await storage.create_project('p')
    _user, answer = await manager.start(project.id, 'go')
    session = manager.session(answer.id)
    assert session is not None
    await received(session, len(ANSWER) * 20)
    assert session.shown < session.length  # the typewriter is far behind a provider that is already done
    await store.update('local', {'speed': 'instant'})
    assert session.shown == session.length
    assert session.task is not None
    await asyncio.wait_for(session.task, 10)
    stored = await storage.get_message(answer.id)
    assert stored is not None and stored.content == ANSWER * 20


async def test_stop_while_smoothing_keeps_everything_that_arrived(storage: Storage) -> None:
    manager, _store = build(storage, {'demo': DemoProvider(speed=math.inf, script=ANSWER, chunk_size=8)},
                            speed='smooth', smooth_cps=20)
    project = await storage.create_project('p')
    _user, answer = await manager.start(project.id, 'go')
    session = manager.session(answer.id)
    assert session is not None
    await received(session, len(ANSWER))
    attachment = manager.attach(answer.id)
    assert attachment is not None
    await manager.stop(answer.id)
    last = [e.payload['n'] async for batch in attachment.subscription for e in batch if 'n' in e.payload]
    stored = await storage.get_message(answer.id)
    assert stored is not None and stored.content == ANSWER
    assert last and last[-1] == len(ANSWER)


async def test_preferred_provider_model_temperature_and_max_tokens_are_sent(storage: Storage) -> None:
    async with FakeOpenAIServer(Script(text='Hello.')) as server:
        openai = OpenAIProvider(api_key=DEFAULT_API_KEY, base_url=server.base_url)
        manager, store = build(storage, {'demo': DemoProvider(speed=math.inf), 'openai': openai})
        project = await storage.create_project('p')
        await store.update('local', {'provider': 'openai', 'model': 'gpt-4.1', 'temperature': 0.25,
                                     'max_tokens': 77})
        _user, answer = await manager.start(project.id, 'hi')
        assert answer.provider == 'openai' and answer.model == 'gpt-4.1'
        session = manager.session(answer.id)
        assert session is not None and session.task is not None
        await asyncio.wait_for(session.task, 10)
        body = server.chat_requests[-1].body
        assert (body['model'], body['temperature'], body['max_completion_tokens']) == ('gpt-4.1', 0.25, 77)
        # Asking for another provider explicitly wins; the preferred model does not follow it there.
        _user, other = await manager.start(project.id, 'hi', provider='demo')
        assert other.provider == 'demo' and other.model == 'scribe-demo'
        await openai.aclose()
