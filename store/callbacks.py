"""Due callbacks: planned from closures, claimed by dialers under a lease, recovered when
a dialer dies.

Several dialer processes may share one PostgreSQL database: claims lock their rows with
`FOR UPDATE SKIP LOCKED`, and a per-number advisory lock keeps two processes from
calling one citizen at once. SQLite serialises writers, which is one process's worth.
Policy (windows, delays, caps) is the caller's: this module takes its results as values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import NamedTuple

from sqlalchemy import Connection, Engine, and_, case, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from store.campaign_models import CallAttempt, Callback, DoNotCall
from store.caps import Caps, Counts, eligibility
from store.enums import (
    AttemptOutcome,
    AttemptStatus,
    CallbackStatus,
    Resolved,
    ReviewKind,
    Satisfaction,
    TicketStatus,
)
from store.models import Closure, Evaluation, Exclusion, Ticket, Unit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimed:
    callback_id: int
    closure_id: int
    ticket_id: int
    phone: str
    attempts: int  # made before this one
    due_at: datetime
    deadline_at: datetime


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def plan_callbacks(engine: Engine, now: datetime, due: Callable[[datetime], datetime | None],
                   within_days: int) -> int:
    """A due callback for every latest closure of a closed ticket that has none yet, is
    not evaluated, not excluded and not on the do-not-call list. `due(closed_at)` says
    when it falls due. A reopened and re-closed ticket has a new closure, so it is called
    again. Returns how many were created."""
    earliest = now - timedelta(days=within_days)
    query = (
        select(Closure.id, Closure.ticket_id, Closure.closed_at, Ticket.phone)
        .join(Ticket, and_(Ticket.id == Closure.ticket_id, Ticket.closure_count == Closure.seq))
        .outerjoin(Callback, Callback.closure_id == Closure.id)
        .outerjoin(Evaluation, Evaluation.closure_id == Closure.id)
        .outerjoin(Exclusion, and_(Exclusion.ticket_id == Ticket.id,
                                   Exclusion.revoked_at.is_(None)))
        .outerjoin(DoNotCall, DoNotCall.phone == Ticket.phone)
        .where(Ticket.status == TicketStatus.CLOSED, Closure.reopened.is_(False),
               Closure.closed_at >= earliest, Closure.closed_at <= now,
               Callback.id.is_(None), Evaluation.id.is_(None), Exclusion.id.is_(None),
               DoNotCall.id.is_(None))
        .order_by(Closure.closed_at)
    )
    created = 0
    with engine.begin() as conn:
        rows = []
        for closure_id, ticket_id, closed_at, phone in conn.execute(query).all():
            deadline = closed_at + timedelta(days=within_days)
            at = due(closed_at)
            if at is None or at > deadline:
                log.info("closure %s: no calling window before its deadline", closure_id)
                continue
            rows.append({"closure_id": closure_id, "ticket_id": ticket_id, "phone": phone,
                         "status": CallbackStatus.PENDING, "due_at": at,
                         "deadline_at": deadline, "attempts": 0, "created_at": now,
                         "updated_at": now})
        if rows:
            # another dialer may be planning the same closures this very moment (two
            # processes starting together): its callback stands, ours is not made
            dialect = pg_insert if _is_pg(conn) else sqlite_insert
            made = conn.execute(dialect(Callback).on_conflict_do_nothing(
                index_elements=["closure_id"]).returning(Callback.id), rows)
            created = len(made.all())
    if created:
        log.info("planned %d callbacks", created)
    return created


def _why_not(conn: Connection, callback_ids: list[int]) -> dict[int, str]:
    """Callbacks that must not be called any more, with the reason."""
    query = (
        select(Callback.id, Exclusion.id, DoNotCall.id, Evaluation.id, Evaluation.resolved,
               Evaluation.satisfaction, Closure.reopened)
        .join(Closure, Closure.id == Callback.closure_id)
        .outerjoin(Exclusion, and_(Exclusion.ticket_id == Callback.ticket_id,
                                   Exclusion.revoked_at.is_(None)))
        .outerjoin(DoNotCall, DoNotCall.phone == Callback.phone)
        .outerjoin(Evaluation, Evaluation.closure_id == Callback.closure_id)
        .where(Callback.id.in_(callback_ids))
    )
    reasons: dict[int, str] = {}
    for cid, excluded, blocked, evaluated, resolved, satisfaction, reopened in conn.execute(
            query).all():
        if excluded:
            reasons[cid] = "ticket excluded (剔除)"
        elif blocked:
            reasons[cid] = "number on the do-not-call list"
        elif reopened:
            reasons[cid] = "closure reopened before the callback"
        elif evaluated and resolved != Resolved.UNKNOWN \
                and satisfaction != Satisfaction.UNKNOWN:
            reasons[cid] = "closure already evaluated"
    return reasons


def calls_today(conn: Connection, phone: str, now: datetime) -> int:
    """Calls placed to `phone` since midnight (a call covering several tickets is one)."""
    midnight = datetime.combine(now.date(), time(0))
    return int(conn.execute(
        select(func.count(func.distinct(CallAttempt.call_id)))
        .where(CallAttempt.phone == phone, CallAttempt.started_at >= midnight)).scalar_one())


def lock_number(conn: Connection, phone: str, *, wait: bool) -> bool:
    """The per-number lock (PostgreSQL; SQLite serialises writers anyway) under which a
    number's calls are claimed and counted, until the transaction ends. False: another
    process holds it and `wait` was not asked for."""
    if not _is_pg(conn):
        return True
    if wait:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:p))"), {"p": phone})
        return True
    return bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(hashtext(:p))"),
                             {"p": phone}).scalar_one())


def claim(engine: Engine, node: str, now: datetime, *, limit: int, lease: timedelta,
          caps: Caps) -> list[list[Claimed]]:
    """Claim up to `limit` numbers' due callbacks, each number's as one group (one call).
    Callbacks that may no longer be called are cancelled or sent to review on the way;
    a number at its daily cap waits for tomorrow. Claims of a dead dialer come back
    through `recover`, not here."""
    if limit < 1:
        return []
    with engine.begin() as conn:
        due = and_(Callback.status == CallbackStatus.PENDING, Callback.due_at <= now)
        query = (select(Callback).where(due).order_by(Callback.deadline_at, Callback.attempts,
                                                       Callback.id).limit(limit * 4))
        if _is_pg(conn):
            query = query.with_for_update(skip_locked=True)
        candidates = list(conn.execute(query).all())
        if not candidates:
            return []
        stop = _why_not(conn, [c.id for c in candidates])
        groups: list[list[Claimed]] = []
        seen: set[str] = set()
        for row in candidates:
            if row.id in stop:
                _set(conn, [row.id], now, status=CallbackStatus.CANCELLED, note=stop[row.id])
                continue
            if row.deadline_at < now:
                _to_review(conn, row.id, now, "deadline passed without a callback")
                continue
            if row.phone in seen or len(groups) >= limit:
                continue
            seen.add(row.phone)
            if not lock_number(conn, row.phone, wait=False):
                continue  # another dialer is claiming this number right now
            busy = conn.execute(select(func.count()).where(
                Callback.phone == row.phone, Callback.status == CallbackStatus.CLAIMED,
                Callback.lease_until >= now)).scalar_one()
            if busy:
                continue
            today = calls_today(conn, row.phone, now)
            allowed = eligibility(Counts(row.attempts, today), now, caps)
            if allowed.at is None:
                _to_review(conn, row.id, now, allowed.why)
                continue
            if allowed.at > now:
                _set(conn, [row.id], now, due_at=allowed.at, note=allowed.why)
                continue
            group_query = select(Callback).where(
                Callback.phone == row.phone,
                or_(Callback.id == row.id,
                    and_(Callback.status == CallbackStatus.PENDING, Callback.due_at <= now,
                         Callback.deadline_at >= now))
            ).order_by(Callback.deadline_at, Callback.id)
            if _is_pg(conn):
                group_query = group_query.with_for_update(skip_locked=True)
            members = [m for m in conn.execute(group_query).all()  # the others: on their own
                       if eligibility(Counts(m.attempts, today), now, caps).at == now]
            blocked = _why_not(conn, [m.id for m in members])
            for m in members:
                if m.id in blocked:
                    _set(conn, [m.id], now, status=CallbackStatus.CANCELLED, note=blocked[m.id])
            members = [m for m in members if m.id not in blocked]
            if not members:
                continue
            _set(conn, [m.id for m in members], now, status=CallbackStatus.CLAIMED,
                 claimed_by=node, lease_until=now + lease)
            groups.append([Claimed(m.id, m.closure_id, m.ticket_id, m.phone, m.attempts,
                                   m.due_at, m.deadline_at) for m in members])
    return groups


def _set(conn: Connection, ids: list[int], now: datetime, **values: object) -> None:
    conn.execute(update(Callback).where(Callback.id.in_(ids)).values(updated_at=now, **values))


def _to_review(conn: Connection, callback_id: int, now: datetime, why: str) -> None:
    _set(conn, [callback_id], now, status=CallbackStatus.REVIEW, note=why,
         review_kind=ReviewKind.UNREACHABLE, reviewed_at=None, reviewed_by=None)


def extend_leases(engine: Engine, node: str, now: datetime, lease: timedelta) -> int:
    """A running dialer keeps its claims alive."""
    with engine.begin() as conn:
        result = conn.execute(update(Callback).where(
            Callback.claimed_by == node, Callback.status == CallbackStatus.CLAIMED)
            .values(lease_until=now + lease))
        return int(result.rowcount or 0)


def release(engine: Engine, callback_ids: list[int], now: datetime) -> None:
    """Claims not used (the service stopped before dialling): pending again, as they were."""
    with engine.begin() as conn:
        conn.execute(update(Callback).where(Callback.id.in_(callback_ids),
                                            Callback.status == CallbackStatus.CLAIMED)
                     .values(status=CallbackStatus.PENDING, claimed_by=None, lease_until=None,
                             updated_at=now))


class Recovered(NamedTuple):
    interrupted: int  # attempts that were in progress
    released: int  # callbacks put back to pending
    completed: int  # callbacks whose answers were all saved before the interruption


def recover(engine: Engine, now: datetime, node: str | None = None,
            dead_nodes: Sequence[str] = (), callback_ids: Sequence[int] | None = None,
            again_at: datetime | None = None, count_attempt: bool = False) -> Recovered:
    """Close attempts left in progress by `node` (this process, starting again), by the
    `dead_nodes` or by a dialer whose lease expired, as interrupted; answers already
    saved are kept. A callback whose both answers were saved is done; the others are due
    again now, and the interrupted attempt does not count against the closure's attempts
    (the dialer failed, not the citizen; the call still counts among the number's calls
    today, as it may have rung). With `callback_ids`, those claims of `node` alone: a
    call of this process that failed (its claim would otherwise be kept alive by the
    heartbeat for good), due again at `again_at` (default now). `count_attempt` keeps the
    interrupted attempt counted: for a call that failed by a bug, so that a bug that keeps
    failing cannot redial a citizen again and again."""
    with engine.begin() as conn:
        dead = or_(Callback.lease_until < now, Callback.lease_until.is_(None))
        mine = [*dead_nodes, *([node] if node is not None else [])]
        if mine:
            dead = or_(dead, Callback.claimed_by.in_(mine))
        if callback_ids is not None:
            dead = and_(Callback.id.in_(list(callback_ids)), Callback.claimed_by == node)
        stale = list(conn.execute(
            select(Callback.id, Callback.closure_id).where(
                Callback.status == CallbackStatus.CLAIMED, dead)).all())
        ids = [r.id for r in stale]
        if not ids:
            return Recovered(0, 0, 0)
        calling = {int(c) for c in conn.execute(
            select(CallAttempt.callback_id).where(
                CallAttempt.callback_id.in_(ids),
                CallAttempt.status == AttemptStatus.IN_PROGRESS)).scalars()}
        interrupted = conn.execute(
            update(CallAttempt).where(CallAttempt.callback_id.in_(ids),
                                      CallAttempt.status == AttemptStatus.IN_PROGRESS)
            .values(status=AttemptStatus.INTERRUPTED, ended_at=now,
                    outcome=AttemptOutcome.INTERRUPTED,
                    decision="the dialer stopped during the call; closed on recovery"))
        complete = {int(c) for c in conn.execute(
            select(Evaluation.closure_id).where(
                Evaluation.closure_id.in_([r.closure_id for r in stale]),
                Evaluation.resolved != Resolved.UNKNOWN,
                Evaluation.satisfaction != Satisfaction.UNKNOWN)).scalars()}
        done = [r.id for r in stale if r.closure_id in complete]
        again = [r.id for r in stale if r.closure_id not in complete]
        if done:
            _set(conn, done, now, status=CallbackStatus.DONE, claimed_by=None,
                 lease_until=None, last_outcome=AttemptOutcome.INTERRUPTED,
                 note="answers saved before the interruption")
        if again:
            _set(conn, again, now, status=CallbackStatus.PENDING, claimed_by=None,
                 lease_until=None, due_at=again_at or now)
            given_back = [i for i in again if i in calling]
            if given_back and not count_attempt:
                _set(conn, given_back, now, attempts=case(
                    (Callback.attempts > 0, Callback.attempts - 1), else_=0))
    result = Recovered(int(interrupted.rowcount or 0), len(again), len(done))
    log.warning("recovered claims: %s", result)
    return result


@dataclass(frozen=True)
class TicketDetails:
    ticket_id: int
    ticket_no: str
    received_at: datetime
    summary: str | None
    category: str | None
    unit: str


def ticket_details(engine: Engine, ticket_ids: list[int]) -> list[TicketDetails]:
    """What the prompts say about each ticket, in the order asked."""
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(
            select(Ticket.id, Ticket.ticket_no, Ticket.received_at, Ticket.summary,
                   Ticket.category, Unit.name).join(Unit, Unit.id == Ticket.unit_id)
            .where(Ticket.id.in_(ticket_ids))).all()}
    return [TicketDetails(t, rows[t].ticket_no, rows[t].received_at, rows[t].summary,
                          rows[t].category, rows[t].name) for t in ticket_ids]
