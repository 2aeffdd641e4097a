"""A message of a project, with the streaming state that lets an interrupted answer be shown and continued."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from models.db import UTCDateTime, new_id, utcnow

Role = Literal['user', 'assistant', 'system']
StreamingStatus = Literal['pending', 'streaming', 'completed', 'interrupted', 'error']

ROLES: frozenset[str] = frozenset({'user', 'assistant', 'system'})
STREAMING_STATUSES: frozenset[str] = frozenset({'pending', 'streaming', 'completed', 'interrupted', 'error'})
#: Statuses a generation ends in; 'pending' and 'streaming' mean a task is (or was, before a crash) working on it.
FINAL_STATUSES: frozenset[str] = frozenset({'completed', 'interrupted', 'error'})
ACTIVE_STATUSES: frozenset[str] = STREAMING_STATUSES - FINAL_STATUSES


class Message(SQLModel, table=True):
    """``content`` is the final text; while streaming it stays as created and ``partial_content`` holds the last
    checkpoint. Once finished both are equal, so readers may always show ``partial_content`` for an unfinished
    message and ``content`` for a finished one."""

    __tablename__ = 'message'
    __table_args__ = (
        # Unique: two writers racing for the same seq fail loudly instead of producing an ambiguous order.
        Index('ix_message_project_id_seq', 'project_id', 'seq', unique=True),
        Index('ix_message_streaming_status', 'streaming_status'),
        Index('ix_message_reply_to', 'reply_to'),
    )

    id: str = Field(default_factory=new_id, sa_column=Column(String(32), primary_key=True))
    project_id: str = Field(
        sa_column=Column(String(32), ForeignKey('project.id', ondelete='CASCADE'), nullable=False)
    )
    seq: int = Field(sa_column=Column(Integer, nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    content: str = Field(default='', sa_column=Column(Text, nullable=False))
    streaming_status: str = Field(default='completed', sa_column=Column(String(16), nullable=False))
    partial_content: str = Field(default='', sa_column=Column(Text, nullable=False))
    stream_metadata: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    provider: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    model: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    reply_to: str | None = Field(
        default=None, sa_column=Column(String(32), ForeignKey('message.id', ondelete='SET NULL'), nullable=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    #: Doubles as a heartbeat: a streaming message whose row has not changed for long has no live task.
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
