"""Which call recordings have outlived their retention and may be deleted, and marking
them deleted. Only the selection and the marks live here; the files are the caller's
(`huifang.recordings`).

A recording may go only when nothing may still need to be heard in it:

- its attempt is over (not in progress) and began before the cutoff;
- its callback is settled: done, cancelled, or sent to review and settled by a person
  (never one waiting in the review queue, nor one still pending or being called);
- its ticket is settled: not sent back for re-handling (退回重办), and no other callback
  of the ticket is pending, being called or waiting in the queue;
- its reason is not waiting to be transcribed.

A call covering several of a citizen's tickets writes one file for all their attempts:
the file goes only when every attempt that shares it may go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, exists, func, not_, or_, select, update
from sqlalchemy.orm import aliased

from store.campaign_models import CallAttempt, Callback, DialerNode
from store.enums import AttemptStatus, CallbackStatus, ReasonStatus, TicketStatus
from store.models import Ticket

SETTLED_CALLBACK = (CallbackStatus.DONE, CallbackStatus.CANCELLED, CallbackStatus.REVIEW)
UNSETTLED_CALLBACK = (CallbackStatus.PENDING, CallbackStatus.CLAIMED)


@dataclass(frozen=True)
class Expired:
    """One recording file and the attempts that share it."""

    path: str
    attempt_ids: tuple[int, ...]
    hosts: frozenset[str | None]  # the hosts of the dialers that recorded it (None: unknown)
    started_at: datetime


def _kept() -> ColumnElement[bool]:
    return and_(CallAttempt.recording.is_not(None), CallAttempt.recording_deleted_at.is_(None))


def _settled() -> ColumnElement[bool]:
    """The attempt's answers are settled (the module's rules), as a condition on a query
    over call_attempts joined to its callback and ticket."""
    other = aliased(Callback)
    unsettled_other = exists().where(
        other.ticket_id == CallAttempt.ticket_id,
        or_(other.status.in_(UNSETTLED_CALLBACK),
            and_(other.review_kind.is_not(None), other.reviewed_at.is_(None))))
    return and_(
        CallAttempt.status != AttemptStatus.IN_PROGRESS,
        Callback.status.in_(SETTLED_CALLBACK),
        or_(Callback.review_kind.is_(None), Callback.reviewed_at.is_not(None)),
        Ticket.status != TicketStatus.REOPENED,
        not_(unsettled_other),
        or_(CallAttempt.reason_status.is_(None),
            CallAttempt.reason_status != ReasonStatus.PENDING))


def _deletable(before: datetime) -> Any:
    return (select(CallAttempt.id, CallAttempt.recording, CallAttempt.started_at,
                   DialerNode.host)
            .join(Callback, Callback.id == CallAttempt.callback_id)
            .join(Ticket, Ticket.id == CallAttempt.ticket_id)
            .outerjoin(DialerNode, DialerNode.node == CallAttempt.node)
            .where(_kept(), CallAttempt.started_at < before, _settled()))


def expired(engine: Engine, before: datetime, *, after_id: int = 0, limit: int = 200
            ) -> tuple[list[Expired], int | None]:
    """The recordings of up to `limit` settled attempts begun before `before`, by attempt
    id after `after_id`, one per file; and the id to continue after (None: no more). A
    file shared with an attempt that may not go yet is left out; one shared with
    attempts that may all go comes with all of them, whichever batch they fall in."""
    with engine.connect() as conn:
        rows = conn.execute(_deletable(before).where(CallAttempt.id > after_id)
                            .order_by(CallAttempt.id).limit(limit)).all()
        if not rows:
            return [], None
        paths = sorted({str(r.recording) for r in rows})
        sharing: dict[str, set[int]] = {}
        for attempt_id, path in conn.execute(
                select(CallAttempt.id, CallAttempt.recording)
                .where(_kept(), CallAttempt.recording.in_(paths))):
            sharing.setdefault(str(path), set()).add(int(attempt_id))
        chosen: dict[str, list[Any]] = {}
        for r in conn.execute(_deletable(before).where(CallAttempt.recording.in_(paths))):
            chosen.setdefault(str(r.recording), []).append(r)
    found = []
    for path in paths:
        attempts = chosen.get(path, [])
        ids = {int(a.id) for a in attempts}
        if sharing.get(path, set()) - ids:
            continue  # an attempt sharing the file is not settled or not old enough yet
        found.append(Expired(path, tuple(sorted(ids)), frozenset(a.host for a in attempts),
                             min(a.started_at for a in attempts)))
    next_after = int(rows[-1].id) if len(rows) == limit else None
    return found, next_after


def kept_unsettled(engine: Engine, before: datetime) -> int:
    """Attempts with a recording older than `before` that are kept because their answers
    are not settled yet (the review queue, a ticket sent back, a callback still due)."""
    with engine.connect() as conn:
        return int(conn.execute(
            select(func.count()).select_from(CallAttempt)
            .join(Callback, Callback.id == CallAttempt.callback_id)
            .join(Ticket, Ticket.id == CallAttempt.ticket_id)
            .where(_kept(), CallAttempt.started_at < before, not_(_settled()))).scalar_one())


def mark_deleted(engine: Engine, attempt_ids: list[int], at: datetime) -> int:
    """Mark these attempts' recordings deleted at `at` (those not marked already)."""
    if not attempt_ids:
        return 0
    with engine.begin() as conn:
        return int(conn.execute(
            update(CallAttempt).where(CallAttempt.id.in_(attempt_ids),
                                      CallAttempt.recording_deleted_at.is_(None))
            .values(recording_deleted_at=at)).rowcount)


def deleted_at(engine: Engine, attempt_id: int) -> datetime | None:
    """When the attempt's recording was deleted by retention; None if it was not."""
    with engine.connect() as conn:
        value = conn.execute(select(CallAttempt.recording_deleted_at)
                             .where(CallAttempt.id == attempt_id)).scalar()
    return value if isinstance(value, datetime) else None
