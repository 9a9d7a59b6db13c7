"""The citizen's reason for dissatisfaction in words, store side: which reasons wait for a
transcript, taking one to transcribe, writing how it went, and reading them back.

An attempt has a reason when the call recorded one (`reason_from_s`/`reason_to_s`, in the
call's stereo recording). Its `reason_status` is None or PENDING until a try ended, then
DONE (the transcript in `reason_text`, its category in `reason_category`), EMPTY (the
engine heard no words: 未听清) or FAILED (`reason_error` says why, in words). FAILED is
tried again, after `retry_after`, until `max_tries` tries were made; the audio is never
touched.

Taking a reason (`take`) counts the try and stamps `reason_transcribed_at` in one
conditional UPDATE (on the tries seen), so two processes sharing the database never
transcribe the same reason at once, and a reason whose process died mid-try is taken
again after `retry_after`. A result is written only by the try that took it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select, update

from store.campaign_models import CallAttempt, Callback
from store.enums import ReasonStatus
from store.models import Ticket, Unit

log = logging.getLogger(__name__)
MAX_QUERY = 50  # characters of a transcript search
STATUS_LABELS = {ReasonStatus.PENDING: "待转写", ReasonStatus.DONE: "已转写",
                 ReasonStatus.EMPTY: "未听清", ReasonStatus.FAILED: "转写失败"}
HAS_REASON = and_(CallAttempt.reason_from_s.is_not(None), CallAttempt.reason_to_s.is_not(None))
# what the partial index ix_call_attempts_reason_todo holds (migration 0007)
TO_TRANSCRIBE = and_(CallAttempt.reason_from_s.is_not(None), or_(
    CallAttempt.reason_status.is_(None),
    CallAttempt.reason_status.in_([ReasonStatus.PENDING, ReasonStatus.FAILED])))


@dataclass(frozen=True)
class ReasonTodo:
    """A reason taken for one try."""

    attempt_id: int
    call_id: str
    recording: str | None
    from_s: float
    to_s: float
    tries: int  # counting this one


@dataclass(frozen=True)
class ReasonResult:
    status: ReasonStatus  # DONE, EMPTY or FAILED
    text: str | None = None
    error: str | None = None  # in words, for FAILED and EMPTY
    category: str | None = None
    engine: str = ""


@dataclass(frozen=True)
class Reason:
    """A reason as the console shows it (the text unmasked: the caller masks it)."""

    attempt_id: int
    callback_id: int
    status: ReasonStatus
    text: str | None
    error: str | None
    category: str | None
    tries: int
    at: datetime | None
    engine: str | None
    span: tuple[float, float]

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True)
class ReasonHit:
    reason: Reason
    ticket_no: str
    unit: str
    started_at: datetime


def _status(value: Any) -> ReasonStatus:
    return ReasonStatus.PENDING if value is None else ReasonStatus(value)


def _reason(row: Any) -> Reason:
    return Reason(int(row.id), int(row.callback_id), _status(row.reason_status),
                  row.reason_text, row.reason_error, row.reason_category,
                  int(row.reason_tries or 0), row.reason_transcribed_at, row.reason_engine,
                  (float(row.reason_from_s), float(row.reason_to_s)))


_COLUMNS = (CallAttempt.id, CallAttempt.callback_id, CallAttempt.reason_status,
            CallAttempt.reason_text, CallAttempt.reason_error, CallAttempt.reason_category,
            CallAttempt.reason_tries, CallAttempt.reason_transcribed_at,
            CallAttempt.reason_engine, CallAttempt.reason_from_s, CallAttempt.reason_to_s)


def _takeable(now: datetime, max_tries: int, retry_after: timedelta) -> Any:
    return and_(TO_TRANSCRIBE, CallAttempt.reason_to_s.is_not(None),
                CallAttempt.reason_tries < max_tries,
                or_(CallAttempt.reason_transcribed_at.is_(None),
                    CallAttempt.reason_transcribed_at <= now - retry_after))


def take(engine: Engine, now: datetime, *, limit: int, max_tries: int,
         retry_after: timedelta) -> list[ReasonTodo]:
    """Up to `limit` reasons to transcribe now, oldest first, each taken for one try."""
    wanted = (select(CallAttempt.id, CallAttempt.call_id, CallAttempt.recording,
                     CallAttempt.reason_from_s, CallAttempt.reason_to_s,
                     CallAttempt.reason_tries)
              .where(_takeable(now, max_tries, retry_after))
              .order_by(CallAttempt.id).limit(limit))
    taken: list[ReasonTodo] = []
    with engine.begin() as conn:
        for row in conn.execute(wanted).all():
            tries = int(row.reason_tries or 0)
            got = conn.execute(update(CallAttempt).where(
                CallAttempt.id == row.id, CallAttempt.reason_tries == tries,
                _takeable(now, max_tries, retry_after)).values(
                reason_tries=tries + 1, reason_transcribed_at=now))
            if got.rowcount == 1:
                taken.append(ReasonTodo(int(row.id), str(row.call_id), row.recording,
                                        float(row.reason_from_s), float(row.reason_to_s),
                                        tries + 1))
    return taken


def save_result(engine: Engine, todo: ReasonTodo, result: ReasonResult, now: datetime
                ) -> bool:
    """Write how the try went; False if another try took the reason meanwhile."""
    if result.status is ReasonStatus.PENDING:
        raise ValueError("a result is done, empty or failed")
    with engine.begin() as conn:
        got = conn.execute(update(CallAttempt).where(
            CallAttempt.id == todo.attempt_id, CallAttempt.reason_tries == todo.tries).values(
            reason_status=result.status, reason_text=result.text,
            reason_error=result.error, reason_category=result.category,
            reason_engine=result.engine[:100] or None, reason_transcribed_at=now))
    return got.rowcount == 1


def give_back(engine: Engine, todos: list[ReasonTodo]) -> int:
    """Reasons taken but not tried (the service stopped, the engine is unavailable): their
    try is not counted and they can be taken at once; how many."""
    back = 0
    with engine.begin() as conn:
        for todo in todos:
            got = conn.execute(update(CallAttempt).where(
                CallAttempt.id == todo.attempt_id, CallAttempt.reason_tries == todo.tries
            ).values(reason_tries=todo.tries - 1, reason_transcribed_at=None))
            back += got.rowcount
    for todo in todos:
        log.info("reason of attempt %d (call %s): given back untried", todo.attempt_id,
                 todo.call_id)
    return back


def backlog(engine: Engine, max_tries: int) -> int:
    """Reasons that will still be tried (now or after their retry delay)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(CallAttempt).where(
            TO_TRANSCRIBE, CallAttempt.reason_to_s.is_not(None),
            CallAttempt.reason_tries < max_tries)).scalar_one())


