"""The database tables; importing this package registers all of them on ``SQLModel.metadata``."""

from models.db import (
    MIGRATIONS_DIR,
    UTCDateTime,
    alembic_config,
    default_database_url,
    make_engine,
    new_id,
    run_migrations,
    utcnow,
)
from models.message import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    ROLES,
    STREAMING_STATUSES,
    Message,
    Role,
    StreamingStatus,
)
from models.preference import UserPreference
from models.project import LOCAL_OWNER, Project
from models.streaming_event import EVENT_TYPES, EventType, StreamingEvent

__all__ = [
    'ACTIVE_STATUSES',
    'EVENT_TYPES',
    'FINAL_STATUSES',
    'LOCAL_OWNER',
    'MIGRATIONS_DIR',
    'ROLES',
    'STREAMING_STATUSES',
    'EventType',
    'Message',
    'Project',
    'Role',
    'StreamingEvent',
    'StreamingStatus',
    'UTCDateTime',
    'UserPreference',
    'alembic_config',
    'default_database_url',
    'make_engine',
    'new_id',
    'run_migrations',
    'utcnow',
]
