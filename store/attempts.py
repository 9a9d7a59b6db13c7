"""Call attempts as they happen: started, each answer the moment it is heard, finished
(with when it was answered) and the callback moved on by the dialer's decision, made
from the counts read in the same transaction. Answers become evaluations (source 智能回访) at once,
so the reports count automatic callbacks without waiting for the call to end."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, or_, select, update

from store.callbacks import Claimed, calls_today, lock_number
from store.campaign_models import CallAttempt, Callback, CallTurn
from store.caps import Counts, Decision
from store.enums import (
    AttemptOutcome,
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


@dataclass(frozen=True)
class Answer:
    question: str  # "resolved" or "satisfied"
    intent: str  # what was understood (ivr's Intent value), "unclear" included
    value: Resolved | Satisfaction | None  # None: unclear, nothing to count
    confidence: float
    source: str  # "speech", "keys", "speech, same breath", "none"
    heard: str = ""
    span: tuple[float, float] | None = None  # in the recording (a heard turn's audio)


def save_answer(engine: Engine, attempt_id: int, answer: Answer, now: datetime) -> bool:
    """Record the turn; a clear answer also goes into the closure's evaluation (unless a
    person's evaluation is already there: theirs stands). Returns whether the evaluation
    was written."""
    with engine.begin() as conn:
        conn.execute(insert(CallTurn).values(
            attempt_id=attempt_id, question=answer.question, intent=answer.intent,
            confidence=answer.confidence, source=answer.source, heard=answer.heard or None,
            at=now, from_s=answer.span[0] if answer.span else None,
            to_s=answer.span[1] if answer.span else None))
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
class CallQuality:
    """What RTCP measured over the call (RFC 3550): packets of the citizen's audio lost,
    its interarrival jitter, and the round trip to the trunk; None where not measured."""

    packets_lost: int | None = None
    jitter_ms: float | None = None
    rtt_ms: float | None = None


@dataclass(frozen=True)
class AttemptEnd:
    """What the call came to for one ticket: facts, no policy."""

    outcome: AttemptOutcome
    sip_code: int | None = None
    sip_reason: str | None = None
    heard: str | None = None
    recording: str | None = None
    reason_span: tuple[float, float] | None = None
    answered_after_s: float | None = None  # from the INVITE to the answer; None: unanswered
    counted: bool = True  # False: the trunk failed, the citizen keeps the attempt
    quality: CallQuality | None = None  # RTCP's figures; None: not measured


Decide = Callable[[Counts], Decision]


def finish_attempt(engine: Engine, attempt_id: int, end: AttemptEnd, now: datetime,
                   decide: Decide, *, reopen_on_negative: bool = False) -> CallbackStatus:
    """Close the attempt and move its callback on: again later, to review, or done, as
    `decide` says given the closure's counted attempts (this one included if counted) and
    the calls to its number today, both read in this transaction under the number's lock,
    so no other dialer's claim can slip between the count and the decision."""
    with engine.begin() as conn:
        callback_id, closure_id, ticket_id, seq, phone, started_at = conn.execute(
            select(CallAttempt.callback_id, Callback.closure_id, Callback.ticket_id,
                   Closure.seq, CallAttempt.phone, CallAttempt.started_at)
            .join(Callback, Callback.id == CallAttempt.callback_id)
            .join(Closure, Closure.id == Callback.closure_id)
            .where(CallAttempt.id == attempt_id)).one()
        lock_number(conn, phone, wait=True)
        made = conn.execute(select(Callback.attempts).where(Callback.id == callback_id)
                            ).scalar_one()  # this attempt included since it started
        decision = decide(Counts(made if end.counted else made - 1,
                                 calls_today(conn, phone, now)))
        span = end.reason_span or (None, None)
        quality = end.quality or CallQuality()
        answered_at = None if end.answered_after_s is None else \
            started_at + timedelta(seconds=end.answered_after_s)
        conn.execute(update(CallAttempt).where(CallAttempt.id == attempt_id).values(
            status=AttemptStatus.FINISHED, answered_at=answered_at, ended_at=now,
            outcome=end.outcome, sip_code=end.sip_code, sip_reason=end.sip_reason,
            heard=end.heard, recording=end.recording, reason_from_s=span[0],
            reason_to_s=span[1], next_at=decision.at, decision=decision.why or None,
            packets_lost=quality.packets_lost, jitter_ms=quality.jitter_ms,
            rtt_ms=quality.rtt_ms))
        if decision.at is not None:
            status = CallbackStatus.PENDING
            values: dict[str, Any] = {"due_at": decision.at}
        else:
            status = CallbackStatus.REVIEW if decision.review else CallbackStatus.DONE
            values = {}
            kind = review_kind_of(end.outcome) if decision.review else (
                ReviewKind.NEGATIVE if end.reason_span and _negative(conn, closure_id)
                else None)
            if kind is not None:  # into the supervisors' queue, again if it was settled
                values.update(review_kind=kind, reviewed_at=None, reviewed_by=None)
        if not end.counted:
            values["attempts"] = Callback.attempts - 1
        conn.execute(update(Callback).where(Callback.id == callback_id).values(
            status=status, claimed_by=None, lease_until=None, last_outcome=end.outcome,
            note=decision.why or None, updated_at=now, **values))
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
