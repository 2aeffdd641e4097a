"""Anthropic failures through the real anthropic SDK and the stream manager: retries (429, 529), fallback to
OpenAI, and continuations by prefill or, for models that refuse one, by an explicit request. The stored answer
always equals the served text exactly, or ends in `error` with an exact prefix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.event_bus import InProcessEventBus
from services.providers.anthropic import AnthropicProvider
from services.providers.base import CONTINUE_PROMPT, Provider
from services.providers.openai import OpenAIProvider
from services.retry import RetryPolicy
from services.storage import Storage
from services.stream_manager import StreamManager
from tests.fakes import anthropic_server as ant
from tests.fakes import provider_server as oai

SERVED = (
    'Sure.\n\n```rust\nfn main() {\n    println!("héllo 👩‍💻");  \n}\n```\n\nRun it with `cargo run`. '
    'It prints a greeting.\n'
) * 3
OLD_MODEL = 'claude-3-5-sonnet-20241022'  # accepts a prefill
NEW_MODEL = 'claude-sonnet-5-5'  # refuses one
FAST = RetryPolicy(base_delay=0.01, max_delay=0.05)


def content_of(message: dict[str, Any]) -> str:
    content = message['content']
    return content if isinstance(content, str) else ''.join(part.get('text', '') for part in content)


def model_like(body: dict[str, Any]) -> str:
    """Answer as a model would: the whole text; after a prefill, what follows it; asked to continue, the rest."""
    messages = body['messages']
    last = content_of(messages[-1])
    if messages[-1]['role'] == 'assistant':
        assert SERVED.startswith(last)
        return SERVED[len(last):]
    if last == CONTINUE_PROMPT:
        return SERVED[len(content_of(messages[-2])):]
    return SERVED


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    async with Storage(f'sqlite:///{tmp_path / "scribe.db"}') as s:
        yield s


async def run(storage: Storage, providers: dict[str, Provider], model: str) -> tuple[Any, list[str]]:
    manager = StreamManager(storage, InProcessEventBus(), providers, default_provider=next(iter(providers)),
                            default_model=model, retry_policy=FAST)
    project = await storage.create_project('p')
    _user, message = await manager.start(project.id, 'rust hello')
    session = manager.session(message.id)
    assert session is not None and session.task is not None
    await asyncio.wait_for(session.task, 30)
    for provider in providers.values():
        await provider.aclose()
    stored = await storage.get_message(message.id)
    return stored, [e.event_type for e in await storage.list_events(message.id)]


def claude(server: ant.FakeAnthropicServer) -> AnthropicProvider:
    return AnthropicProvider(api_key=ant.DEFAULT_API_KEY, base_url=server.base_url)


@pytest.mark.parametrize('fault', [ant.Fault(status=429, retry_after='0'), ant.Fault(status=529),
                                   ant.Fault(status=500)])
async def test_anthropic_overload_and_rate_limits_are_retried(storage: Storage, fault: ant.Fault) -> None:
    async with ant.FakeAnthropicServer(ant.Script(text=SERVED, faults=[fault], seed=1)) as server:
        stored, events = await run(storage, {'anthropic': claude(server)}, OLD_MODEL)
        assert stored.content == SERVED and events.count('retry') == 1


@pytest.mark.parametrize('model', [OLD_MODEL, NEW_MODEL])
@pytest.mark.parametrize('fault', [
    ant.Fault(drop_after_chars=50),
    ant.Fault(no_message_stop=True),
    ant.Fault(inband_error_after_chars=90),
])
async def test_a_cut_claude_stream_is_continued_exactly(storage: Storage, model: str, fault: ant.Fault) -> None:
    async with ant.FakeAnthropicServer(ant.Script(text=model_like, faults=[fault, None], seed=2)) as server:
        stored, events = await run(storage, {'anthropic': claude(server)}, model)
        assert stored.content == SERVED and stored.streaming_status == 'completed'
        assert 'continue' in events
        continued = server.requests[-1].body['messages']
        if model == OLD_MODEL:  # a prefill, its trailing whitespace stripped as the API requires
            assert continued[-1]['role'] == 'assistant' and content_of(continued[-1]) == content_of(
                continued[-1]).rstrip()
        else:
            assert content_of(continued[-1]) == CONTINUE_PROMPT


async def test_a_model_that_rejects_the_prefill_is_continued_by_request(storage: Storage) -> None:
    script = ant.Script(text=model_like, faults=[ant.Fault(drop_after_chars=60), None, None], reject_prefill=True)
    async with ant.FakeAnthropicServer(script) as server:
        stored, _events = await run(storage, {'anthropic': claude(server)}, OLD_MODEL)
        assert stored.content == SERVED
        bodies = [r.body for r in server.requests if r.path.endswith('/messages')]
        assert bodies[1]['messages'][-1]['role'] == 'assistant'  # tried the prefill, refused with a 400
        assert content_of(bodies[2]['messages'][-1]) == CONTINUE_PROMPT


async def test_anthropic_down_falls_back_to_openai(storage: Storage) -> None:
    async with ant.FakeAnthropicServer(ant.Script(text='x', fail_times=99, fail_status=529)) as down, \
            oai.FakeOpenAIServer(oai.Script(text=SERVED, seed=3)) as up:
        providers: dict[str, Provider] = {
            'anthropic': claude(down),
            'openai': OpenAIProvider(api_key=oai.DEFAULT_API_KEY, base_url=up.base_url)}
        stored, events = await run(storage, providers, OLD_MODEL)
        assert stored.content == SERVED and 'fallback' in events
        assert stored.stream_metadata['provider'] == 'openai'
        assert 'switched to openai' in stored.stream_metadata['switched']


async def test_a_bad_key_is_an_error_without_retries(storage: Storage) -> None:
    async with ant.FakeAnthropicServer(ant.Script(text=SERVED)) as server:
        provider = AnthropicProvider(api_key='sk-ant-wrong', base_url=server.base_url)
        stored, events = await run(storage, {'anthropic': provider}, OLD_MODEL)
        assert stored.streaming_status == 'error' and 'ANTHROPIC_API_KEY' in (stored.error or '')
        assert 'retry' not in events
