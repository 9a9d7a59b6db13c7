"""One ticket event from the hotline's own system (the console's JSON API), written
through exactly the import path a file takes: the same validation, the same idempotence
(a replay is `unchanged`, an older state `stale`), and an import batch naming its source,
so every value stays traceable. A replay changes nothing, so it leaves no batch either:
a client that retries, or a scanner that replays, cannot fill the import history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, update

from store.importing.apply_tickets import TicketHandler
from store.importing.base import Context, Outcome, ValidRow
from store.importing.columns import TICKET_COLUMNS, HeaderError, map_headers, normalize_header
from store.models import ImportBatch


@dataclass(frozen=True)
class EventResult:
    outcome: Outcome
    field: str = ""
    reason: str = ""
    import_id: int | None = None


def ticket_fields(payload: dict[str, Any]) -> tuple[dict[str, Any], EventResult | None]:
    """Map the payload's keys (English or the Chinese headers of exports) to columns; an
    unknown or doubled key is refused, naming it."""
    keys = [str(k) for k in payload]
    try:
        mapping = map_headers(keys, TICKET_COLUMNS)
    except HeaderError as exc:
        known = {normalize_header(a): c.name for c in TICKET_COLUMNS
                 for a in (c.name, *c.aliases)}
        present = {known.get(normalize_header(k)) for k in keys}
        missing = next((c.name for c in TICKET_COLUMNS
                        if c.required and c.name not in present), "")
        return {}, EventResult(Outcome.REJECTED, missing, str(exc))
    if mapping.ignored:
        return {}, EventResult(Outcome.REJECTED, mapping.ignored[0],
                               f"unknown field {mapping.ignored[0]!r}")
    values = {name: payload[keys[i]] for name, i in mapping.positions.items()}
    for name, value in values.items():
        # strings only, as the document says: a phone sent as a JSON number has lost its
        # leading 0 or +, and 1e10 is no ticket number
        if value is not None and not isinstance(value, str):
            return {}, EventResult(Outcome.REJECTED, name, "must be a string")
    return values, None


class _Rejected(Exception):
    def __init__(self, result: EventResult) -> None:
        super().__init__(result.reason)
        self.result = result


def apply_ticket_event(engine: Engine, values: dict[str, Any], source: str, now: datetime,
                       default_area_code: str = "") -> EventResult:
    handler = TicketHandler()
    record, errors = handler.validate(values, Context(0, now, default_area_code))
    if errors:
        column, reason = errors[0]
        return EventResult(Outcome.REJECTED, column, reason)
    try:
        with engine.begin() as conn:
            import_id = int(conn.execute(insert(ImportBatch).values(
                kind="tickets", source=source, started_at=now, status="running",
                strict=True, rows_read=1, rows_inserted=0, rows_updated=0,
                rows_unchanged=0, rows_rejected=0).returning(ImportBatch.id)).scalar_one())
            ctx = Context(import_id, now, default_area_code)
            result = handler.apply(conn, [ValidRow(1, handler.key(record), record)], ctx)[0]
            if result.outcome is Outcome.REJECTED:  # nothing of it is kept, not the batch
                raise _Rejected(EventResult(Outcome.REJECTED, result.column, result.reason))
            if result.outcome in (Outcome.UNCHANGED, Outcome.STALE):  # a replay: no batch
                raise _Rejected(EventResult(result.outcome))
            conn.execute(update(ImportBatch).where(ImportBatch.id == import_id).values(
                {"finished_at": now, "status": "finished",
                 f"rows_{result.outcome.value}": 1}))
    except _Rejected as rejected:
        return rejected.result
    return EventResult(result.outcome, import_id=import_id)
