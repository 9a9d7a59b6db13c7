"""A ticket's history, as a supervisor reads it.

The lifecycle a ticket already had when the store first saw it lives in the ticket's
columns and its closures; what changed afterwards, and who or which import changed it,
lives in `ticket_events`. This merges both, plus evaluations and exclusions, into one
timeline in which every entry names its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from store.enums import EventKind
from store.models import Closure, Evaluation, Exclusion, Ticket, TicketEvent


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime | None
    kind: EventKind
    closure_seq: int | None
    detail: str | None
    actor: str | None
    import_id: int | None
    recorded_at: datetime | None  # when the store learnt it


def ticket_history(conn: Connection, ticket_no: str) -> list[HistoryEntry]:
    ticket = conn.execute(select(Ticket).where(Ticket.ticket_no == ticket_no)).one_or_none()
    if ticket is None:
        raise KeyError(ticket_no)
    events = conn.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                          .order_by(TicketEvent.id)).all()
    observed = {(e.kind, e.closure_seq) for e in events}
    imported = next((e for e in events if e.kind is EventKind.IMPORTED), None)
    first_import = imported.import_id if imported else None
    first_seen = imported.created_at if imported else None
    entries: list[HistoryEntry] = []

    def fact(at: datetime | None, kind: EventKind, seq: int | None = None,
             detail: str | None = None) -> None:
        # A lifecycle fact that no later event records came with the first sighting.
        if at is not None and (kind, seq) not in observed:
            entries.append(HistoryEntry(at, kind, seq, detail, None, first_import, first_seen))

    fact(ticket.received_at, EventKind.RECEIVED)
    fact(ticket.dispatched_at, EventKind.DISPATCHED)
    fact(ticket.signed_at, EventKind.SIGNED)
    for c in conn.execute(select(Closure).where(Closure.ticket_id == ticket.id)
                          .order_by(Closure.seq)).all():
        fact(c.closed_at, EventKind.CLOSED, c.seq, c.reply_summary)
        if c.reopened:
            fact(c.reopened_at or c.closed_at, EventKind.REOPENED, c.seq,
                 None if c.reopened_at else "reopen time unknown")
    for e in events:
        entries.append(HistoryEntry(e.at or e.created_at, e.kind, e.closure_seq, e.detail,
                                    e.actor, e.import_id, e.created_at))
    # Evaluations and exclusions written without an event of their own still show.
    for ev in conn.execute(
            select(Evaluation.evaluated_at, Evaluation.resolved, Evaluation.satisfaction,
                   Evaluation.source, Evaluation.evaluated_by, Evaluation.import_id,
                   Evaluation.created_at, Closure.seq)
            .join(Closure, Closure.id == Evaluation.closure_id)
            .where(Evaluation.ticket_id == ticket.id)).all():
        if (EventKind.EVALUATED, ev.seq) not in observed:
            entries.append(HistoryEntry(ev.evaluated_at, EventKind.EVALUATED, ev.seq,
                                        f"{ev.resolved}/{ev.satisfaction} ({ev.source})",
                                        ev.evaluated_by, ev.import_id, ev.created_at))
    if (EventKind.EXCLUDED, None) not in observed:
        for x in conn.execute(select(Exclusion.approved_at, Exclusion.reason,
                                     Exclusion.approved_by, Exclusion.import_id,
                                     Exclusion.created_at)
                              .where(Exclusion.ticket_id == ticket.id)).all():
            entries.append(HistoryEntry(x.approved_at, EventKind.EXCLUDED, None, x.reason,
                                        x.approved_by, x.import_id, x.created_at))
    order = {kind: i for i, kind in enumerate(EventKind)}
    entries.sort(key=lambda h: (h.at or datetime.max, order[h.kind]))
    return entries
