"""SQLAlchemy models of the store.

Timestamps are naive wall-clock times of the hotline's zone (Asia/Shanghai, which has
no daylight saving), so periods and working days are plain date arithmetic in SQL on
both SQLite and PostgreSQL. `LocalDateTime` converts aware values on the way in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from store.enums import (
    EvaluationSource,
    EventKind,
    PhoneKind,
    Resolved,
    Satisfaction,
    TicketStatus,
    TicketType,
    UnitKind,
)

HOTLINE_TZ = ZoneInfo("Asia/Shanghai")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class LocalDateTime(TypeDecorator[datetime]):
    """A naive datetime in the hotline's zone; aware inputs are converted first."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(HOTLINE_TZ).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return value  # type: ignore[no-any-return]


def _enum(cls: type[Any]) -> Enum:
    # Stored as VARCHAR with a CHECK-free definition, so new members need no migration
    # of a database enum type; values are validated in Python.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=24,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ImportBatch(Base):
    """One run of `huifang import`: where every imported value came from."""

    __tablename__ = "import_batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    source: Mapped[str] = mapped_column(Text)
    source_size: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(LocalDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(LocalDateTime)
    status: Mapped[str] = mapped_column(String(24), default="running")
    strict: Mapped[bool] = mapped_column(default=False)
    rows_read: Mapped[int] = mapped_column(default=0)
    rows_inserted: Mapped[int] = mapped_column(default=0)
    rows_updated: Mapped[int] = mapped_column(default=0)
    rows_unchanged: Mapped[int] = mapped_column(default=0)
    rows_rejected: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)


class Unit(Base):
    """承办单位: a district, street office, community or bureau."""

    __tablename__ = "units"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[UnitKind] = mapped_column(_enum(UnitKind), default=UnitKind.OTHER)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    ranking_group: Mapped[str | None] = mapped_column(String(100), index=True)
    code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(LocalDateTime)
    updated_at: Mapped[datetime] = mapped_column(LocalDateTime)


class Ticket(Base):
    """工单. Lifecycle timestamps are the latest known; closures keep every closure."""

    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(64), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    type: Mapped[TicketType] = mapped_column(_enum(TicketType))
    channel: Mapped[str | None] = mapped_column(String(50))
    category: Mapped[str | None] = mapped_column(String(300))
    summary: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    phone_kind: Mapped[PhoneKind] = mapped_column(_enum(PhoneKind))
    citizen_name: Mapped[str | None] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(LocalDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(LocalDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(LocalDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(LocalDateTime)
    deadline_at: Mapped[datetime | None] = mapped_column(LocalDateTime)
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus))
    reply_summary: Mapped[str | None] = mapped_column(Text)
    closure_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(LocalDateTime)
    updated_at: Mapped[datetime] = mapped_column(LocalDateTime)
    last_import_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))

    __table_args__ = (
        Index("ix_tickets_unit_closed", "unit_id", "closed_at"),
        Index("ix_tickets_unit_dispatched", "unit_id", "dispatched_at"),
        # Reports select a period across all units.
        Index("ix_tickets_closed_at", "closed_at"),
        Index("ix_tickets_dispatched_at", "dispatched_at"),
    )


class Closure(Base):
    """办结: one closure of a ticket. A reopened ticket gets a new closure when re-closed."""

    __tablename__ = "closures"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column()
    closed_at: Mapped[datetime] = mapped_column(LocalDateTime, index=True)
    reply_summary: Mapped[str | None] = mapped_column(Text)
    reopened_at: Mapped[datetime | None] = mapped_column(LocalDateTime)
    reopened: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(LocalDateTime)

    __table_args__ = (UniqueConstraint("ticket_id", "seq", name="uq_closures_ticket_seq"),)


class TicketEvent(Base):
    """The history of a ticket: what happened, when, who did it, from which import."""

    __tablename__ = "ticket_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind))
    at: Mapped[datetime | None] = mapped_column(LocalDateTime)
    closure_seq: Mapped[int | None] = mapped_column()
    actor: Mapped[str | None] = mapped_column(String(100))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(LocalDateTime)


class Evaluation(Base):
    """回访结果: the answer to the two questions for one closure."""

    __tablename__ = "evaluations"
    id: Mapped[int] = mapped_column(primary_key=True)
    closure_id: Mapped[int] = mapped_column(
        ForeignKey("closures.id", ondelete="CASCADE"), unique=True
    )
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    resolved: Mapped[Resolved] = mapped_column(_enum(Resolved))
    satisfaction: Mapped[Satisfaction] = mapped_column(_enum(Satisfaction))
    source: Mapped[EvaluationSource] = mapped_column(_enum(EvaluationSource))
    evaluated_at: Mapped[datetime] = mapped_column(LocalDateTime, index=True)
    evaluated_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))
    created_at: Mapped[datetime] = mapped_column(LocalDateTime)


class Exclusion(Base):
    """剔除: a ticket left out of the rates, with a reason and who approved it."""

    __tablename__ = "exclusions"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), unique=True
    )
    reason: Mapped[str] = mapped_column(Text)
    approved_by: Mapped[str] = mapped_column(String(100))
    approved_at: Mapped[datetime] = mapped_column(LocalDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(LocalDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))
    created_at: Mapped[datetime] = mapped_column(LocalDateTime)