def try_again(engine: Engine) -> int:
    """Failed reasons get a fresh count of tries and can be taken at once (after the
    engine or the recordings were fixed); how many."""
    with engine.begin() as conn:
        got = conn.execute(update(CallAttempt).where(
            CallAttempt.reason_status == ReasonStatus.FAILED).values(
            reason_tries=0, reason_transcribed_at=None))
    return int(got.rowcount)


def transcripts(engine: Engine, batch: int = 500) -> Iterator[list[tuple[int, str, str | None]]]:
    """Every transcript, in batches of (attempt id, text, category)."""
    after = 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(select(CallAttempt.id, CallAttempt.reason_text,
                                       CallAttempt.reason_category)
                                .where(CallAttempt.reason_status == ReasonStatus.DONE,
                                       CallAttempt.id > after)
                                .order_by(CallAttempt.id).limit(batch)).all()
        if not rows:
            return
        after = int(rows[-1][0])
        yield [(int(i), str(t or ""), c) for i, t, c in rows]


def set_categories(engine: Engine, categories: dict[int, str]) -> int:
    """Store new categories of transcripts; how many changed."""
    changed = 0
    with engine.begin() as conn:
        for attempt_id, category in categories.items():
            got = conn.execute(update(CallAttempt).where(
                CallAttempt.id == attempt_id, CallAttempt.reason_status == ReasonStatus.DONE,
                or_(CallAttempt.reason_category.is_(None),
                    CallAttempt.reason_category != category)).values(
                reason_category=category))
            changed += got.rowcount
    return changed


