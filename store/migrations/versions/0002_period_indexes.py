"""Indexes for reports, which select a period of closures or dispatches across all units.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tickets_closed_at", "tickets", ["closed_at"])
    op.create_index("ix_tickets_dispatched_at", "tickets", ["dispatched_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_dispatched_at", table_name="tickets")
    op.drop_index("ix_tickets_closed_at", table_name="tickets")
