"""Provider failures through the real openai SDK and the stream manager: the stored answer always equals the served
text exactly, or the message is in `error` with an exact prefix and an explanation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.event_bus import InProcessEventBus
from services.providers.base import CONTINUE_PROMPT
from services.providers.openai import OpenAIProvider
from services.retry import RetryPolicy
from services.storage import Storage
from services.stream_manager import StreamManager
from tests.fakes.provider_server import DEFAULT_API_KEY, FakeOpenAIServer, Fault, Script

SERVED = (
    'Here is a tiny module:\n\n```python\ndef greet(name: str) -> str:\n    """Say hello."""\n'
    '    return f"Hello, {name} 👩‍💻"\n```\n\nCall `greet("e\u0301")` to see it work.\n'
) * 3
FAST = RetryPolicy(base_delay=0.01, max_delay=0.05, continuations=3)


def continuing(overlap: int = 0) -> Any:
    """Answer like a model: the whole text, or, asked to continue, the rest (repeating ``overlap`` characters)."""

    def text(body: dict[str, Any]) -> str:
        messages = body['messages']
        if messages[-1]['content'] == CONTINUE_PROMPT:
            partial = messages[-2]['content']
            assert SERVED.startswith(partial)
            return SERVED[max(0, len(partial) - overlap):]
        return SERVED

    return text


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    async with Storage(f'sqlite:///{tmp_path / "scribe.db"}') as s:
        yield s


async def answer(storage: Storage, providers: dict[str, OpenAIProvider], prompt: str = 'go') -> tuple[Any, list[str]]:
    manager = StreamManager(storage, InProcessEventBus(), providers, default_provider=next(iter(providers)),
                            retry_policy=FAST)
    project = await storage.create_project('p')
    _user, message = await manager.start(project.id, prompt)
    session = manager.session(message.id)
    assert session is not None and session.task is not None
    await asyncio.wait_for(session.task, 30)
    stored = await storage.get_message(message.id)
    events = [e.event_type for e in await storage.list_events(message.id)]
    for provider in providers.values():
        await provider.aclose()
    return stored, events


def openai(server: FakeOpenAIServer) -> OpenAIProvider:
    return OpenAIProvider(api_key=DEFAULT_API_KEY, base_url=server.base_url)


@pytest.mark.parametrize('fault', [
    Fault(status=429, retry_after='0'),
    Fault(status=429, retry_after_ms='10'),
    Fault(status=500),
    Fault(status=503),
])
async def test_failures_before_the_first_character_are_retried(storage: Storage, fault: Fault) -> None:
    async with FakeOpenAIServer(Script(text=SERVED, faults=[fault, fault], seed=1)) as server:
        stored, events = await answer(storage, {'openai': openai(server)})
        assert stored.content == SERVED and stored.streaming_status == 'completed'
        assert events.count('retry') == 2 and stored.stream_metadata['retries'] == 2
        assert len(server.chat_requests) == 3  # the SDK itself did not retry


async def test_retries_exhausted_fall_back_to_the_next_provider(storage: Storage) -> None:
    async with FakeOpenAIServer(Script(text='never', fail_times=99, fail_status=500)) as bad, \
            FakeOpenAIServer(Script(text=SERVED, seed=2)) as good:
        stored, events = await answer(storage, {'openai': openai(bad), 'backup': openai(good)})
        assert stored.content == SERVED and stored.streaming_status == 'completed'
        assert events.count('retry') == FAST.retries and 'fallback' in events
        assert 'switched to' in stored.stream_metadata['switched']
        assert len(bad.chat_requests) == FAST.retries + 1


@pytest.mark.parametrize(('status', 'code', 'words'), [
    (401, None, 'API key'),
    (400, None, ''),
    (429, 'insufficient_quota', ''),
])
async def test_errors_that_retrying_cannot_fix_end_in_error_at_once(storage: Storage, status: int, code: str | None,
                                                                    words: str) -> None:
    async with FakeOpenAIServer(Script(text=SERVED, faults=[Fault(status=status, code=code)])) as server:
        stored, events = await answer(storage, {'openai': openai(server)})
        assert stored.streaming_status == 'error' and stored.content == ''
        assert stored.error and words in stored.error
        assert 'retry' not in events and events[-1] == 'error'
        assert len(server.chat_requests) == 1


@pytest.mark.parametrize('fault', [
    Fault(drop_after_chars=70),
    Fault(no_terminal=True, drop_after_chars=None),
    Fault(inband_error_after_chars=120),
])
@pytest.mark.parametrize('overlap', [0, 17])
async def test_a_stream_cut_after_text_was_shown_is_continued_exactly(storage: Storage, fault: Fault,
                                                                      overlap: int) -> None:
    if fault.no_terminal:
        fault = Fault(no_terminal=True)
    async with FakeOpenAIServer(Script(text=continuing(overlap), faults=[fault, None], seed=3)) as server:
        stored, events = await answer(storage, {'openai': openai(server)})
        assert stored.content == SERVED and stored.streaming_status == 'completed'
        assert 'continue' in events
        continued = server.chat_requests[-1].body['messages']
        assert continued[-1]['content'] == CONTINUE_PROMPT and SERVED.startswith(continued[-2]['content'])


async def test_a_stream_that_keeps_failing_ends_in_error_with_an_exact_prefix(storage: Storage) -> None:
    async with FakeOpenAIServer(Script(text=continuing(), drop_after_chars=40, seed=4)) as server:
        stored, events = await answer(storage, {'openai': openai(server)})
        assert stored.streaming_status == 'error' and stored.error
        assert stored.content and SERVED.startswith(stored.content) and len(stored.content) < len(SERVED)
        assert events.count('continue') == FAST.continuations and events[-1] == 'error'
        assert len(server.chat_requests) == FAST.continuations + 1


async def test_stop_closes_the_provider_connection_at_once(storage: Storage) -> None:
    async with FakeOpenAIServer(Script(text=SERVED * 20, chars_per_second=200)) as server:
        provider = openai(server)
        manager = StreamManager(storage, InProcessEventBus(), {'openai': provider}, default_provider='openai')
        project = await storage.create_project('p')
        _user, message = await manager.start(project.id, 'go')
        session = manager.session(message.id)
        assert session is not None
        while session.length < 20:
            await asyncio.sleep(0.02)
        clicked = time.monotonic()
        assert await manager.stop(message.id)
        assert await server.wait_for(lambda: server.chat_requests[-1].client_closed_at is not None, timeout=2)
        closed_at = server.chat_requests[-1].client_closed_at
        assert closed_at is not None and closed_at - clicked < 1.0
        stored = await storage.get_message(message.id)
        assert stored is not None and stored.streaming_status == 'interrupted'
        assert (SERVED * 20).startswith(stored.content)
        await provider.aclose()


async def test_the_watchdog_ends_a_silent_provider_and_the_answer_is_continued(storage: Storage) -> None:
    """A stall shorter than the SDK's read timeout but longer than Scribe's own limit is caught by the watchdog."""
    script = Script(text=continuing(), faults=[Fault(stall_after_chars=30, stall_seconds=30), None], seed=6)
    async with FakeOpenAIServer(script) as server:
        provider = openai(server)
        manager = StreamManager(storage, InProcessEventBus(), {'openai': provider}, default_provider='openai',
                                retry_policy=FAST, stall_timeout=0.5)
        project = await storage.create_project('p')
        _user, message = await manager.start(project.id, 'go')
        session = manager.session(message.id)
        assert session is not None and session.task is not None
        await asyncio.wait_for(session.task, 20)
        stored = await storage.get_message(message.id)
        assert stored is not None and stored.content == SERVED and stored.streaming_status == 'completed'
        events = await storage.list_events(message.id)
        assert any(e.event_type == 'continue' and 'sent nothing for' in (e.data or '') for e in events)
        await provider.aclose()
