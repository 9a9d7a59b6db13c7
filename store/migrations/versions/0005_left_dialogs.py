"""What ends a dialog a dead process left up, and which process a dialer node is: the
dialog record of each call attempt, and the host, pid and pid start time of each node.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_attempts") as batch:
        batch.add_column(sa.Column("dialog", sa.Text(), nullable=True))
    with op.batch_alter_table("dialer_nodes") as batch:
        batch.add_column(sa.Column("host", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("process_start", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dialer_nodes") as batch:
        batch.drop_column("process_start")
        batch.drop_column("pid")
        batch.drop_column("host")
    with op.batch_alter_table("call_attempts") as batch:
        batch.drop_column("dialog")
