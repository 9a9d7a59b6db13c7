"""Initial schema: units, tickets, closures, events, evaluations, exclusions, import batches.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_size", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("strict", sa.Boolean(), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_inserted", sa.Integer(), nullable=False),
        sa.Column("rows_updated", sa.Integer(), nullable=False),
        sa.Column("rows_unchanged", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batches")),
    )
    op.create_table(
        "units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "district",
                "street",
                "community",
                "bureau",
                "other",
                name="unitkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("ranking_group", sa.String(length=100), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["units.id"], name=op.f("fk_units_parent_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("name", name=op.f("uq_units_name")),
    )
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_units_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_units_ranking_group"), ["ranking_group"], unique=False)

    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_no", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "complaint",
                "consultation",
                "help",
                "report",
                "suggestion",
                "other",
                name="tickettype",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=50), nullable=True),
        sa.Column("category", sa.String(length=300), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column(
            "phone_kind",
            sa.Enum("mobile", "fixed", name="phonekind", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("citizen_name", sa.String(length=100), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(), nullable=True),
        sa.Column("signed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("deadline_at", sa.DateTime(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "received",
                "dispatched",
                "signed",
                "closed",
                "reopened",
                name="ticketstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("reply_summary", sa.Text(), nullable=True),
        sa.Column("closure_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("last_import_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["last_import_id"],
            ["import_batches.id"],
            name=op.f("fk_tickets_last_import_id_import_batches"),
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_tickets_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("ticket_no", name=op.f("uq_tickets_ticket_no")),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tickets_phone"), ["phone"], unique=False)
        batch_op.create_index("ix_tickets_unit_closed", ["unit_id", "closed_at"], unique=False)
        batch_op.create_index(
            "ix_tickets_unit_dispatched", ["unit_id", "dispatched_at"], unique=False
        )

    op.create_table(
        "closures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.Column("reply_summary", sa.Text(), nullable=True),
        sa.Column("reopened_at", sa.DateTime(), nullable=True),
        sa.Column("reopened", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_closures_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_closures")),
        sa.UniqueConstraint("ticket_id", "seq", name="uq_closures_ticket_seq"),
    )
    with op.batch_alter_table("closures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_closures_closed_at"), ["closed_at"], unique=False)

    op.create_table(
        "exclusions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("approved_by", sa.String(length=100), nullable=False),
        sa.Column("approved_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["import_batches.id"],
            name=op.f("fk_exclusions_import_id_import_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_exclusions_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exclusions")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_exclusions_ticket_id")),
    )
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "received",
                "dispatched",
                "signed",
                "closed",
                "reopened",
                "reassigned",
                "updated",
                "evaluated",
                "excluded",
                name="eventkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(), nullable=True),
        sa.Column("closure_seq", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["import_batches.id"],
            name=op.f("fk_ticket_events_import_id_import_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_events_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_events")),
    )
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_events_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("closure_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column(
            "resolved",
            sa.Enum("yes", "no", "unknown", name="resolved", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column(
            "satisfaction",
            sa.Enum(
                "satisfied",
                "basic",
                "unsatisfied",
                "unknown",
                name="satisfaction",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "source",
            sa.Enum(
                "agent", "auto", "supervisor", name="evaluationsource", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column("evaluated_at", sa.DateTime(), nullable=False),
        sa.Column("evaluated_by", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["closure_id"],
            ["closures.id"],
            name=op.f("fk_evaluations_closure_id_closures"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["import_batches.id"],
            name=op.f("fk_evaluations_import_id_import_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_evaluations_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
        sa.UniqueConstraint("closure_id", name=op.f("uq_evaluations_closure_id")),
    )
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evaluations_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluations_ticket_id"))

    op.drop_table("evaluations")
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_events_ticket_id"))

    op.drop_table("ticket_events")
    op.drop_table("exclusions")
    with op.batch_alter_table("closures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_closures_closed_at"))

    op.drop_table("closures")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_unit_dispatched")
        batch_op.drop_index("ix_tickets_unit_closed")
        batch_op.drop_index(batch_op.f("ix_tickets_phone"))

    op.drop_table("tickets")
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_units_ranking_group"))
        batch_op.drop_index(batch_op.f("ix_units_parent_id"))

    op.drop_table("units")
    op.drop_table("import_batches")