def of_attempts(engine: Engine, attempt_ids: list[int]) -> dict[int, Reason]:
    """The reasons of these attempts (those that have one), by attempt id."""
    if not attempt_ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(select(*_COLUMNS).where(
            CallAttempt.id.in_(attempt_ids), HAS_REASON)).all()
    return {int(r.id): _reason(r) for r in rows}


def latest_of_callbacks(engine: Engine, callback_ids: list[int]) -> dict[int, Reason]:
    """Each callback's latest reason, by callback id (for the queue's snippets)."""
    if not callback_ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(select(*_COLUMNS).where(
            CallAttempt.callback_id.in_(callback_ids), HAS_REASON)
            .order_by(CallAttempt.started_at, CallAttempt.id)).all()
    return {int(r.callback_id): _reason(r) for r in rows}  # the last one wins


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(engine: Engine, text: str = "", *, category: str = "",
           status: ReasonStatus | None = None, unit_id: int | None = None, limit: int = 50,
           offset: int = 0) -> tuple[list[ReasonHit], int]:
    """Reasons whose transcript contains `text` (at most MAX_QUERY characters, a bound
    parameter, wildcards escaped), of a category, a status or a unit; latest first, and
    how many match."""
    where = [HAS_REASON]
    text = text.strip()[:MAX_QUERY]
    if text:
        where.append(CallAttempt.reason_text.like(f"%{_escaped(text)}%", escape="\\"))
    if category:
        where.append(CallAttempt.reason_category == category[:24])
    if status is ReasonStatus.PENDING:
        where.append(or_(CallAttempt.reason_status.is_(None),
                         CallAttempt.reason_status == ReasonStatus.PENDING))
    elif status is not None:
        where.append(CallAttempt.reason_status == status)
    if unit_id is not None:
        where.append(Ticket.unit_id == unit_id)
    base = (select(*_COLUMNS, Ticket.ticket_no, Unit.name, CallAttempt.started_at)
            .join(Callback, Callback.id == CallAttempt.callback_id)
            .join(Ticket, Ticket.id == Callback.ticket_id)
            .join(Unit, Unit.id == Ticket.unit_id).where(*where))
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(base.subquery())
                                 ).scalar_one())
        rows = conn.execute(base.order_by(CallAttempt.started_at.desc(), CallAttempt.id.desc())
                            .limit(limit).offset(offset)).all()
    return [ReasonHit(_reason(r), str(r.ticket_no), str(r.name), r.started_at)
            for r in rows], total


def counts(engine: Engine, since: datetime, until: datetime
           ) -> list[tuple[int, str, str, int]]:
    """(unit id, status, category or '', reasons) of the attempts started in
    [since, until), for the report."""
    query = (select(Ticket.unit_id, CallAttempt.reason_status, CallAttempt.reason_category,
                    func.count())
             .join(Callback, Callback.id == CallAttempt.callback_id)
             .join(Ticket, Ticket.id == Callback.ticket_id)
             .where(HAS_REASON, CallAttempt.started_at >= since,
                    CallAttempt.started_at < until)
             .group_by(Ticket.unit_id, CallAttempt.reason_status,
                       CallAttempt.reason_category))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [(int(u), str(_status(s)), c or "", int(n)) for u, s, c, n in rows]


def category_counts(engine: Engine, since: datetime, until: datetime) -> dict[str, int]:
    """Transcribed reasons of the calls placed in [since, until) by category, most first:
    the month's reasons at a glance. (A transcript is stored with its category, 未分类
    included, so every transcribed reason has one.)"""
    with engine.connect() as conn:
        rows = conn.execute(
            select(CallAttempt.reason_category, func.count())
            .where(HAS_REASON, CallAttempt.reason_status == ReasonStatus.DONE,
                   CallAttempt.reason_category.is_not(None),
                   CallAttempt.started_at >= since, CallAttempt.started_at < until)
            .group_by(CallAttempt.reason_category)).all()
    return dict(sorted(((str(c), int(n)) for c, n in rows), key=lambda kv: (-kv[1], kv[0])))
