"""Initial schema: projects, messages with streaming state, and the streaming event log.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'project',
        sa.Column('id', sa.String(32), primary_key=True),
        sa.Column('owner', sa.String(255), nullable=False),
        sa.Column('title', sa.String(500), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_project_owner_updated_at', 'project', ['owner', 'updated_at'])

    op.create_table(
        'message',
        sa.Column('id', sa.String(32), primary_key=True),
        sa.Column('project_id', sa.String(32), sa.ForeignKey('project.id', ondelete='CASCADE'), nullable=False),
        sa.Column('seq', sa.Integer, nullable=False),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('content', sa.Text, nullable=False),
        sa.Column('streaming_status', sa.String(16), nullable=False),
        sa.Column('partial_content', sa.Text, nullable=False),
        sa.Column('stream_metadata', sa.JSON, nullable=False),
        sa.Column('error', sa.Text, nullable=True),
        sa.Column('provider', sa.String(100), nullable=True),
        sa.Column('model', sa.String(200), nullable=True),
        sa.Column('reply_to', sa.String(32), sa.ForeignKey('message.id', ondelete='SET NULL'), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_message_project_id_seq', 'message', ['project_id', 'seq'], unique=True)
    op.create_index('ix_message_streaming_status', 'message', ['streaming_status'])
    op.create_index('ix_message_reply_to', 'message', ['reply_to'])

    op.create_table(
        'streaming_event',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('message_id', sa.String(32), sa.ForeignKey('message.id', ondelete='CASCADE'), nullable=False),
        sa.Column('event_type', sa.String(16), nullable=False),
        sa.Column('position', sa.Integer, nullable=False),
        sa.Column('data', sa.Text, nullable=True),
        sa.Column('event_metadata', sa.JSON, nullable=False),
        sa.Column('timestamp', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_streaming_event_message_id', 'streaming_event', ['message_id'])


def downgrade() -> None:
    op.drop_table('streaming_event')
    op.drop_table('message')
    op.drop_table('project')
