"""A project: one conversation, owned by one user."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, String
from sqlmodel import Field, SQLModel

from models.db import UTCDateTime, new_id, utcnow

#: The single user of a desktop install. Accounts come later; every query already filters by owner, so adding
#: them changes who is asked for, not how.
LOCAL_OWNER = 'local'


class Project(SQLModel, table=True):
    __tablename__ = 'project'
    __table_args__ = (Index('ix_project_owner_updated_at', 'owner', 'updated_at'),)

    id: str = Field(default_factory=new_id, sa_column=Column(String(32), primary_key=True))
    owner: str = Field(default=LOCAL_OWNER, sa_column=Column(String(255), nullable=False))
    title: str = Field(sa_column=Column(String(500), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
