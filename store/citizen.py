"""One citizen on one page (来电人画像): every ticket of the number a ticket has, each
ticket's answers and calls with the reason the citizen gave, and the flags a supervisor
looks for: a repeat caller, dissatisfaction said more than once, how often the number was
called this month. Read only; the number itself never leaves here (the caller masks it,
revealing it is an audited action of its own)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from store.campaign_models import CallAttempt
from store.enums import AttemptOutcome, EvaluationSource, Resolved, Satisfaction, TicketStatus
from store.models import Closure, Evaluation, Ticket, Unit

REPEAT_DAYS = 30  # tickets within this many days of each other make a repeat caller
REPEAT_TICKETS = 2


@dataclass(frozen=True)
class Answer:
    closure_seq: int
    resolved: Resolved
    satisfaction: Satisfaction
    source: EvaluationSource
    at: datetime
    by: str | None  # one per closure: a correction replaces it (its trail is in the audit)


@dataclass(frozen=True)
class Call:
    attempt_id: int
    callback_id: int
    started_at: datetime
    outcome: AttemptOutcome | None
    reason_text: str | None  # as stored: the page masks any number said in it
    reason_category: str | None


@dataclass
class TicketLine:
    ticket_no: str
    received_at: datetime
    unit: str
    category: str | None
    summary: str | None
    status: TicketStatus
    answers: list[Answer] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)


@dataclass(frozen=True)
class Citizen:
    phone: str
    tickets: list[TicketLine]
    calls_this_month: int
    repeat_caller: bool  # REPEAT_TICKETS tickets within REPEAT_DAYS of each other
    unsatisfied: int  # closures answered 不满意
    unresolved: int  # closures answered 未解决


def citizen_of(engine: Engine, ticket_no: str, now: datetime) -> Citizen | None:
    """The citizen who called in `ticket_no` (by its number); None if no such ticket."""
    with engine.connect() as conn:
        phone = conn.execute(select(Ticket.phone).where(Ticket.ticket_no == ticket_no)
                             ).scalar_one_or_none()
        if phone is None:
            return None
        rows = conn.execute(
            select(Ticket.id, Ticket.ticket_no, Ticket.received_at, Unit.name,
                   Ticket.category, Ticket.summary, Ticket.status)
            .join(Unit, Unit.id == Ticket.unit_id).where(Ticket.phone == phone)
            .order_by(Ticket.received_at.desc(), Ticket.id.desc())).all()
        tickets = {r.id: TicketLine(r.ticket_no, r.received_at, r.name, r.category,
                                    r.summary, TicketStatus(r.status)) for r in rows}
        answers = conn.execute(
            select(Evaluation.ticket_id, Closure.seq, Evaluation.resolved,
                   Evaluation.satisfaction, Evaluation.source, Evaluation.evaluated_at,
                   Evaluation.evaluated_by)
            .join(Closure, Closure.id == Evaluation.closure_id)
            .where(Evaluation.ticket_id.in_(list(tickets)))
            .order_by(Closure.seq)).all()
        calls = conn.execute(
            select(CallAttempt.ticket_id, CallAttempt.id, CallAttempt.callback_id,
                   CallAttempt.started_at, CallAttempt.outcome, CallAttempt.reason_text,
                   CallAttempt.reason_category)
            .where(CallAttempt.ticket_id.in_(list(tickets)))
            .order_by(CallAttempt.started_at.desc(), CallAttempt.id.desc())).all()
        month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        this_month = int(conn.execute(select(func.count()).select_from(CallAttempt).where(
            CallAttempt.phone == phone, CallAttempt.started_at >= month)).scalar_one())
    for a in answers:
        tickets[a.ticket_id].answers.append(Answer(
            int(a.seq), Resolved(a.resolved), Satisfaction(a.satisfaction),
            EvaluationSource(a.source), a.evaluated_at, a.evaluated_by))
    for c in calls:
        tickets[c.ticket_id].calls.append(Call(
            int(c.id), int(c.callback_id), c.started_at,
            AttemptOutcome(c.outcome) if c.outcome else None, c.reason_text,
            c.reason_category))
    counted = [a for t in tickets.values() for a in t.answers]
    received = sorted(t.received_at for t in tickets.values())
    window = timedelta(days=REPEAT_DAYS)
    repeat = any(later - earlier <= window for earlier, later in
                 zip(received, received[REPEAT_TICKETS - 1:], strict=False))
    return Citizen(str(phone), list(tickets.values()), this_month, repeat,
                   sum(a.satisfaction is Satisfaction.UNSATISFIED for a in counted),
                   sum(a.resolved is Resolved.NO for a in counted))
