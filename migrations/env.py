"""Alembic environment for Scribe.

The app runs migrations through ``models.db.run_migrations``, which hands over an open connection (inside its
locked transaction) in ``config.attributes['connection']``. A developer generating a revision passes a URL instead,
e.g. ``command.revision(alembic_config(), autogenerate=True, message=...)`` with ``SCRIBE_DATABASE_URL`` set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # so `models` imports from any directory

import models  # registers every table on SQLModel.metadata

config = context.config
target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write the app's UTCDateTime as a plain timezone-aware DateTime, so revisions never import app code (a
    revision must keep working after the models change)."""
    if type_ == 'type' and isinstance(obj, models.UTCDateTime):
        return 'sa.DateTime(timezone=True)'
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == 'sqlite',  # SQLite can only ALTER by copying the table
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.get_main_option('sqlalchemy.url') or os.environ.get('SCRIBE_DATABASE_URL')
    if not url:
        raise RuntimeError('no database: pass a connection, set sqlalchemy.url, or set SCRIBE_DATABASE_URL')
    return url


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get('connection')
    if connection is not None:
        _configure(connection)
    else:
        engine = models.make_engine(_url())
        try:
            with engine.begin() as new_connection:
                _configure(new_connection)
        finally:
            engine.dispose()
