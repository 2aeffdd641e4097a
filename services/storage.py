"""Storage: the only code that touches the database.

The app is asyncio; SQLModel/SQLAlchemy are synchronous. Every operation runs on one dedicated worker thread, one
transaction each, so database I/O never blocks the event loop and writes are applied in exactly the order they
were requested (SQLite allows one writer at a time anyway; for PostgreSQL a single writer per process is plenty
for ~1 checkpoint per second per stream). Results are frozen dataclasses, copied out of the session before it
closes, so code in the event loop can never trigger a lazy load or see a half-updated object.

A cancelled ``await`` does not cancel its write: once requested, an operation runs to completion in order. That is
what a stream manager wants when Stop cancels a task mid-checkpoint and then records the interruption.

Text that a database cannot store
    PostgreSQL ``text`` cannot hold NUL ('\\x00'), and neither database driver can encode a lone surrogate
    ('\\ud800'-'\\udfff', which is not valid Unicode). Rejecting them would make a model's stray byte fail a whole
    answer, so every string Storage writes (content, partials, titles, errors, event data, JSON metadata keys and
    values) has each such character replaced by U+FFFD REPLACEMENT CHARACTER, identically on SQLite and
    PostgreSQL. One character becomes one character, so positions (offsets in code points) stay valid. Callers that
    also show text live can apply ``clean_text`` themselves so live and stored text agree. Everything else (emoji,
    ZWJ sequences, U+2028, '\\r\\n', ...) is stored exactly.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, bindparam, delete, func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from models.db import make_engine, new_id, run_migrations, utcnow
from models.message import ACTIVE_STATUSES, FINAL_STATUSES, ROLES, STREAMING_STATUSES, Message
from models.preference import UserPreference
from models.project import LOCAL_OWNER, Project
from models.streaming_event import EVENT_TYPES, StreamingEvent
from services.errors import NotFound

T = TypeVar('T')

_PROJECTS = SQLModel.metadata.tables['project']
_MESSAGES = SQLModel.metadata.tables['message']
_EVENTS = SQLModel.metadata.tables['streaming_event']

MAX_TITLE_CHARS = 500
MAX_OWNER_CHARS = 255
MAX_PROVIDER_CHARS = 100
MAX_MODEL_CHARS = 200

_UNSTORABLE = re.compile('[\x00\ud800-\udfff]')


def clean_text(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD, the form in which Storage stores it."""
    return _UNSTORABLE.sub('\ufffd', text)


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    id: str
    owner: str
    title: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A message as stored. While ``streaming_status`` is 'pending' or 'streaming', ``partial_content`` is the
    newest checkpoint; once finished, ``content`` is the answer and ``partial_content`` equals it."""

    id: str
    project_id: str
    seq: int
    role: str
    content: str
    streaming_status: str
    partial_content: str
    stream_metadata: dict[str, Any]
    error: str | None
    provider: str | None
    model: str | None
    reply_to: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One entry of a message's event log, both to write (``id`` is ignored) and as read back (``id`` gives the
    order of insertion). ``position`` is a character offset (code points) into the answer."""

    event_type: str
    position: int
    data: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=utcnow)
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One live answer's state to save (``Storage.checkpoint_many``)."""

    message_id: str
    partial: str
    metadata: Mapping[str, Any]
    events: Sequence[EventRecord] = ()


