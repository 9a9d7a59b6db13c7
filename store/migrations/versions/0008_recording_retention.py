"""Recordings retention (campaign.recordings_keep_days): a call attempt keeps its row and
its recording's path when the file is deleted, with the time it was deleted, so the
console says 录音已按保留期限删除 instead of offering a player for nothing. A partial
index holds the attempts whose files are still kept: the retention job looks through
those alone, however many years of deleted recordings history holds.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

KEPT = "recording IS NOT NULL AND recording_deleted_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("call_attempts") as batch:
        batch.add_column(sa.Column("recording_deleted_at", sa.DateTime(), nullable=True))
    op.create_index("ix_call_attempts_recordings_kept", "call_attempts",
                    ["started_at", "id"], sqlite_where=sa.text(KEPT),
                    postgresql_where=sa.text(KEPT))


def downgrade() -> None:
    op.drop_index("ix_call_attempts_recordings_kept", table_name="call_attempts")
    with op.batch_alter_table("call_attempts") as batch:
        batch.drop_column("recording_deleted_at")
