"""What a supervisor may change, each in one transaction with its audit entry: confirm
or correct an answer, schedule a new call, exclude a ticket (剔除), reopen it (退回重办),
put the number on the do-not-call list, and reveal a masked number.

A correction replaces the closure's evaluation with one of source 质检修正 (`supervisor`)
by the supervisor; the machine's answer stays in the call's turns and the before of the
audit entry, so the rankings move and the trail shows why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update

from store import audit
from store.campaign import add_do_not_call_in
from store.campaign_models import Callback
from store.enums import (
    CallbackStatus,
    EvaluationSource,
    EventKind,
    Resolved,
    Satisfaction,
    TicketStatus,
)
from store.models import Closure, Evaluation, Exclusion, Ticket, TicketEvent

log = logging.getLogger(__name__)


class CorrectionError(ValueError):
    """The change cannot be made as asked; the message says why."""


class AlreadySettled(CorrectionError):
    """A person settled the callback already (`by`, at `at`), and the action did not say
    再次处理, or another person settled it again after the page the action came from."""

    def __init__(self, by: str, at: datetime) -> None:
        super().__init__(f"callback already settled by {by} at {at:%Y-%m-%d %H:%M}")
        self.by, self.at = by, at


@dataclass(frozen=True)
class Who:
    actor: str
    reason: str
    now: datetime
    address: str | None = None


@dataclass(frozen=True)
class Unsettled:
    """The console's 再次处理 rule for one callback, checked inside the action's own
    transaction (a check made before it would be stale by the time of the write: two
    supervisors on one item would both pass it). Without `again` the action is refused
    on an item a person has settled; with it, the settlement `seen` on the person's page
    (who, when; when given) must still be the last one, so that two people doing 再次处理
    at the same time do not overwrite each other either. Who is part of it because the
    console's clock has whole seconds: two settlements in one second differ by person."""

    callback_id: int
    again: bool = False
    seen: tuple[str, datetime] | None = None


def _settled(conn: Connection, callback_id: int) -> tuple[str, datetime | None]:
    row = conn.execute(select(Callback.reviewed_by, Callback.reviewed_at)
                       .where(Callback.id == callback_id)).first()
    if row is None:
        raise CorrectionError(f"callback {callback_id} does not exist")
    return str(row.reviewed_by or ""), row.reviewed_at


def _claim(conn: Connection, guard: Unsettled | None, who: Who) -> Who:
    """Take the callback's settlement for this action, first thing in its transaction:
    a conditional UPDATE on the settlement just read (a compare-and-set, so it holds on
    SQLite, whose reads before the first write are outside the transaction, and on
    PostgreSQL under READ COMMITTED, where the second writer waits for the first and
    then finds the row changed). The returned Who's reason says, when the action is a
    再次处理, over whose settlement it was done."""
    if guard is None:
        return who
    by, at = _settled(conn, guard.callback_id)
    if at is not None and (not guard.again or guard.seen not in (None, (by, at))):
        raise AlreadySettled(by, at)
    still = Callback.reviewed_at.is_(None) if at is None else and_(
        Callback.reviewed_at == at, Callback.reviewed_by == (by or None))
    claimed = conn.execute(update(Callback).where(Callback.id == guard.callback_id, still)
                           .values(reviewed_at=who.now, reviewed_by=who.actor,
                                   updated_at=who.now)).rowcount
    if claimed != 1:  # settled by someone else between the read and the write
        by, at = _settled(conn, guard.callback_id)
        raise AlreadySettled(by, at or who.now)
    if at is None:
        return who
    return replace(who, reason=f"再次处理（此前由 {by} 于 {at:%Y-%m-%d %H:%M} 处理）："
                               f"{who.reason.strip()}")