class Storage:
    def __init__(self, url: str) -> None:
        self._url = url
        self._engine: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._last_now = datetime.min.replace(tzinfo=UTC)  # only touched on the worker thread

    @property
    def url(self) -> str:
        return self._url

    async def __aenter__(self) -> Storage:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- life cycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and migrate to the newest schema. Calling it again is a no-op, and so is migrating a database
        that is already current (a second start of the app)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix='scribe-storage')
        await asyncio.get_running_loop().run_in_executor(self._executor, self._start_sync)

    def _start_sync(self) -> None:
        if self._engine is not None:
            return
        engine = make_engine(self._url)
        try:
            run_migrations(engine)
        except BaseException:
            engine.dispose()
            raise
        self._engine = engine

    async def close(self) -> None:
        """Finish the operations already requested, then release connections and the worker thread."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._close_sync)
        finally:
            executor.shutdown(wait=True)

    def _close_sync(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()

    # -- projects ---------------------------------------------------------------------------------------------

    async def create_project(self, title: str, owner: str = LOCAL_OWNER) -> ProjectRecord:
        title = _title(title)
        owner = _owner(owner)

        def work(session: Session) -> ProjectRecord:
            now = self._now()
            project = Project(id=new_id(), owner=owner, title=title, created_at=now, updated_at=now)
            session.add(project)
            session.flush()
            return _project_record(project)

        return await self._run(work)

    async def list_projects(self, owner: str = LOCAL_OWNER) -> list[ProjectRecord]:
        """The owner's projects, most recently updated first."""

        def work(session: Session) -> list[ProjectRecord]:
            rows = session.exec(
                select(Project)
                .where(col(Project.owner) == owner)
                .order_by(col(Project.updated_at).desc(), col(Project.created_at).desc(), col(Project.id))
            ).all()
            return [_project_record(row) for row in rows]

        return await self._run(work)

    async def get_project(self, project_id: str, owner: str = LOCAL_OWNER) -> ProjectRecord | None:
        """None both when the project does not exist and when it is someone else's, so callers cannot tell the
        two apart and cannot leak that a project exists."""

        def work(session: Session) -> ProjectRecord | None:
            row = _owned_project(session, project_id, owner)
            return None if row is None else _project_record(row)

        return await self._run(work)

    async def rename_project(self, project_id: str, title: str, owner: str = LOCAL_OWNER) -> ProjectRecord | None:
        title = _title(title)

        def work(session: Session) -> ProjectRecord | None:
            row = _owned_project(session, project_id, owner)
            if row is None:
                return None
            row.title = title
            row.updated_at = self._now()
            session.flush()
            return _project_record(row)

        return await self._run(work)

    async def delete_project(self, project_id: str, owner: str = LOCAL_OWNER) -> bool:
        """Delete the project with its messages and their events; False if it is not the owner's."""

        def work(session: Session) -> bool:
            if _owned_project(session, project_id, owner) is None:
                return False
            # Explicit rather than relying on ON DELETE CASCADE alone, which SQLite only honours when the
            # connection enabled foreign keys.
            message_ids = select(Message.id).where(col(Message.project_id) == project_id)
            session.exec(delete(StreamingEvent).where(col(StreamingEvent.message_id).in_(message_ids)))
            session.exec(delete(Message).where(col(Message.project_id) == project_id))
            session.exec(delete(Project).where(col(Project.id) == project_id))
            return True

        return await self._run(work)

    # -- messages ---------------------------------------------------------------------------------------------

    async def add_message(
        self,
        project_id: str,
        role: str,
        content: str,
        *,
        status: str = 'completed',
        reply_to: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        error: str | None = None,
        owner: str = LOCAL_OWNER,
    ) -> MessageRecord:
        """Append a message; its ``seq`` is one more than the project's last, assigned in the same transaction.

        Raises NotFound if the project is not the owner's, ValueError for a bad role or status, or a ``reply_to``
        that is not a message of the same project.
        """
        _check(role, ROLES, 'role')
        _check(status, STREAMING_STATUSES, 'streaming status')
        content = clean_text(content)
        stream_metadata = _json_object(metadata or {}, 'metadata')
        error = None if error is None else clean_text(error)
        provider = _optional_short(provider, 'provider', MAX_PROVIDER_CHARS)
        model = _optional_short(model, 'model', MAX_MODEL_CHARS)

        def work(session: Session) -> MessageRecord:
            now = self._now()
            # Touch the project first: on PostgreSQL that locks its row, so concurrent writers (other processes)
            # take turns computing max(seq) + 1; on SQLite the transaction already holds the write lock.
            touched = session.exec(
                update(Project)
                .where(col(Project.id) == project_id, col(Project.owner) == owner)
                .values(updated_at=now)
            )
            if touched.rowcount == 0:
                raise NotFound(f'Project {project_id!r} was not found.')
            if reply_to is not None:
                answered = session.exec(
                    select(Message.id).where(col(Message.id) == reply_to, col(Message.project_id) == project_id)
                ).first()
                if answered is None:
                    raise ValueError(f'reply_to {reply_to!r} is not a message of project {project_id!r}')
            last_seq = session.exec(
                select(func.max(Message.seq)).where(col(Message.project_id) == project_id)
            ).one()
            message = Message(
                id=new_id(),
                project_id=project_id,
                seq=(last_seq or 0) + 1,
                role=role,
                content=content,
                streaming_status=status,
                partial_content=content,
                stream_metadata=stream_metadata,
                error=error,
                provider=provider,
                model=model,
                reply_to=reply_to,
                created_at=now,
                updated_at=now,
            )
            session.add(message)
            session.flush()
            return _message_record(message)

        return await self._run(work)

    async def add_exchange(
        self, project_id: str, prompt: str, *, provider: str | None = None, model: str | None = None,
        owner: str = LOCAL_OWNER,
    ) -> tuple[list[MessageRecord], MessageRecord, MessageRecord]:
        """A new prompt and its empty ('pending') answer, with the conversation before them, in one transaction.

        Sending a prompt is on the path to the first visible character; one trip to the storage thread instead of
        four (check the project, read the history, add two messages) saves most of the time it spends here.
        Raises NotFound if the project is not the owner's.
        """
        prompt = clean_text(prompt)
        provider = _optional_short(provider, 'provider', MAX_PROVIDER_CHARS)
        model = _optional_short(model, 'model', MAX_MODEL_CHARS)

        def work(session: Session) -> tuple[list[MessageRecord], MessageRecord, MessageRecord]:
            now = self._now()
            touched = session.exec(  # locks the project's row on PostgreSQL, as add_message does
                update(Project)
                .where(col(Project.id) == project_id, col(Project.owner) == owner)
                .values(updated_at=now)
            )
            if touched.rowcount == 0:
                raise NotFound(f'Project {project_id!r} was not found.')
            rows = session.exec(
                select(Message).where(col(Message.project_id) == project_id).order_by(col(Message.seq))
            ).all()
            history = [_message_record(row) for row in rows]
            seq = history[-1].seq if history else 0
            user = Message(id=new_id(), project_id=project_id, seq=seq + 1, role='user', content=prompt,
                           streaming_status='completed', partial_content=prompt, stream_metadata={},
                           created_at=now, updated_at=now)
            answer = Message(id=new_id(), project_id=project_id, seq=seq + 2, role='assistant', content='',
                             streaming_status='pending', partial_content='', stream_metadata={},
                             provider=provider, model=model, reply_to=user.id, created_at=now, updated_at=now)
            session.add(user)
            session.flush()  # the answer's reply_to must find the prompt's row
            session.add(answer)
            session.flush()
            return history, _message_record(user), _message_record(answer)

        return await self._run(work)

    async def list_messages(self, project_id: str, owner: str = LOCAL_OWNER) -> list[MessageRecord]:
        """The project's messages in ``seq`` order; empty if the project is not the owner's."""

        def work(session: Session) -> list[MessageRecord]:
            rows = session.exec(
                select(Message)
                .join(Project, col(Project.id) == col(Message.project_id))
                .where(col(Message.project_id) == project_id, col(Project.owner) == owner)
                .order_by(col(Message.seq))
            ).all()
            return [_message_record(row) for row in rows]

        return await self._run(work)

    async def newest_messages(self, project_id: str, limit: int, *, before: int | None = None,
                              owner: str = LOCAL_OWNER) -> tuple[list[MessageRecord], int]:
        """The newest ``limit`` messages of the project (of those before seq ``before``, when given), in ``seq``
        order, and how many older ones remain. A page reads this, not the whole project: opening a project of a
        thousand messages costs the same as one of twenty, and the older ones are read a batch at a time."""

        def work(session: Session) -> tuple[list[MessageRecord], int]:
            mine = (col(Message.project_id) == project_id, col(Project.owner) == owner,
                    *(() if before is None else (col(Message.seq) < before,)))
            rows = session.exec(
                select(Message).join(Project, col(Project.id) == col(Message.project_id)).where(*mine)
                .order_by(col(Message.seq).desc()).limit(max(0, limit))
            ).all()
            rows = list(reversed(rows))
            older = 0
            if rows:
                older = session.exec(
                    select(func.count()).select_from(Message).join(Project, col(Project.id) == col(Message.project_id))
                    .where(*mine, col(Message.seq) < rows[0].seq)
                ).one()
            return [_message_record(row) for row in rows], int(older)

        return await self._run(work)

    async def get_message(self, message_id: str, owner: str = LOCAL_OWNER) -> MessageRecord | None:
        """None if the message does not exist or its project is not the owner's."""

        def work(session: Session) -> MessageRecord | None:
            row = session.exec(
                select(Message)
                .join(Project, col(Project.id) == col(Message.project_id))
                .where(col(Message.id) == message_id, col(Project.owner) == owner)
            ).first()
            return None if row is None else _message_record(row)

        return await self._run(work)

    async def checkpoint(
        self, message_id: str, partial: str, metadata: Mapping[str, Any], events: Sequence[EventRecord] = ()
    ) -> None:
        """Save the answer so far: ``partial_content``, status 'streaming', ``stream_metadata`` (replaced as a
        whole: the stream manager owns it) and the events batched since the last checkpoint, in one transaction,
        so a crash leaves either all of it or none.

        Addressed by message id alone: the stream manager writes on behalf of whoever started the stream, after
        ownership was checked when the message was created. Raises NotFound if the message is gone (e.g. its
        project was deleted mid-stream).
        """
        missing = await self.checkpoint_many([Checkpoint(message_id, partial, metadata, tuple(events))])
        if missing:
            raise NotFound(f'Message {message_id!r} was not found.')

    async def checkpoint_many(self, checkpoints: Sequence[Checkpoint]) -> list[str]:
        """Several answers' checkpoints (see ``checkpoint``) in one transaction: the stream manager saves every
        live answer on one tick, and with a hundred answers a transaction each was most of the storage
        thread's work (a session, BEGIN and COMMIT per answer). Returns the ids of the messages that are gone;
        the others are saved all the same."""
        prepared = [(c.message_id, clean_text(c.partial), _json_object(c.metadata, 'metadata'), _event_rows(c.events))
                    for c in checkpoints]
        if not prepared:
            return []

        def work(session: Session) -> list[str]:
            missing = []
            for message_id, partial, stream_metadata, rows in prepared:
                try:
                    self._update_message(
                        session, message_id, rows,
                        partial_content=partial, streaming_status='streaming', stream_metadata=stream_metadata,
                    )
                except NotFound:  # nothing of it was written: the UPDATE is the first statement
                    missing.append(message_id)
            return missing

        return await self._run(work)

    async def finish(
        self,
        message_id: str,
        *,
        status: str,
        content: str,
        metadata: Mapping[str, Any],
        error: str | None,
        events: Sequence[EventRecord] = (),
    ) -> None:
        """Record how a generation ended: the final ``content`` (``partial_content`` set equal to it), a final
        status ('completed', 'interrupted' or 'error'), metadata, the user-facing error sentence and the last
        events, in one transaction."""
        _check(status, FINAL_STATUSES, 'final status')
        content = clean_text(content)
        stream_metadata = _json_object(metadata, 'metadata')
        error = None if error is None else clean_text(error)
        rows = _event_rows(events)

        def work(session: Session) -> None:
            self._update_message(
                session, message_id, rows,
                content=content, partial_content=content, streaming_status=status,
                stream_metadata=stream_metadata, error=error,
            )

        await self._run(work)

    async def interrupt_orphans(self, *, stale_after: timedelta | None = None) -> list[str]:
        """At start-up, end the messages a dead process left 'pending' or 'streaming', so nothing spins forever.

        Each becomes 'interrupted' with its last checkpoint as content (the UI offers Continue). Its metadata gets
        ``interrupted_at`` (the character offset where it stopped, as the stream manager records a Stop),
        ``end_time`` (ISO 8601 UTC) and ``interrupt_reason``; its log gets an 'interrupt' event at that offset with
        reason 'server restarted'. Returns their ids.

        With one app process (the default) every such message is an orphan. When several processes share a
        database, pass ``stale_after`` so only messages not checkpointed for that long are taken: a live stream
        checkpoints about once a second.
        """

        def work(session: Session) -> list[str]:
            now = self._now()
            query = select(Message).where(col(Message.streaming_status).in_(sorted(ACTIVE_STATUSES)))
            if stale_after is not None:
                query = query.where(col(Message.updated_at) < now - stale_after)
            orphans = session.exec(query.order_by(col(Message.created_at), col(Message.id))).all()
            for message in orphans:
                message.content = message.partial_content
                message.streaming_status = 'interrupted'
                message.stream_metadata = {
                    **message.stream_metadata,
                    'interrupted_at': len(message.partial_content),
                    'end_time': now.isoformat(),
                    'interrupt_reason': 'server restarted',
                }
                message.updated_at = now
                session.add(
                    StreamingEvent(
                        message_id=message.id,
                        event_type='interrupt',
                        position=len(message.partial_content),
                        data='server restarted',  # the reason, where the stream manager's interrupts keep it
                        event_metadata={'reason': 'server restarted'},
                        timestamp=now,
                    )
                )
            project_ids = sorted({message.project_id for message in orphans})
            if project_ids:
                session.exec(update(Project).where(col(Project.id).in_(project_ids)).values(updated_at=now))
            return [message.id for message in orphans]

        return await self._run(work)

    async def list_events(self, message_id: str, owner: str = LOCAL_OWNER) -> list[EventRecord]:
        """The message's events in the order they were recorded; empty if it is not the owner's."""

        def work(session: Session) -> list[EventRecord]:
            rows = session.exec(
                select(StreamingEvent)
                .join(Message, col(Message.id) == col(StreamingEvent.message_id))
                .join(Project, col(Project.id) == col(Message.project_id))
                .where(col(StreamingEvent.message_id) == message_id, col(Project.owner) == owner)
                .order_by(col(StreamingEvent.id))
            ).all()
            return [
                EventRecord(
                    event_type=row.event_type,
                    position=row.position,
                    data=row.data,
                    metadata=dict(row.event_metadata),
                    timestamp=row.timestamp,
                    id=row.id,
                )
                for row in rows
            ]

        return await self._run(work)

    # -- preferences ------------------------------------------------------------------------------------------

    async def load_preferences(self, owner: str = LOCAL_OWNER) -> dict[str, Any]:
        """The values the owner saved, as stored: the caller validates them (a row may predate a change)."""

        def work(session: Session) -> dict[str, Any]:
            row = session.get(UserPreference, owner)
            values = row.values if row is not None else {}
            return dict(values) if isinstance(values, dict) else {}

        return await self._run(work)

    async def save_preferences(self, owner: str, values: Mapping[str, Any]) -> None:
        owner = _owner(owner)
        stored = _clean_json(dict(values))

        def work(session: Session) -> None:
            row = session.get(UserPreference, owner)
            if row is None:
                session.add(UserPreference(owner=owner, values=stored, updated_at=self._now()))
            else:
                row.values = stored
                row.updated_at = self._now()

        await self._run(work)

    # -- internals --------------------------------------------------------------------------------------------

    async def _run(self, work: Callable[[Session], T]) -> T:
        executor = self._executor
        if executor is None:
            raise RuntimeError('Storage is not started: await storage.start() first')
        return await asyncio.get_running_loop().run_in_executor(executor, self._transaction, work)

    def _transaction(self, work: Callable[[Session], T]) -> T:
        if self._engine is None:
            raise RuntimeError('Storage is not started: await storage.start() first')
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            return work(session)

    def _now(self) -> datetime:
        """Strictly increasing UTC time (on the worker thread), so 'most recently updated first' is a total order
        even when two writes fall within the clock's resolution."""
        now = utcnow()
        if now <= self._last_now:
            now = self._last_now + timedelta(microseconds=1)
        self._last_now = now
        return now

    def _update_message(
        self, session: Session, message_id: str, events: Sequence[EventRecord], **values: Any
    ) -> None:
        """The write behind checkpoint and finish, in Core statements: it runs about once a second per live
        stream on the one worker thread, and skipping the ORM's bookkeeping roughly halves its cost."""
        connection = session.connection()
        now = self._now()
        message_update, project_update = _update_statements(tuple(sorted(values)))
        params = {f'v_{name}': value for name, value in values.items()}
        updated = connection.execute(message_update, {'v_id': message_id, 'v_now': now, **params})
        if updated.rowcount == 0:
            raise NotFound(f'Message {message_id!r} was not found.')
        connection.execute(project_update, {'v_id': message_id, 'v_now': now})
        if events:
            connection.execute(
                insert(_EVENTS),
                [
                    {
                        'message_id': message_id,
                        'event_type': event.event_type,
                        'position': event.position,
                        'data': event.data,
                        'event_metadata': event.metadata,
                        'timestamp': event.timestamp,
                    }
                    for event in events
                ],
            )


