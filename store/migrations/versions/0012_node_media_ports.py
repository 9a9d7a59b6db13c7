"""The RTP port range of each dialer node, so that two live processes on one host never
share media ports (a port a dead process's call still streams to must not reach the other).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dialer_nodes") as batch:
        batch.add_column(sa.Column("rtp_low", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rtp_high", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dialer_nodes") as batch:
        batch.drop_column("rtp_high")
        batch.drop_column("rtp_low")
