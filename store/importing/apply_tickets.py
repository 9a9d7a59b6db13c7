"""Write ticket rows: insert new tickets, upsert known ones, keep every closure."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from store.bulk import insert_rows
from store.importing.base import Context, Outcome, RowResult, ValidRow
from store.importing.columns import TICKET_COLUMNS, Column
from store.importing.tickets import (
    COMPARED,
    ClosureSnapshot,
    TicketPlan,
    TicketRecord,
    TicketSnapshot,
    plan_new,
    plan_update,
    validate_ticket,
)
from store.models import Closure, Ticket, TicketEvent, Unit

_SNAPSHOT_COLUMNS = [Ticket.id, Ticket.ticket_no, Ticket.unit_id, Ticket.status,
                     *(getattr(Ticket, name) for name in COMPARED)]


class TicketHandler:
    kind = "tickets"
    columns: tuple[Column, ...] = TICKET_COLUMNS
    whole_file = False

    def __init__(self) -> None:
        self._units: dict[str, int] | None = None

    def validate(self, values: dict[str, Any], ctx: Context) -> tuple[Any, list[tuple[str, str]]]:
        return validate_ticket(values, now=ctx.now, default_area_code=ctx.default_area_code)

    def key(self, record: TicketRecord) -> str:
        return record.ticket_no

    def _unit_ids(self, conn: Connection) -> dict[str, int]:
        if self._units is None:
            self._units = {name: uid for uid, name in conn.execute(select(Unit.id, Unit.name))}
        return self._units

    def _snapshots(self, conn: Connection, numbers: list[str]) -> dict[str, TicketSnapshot]:
        found = conn.execute(select(*_SNAPSHOT_COLUMNS).where(Ticket.ticket_no.in_(numbers)))
        rows = {r.ticket_no: r for r in found}
        closures: dict[int, list[ClosureSnapshot]] = {}
        if rows:
            ids = [r.id for r in rows.values()]
            for c in conn.execute(
                select(Closure.ticket_id, Closure.seq, Closure.closed_at, Closure.reopened,
                       Closure.reopened_at)
                .where(Closure.ticket_id.in_(ids)).order_by(Closure.ticket_id, Closure.seq)
            ):
                closures.setdefault(c.ticket_id, []).append(
                    ClosureSnapshot(c.seq, c.closed_at, c.reopened, c.reopened_at))
        return {
            no: TicketSnapshot(
                id=r.id, unit_id=r.unit_id,
                values={name: getattr(r, name) for name in (*COMPARED, "status")},
                closures=tuple(closures.get(r.id, ())),
            )
            for no, r in rows.items()
        }

    def apply(self, conn: Connection, rows: list[ValidRow], ctx: Context) -> list[RowResult]:
        units = self._unit_ids(conn)
        snapshots = self._snapshots(conn, [row.key for row in rows])
        results: list[RowResult] = []
        new: list[tuple[TicketRecord, TicketPlan]] = []
        changed: list[tuple[TicketSnapshot, TicketPlan]] = []
        for row in rows:
            rec: TicketRecord = row.record
            unit_id = units.get(rec.unit)
            if unit_id is None:
                results.append(RowResult(Outcome.REJECTED, "unit",
                                         f"unknown unit {rec.unit!r}; import units first"))
                continue
            old = snapshots.get(rec.ticket_no)
            if old is None:
                new.append((rec, plan_new(rec, unit_id)))
                results.append(RowResult(Outcome.INSERTED))
                continue
            plan = plan_update(old, rec, unit_id)
            if plan.error:
                results.append(RowResult(Outcome.REJECTED, *plan.error))
            elif plan.stale:
                results.append(RowResult(Outcome.STALE))
            elif plan.changed:
                changed.append((old, plan))
                results.append(RowResult(Outcome.UPDATED))
            else:
                results.append(RowResult(Outcome.UNCHANGED))
        self._write(conn, new, changed, ctx)
        return results

    def _write(self, conn: Connection, new: list[tuple[TicketRecord, TicketPlan]],
               changed: list[tuple[TicketSnapshot, TicketPlan]], ctx: Context) -> None:
        stamp = {"created_at": ctx.now, "updated_at": ctx.now, "last_import_id": ctx.import_id}
        ids: dict[str, int] = {}
        if new:
            insert_rows(conn, Ticket.__table__, [  # type: ignore[arg-type]
                {"ticket_no": rec.ticket_no, **plan.values, **stamp} for rec, plan in new])
            numbers = [rec.ticket_no for rec, _ in new]
            found = conn.execute(
                select(Ticket.ticket_no, Ticket.id).where(Ticket.ticket_no.in_(numbers)))
            ids = {str(no): int(tid) for no, tid in found.all()}
        planned = [(ids[rec.ticket_no], plan) for rec, plan in new]
        planned += [(old.id, plan) for old, plan in changed]
        for old, plan in changed:
            if plan.values:
                conn.execute(
                    update(Ticket).where(Ticket.id == old.id),
                    {**plan.values, "updated_at": ctx.now, "last_import_id": ctx.import_id})
        closures = [{"ticket_id": tid, "seq": p.new_closure[0], "closed_at": p.new_closure[1],
                     "reply_summary": p.values.get("reply_summary"), "reopened": False,
                     "created_at": ctx.now}
                    for tid, p in planned if p.new_closure]
        insert_rows(conn, Closure.__table__, closures)  # type: ignore[arg-type]
        reopens = [{"tid": tid, "s": seq, "at": at}
                   for tid, p in planned for seq, at in p.reopen]
        if reopens:
            conn.execute(
                update(Closure)
                .where(Closure.ticket_id == bindparam("tid"), Closure.seq == bindparam("s"))
                .values(reopened=True, reopened_at=bindparam("at")),
                reopens)
        events = [{"ticket_id": tid, "kind": e.kind, "at": e.at, "closure_seq": e.closure_seq,
                   "detail": e.detail, "actor": None, "import_id": ctx.import_id,
                   "created_at": ctx.now}
                  for tid, p in planned for e in p.events]
        insert_rows(conn, TicketEvent.__table__, events)  # type: ignore[arg-type]
