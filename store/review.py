"""The supervisors' review queue (复核队列) and what a call looked like, read side.

The queue holds what the machine could not settle and a person has not yet settled:
callbacks sent to review (unreachable after the last attempt, unclear answers, a wrong
person, a carrier announcement or an invalid number, a media failure) and callbacks that
heard 未解决 or 不满意 with a recorded reason. The campaign sets a callback's
`review_kind` when it goes there; a supervisor's action sets `reviewed_at`. Both partial
indexes hold the unsettled queue alone, so the queue costs the same after years of
history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from store.attempts import CallQuality
from store.campaign_models import CallAttempt, Callback, CallTurn
from store.enums import REVIEW_KIND_LABELS
from store.models import Closure, Evaluation, Exclusion, Ticket, Unit

KIND_LABELS = {str(kind): label for kind, label in REVIEW_KIND_LABELS.items()}
# what the partial indexes ix_callbacks_queue and ix_callbacks_queue_kind hold
IN_QUEUE = and_(Callback.review_kind.is_not(None), Callback.reviewed_at.is_(None))


@dataclass(frozen=True)
class QueueFilter:
    unit_id: int | None = None
    since: date | None = None  # the callback's last activity, inclusive
    until: date | None = None  # inclusive
    outcome: str = ""  # the last attempt's outcome
    category: str = ""  # the ticket's 诉求分类, prefix
    kind: str = ""


@dataclass(frozen=True)
class QueueItem:
    callback_id: int
    kind: str
    ticket_no: str
    unit: str
    category: str | None
    summary: str | None
    phone: str
    closed_at: datetime
    attempts: int
    last_outcome: str | None
    updated_at: datetime
    resolved: str | None
    satisfaction: str | None
    deadline_at: datetime | None = None  # the callback's deadline (回访截止)


@dataclass
class Queue:
    items: list[QueueItem]
    total: int  # matching the filter
    by_kind: dict[str, int] = field(default_factory=dict)  # the filter but its kind


def _filtered(query: Any, f: QueueFilter, *, with_kind: bool) -> Any:
    if f.unit_id is not None:
        query = query.where(Ticket.unit_id == f.unit_id)
    if f.since is not None:
        query = query.where(Callback.updated_at >= datetime.combine(f.since, time(0)))
    if f.until is not None:
        query = query.where(Callback.updated_at < datetime.combine(
            f.until + timedelta(days=1), time(0)))
    if f.outcome:
        query = query.where(Callback.last_outcome == f.outcome)
    if f.category:
        escaped = f.category.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Ticket.category.like(f"{escaped}%", escape="\\"))
    if with_kind and f.kind:
        query = query.where(Callback.review_kind == f.kind)
    return query


def _needs_ticket(f: QueueFilter) -> bool:
    return f.unit_id is not None or bool(f.category)


def queue(engine: Engine, f: QueueFilter, *, limit: int = 50, offset: int = 0) -> Queue:
    """Oldest first: the work that has waited longest comes first."""
    page = _filtered(select(Callback.id).where(IN_QUEUE), f, with_kind=True)
    if _needs_ticket(f):
        page = page.join(Ticket, Ticket.id == Callback.ticket_id)
    page_ids = page.order_by(Callback.updated_at, Callback.id).limit(limit).offset(offset)
    listing = (select(Callback.id, Callback.review_kind, Ticket.ticket_no, Unit.name,
                      Ticket.category, Ticket.summary, Ticket.phone, Closure.closed_at,
                      Callback.attempts, Callback.last_outcome, Callback.updated_at,
                      Evaluation.resolved, Evaluation.satisfaction, Callback.deadline_at)
               .join(Ticket, Ticket.id == Callback.ticket_id)
               .join(Unit, Unit.id == Ticket.unit_id)
               .join(Closure, Closure.id == Callback.closure_id)
               .outerjoin(Evaluation, Evaluation.closure_id == Callback.closure_id)
               .where(Callback.id.in_(page_ids.scalar_subquery()))
               .order_by(Callback.updated_at, Callback.id))
    counting = _filtered(select(Callback.review_kind, func.count()).where(IN_QUEUE), f,
                         with_kind=False)
    if _needs_ticket(f):
        counting = counting.join(Ticket, Ticket.id == Callback.ticket_id)
    counting = counting.group_by(Callback.review_kind)
    with engine.connect() as conn:
        rows = conn.execute(listing).all() if limit else []
        by_kind = {str(k): int(n) for k, n in conn.execute(counting).all()}
    total = by_kind.get(f.kind, 0) if f.kind else sum(by_kind.values())
    items = [QueueItem(r[0], str(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                       r[10], None if r[11] is None else str(r[11]),
                       None if r[12] is None else str(r[12]), r[13]) for r in rows]
    return Queue(items, total, by_kind)


def position(engine: Engine, callback_id: int) -> datetime | None:
    """Where a callback stands in the queue's order (its `updated_at`): an action moves
    it, so the web reads this before acting to find the item that came after it."""
    with engine.connect() as conn:
        return conn.execute(select(Callback.updated_at).where(Callback.id == callback_id)
                            ).scalar_one_or_none()


def neighbours(engine: Engine, f: QueueFilter, callback_id: int,
               here: datetime | None = None) -> tuple[int | None, int | None]:
    """The items before and after this one in the queue's order, for keyboard work;
    `here`: the place it had (`position` before an action settled and moved it)."""
    with engine.connect() as conn:
        if here is None:
            here = conn.execute(select(Callback.updated_at).where(Callback.id == callback_id)
                                ).scalar_one_or_none()
        if here is None:
            return None, None
        base = _filtered(select(Callback.id).where(IN_QUEUE), f, with_kind=True)
        if _needs_ticket(f):
            base = base.join(Ticket, Ticket.id == Callback.ticket_id)
        at, cid = Callback.updated_at, Callback.id
        before = conn.execute(base.where(or_(at < here, and_(at == here, cid < callback_id)))
                              .order_by(at.desc(), cid.desc()).limit(1)).scalar()
        after = conn.execute(base.where(or_(at > here, and_(at == here, cid > callback_id)))
                             .order_by(at, cid).limit(1)).scalar()
    return before, after


# -- one call as a supervisor sees it --------------------------------------------------
@dataclass(frozen=True)
class Turn:
    question: str
    intent: str
    confidence: float
    source: str
    heard: str | None
    at: datetime
    from_s: float | None = None  # a heard turn's audio in the recording (seconds)


@dataclass(frozen=True)
class Attempt:
    id: int
    call_id: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    status: str
    outcome: str | None
    sip_code: int | None
    sip_reason: str | None
    heard: str | None
    recording: str | None
    reason_span: tuple[float, float] | None
    decision: str | None
    turns: list[Turn]
    quality: CallQuality | None = None  # RTCP's figures; None: not measured
    recording_deleted_at: datetime | None = None  # retention deleted the file then


@dataclass(frozen=True)
class CallDetail:
    callback_id: int
    status: str
    kind: str | None  # None: not in the queue (settled, or never there)
    in_queue: bool
    reviewed_by: str | None
    reviewed_at: datetime | None
    due_at: datetime
    deadline_at: datetime
    attempts_made: int
    note: str | None
    ticket: dict[str, Any]
    evaluation: dict[str, Any] | None
    excluded: str | None
    attempts: list[Attempt]


def _attempts(conn: Connection, callback_id: int) -> list[Attempt]:
    attempts = conn.execute(select(CallAttempt).where(CallAttempt.callback_id == callback_id)
                            .order_by(CallAttempt.started_at, CallAttempt.id)).all()
    turns: dict[int, list[Turn]] = {}
    for t in conn.execute(select(CallTurn).where(
            CallTurn.attempt_id.in_([a.id for a in attempts])).order_by(CallTurn.id)):
        turns.setdefault(t.attempt_id, []).append(
            Turn(t.question, t.intent, t.confidence, t.source, t.heard, t.at, t.from_s))
    return [Attempt(a.id, a.call_id, a.started_at, a.answered_at, a.ended_at, str(a.status),
                    a.outcome, a.sip_code, a.sip_reason, a.heard, a.recording,
                    (a.reason_from_s, a.reason_to_s) if a.reason_from_s is not None
                    and a.reason_to_s is not None else None,
                    a.decision, turns.get(a.id, []), _quality(a),
                    recording_deleted_at=a.recording_deleted_at) for a in attempts]


def _quality(a: Any) -> CallQuality | None:
    quality = CallQuality(a.packets_lost, a.jitter_ms, a.rtt_ms)
    return None if quality == CallQuality() else quality


def call_detail(engine: Engine, callback_id: int) -> CallDetail | None:
    with Session(engine) as session:
        row = session.execute(
            select(Callback, Ticket, Unit.name, Closure, (IN_QUEUE).label("q"))
            .join(Ticket, Ticket.id == Callback.ticket_id)
            .join(Unit, Unit.id == Ticket.unit_id)
            .join(Closure, Closure.id == Callback.closure_id)
            .outerjoin(Evaluation, Evaluation.closure_id == Callback.closure_id)
            .where(Callback.id == callback_id)).first()
        if row is None:
            return None
        cb, t, unit, closure, in_queue = row
        ev = session.execute(select(Evaluation).where(
            Evaluation.closure_id == cb.closure_id)).scalar_one_or_none()
        excluded = session.execute(select(Exclusion.reason).where(
            Exclusion.ticket_id == t.id, Exclusion.revoked_at.is_(None))).scalar()
        attempts = _attempts(session.connection(), cb.id)
    ticket = {"id": t.id, "ticket_no": t.ticket_no, "unit": unit, "type": str(t.type),
              "category": t.category, "summary": t.summary, "phone": t.phone,
              "citizen_name": t.citizen_name, "received_at": t.received_at,
              "closed_at": closure.closed_at, "closure_seq": closure.seq,
              "reply_summary": closure.reply_summary, "status": str(t.status),
              "reopened": closure.reopened}
    evaluation = None if ev is None else {
        "resolved": str(ev.resolved), "satisfaction": str(ev.satisfaction),
        "source": str(ev.source), "evaluated_by": ev.evaluated_by,
        "evaluated_at": ev.evaluated_at, "note": ev.note}
    return CallDetail(cb.id, str(cb.status), str(cb.review_kind) if in_queue else None,
                      bool(in_queue),
                      cb.reviewed_by, cb.reviewed_at, cb.due_at, cb.deadline_at, cb.attempts,
                      cb.note, ticket, evaluation, excluded, attempts)


def callbacks_of_ticket(engine: Engine, ticket_no: str) -> list[tuple[int, int, str]]:
    """(callback id, closure seq, status) of a ticket's callbacks, latest closure first."""
    with engine.connect() as conn:
        rows = conn.execute(select(Callback.id, Closure.seq, Callback.status)
                            .join(Closure, Closure.id == Callback.closure_id)
                            .join(Ticket, Ticket.id == Callback.ticket_id)
                            .where(Ticket.ticket_no == ticket_no)
                            .order_by(Closure.seq.desc())).all()
    return [(int(a), int(b), str(c)) for a, b, c in rows]


