"""A user's saved preferences: only the fields they chose, as JSON, so defaults changed later still reach them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, String
from sqlmodel import Field, SQLModel

from models.db import UTCDateTime, utcnow


class UserPreference(SQLModel, table=True):
    """One row per user. The values are validated when read (services/preferences.py), never trusted: a row
    written by an older version or edited by hand falls back field by field instead of failing the page."""

    __tablename__ = 'user_preference'

    owner: str = Field(sa_column=Column(String(255), primary_key=True))
    values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
