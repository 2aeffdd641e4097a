"""Engine set-up, column types shared by the tables, and the Alembic migrations applied at start.

Everything that depends on which database is behind the URL lives here, so the tables and ``services.storage``
stay dialect-free: SQLite for the desktop (a file, WAL, one writer at a time) and PostgreSQL for deployments.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Engine, create_engine, event, make_url, text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

#: Where the Alembic scripts live: next to this package, so migrations work whatever the current directory is.
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / 'migrations'

#: Serializes concurrent start-ups of several app processes against one PostgreSQL (any constant; 'scrb').
_MIGRATION_LOCK_KEY = 0x73637262

#: How long a SQLite connection waits for another process's write lock before giving up, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 10_000


def new_id() -> str:
    """A short random id. URL-safe because ids appear in paths like ``/projects/{id}``; 96 random bits, so ids
    cannot be guessed or enumerated (ownership checks stay the real protection)."""
    return secrets.token_urlsafe(12)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect.

    PostgreSQL keeps the offset (``timestamptz``); SQLite has no datetime type and SQLAlchemy stores naive text
    there, so values are stored as naive UTC and given back their UTC tzinfo when read. Naive input is refused:
    a naive datetime is ambiguous, and guessing would silently shift times by the local offset.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f'naive datetime {value!r}: pass a timezone-aware datetime (e.g. datetime.now(UTC))')
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == 'sqlite' else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def default_database_url(data_dir: Path) -> str:
    """The desktop default: one SQLite file in the data directory, as an absolute path so the URL does not depend
    on the current directory."""
    path = (data_dir.expanduser().resolve() / 'scribe.db').as_posix()
    return f'sqlite:///{path}'


def make_engine(url: str) -> Engine:
    """An engine tuned for its dialect.

    SQLite: the file's directory is created; connections may be used from the storage worker thread; WAL lets
    readers run while one writer writes; every transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers
    (other processes) queue on ``busy_timeout`` instead of failing with "database is locked" when a read
    transaction tries to upgrade; foreign keys are enforced (SQLite leaves them off by default).
    PostgreSQL (and others): connections are checked before use, so a restarted server does not surface as an
    error on the first query afterwards.
    """
    sa_url = make_url(url)
    if sa_url.get_backend_name() != 'sqlite':
        return create_engine(sa_url, pool_pre_ping=True)

    database = sa_url.database or ''
    if database and database != ':memory:' and not database.startswith('file:'):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(sa_url, connect_args={'check_same_thread': False})

    @event.listens_for(engine, 'connect')
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control away from the sqlite3 module (which would BEGIN lazily, and not before DDL),
        # so the 'begin' hook below decides how every transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f'PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}')
            _enable_wal(cursor)
            cursor.execute('PRAGMA synchronous = NORMAL')  # durable across crashes of the process in WAL mode
            cursor.execute('PRAGMA foreign_keys = ON')
        finally:
            cursor.close()

    @event.listens_for(engine, 'begin')
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql('BEGIN IMMEDIATE')

    return engine


def _enable_wal(cursor: Any) -> None:
    """Switching a new file to WAL needs a moment of exclusive access and ignores busy_timeout, so two processes
    opening a fresh database together may see "database is locked": wait and try again."""
    for attempt in range(100):
        try:
            if str(cursor.execute('PRAGMA journal_mode').fetchone()[0]).lower() != 'wal':
                cursor.execute('PRAGMA journal_mode = WAL')
            return
        except sqlite3.OperationalError:
            if attempt == 99:
                raise
            time.sleep(0.05)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration built in code: no alembic.ini is needed at runtime, and the script location is
    absolute, so the app can start from any directory."""
    config = Config()
    config.set_main_option('script_location', str(MIGRATIONS_DIR))
    config.set_main_option('path_separator', 'os')
    if connection is not None:
        config.attributes['connection'] = connection
    return config


def run_migrations(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there.

    Runs in one transaction holding a lock, so several processes starting together against the same database
    migrate once: PostgreSQL takes a transaction-level advisory lock, SQLite's ``BEGIN IMMEDIATE`` (see
    ``make_engine``) takes the write lock. Both have transactional DDL here, so a failed migration leaves the
    previous schema intact.
    """
    with engine.begin() as connection:
        if connection.dialect.name == 'postgresql':
            connection.execute(text('SELECT pg_advisory_xact_lock(:key)'), {'key': _MIGRATION_LOCK_KEY})
        command.upgrade(alembic_config(connection), 'head')