def unit_choices(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [(int(i), str(n)) for i, n in conn.execute(
            select(Unit.id, Unit.name).order_by(Unit.name)).all()]


def outcome_choices(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [str(o) for o in conn.execute(
            select(Callback.last_outcome).where(Callback.last_outcome.is_not(None))
            .distinct().order_by(Callback.last_outcome)).scalars()]


def ticket_of(engine: Engine, callback_id: int) -> tuple[str, str] | None:
    """The ticket number and phone of a callback, for an action on it."""
    with engine.connect() as conn:
        row = conn.execute(select(Ticket.ticket_no, Ticket.phone)
                           .join(Callback, Callback.ticket_id == Ticket.id)
                           .where(Callback.id == callback_id)).first()
    return None if row is None else (str(row[0]), str(row[1]))


def reviewed(engine: Engine, callback_id: int) -> tuple[str, datetime] | None:
    """Who settled the callback and when, or None while no person has."""
    with engine.connect() as conn:
        row = conn.execute(select(Callback.reviewed_by, Callback.reviewed_at)
                           .where(Callback.id == callback_id)).first()
    if row is None or row[1] is None:
        return None
    return str(row[0] or ""), row[1]


def recording_of(engine: Engine, attempt_id: int) -> str | None:
    with engine.connect() as conn:
        path = conn.execute(select(CallAttempt.recording)
                            .where(CallAttempt.id == attempt_id)).scalar()
    return None if path is None else str(path)
