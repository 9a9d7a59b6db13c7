"""Call attempts as they happen: started, answered, each answer the moment it is heard,
finished with the dialer's decision. Answers become evaluations (source 智能回访) at once,
so the reports count automatic callbacks without waiting for the call to end."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, or_, select, update

from store.callbacks import Claimed
from store.campaign_models import CallAttempt, Callback, CallTurn
from store.enums import (
    AttemptStatus,
    CallbackStatus,
    EvaluationSource,
    EventKind,
    Resolved,
    ReviewKind,
    Satisfaction,
    TicketStatus,
    review_kind_of,
)
from store.models import Closure, Evaluation, Ticket, TicketEvent

log = logging.getLogger(__name__)
ACTOR = "huifang"


def start_attempts(engine: Engine, group: list[Claimed], call_id: str, node: str,
                   now: datetime) -> list[int]:
    """One attempt per callback of the call, written before the INVITE is sent, so a
    crash during the call leaves a trace to recover."""
    with engine.begin() as conn:
        ids = []
        for claimed in group:
            attempt_id = conn.execute(insert(CallAttempt).values(
                callback_id=claimed.callback_id, ticket_id=claimed.ticket_id,
                call_id=call_id, node=node, phone=claimed.phone,
                status=AttemptStatus.IN_PROGRESS, started_at=now
            ).returning(CallAttempt.id)).scalar_one()
            ids.append(int(attempt_id))
            conn.execute(update(Callback).where(Callback.id == claimed.callback_id)
                         .values(attempts=Callback.attempts + 1, updated_at=now))
    return ids


def mark_answered(engine: Engine, attempt_ids: list[int], now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(update(CallAttempt).where(CallAttempt.id.in_(attempt_ids))
                     .values(answered_at=now))


@dataclass(frozen=True)
class Answer:
    question: str  # "resolved" or "satisfied"
    intent: str  # what was understood (ivr's Intent value), "unclear" included
    value: Resolved | Satisfaction | None  # None: unclear, nothing to count
    confidence: float
    source: str  # "speech", "keys", "speech, same breath", "none"
    heard: str = ""


def save_answer(engine: Engine, attempt_id: int, answer: Answer, now: datetime) -> bool:
    """Record the turn; a clear answer also goes into the closure's evaluation (unless a
    person's evaluation is already there: theirs stands). Returns whether the evaluation
    was written."""
    with engine.begin() as conn:
        conn.execute(insert(CallTurn).values(
            attempt_id=attempt_id, question=answer.question, intent=answer.intent,
            confidence=answer.confidence, source=answer.source, heard=answer.heard or None,
            at=now))
        if answer.value is None:
            return False
        return _write_evaluation(conn, attempt_id, answer, now)


def _write_evaluation(conn: Connection, attempt_id: int, answer: Answer, now: datetime
                      ) -> bool:
    closure_id, ticket_id, seq = conn.execute(
        select(Callback.closure_id, Callback.ticket_id, Closure.seq)
        .join(CallAttempt, CallAttempt.callback_id == Callback.id)
        .join(Closure, Closure.id == Callback.closure_id)
        .where(CallAttempt.id == attempt_id)).one()
    column = "resolved" if answer.question == "resolved" else "satisfaction"
    existing = conn.execute(select(Evaluation.id, Evaluation.source)
                            .where(Evaluation.closure_id == closure_id)).first()
    if existing is not None and existing.source != EvaluationSource.AUTO:
        log.warning("attempt %s: closure %s already has a %s evaluation; the call's answer "
                    "is kept as a turn only", attempt_id, closure_id, existing.source)
        return False
    if existing is None:
        values = {"resolved": Resolved.UNKNOWN, "satisfaction": Satisfaction.UNKNOWN,
                  column: answer.value}
        conn.execute(insert(Evaluation).values(
            closure_id=closure_id, ticket_id=ticket_id, source=EvaluationSource.AUTO,
            evaluated_at=now, evaluated_by=ACTOR, note=f"attempt {attempt_id}",
            created_at=now, **values))
        conn.execute(insert(TicketEvent).values(
            ticket_id=ticket_id, kind=EventKind.EVALUATED, at=now, closure_seq=seq,
            actor=ACTOR, detail=f"智能回访 attempt {attempt_id}", created_at=now))
    else:
        conn.execute(update(Evaluation).where(Evaluation.id == existing.id)
                     .values({column: answer.value, "evaluated_at": now,
                              "note": f"attempt {attempt_id}"}))
    return True


@dataclass(frozen=True)
class AttemptEnd:
    outcome: str
    sip_code: int | None = None
    sip_reason: str | None = None
    heard: str | None = None
    recording: str | None = None
    reason_span: tuple[float, float] | None = None
    next_at: datetime | None = None  # call again then; None: no more attempts
    review: bool = False  # to the supervisors' queue
    decision: str = ""
    counted: bool = True  # False: the trunk failed, the citizen keeps the attempt


def finish_attempt(engine: Engine, attempt_id: int, end: AttemptEnd, now: datetime, *,
                   reopen_on_negative: bool = False) -> CallbackStatus:
    """Close the attempt and move its callback on: again later, to review, or done."""
    with engine.begin() as conn:
        callback_id, closure_id, ticket_id, seq = conn.execute(
            select(CallAttempt.callback_id, Callback.closure_id, Callback.ticket_id,
                   Closure.seq)
            .join(Callback, Callback.id == CallAttempt.callback_id)
            .join(Closure, Closure.id == Callback.closure_id)
            .where(CallAttempt.id == attempt_id)).one()
        span = end.reason_span or (None, None)
        conn.execute(update(CallAttempt).where(CallAttempt.id == attempt_id).values(
            status=AttemptStatus.FINISHED, ended_at=now, outcome=end.outcome,
            sip_code=end.sip_code, sip_reason=end.sip_reason, heard=end.heard,
            recording=end.recording, reason_from_s=span[0], reason_to_s=span[1],
            next_at=end.next_at, decision=end.decision or None))
        if end.next_at is not None:
            status = CallbackStatus.PENDING
            values: dict[str, Any] = {"due_at": end.next_at}
        else:
            status = CallbackStatus.REVIEW if end.review else CallbackStatus.DONE
            values = {}
            kind = review_kind_of(end.outcome) if end.review else (
                ReviewKind.NEGATIVE if end.reason_span and _negative(conn, closure_id)
                else None)
            if kind is not None:  # into the supervisors' queue, again if it was settled
                values.update(review_kind=kind, reviewed_at=None, reviewed_by=None)
        if not end.counted:
            values["attempts"] = Callback.attempts - 1
        conn.execute(update(Callback).where(Callback.id == callback_id).values(
            status=status, claimed_by=None, lease_until=None, last_outcome=end.outcome,
            note=end.decision or None, updated_at=now, **values))
        if reopen_on_negative:
            _reopen_if_negative(conn, closure_id, ticket_id, seq, attempt_id, now)
    return status


def _negative(conn: Connection, closure_id: int) -> bool:
    """The closure's evaluation says 未解决 or 不满意."""
    return conn.execute(select(Evaluation.id).where(
        Evaluation.closure_id == closure_id,
        or_(Evaluation.resolved == Resolved.NO,
            Evaluation.satisfaction == Satisfaction.UNSATISFIED))).first() is not None


