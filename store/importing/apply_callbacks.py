"""Write historic callback results (evaluations) and exclusions (剔除)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from store.bulk import insert_rows
from store.enums import EvaluationSource, EventKind, Resolved, Satisfaction
from store.importing.base import Context, Outcome, RowResult, ValidRow
from store.importing.columns import EVALUATION_COLUMNS, EXCLUSION_COLUMNS, Column
from store.importing.values import (
    parse_datetime,
    parse_resolved,
    parse_satisfaction,
    parse_source,
    text,
)
from store.models import Closure, Evaluation, Exclusion, Ticket, TicketEvent


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    ticket_no: str
    evaluated_at: datetime
    resolved: Resolved
    satisfaction: Satisfaction
    source: EvaluationSource
    evaluated_by: str | None
    note: str | None
    warnings: tuple[tuple[str, str], ...] = ()  # (column, what): the row is imported


def _ticket_ids(conn: Connection, numbers: list[str]) -> dict[str, int]:
    rows = conn.execute(select(Ticket.ticket_no, Ticket.id).where(Ticket.ticket_no.in_(numbers)))
    return {str(no): int(tid) for no, tid in rows.all()}


class EvaluationHandler:
    kind = "evaluations"
    columns: tuple[Column, ...] = EVALUATION_COLUMNS
    whole_file = False

    def validate(self, values: dict[str, Any], ctx: Context) -> tuple[Any, list[tuple[str, str]]]:
        errors: list[tuple[str, str]] = []
        parsed: dict[str, Any] = {"ticket_no": text(values.get("ticket_no")),
                                  "evaluated_by": text(values.get("evaluated_by")),
                                  "note": text(values.get("note"))}
        if parsed["ticket_no"] is None:
            errors.append(("ticket_no", "empty"))
        for name, parser in (("evaluated_at", parse_datetime), ("resolved", parse_resolved),
                             ("satisfaction", parse_satisfaction), ("source", parse_source)):
            try:
                parsed[name] = parser(values.get(name))
            except ValueError as exc:
                errors.append((name, str(exc)))
                continue
            if parsed[name] is None and name == "evaluated_at":
                errors.append((name, "empty"))
        if parsed.get("evaluated_at") and parsed["evaluated_at"] > ctx.now:
            errors.append(("evaluated_at", f"{parsed['evaluated_at']} is in the future"))
        # An empty answer cell is an unknown answer (not asked, or not answered): the row
        # is kept for the other answer, and the blank is reported. Both empty: nothing
        # was answered, and the row is not an evaluation.
        blank = [n for n in ("resolved", "satisfaction") if n in parsed and parsed[n] is None]
        if len(blank) == 2:
            errors.append(("resolved; satisfaction", "both answers empty"))
        if errors:
            return None, errors
        parsed["resolved"] = parsed["resolved"] or Resolved.UNKNOWN
        parsed["satisfaction"] = parsed["satisfaction"] or Satisfaction.UNKNOWN
        parsed["source"] = parsed["source"] or EvaluationSource.AGENT
        parsed["warnings"] = tuple((n, "empty: imported as unknown (未回答)") for n in blank)
        return EvaluationRecord(**parsed), errors

    def key(self, record: EvaluationRecord) -> str:
        return f"{record.ticket_no}\x1f{record.evaluated_at.isoformat()}"

    def apply(self, conn: Connection, rows: list[ValidRow], ctx: Context) -> list[RowResult]:
        tickets = _ticket_ids(conn, list({row.record.ticket_no for row in rows}))
        closures: dict[int, list[Any]] = {}
        if tickets:
            query = (
                select(Closure.id, Closure.ticket_id, Closure.seq, Closure.closed_at,
                       Closure.reopened_at, Evaluation.resolved, Evaluation.satisfaction,
                       Evaluation.source, Evaluation.evaluated_at)
                .outerjoin(Evaluation, Evaluation.closure_id == Closure.id)
                .where(Closure.ticket_id.in_(list(tickets.values())))
                .order_by(Closure.ticket_id, Closure.seq)
            )
            for c in conn.execute(query):
                closures.setdefault(c.ticket_id, []).append(c)
        taken: dict[int, int] = {}
        inserts, events, results = [], [], []
        for row in rows:
            rec: EvaluationRecord = row.record
            tid = tickets.get(rec.ticket_no)
            if tid is None:
                results.append(RowResult(Outcome.REJECTED, "ticket_no",
                                         f"unknown ticket {rec.ticket_no!r}"))
                continue
            before = [c for c in closures.get(tid, []) if c.closed_at <= rec.evaluated_at]
            if not before:
                results.append(RowResult(
                    Outcome.REJECTED, "evaluated_at",
                    f"{rec.evaluated_at} is before the ticket's first closure; a callback "
                    "before closure is not an evaluation"))
                continue
            closure = before[-1]
            if closure.reopened_at is not None and rec.evaluated_at > closure.reopened_at:
                results.append(RowResult(
                    Outcome.REJECTED, "evaluated_at",
                    f"{rec.evaluated_at} is after closure {closure.seq} was reopened "
                    f"({closure.reopened_at}) and before the ticket was closed again"))
                continue
            if closure.resolved is not None:
                same = (closure.resolved, closure.satisfaction, closure.source) == \
                    (rec.resolved, rec.satisfaction, rec.source)
                results.append(RowResult(Outcome.UNCHANGED) if same else RowResult(
                    Outcome.REJECTED, "satisfaction",
                    f"closure {closure.seq} already has an evaluation ({closure.resolved}/"
                    f"{closure.satisfaction}, {closure.source} at {closure.evaluated_at}); "
                    "a supervisor must correct it, an import does not overwrite"))
                continue
            if closure.id in taken:
                results.append(RowResult(
                    Outcome.REJECTED, "evaluated_at",
                    f"closure {closure.seq} is already evaluated by row {taken[closure.id]} "
                    "of this file"))
                continue
            taken[closure.id] = row.row_no
            inserts.append({"closure_id": closure.id, "ticket_id": tid,
                            "resolved": rec.resolved, "satisfaction": rec.satisfaction,
                            "source": rec.source, "evaluated_at": rec.evaluated_at,
                            "evaluated_by": rec.evaluated_by, "note": rec.note,
                            "import_id": ctx.import_id, "created_at": ctx.now})
            events.append({"ticket_id": tid, "kind": EventKind.EVALUATED,
                           "at": rec.evaluated_at, "closure_seq": closure.seq,
                           "actor": rec.evaluated_by, "import_id": ctx.import_id,
                           "detail": f"{rec.resolved}/{rec.satisfaction} ({rec.source})",
                           "created_at": ctx.now})
            results.append(RowResult(Outcome.INSERTED))
        insert_rows(conn, Evaluation.__table__, inserts)  # type: ignore[arg-type]
        insert_rows(conn, TicketEvent.__table__, events)  # type: ignore[arg-type]
        return results


@dataclass(frozen=True, slots=True)
class ExclusionRecord:
    ticket_no: str
    reason: str
    approved_by: str
    approved_at: datetime | None


class ExclusionHandler:
    kind = "exclusions"
    columns: tuple[Column, ...] = EXCLUSION_COLUMNS
    whole_file = False

    def validate(self, values: dict[str, Any], ctx: Context) -> tuple[Any, list[tuple[str, str]]]:
        errors: list[tuple[str, str]] = []
        parsed: dict[str, Any] = {}
        for name in ("ticket_no", "reason", "approved_by"):
            parsed[name] = text(values.get(name))
            if parsed[name] is None:
                errors.append((name, "empty (an exclusion needs a reason and an approver)"
                               if name != "ticket_no" else "empty"))
        try:
            parsed["approved_at"] = parse_datetime(values.get("approved_at"))
        except ValueError as exc:
            errors.append(("approved_at", str(exc)))
        if errors:
            return None, errors
        return ExclusionRecord(**parsed), errors

    def key(self, record: ExclusionRecord) -> str:
        return record.ticket_no

    def apply(self, conn: Connection, rows: list[ValidRow], ctx: Context) -> list[RowResult]:
        tickets = _ticket_ids(conn, [row.key for row in rows])
        existing = {r.ticket_id: r for r in conn.execute(
            select(Exclusion.ticket_id, Exclusion.reason, Exclusion.approved_by,
                   Exclusion.revoked_at)
            .where(Exclusion.ticket_id.in_(list(tickets.values()))))}
        inserts, events, results = [], [], []
        for row in rows:
            rec: ExclusionRecord = row.record
            tid = tickets.get(rec.ticket_no)
            if tid is None:
                results.append(RowResult(Outcome.REJECTED, "ticket_no",
                                         f"unknown ticket {rec.ticket_no!r}"))
                continue
            old = existing.get(tid)
            if old is not None:
                if old.revoked_at is None and (old.reason, old.approved_by) == \
                        (rec.reason, rec.approved_by):
                    results.append(RowResult(Outcome.UNCHANGED))
                else:
                    results.append(RowResult(
                        Outcome.REJECTED, "reason",
                        "the ticket already has an exclusion with another reason or approver "
                        "(or a revoked one); change it in the console, not by import"))
                continue
            at = rec.approved_at or ctx.now
            inserts.append({"ticket_id": tid, "reason": rec.reason,
                            "approved_by": rec.approved_by, "approved_at": at,
                            "import_id": ctx.import_id, "created_at": ctx.now})
            events.append({"ticket_id": tid, "kind": EventKind.EXCLUDED, "at": at,
                           "actor": rec.approved_by, "import_id": ctx.import_id,
                           "detail": rec.reason, "created_at": ctx.now, "closure_seq": None})
            results.append(RowResult(Outcome.INSERTED))
        insert_rows(conn, Exclusion.__table__, inserts)  # type: ignore[arg-type]
        insert_rows(conn, TicketEvent.__table__, events)  # type: ignore[arg-type]
        return results