def _callback(conn: Connection, callback_id: int) -> Any:
    """(callback columns, ticket_no, closure seq) as one row."""
    row = conn.execute(select(Callback.id, Callback.closure_id, Callback.ticket_id,
                              Callback.status, Callback.due_at, Callback.deadline_at,
                              Ticket.ticket_no, Closure.seq)
                       .join(Ticket, Ticket.id == Callback.ticket_id)
                       .join(Closure, Closure.id == Callback.closure_id)
                       .where(Callback.id == callback_id)).first()
    if row is None:
        raise CorrectionError(f"callback {callback_id} does not exist")
    return row


def _evaluation(conn: Connection, closure_id: int) -> dict[str, Any] | None:
    ev = conn.execute(select(Evaluation).where(Evaluation.closure_id == closure_id)
                      ).one_or_none()
    if ev is None:
        return None
    return {"resolved": str(ev.resolved), "satisfaction": str(ev.satisfaction),
            "source": str(ev.source), "evaluated_by": ev.evaluated_by}


def _settle(conn: Connection, callback_id: int, who: Who, status: CallbackStatus | None = None
            ) -> None:
    values: dict[str, Any] = {"reviewed_at": who.now, "reviewed_by": who.actor,
                              "updated_at": who.now}
    if status is not None:
        values["status"] = status
    conn.execute(update(Callback).where(Callback.id == callback_id).values(**values))


def _check(who: Who) -> None:
    if not who.reason.strip():
        raise audit.ReasonRequired("a reason is required")


def _not_in_a_call(cb: Any) -> None:
    if cb.status == CallbackStatus.CLAIMED:
        raise CorrectionError("a call for this callback is in progress; wait for it to end")


def correct_answer(engine: Engine, callback_id: int, resolved: Resolved,
                   satisfaction: Satisfaction, who: Who, *, guard: Unsettled | None = None
                   ) -> None:
    """Set both answers of the callback's closure as a supervisor heard them."""
    _check(who)
    with engine.begin() as conn:
        correct_answer_in(conn, callback_id, resolved, satisfaction, who, guard=guard)
    log.info("callback %s: answer corrected by %s", callback_id, who.actor)


def correct_answer_in(conn: Connection, callback_id: int, resolved: Resolved,
                      satisfaction: Satisfaction, who: Who, *, label: str = "质检修正",
                      origin: dict[str, Any] | None = None,
                      guard: Unsettled | None = None) -> None:
    """`correct_answer` inside the caller's transaction; `label` names it in the ticket's
    history and `origin` (e.g. the spot check it came from) goes into the audit's after."""
    _check(who)
    who = _claim(conn, guard, who)
    cb = _callback(conn, callback_id)
    _not_in_a_call(cb)
    ticket_no, seq = cb.ticket_no, cb.seq
    before = _evaluation(conn, cb.closure_id)
    after = {"resolved": str(resolved), "satisfaction": str(satisfaction),
             "source": str(EvaluationSource.SUPERVISOR), "evaluated_by": who.actor,
             "callback": callback_id, **(origin or {})}
    values = {"resolved": resolved, "satisfaction": satisfaction,
              "source": EvaluationSource.SUPERVISOR, "evaluated_at": who.now,
              "evaluated_by": who.actor, "note": who.reason.strip()}
    if before is None:
        conn.execute(insert(Evaluation).values(closure_id=cb.closure_id,
                                               ticket_id=cb.ticket_id,
                                               created_at=who.now, **values))
    else:
        conn.execute(update(Evaluation).where(Evaluation.closure_id == cb.closure_id)
                     .values(**values))
    conn.execute(insert(TicketEvent).values(
        ticket_id=cb.ticket_id, kind=EventKind.EVALUATED, at=who.now, closure_seq=seq,
        actor=who.actor, detail=f"{label} {resolved}/{satisfaction}: {who.reason.strip()}",
        created_at=who.now))
    _settle(conn, callback_id, who, CallbackStatus.DONE)
    audit.record(conn, at=who.now, actor=who.actor, action="correct_answer",
                 target=ticket_no, reason=who.reason, ticket_id=cb.ticket_id,
                 before=before, after=after, address=who.address)


