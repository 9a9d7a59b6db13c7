"""Each call attempt's RTCP figures: packets of the citizen's audio lost, its interarrival
jitter and the round-trip time to the trunk (RFC 3550), nullable: calls before this, or
with RTCP off, have none.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_attempts") as batch:
        batch.add_column(sa.Column("packets_lost", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("jitter_ms", sa.Float(), nullable=True))
        batch.add_column(sa.Column("rtt_ms", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_attempts") as batch:
        batch.drop_column("rtt_ms")
        batch.drop_column("jitter_ms")
        batch.drop_column("packets_lost")
