"""The whole server side of a stream: the real openai SDK against the wire-faithful server, through the stream
manager, renderer, event bus and storage. What is stored must equal what was served, byte for byte."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path

import pytest

from services.event_bus import InProcessEventBus
from services.parser import parse
from services.providers.demo import DemoProvider, demo_answer
from services.providers.openai import OpenAIProvider
from services.storage import Storage
from services.stream_manager import StreamManager
from tests.fakes.provider_server import DEFAULT_API_KEY, FakeOpenAIServer, Script

TRICKY = (
    'Here is 👩‍💻 with e\u0301, 🇯🇵, 漢字, مرحبا and a line\u2028separator.\r\n'
    'Prose with <script>alert(1)</script> and [a link](javascript:alert(1)).\n\n'
    '```python\n'
    'fence = "```"  # three backticks inside a string\n'
    'print("<script>alert(1)</script>", "👩‍💻", "e\u0301")\r\n'
    '```\n'
    'Done.\n'
)


async def run_to_end(manager: StreamManager, project_id: str, prompt: str, **kw: str) -> str:
    _user, answer = await manager.start(project_id, prompt, **kw)
    session = manager.session(answer.id)
    assert session is not None and session.task is not None
    await asyncio.wait_for(session.task, 30)
    return answer.id


@pytest.fixture
async def storage(tmp_path: Path):
    async with Storage(f'sqlite:///{tmp_path / "scribe.db"}') as s:
        yield s


@pytest.mark.parametrize('seed', [1, 2, 3])
async def test_openai_stream_is_stored_exactly(storage: Storage, seed: int) -> None:
    script = Script(text=TRICKY, seed=seed, chunk_chars=(1, 5))
    async with FakeOpenAIServer(script) as server:
        provider = OpenAIProvider(api_key=DEFAULT_API_KEY, base_url=server.base_url)
        bus = InProcessEventBus()
        manager = StreamManager(storage, bus, {'openai': provider}, default_provider='openai',
                                default_model='gpt-4o-mini', checkpoint_interval=0.0)
        project = await storage.create_project('p')
        message_id = await run_to_end(manager, project.id, 'tricky please')
        stored = await storage.get_message(message_id)
        assert stored is not None
        assert stored.content == TRICKY
        assert stored.partial_content == TRICKY
        assert stored.streaming_status == 'completed'
        meta = stored.stream_metadata
        assert meta['characters'] == len(TRICKY) and meta['provider'] == 'openai' and meta['model'] == 'gpt-4o-mini'
        assert meta['time_to_first_char'] >= 0 and meta['end_time'] >= meta['start_time']
        kinds = [e.event_type for e in await storage.list_events(message_id)]
        assert kinds[0] == 'start' and kinds[-1] == 'complete' and 'checkpoint' in kinds
        assert server.chat_requests[-1].body['model'] == 'gpt-4o-mini'
        await provider.aclose()


async def test_history_is_sent_to_the_provider(storage: Storage) -> None:
    async with FakeOpenAIServer(Script(text='answer one\n')) as server:
        provider = OpenAIProvider(api_key=DEFAULT_API_KEY, base_url=server.base_url)
        manager = StreamManager(storage, InProcessEventBus(), {'openai': provider}, default_provider='openai')
        project = await storage.create_project('p')
        await run_to_end(manager, project.id, 'first question')
        await run_to_end(manager, project.id, 'second question', model='my-local-model')
        body = server.chat_requests[-1].body
        assert body['model'] == 'my-local-model'
        assert [(m['role'], m['content']) for m in body['messages']] == [
            ('user', 'first question'), ('assistant', 'answer one\n'), ('user', 'second question')]
        await provider.aclose()


async def test_provider_failure_is_stored_as_error_with_partial(storage: Storage) -> None:
    async with FakeOpenAIServer(Script(text=TRICKY, drop_after_chars=40, seed=5)) as server:
        provider = OpenAIProvider(api_key=DEFAULT_API_KEY, base_url=server.base_url)
        manager = StreamManager(storage, InProcessEventBus(), {'openai': provider}, default_provider='openai')
        project = await storage.create_project('p')
        message_id = await run_to_end(manager, project.id, 'x')
        stored = await storage.get_message(message_id)
        assert stored is not None and stored.streaming_status == 'error'
        assert TRICKY.startswith(stored.content) and stored.error
        assert [e.event_type for e in await storage.list_events(message_id)][-1] == 'error'
        await provider.aclose()


async def test_subscriber_rebuilds_the_answer_from_snapshot_and_live_events(storage: Storage) -> None:
    """A page that joins mid-stream (snapshot at N, then events after N) ends with every block complete."""
    prompt = 'python sorting please'
    manager = StreamManager(storage, InProcessEventBus(), {'demo': DemoProvider(speed=20_000)})
    project = await storage.create_project('p')
    _user, answer = await manager.start(project.id, prompt)
    await asyncio.sleep(0.3)
    attachment = manager.attach(answer.id)
    assert attachment is not None and attachment.position > 0
    ops = list(attachment.ops)
    statuses = []
    async for batch in attachment.subscription:
        for event in batch:
            ops.extend(event.payload.get('ops', []))
            if 'status' in event.payload:
                statuses.append(event.payload['status'])
    assert statuses[-1] == 'completed'
    code_lines: dict[int, list[str]] = {}
    for op in ops:
        if op[0] == 'L':
            lines = code_lines.setdefault(op[1], [])
            lines[op[2]:op[2] + len(op[3])] = op[3]
    blocks = parse(demo_answer(prompt))
    assert {i: plain(''.join(lines)) for i, lines in code_lines.items()} == {
        b.index: b.text for b in blocks if b.kind == 'code'}
    assert {op[1] for op in ops if op[0] == 'X'} == {b.index for b in blocks}
    stored = await storage.get_message(answer.id)
    assert stored is not None and stored.content == demo_answer(prompt)


def plain(html_text: str) -> str:
    return html.unescape(re.sub(r'<[^>]+>', '', html_text))


async def test_stop_keeps_the_partial_as_interrupted(storage: Storage) -> None:
    manager = StreamManager(storage, InProcessEventBus(), {'demo': DemoProvider(speed=300)})
    project = await storage.create_project('p')
    _user, answer = await manager.start(project.id, 'a long python module')
    await asyncio.sleep(0.8)
    assert await manager.stop(answer.id)
    stored = await storage.get_message(answer.id)
    assert stored is not None and stored.streaming_status == 'interrupted'
    assert stored.content and demo_answer('a long python module').startswith(stored.content)
    assert [e.event_type for e in await storage.list_events(answer.id)][-1] == 'interrupt'


async def test_invalid_prompts_store_nothing(storage: Storage) -> None:
    from services.errors import InvalidRequest, NotFound

    manager = StreamManager(storage, InProcessEventBus(), {'demo': DemoProvider(speed=1000)})
    project = await storage.create_project('p')
    with pytest.raises(InvalidRequest, match='empty'):
        await manager.start(project.id, '  \n ')
    with pytest.raises(InvalidRequest, match='limit'):
        await manager.start(project.id, 'x' * 100_001)
    with pytest.raises(InvalidRequest, match='Unknown provider'):
        await manager.start(project.id, 'hi', provider='nope')
    with pytest.raises(NotFound):
        await manager.start('missing', 'hi')
    with pytest.raises(NotFound):
        await manager.start(project.id, 'hi', owner='someone-else')
    assert await storage.list_messages(project.id) == []


async def test_answers_over_the_concurrency_limit_wait_in_a_visible_queue(storage: Storage) -> None:
    bus = InProcessEventBus()
    manager = StreamManager(storage, bus, {'demo': DemoProvider(speed=5_000)}, max_concurrent=1)
    project = await storage.create_project('p')
    _u1, first = await manager.start(project.id, 'python sorting')
    _u2, second = await manager.start(project.id, 'rust cli')
    sub = bus.subscribe(second.id, 0)
    notices: list[str] = []
    statuses: list[str] = []
    async for batch in sub:
        for event in batch:
            if 'notice' in event.payload:
                notices.append(event.payload['notice'])
            if 'status' in event.payload:
                statuses.append(event.payload['status'])
    assert any(n.startswith('queued: 1 of your answers is ahead') for n in notices)
    assert statuses[-1] == 'completed'
    for message_id, prompt in ((first.id, 'python sorting'), (second.id, 'rust cli')):
        stored = await storage.get_message(message_id)
        assert stored is not None and stored.content == demo_answer(prompt)


async def test_requests_over_the_per_minute_limit_are_refused_clearly(storage: Storage) -> None:
    from services.errors import InvalidRequest

    manager = StreamManager(storage, InProcessEventBus(), {'demo': DemoProvider(speed=0)}, requests_per_minute=2)
    project = await storage.create_project('p')
    await manager.start(project.id, 'one')
    await manager.start(project.id, 'two')
    with pytest.raises(InvalidRequest, match='limit is 2: try again in'):
        await manager.start(project.id, 'three')
    assert len(await storage.list_messages(project.id)) == 4  # nothing half-stored for the refused one
    await manager.shutdown()


async def test_a_missing_key_is_refused_at_the_prompt_and_nothing_is_stored(
        storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.errors import ProviderAuthError

    monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    manager = StreamManager(storage, InProcessEventBus(), {'openai': OpenAIProvider()}, default_provider='openai')
    project = await storage.create_project('p')
    with pytest.raises(ProviderAuthError, match='OPENAI_API_KEY'):
        await manager.start(project.id, 'hello')
    assert await storage.list_messages(project.id) == []