def confirm_answer(engine: Engine, callback_id: int, who: Who, *,
                   guard: Unsettled | None = None, bulk: bool = False) -> None:
    """The machine's answers stand as they are: settle the item, change nothing else.
    `bulk`: confirmed from the queue's list with others, not on the call's own page (the
    audit says so; such a confirmation is not taken as having listened)."""
    _check(who)
    with engine.begin() as conn:
        who = _claim(conn, guard, who)
        cb = _callback(conn, callback_id)
        _not_in_a_call(cb)
        ticket_no = cb.ticket_no
        current = _evaluation(conn, cb.closure_id)
        if current is None or current["resolved"] == Resolved.UNKNOWN \
                or current["satisfaction"] == Satisfaction.UNKNOWN:
            raise CorrectionError("there is no complete answer to confirm; correct it instead")
        _settle(conn, callback_id, who, CallbackStatus.DONE)
        after = {**current, "callback": callback_id, **({"bulk": True} if bulk else {})}
        audit.record(conn, at=who.now, actor=who.actor, action="confirm_answer",
                     target=ticket_no, reason=who.reason, ticket_id=cb.ticket_id,
                     before=current, after=after, address=who.address)


def schedule_call(engine: Engine, callback_id: int, at: datetime, who: Who, *,
                  guard: Unsettled | None = None) -> None:
    """Call again at `at`, which the caller has already put inside a calling window."""
    _check(who)
    if at < who.now - timedelta(minutes=1):
        raise CorrectionError("a new call cannot be scheduled in the past")
    with engine.begin() as conn:
        who = _claim(conn, guard, who)
        cb = _callback(conn, callback_id)
        ticket_no = cb.ticket_no
        if cb.status in (CallbackStatus.PENDING, CallbackStatus.CLAIMED):
            raise CorrectionError("this callback is already waiting for a call")
        before = {"status": str(cb.status), "due_at": cb.due_at.isoformat(sep=" "),
                  "deadline_at": cb.deadline_at.isoformat(sep=" ")}
        deadline = max(cb.deadline_at, at + timedelta(days=1))
        conn.execute(update(Callback).where(Callback.id == callback_id).values(
            status=CallbackStatus.PENDING, due_at=at, deadline_at=deadline,
            note=f"scheduled by {who.actor}", reviewed_at=who.now, reviewed_by=who.actor,
            updated_at=who.now))
        audit.record(conn, at=who.now, actor=who.actor, action="schedule_call",
                     target=ticket_no, reason=who.reason, ticket_id=cb.ticket_id,
                     before=before, after={"status": "pending",
                                           "due_at": at.isoformat(sep=" "),
                                           "deadline_at": deadline.isoformat(sep=" ")},
                     address=who.address)


def _cancel_pending(conn: Connection, ticket_id: int, note: str, who: Who) -> None:
    conn.execute(update(Callback).where(
        Callback.ticket_id == ticket_id,
        Callback.status.in_([CallbackStatus.PENDING, CallbackStatus.REVIEW]))
        .values(status=CallbackStatus.CANCELLED, note=note, updated_at=who.now))
    conn.execute(update(Callback).where(Callback.ticket_id == ticket_id,
                                        Callback.reviewed_at.is_(None))
                 .values(reviewed_at=who.now, reviewed_by=who.actor))


def _ticket(conn: Connection, ticket_no: str) -> Any:
    t = conn.execute(select(Ticket).where(Ticket.ticket_no == ticket_no)).one_or_none()
    if t is None:
        raise CorrectionError(f"ticket {ticket_no} does not exist")
    return t


