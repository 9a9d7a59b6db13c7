"""The callback campaign: due callbacks, call attempts and turns, do-not-call, the
campaign switch and the dialer processes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_state",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=True),
        sa.Column("changed_at", sa.DateTime(), nullable=True),
        sa.Column("run_now_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_campaign_state")),
    )
    op.create_table(
        "dialer_nodes",
        sa.Column("node", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("calls_in_progress", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_dialer_nodes")),
    )
    op.create_table(
        "do_not_call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_do_not_call")),
        sa.UniqueConstraint("phone", name=op.f("uq_do_not_call_phone")),
    )
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("closure_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "claimed",
                "done",
                "review",
                "cancelled",
                name="callbackstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("deadline_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_outcome", sa.String(length=40), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["closure_id"],
            ["closures.id"],
            name=op.f("fk_callbacks_closure_id_closures"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_callbacks_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
        sa.UniqueConstraint("closure_id", name=op.f("uq_callbacks_closure_id")),
    )
    op.create_index(op.f("ix_callbacks_phone"), "callbacks", ["phone"], unique=False)
    op.create_index("ix_callbacks_status_due", "callbacks", ["status", "due_at"], unique=False)
    op.create_index(op.f("ix_callbacks_ticket_id"), "callbacks", ["ticket_id"], unique=False)
    op.create_table(
        "call_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("callback_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=100), nullable=False),
        sa.Column("node", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "in_progress",
                "finished",
                "interrupted",
                name="attemptstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("sip_code", sa.Integer(), nullable=True),
        sa.Column("sip_reason", sa.String(length=200), nullable=True),
        sa.Column("heard", sa.Text(), nullable=True),
        sa.Column("recording", sa.Text(), nullable=True),
        sa.Column("reason_from_s", sa.Float(), nullable=True),
        sa.Column("reason_to_s", sa.Float(), nullable=True),
        sa.Column("reason_text", sa.Text(), nullable=True),
        sa.Column("next_at", sa.DateTime(), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callbacks.id"],
            name=op.f("fk_call_attempts_callback_id_callbacks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_call_attempts_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_attempts")),
    )
    op.create_index(op.f("ix_call_attempts_call_id"), "call_attempts", ["call_id"], unique=False)
    op.create_index(
        op.f("ix_call_attempts_callback_id"), "call_attempts", ["callback_id"], unique=False
    )
    op.create_index(
        op.f("ix_call_attempts_started_at"), "call_attempts", ["started_at"], unique=False
    )
    op.create_table(
        "call_turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=24), nullable=False),
        sa.Column("intent", sa.String(length=24), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("heard", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["call_attempts.id"],
            name=op.f("fk_call_turns_attempt_id_call_attempts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_turns")),
    )
    op.create_index(op.f("ix_call_turns_attempt_id"), "call_turns", ["attempt_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_call_turns_attempt_id"), table_name="call_turns")
    op.drop_table("call_turns")
    op.drop_index(op.f("ix_call_attempts_started_at"), table_name="call_attempts")
    op.drop_index(op.f("ix_call_attempts_callback_id"), table_name="call_attempts")
    op.drop_index(op.f("ix_call_attempts_call_id"), table_name="call_attempts")
    op.drop_table("call_attempts")
    op.drop_index(op.f("ix_callbacks_ticket_id"), table_name="callbacks")
    op.drop_index("ix_callbacks_status_due", table_name="callbacks")
    op.drop_index(op.f("ix_callbacks_phone"), table_name="callbacks")
    op.drop_table("callbacks")
    op.drop_table("do_not_call")
    op.drop_table("dialer_nodes")
    op.drop_table("campaign_state")
