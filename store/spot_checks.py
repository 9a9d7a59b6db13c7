"""Spot checks (抽检), store side: the calls drawn from those the machine settled by itself,
and what a supervisor heard when they listened to one blind.

A spot check is one row per drawn attempt (unique), written by the daily draw
(`draw_day`, the rule in `store.spot_rule`) with the machine's two answers as they were
when drawn, so the measured accuracy compares a person with the machine even after the
evaluation was corrected. Checking it (`store.spot_check_results.check`) fills in who,
when and their answers; the accuracy figure (`scoring.accuracy`) reads these rows.

A candidate of a day: an attempt started that day that ended `completed`, whose closure's
evaluation is still the machine's (智能回访) with both answers known, both heard in that
attempt (its last answering turn of each question says what the evaluation says), and
whose callback no person has settled and that the machine did not send to review (a
negative answer with a recorded reason is still the machine's own).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.campaign_models import CallAttempt, Callback, CallTurn
from store.enums import (
    AttemptOutcome,
    AttemptStatus,
    EvaluationSource,
    Resolved,
    ReviewKind,
    Satisfaction,
)
from store.models import Base, Evaluation, LocalDateTime, Ticket, Unit, _enum
from store.spot_rule import Candidate, DrawRules, draw

log = logging.getLogger(__name__)

# a turn's intent (ivr's Intent values) -> the stored answer it stands for
INTENT_ANSWERS: Mapping[str, tuple[str, str]] = {
    "resolved": ("resolved", "yes"), "unresolved": ("resolved", "no"),
    "satisfied": ("satisfied", "satisfied"), "basic_satisfied": ("satisfied", "basic"),
    "unsatisfied": ("satisfied", "unsatisfied")}


class SpotCheck(Base):
    """抽检: one drawn call of the machine's, and the person's blind answers once checked."""

    __tablename__ = "spot_checks"
    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("call_attempts.id", ondelete="CASCADE"), unique=True)
    callback_id: Mapped[int] = mapped_column(
        ForeignKey("callbacks.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"),
                                           index=True)
    call_at: Mapped[datetime] = mapped_column(LocalDateTime, index=True)  # attempt start
    # the draw, to recompute: spot_rule.draw_number(attempt_id), the weight, and why
    number: Mapped[float] = mapped_column(Float)
    weight: Mapped[float] = mapped_column(Float)
    drawn_by: Mapped[str] = mapped_column(String(16))  # "share" or "minimum"
    drawn_at: Mapped[datetime] = mapped_column(LocalDateTime)
    machine_resolved: Mapped[Resolved] = mapped_column(_enum(Resolved))
    machine_satisfaction: Mapped[Satisfaction] = mapped_column(_enum(Satisfaction))
    # the latest check (each check, and each change of it, is in the audit log)
    checks: Mapped[int] = mapped_column(Integer, default=0)
    checked_at: Mapped[datetime | None] = mapped_column(LocalDateTime, index=True)
    checked_by: Mapped[str | None] = mapped_column(String(100))
    checked_resolved: Mapped[Resolved | None] = mapped_column(_enum(Resolved))
    checked_satisfaction: Mapped[Satisfaction | None] = mapped_column(_enum(Satisfaction))
    agreed_resolved: Mapped[bool | None] = mapped_column(Boolean)
    agreed_satisfaction: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)


def _day(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0))
    return start, start + timedelta(days=1)


def heard_both(turns: list[tuple[str, str]], resolved: str, satisfaction: str) -> bool:
    """Whether the attempt's last answer to each question (turns: (question, intent) in
    order) is the evaluation's: both answers came from this call."""
    last: dict[str, str] = {}
    for question, intent in turns:
        answer = INTENT_ANSWERS.get(intent)
        if answer is not None and answer[0] == question:
            last[question] = answer[1]
    return last.get("resolved") == resolved and last.get("satisfied") == satisfaction


def candidates(conn: Connection, day: date) -> list[tuple[Candidate, int, int, datetime]]:
    """The day's candidates, each with its callback id, ticket id and start."""
    start, end = _day(day)
    rows = conn.execute(
        select(CallAttempt.id, CallAttempt.callback_id, CallAttempt.ticket_id,
               CallAttempt.started_at, Evaluation.resolved, Evaluation.satisfaction)
        .join(Callback, Callback.id == CallAttempt.callback_id)
        .join(Evaluation, Evaluation.closure_id == Callback.closure_id)
        .where(CallAttempt.started_at >= start, CallAttempt.started_at < end,
               CallAttempt.status == AttemptStatus.FINISHED,
               CallAttempt.outcome == AttemptOutcome.COMPLETED,
               Evaluation.source == EvaluationSource.AUTO,
               Evaluation.resolved != Resolved.UNKNOWN,
               Evaluation.satisfaction != Satisfaction.UNKNOWN,
               Callback.reviewed_at.is_(None),
               or_(Callback.review_kind.is_(None),
                   Callback.review_kind == ReviewKind.NEGATIVE))
        .order_by(CallAttempt.id)).all()
    turns: dict[int, list[tuple[str, str]]] = {}
    if rows:
        for attempt_id, question, intent in conn.execute(
                select(CallTurn.attempt_id, CallTurn.question, CallTurn.intent)
                .where(CallTurn.attempt_id.in_([r[0] for r in rows]))
                .order_by(CallTurn.id)):
            turns.setdefault(int(attempt_id), []).append((str(question), str(intent)))
    found = []
    for r in rows:
        resolved, satisfaction = str(r.resolved), str(r.satisfaction)
        if heard_both(turns.get(int(r.id), []), resolved, satisfaction):
            found.append((Candidate(int(r.id), resolved, satisfaction), int(r.callback_id),
                          int(r.ticket_id), r.started_at))
    return found


