"""Bulletins on schedule (日报、周报、月报): one row per (kind, period), unique, so a
bulletin is claimed by one node once, made once, and mailed once; its files, where they
were written, how it went, and its mail's state.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bulletins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("node", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=False),
        sa.Column("made_at", sa.DateTime(), nullable=True),
        sa.Column("files", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("mail_state", sa.String(length=16), nullable=True),
        sa.Column("mail_tries", sa.Integer(), nullable=False),
        sa.Column("mail_at", sa.DateTime(), nullable=True),
        sa.Column("mail_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulletins")),
        sa.UniqueConstraint("kind", "period", name=op.f("uq_bulletins_kind")),
    )


def downgrade() -> None:
    op.drop_table("bulletins")
