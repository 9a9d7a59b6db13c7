"""Spot checks (抽检): one row per drawn automatic call (the attempt unique), the draw's
number, weight and reason, the machine's answers when drawn, and the latest blind check.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spot_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("callback_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("call_at", sa.DateTime(), nullable=False),
        sa.Column("number", sa.Float(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("drawn_by", sa.String(length=16), nullable=False),
        sa.Column("drawn_at", sa.DateTime(), nullable=False),
        sa.Column("machine_resolved", sa.String(length=24), nullable=False),
        sa.Column("machine_satisfaction", sa.String(length=24), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.Column("checked_by", sa.String(length=100), nullable=True),
        sa.Column("checked_resolved", sa.String(length=24), nullable=True),
        sa.Column("checked_satisfaction", sa.String(length=24), nullable=True),
        sa.Column("agreed_resolved", sa.Boolean(), nullable=True),
        sa.Column("agreed_satisfaction", sa.Boolean(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["attempt_id"], ["call_attempts.id"], ondelete="CASCADE",
                                name=op.f("fk_spot_checks_attempt_id_call_attempts")),
        sa.ForeignKeyConstraint(["callback_id"], ["callbacks.id"], ondelete="CASCADE",
                                name=op.f("fk_spot_checks_callback_id_callbacks")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE",
                                name=op.f("fk_spot_checks_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spot_checks")),
        sa.UniqueConstraint("attempt_id", name=op.f("uq_spot_checks_attempt_id")),
    )
    for column in ("callback_id", "ticket_id", "call_at", "checked_at"):
        op.create_index(op.f(f"ix_spot_checks_{column}"), "spot_checks", [column])


def downgrade() -> None:
    op.drop_table("spot_checks")