def _reopen_if_negative(conn: Connection, closure_id: int, ticket_id: int, seq: int,
                        attempt_id: int, now: datetime) -> None:
    """退回重办: a callback that heard 未解决 or 不满意 sends the ticket back to its unit."""
    evaluation = conn.execute(select(Evaluation.resolved, Evaluation.satisfaction).where(
        Evaluation.closure_id == closure_id, Evaluation.source == EvaluationSource.AUTO)
    ).first()
    if evaluation is None or (evaluation.resolved != Resolved.NO
                              and evaluation.satisfaction != Satisfaction.UNSATISFIED):
        return
    conn.execute(update(Closure).where(Closure.id == closure_id)
                 .values(reopened=True, reopened_at=now))
    conn.execute(update(Ticket).where(Ticket.id == ticket_id)
                 .values(status=TicketStatus.REOPENED, updated_at=now))
    what = "未解决" if evaluation.resolved == Resolved.NO else "不满意"
    conn.execute(insert(TicketEvent).values(
        ticket_id=ticket_id, kind=EventKind.REOPENED, at=now, closure_seq=seq, actor=ACTOR,
        detail=f"退回重办: 回访结果{what} (attempt {attempt_id})", created_at=now))
    log.info("ticket %s reopened after attempt %s: %s", ticket_id, attempt_id, what)