def exclude_ticket(engine: Engine, ticket_no: str, who: Who, *,
                   guard: Unsettled | None = None) -> None:
    """剔除: the ticket leaves the rates; its pending callbacks are cancelled."""
    _check(who)
    with engine.begin() as conn:
        who = _claim(conn, guard, who)
        t = _ticket(conn, ticket_no)
        old = conn.execute(select(Exclusion).where(Exclusion.ticket_id == t.id)
                           ).one_or_none()
        if old is not None and old.revoked_at is None:
            raise CorrectionError(f"ticket {ticket_no} is already excluded: {old.reason}")
        values = {"reason": who.reason.strip(), "approved_by": who.actor,
                  "approved_at": who.now, "revoked_at": None, "revoked_by": None,
                  "import_id": None}
        if old is None:
            conn.execute(insert(Exclusion).values(ticket_id=t.id, created_at=who.now,
                                                  **values))
        else:
            conn.execute(update(Exclusion).where(Exclusion.id == old.id).values(**values))
        conn.execute(insert(TicketEvent).values(
            ticket_id=t.id, kind=EventKind.EXCLUDED, at=who.now, actor=who.actor,
            detail=who.reason.strip(), created_at=who.now))
        _cancel_pending(conn, t.id, "ticket excluded", who)
        audit.record(conn, at=who.now, actor=who.actor, action="exclude", target=ticket_no,
                     reason=who.reason, ticket_id=t.id, before={"excluded": False},
                     after={"excluded": True}, address=who.address)


def reopen_ticket(engine: Engine, ticket_no: str, who: Who, *,
                  guard: Unsettled | None = None) -> None:
    """退回重办: the latest closure is sent back; the next closure is called again."""
    _check(who)
    with engine.begin() as conn:
        who = _claim(conn, guard, who)
        t = _ticket(conn, ticket_no)
        if t.status != TicketStatus.CLOSED:
            raise CorrectionError(f"ticket {ticket_no} is not closed (status {t.status})")
        conn.execute(update(Closure).where(Closure.ticket_id == t.id,
                                           Closure.seq == t.closure_count)
                     .values(reopened=True, reopened_at=who.now))
        conn.execute(update(Ticket).where(Ticket.id == t.id)
                     .values(status=TicketStatus.REOPENED, updated_at=who.now))
        conn.execute(insert(TicketEvent).values(
            ticket_id=t.id, kind=EventKind.REOPENED, at=who.now, closure_seq=t.closure_count,
            actor=who.actor, detail=f"退回重办: {who.reason.strip()}", created_at=who.now))
        _cancel_pending(conn, t.id, "ticket reopened", who)
        audit.record(conn, at=who.now, actor=who.actor, action="reopen", target=ticket_no,
                     reason=who.reason, ticket_id=t.id, before={"status": str(t.status)},
                     after={"status": str(TicketStatus.REOPENED)}, address=who.address)


def do_not_call(engine: Engine, ticket_no: str, who: Who, masked: str, *,
                guard: Unsettled | None = None) -> bool:
    """Put the ticket's number on the do-not-call list. False if it already was (then
    nothing is settled)."""
    _check(who)
    with engine.begin() as conn:
        t = _ticket(conn, ticket_no)
        added = add_do_not_call_in(conn, t.phone, who.reason, who.actor, who.now)
        if added:  # the claim in the same transaction: refused, the entry goes too
            who = _claim(conn, guard, who)
            conn.execute(update(Callback).where(Callback.ticket_id == t.id,
                                                Callback.reviewed_at.is_(None))
                         .values(reviewed_at=who.now, reviewed_by=who.actor))
            audit.record(conn, at=who.now, actor=who.actor, action="do_not_call",
                         target=masked, reason=who.reason, ticket_id=t.id,
                         before={"do_not_call": False}, after={"do_not_call": True},
                         address=who.address)
    return added


def reveal_phone(engine: Engine, ticket_no: str, who: Who, masked: str) -> str:
    """The full number, for a supervisor who asked for it on purpose; audited."""
    _check(who)
    with engine.begin() as conn:
        t = _ticket(conn, ticket_no)
        audit.record(conn, at=who.now, actor=who.actor, action="reveal_phone", target=masked,
                     reason=who.reason, ticket_id=t.id, address=who.address)
        return str(t.phone)
