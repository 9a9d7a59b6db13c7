"""Where each heard turn lies in the call's recording, so that a turn a person reviewed
(confirmed, corrected or spot-checked) becomes a labelled example for the recogniser
(`huifang asr-eval --from-reviews`, `huifang asr-tune --from-reviews`).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_turns") as batch:
        batch.add_column(sa.Column("from_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("to_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_turns") as batch:
        batch.drop_column("to_s")
        batch.drop_column("from_s")
