"""Storage against SQLite and PostgreSQL: schema, ownership, ordering, exact text, checkpoints and recovery."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import SQLModel

from models import alembic_config, default_database_url, make_engine
from services.errors import NotFound
from services.storage import Checkpoint, EventRecord, Storage, clean_text

TRICKY = (
    'naïve 👩‍💻 code\r\nline\u2028sep\u2029para\ttab\x01 \\n "quotes" \'single\' ` ``` %s %% ${x} '
    '— 中文 \U0001f600 e\u0301 \ufeff\n'
)


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    async with Storage(database_url) as started:
        yield started


async def test_start_is_idempotent_and_schema_matches_models(database_url: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # migrations are found relative to the package, not the current directory
    first = Storage(database_url)
    await first.start()
    await first.start()
    project = await first.create_project('kept')
    await first.close()
    await first.close()

    async with Storage(database_url) as second:  # a restart: migrating a current database is a no-op
        assert [p.id for p in await second.list_projects()] == [project.id]

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            assert connection.execute(text('SELECT version_num FROM alembic_version')).scalars().all() == [head]
            context = MigrationContext.configure(connection, opts={'compare_type': True})
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        engine.dispose()


async def test_concurrent_first_starts_migrate_once(database_url: str) -> None:
    a, b = Storage(database_url), Storage(database_url)
    try:
        await asyncio.gather(a.start(), b.start())
        created = await a.create_project('p')
        assert await b.get_project(created.id) == created
    finally:
        await a.close()
        await b.close()


async def test_default_database_url_creates_its_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = default_database_url(Path('nested') / 'dir')
    assert url == f'sqlite:///{(tmp_path / "nested" / "dir" / "scribe.db").resolve().as_posix()}'
    async with Storage(url) as storage:
        await storage.create_project('x')
    assert (tmp_path / 'nested' / 'dir' / 'scribe.db').is_file()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql('PRAGMA journal_mode').scalar() == 'wal'
            assert connection.exec_driver_sql('PRAGMA foreign_keys').scalar() == 1
    finally:
        engine.dispose()


async def test_not_started_raises() -> None:
    storage = Storage('sqlite://')
    with pytest.raises(RuntimeError, match='not started'):
        await storage.list_projects()
    await storage.close()


async def test_projects_belong_to_their_owner(storage: Storage) -> None:
    mine = await storage.create_project('  Mine  ')
    assert mine.title == 'Mine'
    assert mine.owner == 'local'
    theirs = await storage.create_project('Theirs', owner='alice')
    assert mine.id != theirs.id
    assert all(c.isalnum() or c in '-_' for c in mine.id)
    assert mine.created_at.tzinfo is not None and mine.created_at.utcoffset() == timedelta(0)

    assert await storage.get_project(mine.id) == mine
    assert await storage.get_project(theirs.id) is None
    assert await storage.get_project(mine.id, owner='alice') is None
    assert await storage.get_project('missing') is None
    assert [p.id for p in await storage.list_projects()] == [mine.id]
    assert [p.id for p in await storage.list_projects('alice')] == [theirs.id]
    assert await storage.list_projects('bob') == []

    assert await storage.rename_project(theirs.id, 'hijacked') is None
    assert await storage.delete_project(theirs.id) is False
    with pytest.raises(NotFound):
        await storage.add_message(theirs.id, 'user', 'hi')
    await storage.add_message(theirs.id, 'user', 'hi', owner='alice')
    assert await storage.list_messages(theirs.id) == []
    [message] = await storage.list_messages(theirs.id, owner='alice')
    assert await storage.get_message(message.id) is None
    assert await storage.get_message(message.id, owner='alice') == message
    assert await storage.list_events(message.id) == []

    with pytest.raises(ValueError, match='title'):
        await storage.create_project('   ')
    with pytest.raises(ValueError, match='owner'):
        await storage.create_project('x', owner='')


async def test_newest_updated_first_and_touching(storage: Storage) -> None:
    first = await storage.create_project('first')
    second = await storage.create_project('second')
    third = await storage.create_project('third')
    assert [p.title for p in await storage.list_projects()] == ['third', 'second', 'first']

    message = await storage.add_message(first.id, 'assistant', '', status='pending')
    assert [p.title for p in await storage.list_projects()] == ['first', 'third', 'second']
    renamed = await storage.rename_project(second.id, 'second, renamed')
    assert renamed is not None and renamed.title == 'second, renamed'
    assert renamed.updated_at > renamed.created_at
    assert [p.id for p in await storage.list_projects()] == [second.id, first.id, third.id]
    await storage.checkpoint(message.id, 'abc', {})
    assert [p.id for p in await storage.list_projects()] == [first.id, second.id, third.id]


async def test_delete_project_removes_messages_and_events(storage: Storage) -> None:
    project = await storage.create_project('doomed')
    other = await storage.create_project('survivor')
    prompt = await storage.add_message(project.id, 'user', 'q')
    answer = await storage.add_message(project.id, 'assistant', '', status='pending', reply_to=prompt.id)
    await storage.finish(answer.id, status='completed', content='a', metadata={}, error=None,
                         events=[EventRecord('start', 0), EventRecord('complete', 1)])
    kept = await storage.add_message(other.id, 'user', 'stay')

    assert await storage.delete_project(project.id) is True
    assert await storage.get_project(project.id) is None
    assert await storage.get_message(answer.id) is None
    assert await storage.list_events(answer.id) == []
    assert await storage.get_message(kept.id) == kept
    assert await storage.delete_project(project.id) is False
    with pytest.raises(NotFound):
        await storage.checkpoint(answer.id, 'late', {})


async def test_messages_ordered_by_seq(storage: Storage) -> None:
    project = await storage.create_project('chat')
    other = await storage.create_project('other')
    system = await storage.add_message(project.id, 'system', 'be brief')
    prompt = await storage.add_message(project.id, 'user', 'hello')
    await storage.add_message(other.id, 'user', 'elsewhere')
    answer = await storage.add_message(project.id, 'assistant', '', status='pending', reply_to=prompt.id,
                                       provider='demo', model='demo-1')
    retry = await storage.add_message(project.id, 'assistant', '', status='pending', reply_to=prompt.id)

    messages = await storage.list_messages(project.id)
    assert [m.id for m in messages] == [system.id, prompt.id, answer.id, retry.id]
    assert [m.seq for m in messages] == [1, 2, 3, 4]
    assert [m.role for m in messages] == ['system', 'user', 'assistant', 'assistant']
    assert (await storage.list_messages(other.id))[0].seq == 1
    assert prompt.streaming_status == 'completed' and prompt.partial_content == prompt.content == 'hello'
    assert answer.streaming_status == 'pending' and answer.reply_to == prompt.id
    assert (answer.provider, answer.model) == ('demo', 'demo-1')
    assert await storage.get_message(answer.id) == answer

    with pytest.raises(ValueError, match='reply_to'):
        await storage.add_message(project.id, 'assistant', '', reply_to='nope')
    with pytest.raises(ValueError, match='reply_to'):
        await storage.add_message(other.id, 'assistant', '', reply_to=prompt.id)
    with pytest.raises(NotFound):
        await storage.add_message('missing', 'user', 'x')


async def test_checkpoints_of_many_answers_land_together_and_a_missing_one_spoils_none(storage: Storage) -> None:
    project = await storage.create_project('many')
    prompt = await storage.add_message(project.id, 'user', 'q')
    answers = [await storage.add_message(project.id, 'assistant', '', status='pending', reply_to=prompt.id)
               for _ in range(3)]
    missing = await storage.checkpoint_many([
        Checkpoint(answers[0].id, TRICKY, {'characters': len(TRICKY)}, [EventRecord('checkpoint', len(TRICKY))]),
        Checkpoint('gone', 'lost', {}, [EventRecord('checkpoint', 4)]),
        Checkpoint(answers[2].id, 'two', {'characters': 3}),
    ])
    assert missing == ['gone']
    first, second, third = [await storage.get_message(a.id) for a in answers]
    assert first is not None and first.partial_content == TRICKY and first.streaming_status == 'streaming'
    assert second is not None and second.partial_content == '' and second.streaming_status == 'pending'
    assert third is not None and third.partial_content == 'two' and third.stream_metadata == {'characters': 3}
    assert [(e.event_type, e.position) for e in await storage.list_events(answers[0].id)] == [
        ('checkpoint', len(TRICKY))]
    assert await storage.checkpoint_many([]) == []
    with pytest.raises(NotFound):
        await storage.checkpoint('gone', 'x', {})


async def test_checkpoint_finish_and_events_keep_text_exact(storage: Storage) -> None:
    project = await storage.create_project('stream')
    prompt = await storage.add_message(project.id, 'user', TRICKY)
    assert prompt.content == TRICKY
    assert [m.content for m in await storage.list_messages(project.id)] == [TRICKY]
    answer = await storage.add_message(project.id, 'assistant', '', status='pending', reply_to=prompt.id)

    start = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    half = TRICKY[:20]
    await storage.checkpoint(
        answer.id, half, {'start_time': 1.5, 'characters': len(half), 'provider': 'demo'},
        [EventRecord('start', 0, timestamp=start, metadata={'provider': 'demo', 'model': 'm'}),
         EventRecord('checkpoint', len(half))],
    )
    message = await storage.get_message(answer.id)
    assert message is not None
    assert message.streaming_status == 'streaming'
    assert message.partial_content == half
    assert message.content == ''
    assert message.stream_metadata == {'start_time': 1.5, 'characters': 20, 'provider': 'demo'}

    full = TRICKY * 3
    await storage.checkpoint(answer.id, full[:50], {'characters': 50}, [])
    await storage.finish(
        answer.id, status='completed', content=full, metadata={'characters': len(full), 'end_time': 9.25},
        error=None, events=[EventRecord('fallback', 30, data='demo → other'), EventRecord('complete', len(full))],
    )
    message = await storage.get_message(answer.id)
    assert message is not None
    assert message.streaming_status == 'completed'
    assert message.content == message.partial_content == full
    assert message.stream_metadata == {'characters': len(full), 'end_time': 9.25}
    assert message.error is None

    events = await storage.list_events(answer.id)
    assert [(e.event_type, e.position, e.data) for e in events] == [
        ('start', 0, None), ('checkpoint', 20, None), ('fallback', 30, 'demo → other'), ('complete', len(full), None),
    ]
    assert events[0].timestamp == start
    assert events[0].metadata == {'provider': 'demo', 'model': 'm'}
    assert all(e.timestamp.tzinfo is not None for e in events)
    ids = [e.id or 0 for e in events]
    assert all(ids) and ids == sorted(ids)

    failed = await storage.add_message(project.id, 'assistant', '', status='streaming', reply_to=prompt.id)
    await storage.finish(failed.id, status='error', content='part', metadata={},
                         error='The provider stopped answering.', events=[EventRecord('error', 4)])
    message = await storage.get_message(failed.id)
    assert message is not None
    assert (message.streaming_status, message.content) == ('error', 'part')
    assert message.error == 'The provider stopped answering.'


async def test_nul_and_lone_surrogates_become_replacement_characters(storage: Storage) -> None:
    assert clean_text('a\x00b\ud800c') == 'a\ufffdb\ufffdc'
    assert clean_text(TRICKY) == TRICKY
    project = await storage.create_project('nul\x00title')
    assert project.title == 'nul\ufffdtitle'
    message = await storage.add_message(project.id, 'assistant', '', status='pending')
    dirty = 'before\x00after \udc80!'
    await storage.checkpoint(message.id, dirty, {'k\x00': ['v\x00', {'x': '\x00'}]},
                             [EventRecord('checkpoint', len(dirty), data='\x00', metadata={'n': '\x00'})])
    stored = await storage.get_message(message.id)
    assert stored is not None
    assert stored.partial_content == 'before\ufffdafter \ufffd!'
    assert len(stored.partial_content) == len(dirty)  # offsets stay valid
    assert stored.stream_metadata == {'k\ufffd': ['v\ufffd', {'x': '\ufffd'}]}
    [event] = await storage.list_events(message.id)
    assert (event.data, event.metadata) == ('\ufffd', {'n': '\ufffd'})
    await storage.finish(message.id, status='completed', content=dirty, metadata={}, error='bad\x00', events=[])
    stored = await storage.get_message(message.id)
    assert stored is not None
    assert stored.content == stored.partial_content == 'before\ufffdafter \ufffd!'
    assert stored.error == 'bad\ufffd'


async def test_json_metadata_roundtrip(storage: Storage) -> None:
    project = await storage.create_project('json')
    metadata = {
        'start_time': 1732520000.123456,
        'time_to_first_char': 0.25,
        'characters': 123456789012,
        'retries': 0,
        'provider': 'anthropic',
        'model': 'claude-x',
        'interrupted_at': None,
        'flags': [True, False, None, 1, 2.5, 'три', '👩‍💻'],
        'nested': {'deep': {'deeper': ['\u2028', '\r\n', '"', '\\']}},
        'ключ 🔑': 'значение',
    }
    message = await storage.add_message(project.id, 'assistant', '', status='pending', metadata=metadata)
    assert message.stream_metadata == metadata
    await storage.checkpoint(message.id, 'x', metadata, [EventRecord('retry', 0, metadata=metadata)])
    stored = await storage.get_message(message.id)
    assert stored is not None and stored.stream_metadata == metadata
    assert (await storage.list_events(message.id))[0].metadata == metadata

    with pytest.raises(ValueError, match='JSON'):
        await storage.checkpoint(message.id, 'x', {'bad': math.nan})
    with pytest.raises(ValueError, match='JSON'):
        await storage.checkpoint(message.id, 'x', {'bad': object()})
    with pytest.raises(ValueError, match='JSON'):
        await storage.checkpoint(message.id, 'x', {}, [EventRecord('retry', 0, metadata={'when': datetime.now(UTC)})])


async def test_invalid_values_raise_value_error(storage: Storage) -> None:
    project = await storage.create_project('validation')
    message = await storage.add_message(project.id, 'assistant', '', status='pending')
    with pytest.raises(ValueError, match="invalid role 'robot'"):
        await storage.add_message(project.id, 'robot', 'x')
    with pytest.raises(ValueError, match="invalid streaming status 'done'"):
        await storage.add_message(project.id, 'user', 'x', status='done')
    with pytest.raises(ValueError, match="invalid final status 'streaming'"):
        await storage.finish(message.id, status='streaming', content='', metadata={}, error=None, events=[])
    with pytest.raises(ValueError, match="invalid event type 'character'"):
        await storage.checkpoint(message.id, 'x', {}, [EventRecord('character', 0)])
    with pytest.raises(ValueError, match='position'):
        await storage.checkpoint(message.id, 'x', {}, [EventRecord('checkpoint', -1)])
    with pytest.raises(ValueError, match='timezone-aware'):
        await storage.checkpoint(message.id, 'x', {}, [EventRecord('checkpoint', 0, timestamp=datetime(2025, 1, 1))])
    with pytest.raises(ValueError, match='model'):
        await storage.add_message(project.id, 'assistant', '', model='m' * 1000)
    with pytest.raises(NotFound):
        await storage.finish('missing', status='completed', content='', metadata={}, error=None, events=[])
    # Nothing of the rejected writes was stored.
    stored = await storage.get_message(message.id)
    assert stored == message
    assert await storage.list_events(message.id) == []
    assert len(await storage.list_messages(project.id)) == 1


async def test_interrupt_orphans(database_url: str) -> None:
    async with Storage(database_url) as before_crash:
        project = await before_crash.create_project('crash')
        prompt = await before_crash.add_message(project.id, 'user', 'q')
        streaming = await before_crash.add_message(project.id, 'assistant', '', status='pending', reply_to=prompt.id)
        await before_crash.checkpoint(streaming.id, 'half an 👩‍💻 answer', {'provider': 'demo'},
                                      [EventRecord('start', 0)])
        pending = await before_crash.add_message(project.id, 'assistant', '', status='pending', reply_to=prompt.id)
        done = await before_crash.add_message(project.id, 'assistant', 'whole', reply_to=prompt.id)

    async with Storage(database_url) as after_restart:
        assert await after_restart.interrupt_orphans(stale_after=timedelta(hours=1)) == []
        assert sorted(await after_restart.interrupt_orphans()) == sorted([streaming.id, pending.id])
        assert await after_restart.interrupt_orphans() == []

        message = await after_restart.get_message(streaming.id)
        assert message is not None
        assert message.streaming_status == 'interrupted'
        assert message.content == message.partial_content == 'half an 👩‍💻 answer'
        assert message.stream_metadata['provider'] == 'demo'
        assert message.stream_metadata['interrupt_reason'] == 'server restarted'
        assert message.stream_metadata['interrupted_at'] == len('half an 👩‍💻 answer')
        assert datetime.fromisoformat(message.stream_metadata['end_time']).tzinfo is not None
        events = await after_restart.list_events(streaming.id)
        assert [(e.event_type, e.position) for e in events] == [('start', 0), ('interrupt', len('half an 👩‍💻 answer'))]
        assert events[-1].metadata == {'reason': 'server restarted'}

        message = await after_restart.get_message(pending.id)
        assert message is not None and (message.streaming_status, message.content) == ('interrupted', '')
        assert await after_restart.get_message(done.id) == done
        assert await after_restart.get_message(prompt.id) == prompt

        # Continue: an interrupted answer can stream again and finish.
        await after_restart.checkpoint(streaming.id, 'half an 👩‍💻 answer, continued', {},
                                       [EventRecord('continue', 17)])
        await after_restart.finish(streaming.id, status='completed', content='half an 👩‍💻 answer, continued.',
                                   metadata={}, error=None, events=[EventRecord('complete', 30)])
        message = await after_restart.get_message(streaming.id)
        assert message is not None and message.streaming_status == 'completed'


async def test_concurrent_writers_stay_consistent(storage: Storage) -> None:
    project = await storage.create_project('busy')
    prompts = await asyncio.gather(*(storage.add_message(project.id, 'user', f'q{i}') for i in range(10)))
    assert sorted(m.seq for m in prompts) == list(range(1, 11))
    answers = await asyncio.gather(
        *(storage.add_message(project.id, 'assistant', '', status='pending', reply_to=p.id) for p in prompts[:5])
    )

    async def stream(message_id: str, answer: str) -> None:
        for end in range(1, len(answer) + 1):
            await storage.checkpoint(message_id, answer[:end], {'characters': end},
                                     [EventRecord('checkpoint', end, data=answer[end - 1])])
            await asyncio.sleep(0)
        await storage.finish(message_id, status='completed', content=answer, metadata={'characters': len(answer)},
                             error=None, events=[EventRecord('complete', len(answer))])

    texts = {a.id: f'a{i} 👩‍💻\r\n' for i, a in enumerate(answers)}
    results = await asyncio.gather(*(stream(mid, answer) for mid, answer in texts.items()))
    assert results == [None] * len(texts)

    for message_id, answer in texts.items():
        message = await storage.get_message(message_id)
        assert message is not None
        assert (message.streaming_status, message.content, message.partial_content) == ('completed', answer, answer)
        events = await storage.list_events(message_id)
        assert [e.position for e in events] == [*range(1, len(answer) + 1), len(answer)]
        assert ''.join(e.data or '' for e in events) == answer

    # Requests for one message issued without awaiting in between are applied in the order they were made.
    target = answers[0].id
    await asyncio.gather(*(storage.checkpoint(target, 'x' * n, {'n': n}) for n in range(15)))
    message = await storage.get_message(target)
    assert message is not None and message.stream_metadata == {'n': 14} and message.partial_content == 'x' * 14
    assert [m.seq for m in await storage.list_messages(project.id)] == list(range(1, 16))


async def test_preferences_are_stored_per_owner_and_replaced_whole(storage: Storage) -> None:
    assert await storage.load_preferences('alice') == {}
    await storage.save_preferences('alice', {'theme': 'dark', 'temperature': 0.5, 'model': 'm\x00'})
    await storage.save_preferences('bob', {'line_numbers': True})
    assert await storage.load_preferences('alice') == {'theme': 'dark', 'temperature': 0.5, 'model': 'm\ufffd'}
    await storage.save_preferences('alice', {'cursor': False})
    assert await storage.load_preferences('alice') == {'cursor': False}
    assert await storage.load_preferences('bob') == {'line_numbers': True}


async def test_add_exchange_stores_prompt_and_pending_answer_after_the_history(storage: Storage) -> None:
    project = await storage.create_project('p')
    first = await storage.add_message(project.id, 'user', 'earlier')
    history, user, answer = await storage.add_exchange(project.id, 'next\x00', provider='demo', model='m')
    assert [m.id for m in history] == [first.id]
    assert (user.seq, user.role, user.content, user.streaming_status) == (2, 'user', 'next\ufffd', 'completed')
    assert (answer.seq, answer.role, answer.streaming_status, answer.reply_to) == (3, 'assistant', 'pending', user.id)
    assert (answer.provider, answer.model, answer.content) == ('demo', 'm', '')
    assert [m.id for m in await storage.list_messages(project.id)] == [first.id, user.id, answer.id]
    with pytest.raises(NotFound):
        await storage.add_exchange(project.id, 'x', owner='someone-else')
    with pytest.raises(NotFound):
        await storage.add_exchange('missing', 'x')
    assert len(await storage.list_messages(project.id)) == 3


async def test_newest_messages_reads_a_batch_and_counts_the_older_ones(storage: Storage) -> None:
    project = await storage.create_project('Long')
    other = await storage.create_project('Other')
    for i in range(7):
        await storage.add_message(project.id, 'user', f'message {i}')
    await storage.add_message(other.id, 'user', 'elsewhere')

    newest, older = await storage.newest_messages(project.id, 3)
    assert ([m.content for m in newest], older) == (['message 4', 'message 5', 'message 6'], 4)
    batch, older = await storage.newest_messages(project.id, 3, before=newest[0].seq)
    assert ([m.content for m in batch], older) == (['message 1', 'message 2', 'message 3'], 1)
    batch, older = await storage.newest_messages(project.id, 3, before=batch[0].seq)
    assert ([m.content for m in batch], older) == (['message 0'], 0)
    assert await storage.newest_messages(project.id, 3, before=batch[0].seq) == ([], 0)
    everything, older = await storage.newest_messages(project.id, 100)
    assert (everything, older) == (await storage.list_messages(project.id), 0)
    assert await storage.newest_messages(project.id, 0) == ([], 0)
    assert await storage.newest_messages(project.id, 3, owner='mallory') == ([], 0)  # not theirs
    assert await storage.newest_messages('no-such-project', 3) == ([], 0)
