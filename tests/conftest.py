"""Database URLs for tests: storage tests run against SQLite and, when it is reachable, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

POSTGRES_URL = os.environ.get('SCRIBE_TEST_POSTGRES_URL', 'postgresql+psycopg://postgres@127.0.0.1:5432/test')


@pytest.fixture(scope='session')
def postgres_server_url() -> str:
    """The PostgreSQL URL, checked once per session; every PostgreSQL test is skipped if it cannot connect."""
    engine = create_engine(POSTGRES_URL, poolclass=NullPool, connect_args={'connect_timeout': 3})
    try:
        with engine.connect():
            pass
    except Exception as exc:
        shown = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        pytest.skip(f'PostgreSQL is not reachable at {shown} ({type(exc).__name__}); set SCRIBE_TEST_POSTGRES_URL')
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A URL whose connections use a fresh schema (via search_path), dropped afterwards, so reruns and parallel
    sessions never see each other's tables."""
    schema = f'scribe_test_{uuid.uuid4().hex[:12]}'
    admin = create_engine(postgres_server_url, poolclass=NullPool, isolation_level='AUTOCOMMIT')
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    # synchronous_commit=off: tests need no durability, and fsync per commit dominates their run time.
    options = f'-csearch_path={schema} -csynchronous_commit=off'
    url = make_url(postgres_server_url).update_query_dict({'options': options})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text("SET lock_timeout = '5s'"))
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f'sqlite:///{(tmp_path / "data" / "scribe.db").as_posix()}'


@pytest.fixture(params=['sqlite', pytest.param('postgresql', marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once per database."""
    name = 'sqlite_url' if request.param == 'sqlite' else 'postgres_url'
    url: str = request.getfixturevalue(name)
    return url