@dataclass(frozen=True)
class DayDraw:
    day: date
    candidates: int
    drawn_before: int
    drawn_now: int


def draw_day(engine: Engine, day: date, rules: DrawRules, now: datetime) -> DayDraw:
    """Draw the day's spot checks; those drawn before stay, and a second node drawing the
    same day at once inserts nothing twice (the draw is the same; the attempt is unique)."""
    with engine.begin() as conn:
        found = candidates(conn, day)
        start, end = _day(day)
        already = [int(a) for a in conn.execute(select(SpotCheck.attempt_id).where(
            SpotCheck.call_at >= start, SpotCheck.call_at < end)).scalars()]
        by_id = {c.attempt_id: (c, cb, t, at) for c, cb, t, at in found}
        chosen = draw([c for c, *_ in found], rules, already)
        table = SpotCheck.__table__
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        for d in chosen:
            c, callback_id, ticket_id, at = by_id[d.attempt_id]
            conn.execute(dialect.insert(table).values(
                attempt_id=d.attempt_id, callback_id=callback_id, ticket_id=ticket_id,
                call_at=at, number=d.number, weight=d.weight, drawn_by=d.by, drawn_at=now,
                machine_resolved=c.resolved, machine_satisfaction=c.satisfaction, checks=0,
            ).on_conflict_do_nothing(index_elements=["attempt_id"]))
    log.info("spot checks of %s: %d drawn now, %d before, of %d candidates", day,
             len(chosen), len(already), len(found))
    return DayDraw(day, len(found), len(already), len(chosen))


@dataclass(frozen=True)
class SpotFilter:
    state: str = ""  # "" all, "todo" not checked, "done" checked
    since: date | None = None  # the call's day, inclusive
    until: date | None = None  # inclusive


@dataclass(frozen=True)
class SpotItem:
    id: int
    attempt_id: int
    callback_id: int
    ticket_no: str
    unit: str
    phone: str
    call_at: datetime
    checked_at: datetime | None
    checked_by: str | None
    agreed: bool | None  # both answers agreed; None: not checked


def _filtered(query: Any, f: SpotFilter) -> Any:
    if f.state == "todo":
        query = query.where(SpotCheck.checked_at.is_(None))
    elif f.state == "done":
        query = query.where(SpotCheck.checked_at.is_not(None))
    if f.since is not None:
        query = query.where(SpotCheck.call_at >= datetime.combine(f.since, time(0)))
    if f.until is not None:
        query = query.where(SpotCheck.call_at < _day(f.until)[1])
    return query


def listing(engine: Engine, f: SpotFilter, *, limit: int = 50, offset: int = 0
            ) -> tuple[list[SpotItem], int]:
    """The drawn calls, those waiting first, oldest call first; and how many match."""
    query = _filtered(
        select(SpotCheck.id, SpotCheck.attempt_id, SpotCheck.callback_id, Ticket.ticket_no,
               Unit.name, Ticket.phone, SpotCheck.call_at, SpotCheck.checked_at,
               SpotCheck.checked_by, SpotCheck.agreed_resolved,
               SpotCheck.agreed_satisfaction)
        .join(Ticket, Ticket.id == SpotCheck.ticket_id)
        .join(Unit, Unit.id == Ticket.unit_id), f)
    counting = _filtered(select(func.count()).select_from(SpotCheck), f)
    with engine.connect() as conn:
        total = int(conn.execute(counting).scalar_one())
        rows = conn.execute(query.order_by(SpotCheck.checked_at.is_not(None),
                                           SpotCheck.call_at, SpotCheck.id)
                            .limit(limit).offset(offset)).all()
    return [SpotItem(int(r[0]), int(r[1]), int(r[2]), str(r[3]), str(r[4]), str(r[5]), r[6],
                     r[7], r[8], None if r[7] is None else bool(r[9]) and bool(r[10]))
            for r in rows], total


def get(engine: Engine, spot_id: int) -> SpotCheck | None:
    with Session(engine, expire_on_commit=False) as session:
        found = session.get(SpotCheck, spot_id)
        if found is not None:
            session.expunge(found)
        return found


def next_todo(engine: Engine, but: int) -> int | None:
    """The oldest call still waiting for its check, other than `but`."""
    with engine.connect() as conn:
        return conn.execute(select(SpotCheck.id).where(
            SpotCheck.checked_at.is_(None), SpotCheck.id != but)
            .order_by(SpotCheck.call_at, SpotCheck.id).limit(1)).scalar()
