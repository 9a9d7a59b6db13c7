"""The citizen's reason for dissatisfaction in words: each call attempt with a reason
slice gets its transcript, how transcribing it went (pending/done/empty/failed, the error
in words, how many tries), the engine that heard it and the category its words fall in.
The audio stays in the recording; a failed transcript can be retried.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# attempts whose reason still waits for a transcript (never tried, or failed and
# retryable): the background job's worklist, however many attempts history holds
TO_TRANSCRIBE = ("reason_from_s IS NOT NULL AND (reason_status IS NULL"
                 " OR reason_status IN ('pending', 'failed'))")


def upgrade() -> None:
    with op.batch_alter_table("call_attempts") as batch:
        batch.add_column(sa.Column("reason_status", sa.String(length=24), nullable=True))
        batch.add_column(sa.Column("reason_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reason_category", sa.String(length=24), nullable=True))
        batch.add_column(sa.Column("reason_engine", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("reason_tries", sa.Integer(), nullable=False,
                                   server_default=sa.text("0")))
        batch.add_column(sa.Column("reason_transcribed_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE call_attempts SET reason_status = 'pending'"
               " WHERE reason_from_s IS NOT NULL AND reason_to_s IS NOT NULL")
    op.create_index("ix_call_attempts_reason_todo", "call_attempts", ["id"],
                    sqlite_where=sa.text(TO_TRANSCRIBE),
                    postgresql_where=sa.text(TO_TRANSCRIBE))


def downgrade() -> None:
    op.drop_index("ix_call_attempts_reason_todo", table_name="call_attempts")
    with op.batch_alter_table("call_attempts") as batch:
        batch.drop_column("reason_transcribed_at")
        batch.drop_column("reason_tries")
        batch.drop_column("reason_engine")
        batch.drop_column("reason_category")
        batch.drop_column("reason_error")
        batch.drop_column("reason_status")
