"""The log of what happened while an answer was generated: batched milestones, never one row per character."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from models.db import UTCDateTime, utcnow

EventType = Literal['start', 'checkpoint', 'complete', 'error', 'interrupt', 'retry', 'fallback', 'continue']
EVENT_TYPES: frozenset[str] = frozenset(
    {'start', 'checkpoint', 'complete', 'error', 'interrupt', 'retry', 'fallback', 'continue', 'pause', 'resume'}
)


class StreamingEvent(SQLModel, table=True):
    """``position`` is a character offset (Python code points) into the answer, so a continuation's seam or the
    point of an error can be found in the text later. The JSON column is ``event_metadata`` because
    ``metadata`` is reserved on declarative classes."""

    __tablename__ = 'streaming_event'
    __table_args__ = (Index('ix_streaming_event_message_id', 'message_id'),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    message_id: str = Field(
        sa_column=Column(String(32), ForeignKey('message.id', ondelete='CASCADE'), nullable=False)
    )
    event_type: str = Field(sa_column=Column(String(16), nullable=False))
    position: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    data: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    event_metadata: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    timestamp: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
