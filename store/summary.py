"""Counts that describe what a store holds (`huifang db summary`, the demo's last screen)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, func, select

from store.models import Closure, Evaluation, Exclusion, ImportBatch, Ticket, Unit


@dataclass
class StoreSummary:
    units_by_group: dict[str, int] = field(default_factory=dict)
    tickets: int = 0
    tickets_by_status: dict[str, int] = field(default_factory=dict)
    tickets_by_type: dict[str, int] = field(default_factory=dict)
    closures: int = 0
    reopened_closures: int = 0
    evaluations_by_source: dict[str, int] = field(default_factory=dict)
    resolved: dict[str, int] = field(default_factory=dict)
    satisfaction: dict[str, int] = field(default_factory=dict)
    exclusions: int = 0
    callers: int = 0
    repeat_callers: int = 0
    imports: list[tuple[int, str, str, str, int, int]] = field(default_factory=list)


def _counts(conn: Connection, column: object) -> dict[str, int]:
    rows = conn.execute(select(column, func.count()).group_by(column))  # type: ignore[call-overload]
    return {str(key): int(n) for key, n in rows}


def summarize(engine: Engine) -> StoreSummary:
    s = StoreSummary()
    with engine.connect() as conn:
        s.units_by_group = {("(不参与排名)" if k == "None" else k): v
                            for k, v in _counts(conn, Unit.ranking_group).items()}
        s.tickets_by_status = _counts(conn, Ticket.status)
        s.tickets_by_type = _counts(conn, Ticket.type)
        s.tickets = sum(s.tickets_by_status.values())
        s.evaluations_by_source = _counts(conn, Evaluation.source)
        s.resolved = _counts(conn, Evaluation.resolved)
        s.satisfaction = _counts(conn, Evaluation.satisfaction)
        s.closures = conn.execute(select(func.count()).select_from(Closure)).scalar_one()
        s.reopened_closures = conn.execute(
            select(func.count()).select_from(Closure).where(Closure.reopened)).scalar_one()
        s.exclusions = conn.execute(select(func.count()).select_from(Exclusion)
                                    .where(Exclusion.revoked_at.is_(None))).scalar_one()
        per_phone = select(Ticket.phone, func.count().label("n")).group_by(Ticket.phone).subquery()
        s.callers = conn.execute(select(func.count()).select_from(per_phone)).scalar_one()
        s.repeat_callers = conn.execute(
            select(func.count()).select_from(per_phone).where(per_phone.c.n > 1)).scalar_one()
        s.imports = [
            (r.id, r.kind, r.source, r.status, r.rows_inserted + r.rows_updated,
             r.rows_rejected)
            for r in conn.execute(select(ImportBatch).order_by(ImportBatch.id.desc()).limit(10))
        ]
    return s
