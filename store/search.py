"""Ticket search for the console: by number, by phone (whole or its last digits), or by
words of the summary. Every value is a bound parameter; LIKE wildcards are escaped."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, or_, select
from sqlalchemy.orm import Session

from store.campaign_models import Callback
from store.models import Closure, Evaluation, Ticket, Unit
from store.phones import PhoneError, normalize_phone


@dataclass(frozen=True)
class TicketHit:
    ticket_no: str
    unit: str
    category: str | None
    summary: str | None
    phone: str
    status: str
    closed_at: datetime | None


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_tickets(engine: Engine, q: str, default_area_code: str = "", limit: int = 50
                   ) -> list[TicketHit]:
    q = q.strip()[:100]
    if not q:
        return []
    digits = re.sub(r"\D", "", q)
    # a number prefix as a range, so that both stores search the unique index
    conditions = [and_(Ticket.ticket_no >= q, Ticket.ticket_no < q + "\U0010ffff")]
    if digits and len(digits) == len(re.sub(r"[\s\-+]", "", q)):
        if 4 <= len(digits) <= 6:
            conditions.append(Ticket.phone.like(f"%{digits}"))
        with contextlib.suppress(PhoneError):
            conditions.append(Ticket.phone == normalize_phone(q, default_area_code).e164)
    if len(q) >= 2 and not digits:
        conditions.append(Ticket.summary.like(f"%{_like(q)}%", escape="\\"))
    query = (select(Ticket.ticket_no, Unit.name, Ticket.category, Ticket.summary,
                    Ticket.phone, Ticket.status, Ticket.closed_at)
             .join(Unit, Unit.id == Ticket.unit_id).where(or_(*conditions))
             .order_by(Ticket.received_at.desc()).limit(limit))
    with engine.connect() as conn:
        return [TicketHit(r[0], r[1], r[2], r[3], r[4], str(r[5]), r[6])
                for r in conn.execute(query).all()]


def ticket_status(engine: Engine, ticket_no: str) -> dict[str, object] | None:
    """A ticket's state for the API: its closures, each with its evaluation and callback."""
    with Session(engine) as session:
        row = session.execute(select(Ticket, Unit.name).join(Unit, Unit.id == Ticket.unit_id)
                              .where(Ticket.ticket_no == ticket_no)).first()
        if row is None:
            return None
        t, unit = row
        closures = session.execute(
            select(Closure, Evaluation, Callback.status, Callback.attempts)
            .outerjoin(Evaluation, Evaluation.closure_id == Closure.id)
            .outerjoin(Callback, Callback.closure_id == Closure.id)
            .where(Closure.ticket_id == t.id).order_by(Closure.seq)).all()

    def stamp(value: datetime | None) -> str | None:
        return value.isoformat(sep=" ") if value else None

    return {
        "ticket_no": t.ticket_no, "unit": unit, "status": str(t.status),
        "closures": [{
            "seq": c.seq, "closed_at": stamp(c.closed_at), "reopened": c.reopened,
            "reopened_at": stamp(c.reopened_at),
            "evaluation": None if e is None else {
                "resolved": str(e.resolved), "satisfaction": str(e.satisfaction),
                "source": str(e.source), "evaluated_at": stamp(e.evaluated_at)},
            "callback": None if status is None else {"status": str(status),
                                                     "attempts": attempts},
        } for c, e, status, attempts in closures]}