@functools.lru_cache(maxsize=16)
def _update_statements(names: tuple[str, ...]) -> tuple[Any, Any]:
    """The two UPDATEs behind a checkpoint, built once per set of columns with bound parameters: building a
    statement costs more than running it, and the same few shapes run about once a second per live stream."""
    message = (update(_MESSAGES).where(_MESSAGES.c.id == bindparam('v_id'))
               .values(updated_at=bindparam('v_now'), **{name: bindparam(f'v_{name}') for name in names}))
    project_id = sa_select(_MESSAGES.c.project_id).where(_MESSAGES.c.id == bindparam('v_id')).scalar_subquery()
    project = update(_PROJECTS).where(_PROJECTS.c.id == project_id).values(updated_at=bindparam('v_now'))
    return message, project


def _owned_project(session: Session, project_id: str, owner: str) -> Project | None:
    return session.exec(
        select(Project).where(col(Project.id) == project_id, col(Project.owner) == owner)
    ).first()


def _project_record(row: Project) -> ProjectRecord:
    return ProjectRecord(
        id=row.id, owner=row.owner, title=row.title, created_at=row.created_at, updated_at=row.updated_at
    )


def _message_record(row: Message) -> MessageRecord:
    return MessageRecord(
        id=row.id,
        project_id=row.project_id,
        seq=row.seq,
        role=row.role,
        content=row.content,
        streaming_status=row.streaming_status,
        partial_content=row.partial_content,
        stream_metadata=dict(row.stream_metadata),
        error=row.error,
        provider=row.provider,
        model=row.model,
        reply_to=row.reply_to,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _check(value: str, allowed: frozenset[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f'invalid {what} {value!r}: expected one of {", ".join(sorted(allowed))}')


def _title(title: str) -> str:
    title = clean_text(title).strip()
    if not title:
        raise ValueError('a project title cannot be empty')
    if len(title) > MAX_TITLE_CHARS:
        raise ValueError(f'a project title can have at most {MAX_TITLE_CHARS} characters, not {len(title)}')
    return title


def _owner(owner: str) -> str:
    if not owner or len(owner) > MAX_OWNER_CHARS or clean_text(owner) != owner:
        raise ValueError(f'invalid owner {owner!r}: 1 to {MAX_OWNER_CHARS} characters, no NUL')
    return owner


def _optional_short(value: str | None, what: str, limit: int) -> str | None:
    if value is None:
        return None
    value = clean_text(value)
    if len(value) > limit:
        raise ValueError(f'{what} can have at most {limit} characters, not {len(value)}')
    return value


def _json_object(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    """A JSON-safe deep copy: serialized once here so a bad value fails with a clear error in the caller rather
    than inside the worker's transaction, and so later changes to the caller's dict cannot leak into the write."""
    try:
        decoded = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f'{what} must be JSON-serializable (no NaN or infinity): {exc}') from None
    cleaned = _clean_json(decoded)
    assert isinstance(cleaned, dict)
    return cleaned


def _clean_json(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_clean_json(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(key): _clean_json(item) for key, item in value.items()}
    return value


def _event_rows(events: Sequence[EventRecord]) -> list[EventRecord]:
    rows = []
    for event in events:
        _check(event.event_type, EVENT_TYPES, 'event type')
        if isinstance(event.position, bool) or not isinstance(event.position, int) or event.position < 0:
            raise ValueError(f'invalid event position {event.position!r}: expected a character offset >= 0')
        if event.timestamp.tzinfo is None or event.timestamp.utcoffset() is None:
            raise ValueError(f'event timestamp {event.timestamp!r} must be timezone-aware')
        rows.append(
            replace(
                event,
                data=None if event.data is None else clean_text(event.data),
                metadata=_json_object(event.metadata, 'event metadata'),
            )
        )
    return rows
