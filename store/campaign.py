"""The campaign switch (pause, resume, run now), the dialer processes, the do-not-call
list and the campaign's status, shared through the store by every process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from store.campaign_models import CallAttempt, Callback, CampaignState, DialerNode, DoNotCall
from store.enums import AttemptStatus, CallbackStatus
from store.phones import normalize_phone

DEFAULT = "default"


@dataclass(frozen=True)
class State:
    paused: bool
    changed_by: str | None
    changed_at: datetime | None
    run_now_at: datetime | None


def _ensure(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        if conn.execute(select(CampaignState.name).where(CampaignState.name == name)).first():
            return
        conn.execute(insert(CampaignState).values(name=name, paused=False))


def state(engine: Engine, name: str = DEFAULT) -> State:
    _ensure(engine, name)
    with engine.connect() as conn:
        row = conn.execute(select(CampaignState).where(CampaignState.name == name)).one()
    return State(row.paused, row.changed_by, row.changed_at, row.run_now_at)


def set_paused(engine: Engine, paused: bool, by: str, now: datetime, name: str = DEFAULT
               ) -> None:
    _ensure(engine, name)
    with engine.begin() as conn:
        set_paused_in(conn, paused, by, now, name)


def set_paused_in(conn: Connection, paused: bool, by: str, now: datetime,
                  name: str = DEFAULT) -> None:
    """`set_paused` inside the caller's transaction (with its audit entry); the row
    exists once `state` or `set_paused` has run, and is made here otherwise."""
    if not conn.execute(select(CampaignState.name).where(CampaignState.name == name)).first():
        conn.execute(insert(CampaignState).values(name=name, paused=paused, changed_by=by,
                                                  changed_at=now))
        return
    conn.execute(update(CampaignState).where(CampaignState.name == name)
                 .values(paused=paused, changed_by=by, changed_at=now))


def request_run_now(engine: Engine, by: str, now: datetime, name: str = DEFAULT) -> None:
    """Ask the running dialers to look for due work now instead of at their next tick.
    Windows still apply: run-now never calls outside one."""
    _ensure(engine, name)
    with engine.begin() as conn:
        conn.execute(update(CampaignState).where(CampaignState.name == name)
                     .values(run_now_at=now, changed_by=by, changed_at=now))


def take_run_now(engine: Engine, name: str = DEFAULT) -> bool:
    """True once per request (whichever dialer sees it first)."""
    with engine.begin() as conn:
        result = conn.execute(update(CampaignState).where(
            CampaignState.name == name, CampaignState.run_now_at.is_not(None))
            .values(run_now_at=None))
        return bool(result.rowcount)


@dataclass(frozen=True)
class Process:
    """Which process a dialer node is: for knowing it dead from the same host."""

    host: str
    pid: int
    start: str | None  # the pid's start time, as the system gives it (pids are reused)
    media_ports: tuple[int, int] | None = None  # its RTP port range, both ends included


def node_seen(engine: Engine, node: str, now: datetime, calls: int, state_: str = "running",
              started: bool = False, process: Process | None = None) -> None:
    with engine.begin() as conn:
        if started or not conn.execute(select(DialerNode.node)
                                       .where(DialerNode.node == node)).first():
            conn.execute(delete(DialerNode).where(DialerNode.node == node))
            conn.execute(insert(DialerNode).values(
                node=node, started_at=now, seen_at=now, calls_in_progress=calls,
                state=state_, host=process.host if process else None,
                pid=process.pid if process else None,
                process_start=process.start if process else None,
                rtp_low=process.media_ports[0] if process and process.media_ports else None,
                rtp_high=process.media_ports[1] if process and process.media_ports else None))
        else:
            conn.execute(update(DialerNode).where(DialerNode.node == node).values(
                seen_at=now, calls_in_progress=calls, state=state_))


# -- do-not-call -----------------------------------------------------------------------
def add_do_not_call(engine: Engine, phone: str, reason: str, by: str, now: datetime,
                    default_area_code: str = "") -> bool:
    """False if the number was already on the list. The number is normalised as tickets'
    are (PhoneError if it is not a number)."""
    with engine.begin() as conn:
        return add_do_not_call_in(conn, phone, reason, by, now, default_area_code)


def add_do_not_call_in(conn: Connection, phone: str, reason: str, by: str, now: datetime,
                       default_area_code: str = "") -> bool:
    """`add_do_not_call` inside the caller's transaction; pending callbacks are cancelled."""
    if not reason.strip():
        raise ValueError("a do-not-call entry needs a reason")
    phone = normalize_phone(phone, default_area_code).e164
    if conn.execute(select(DoNotCall.id).where(DoNotCall.phone == phone)).first():
        return False
    conn.execute(insert(DoNotCall).values(phone=phone, reason=reason, added_by=by,
                                          added_at=now))
    conn.execute(update(Callback).where(
        Callback.phone == phone, Callback.status == CallbackStatus.PENDING)
        .values(status=CallbackStatus.CANCELLED, note="number on the do-not-call list",
                updated_at=now))
    return True


def remove_do_not_call(engine: Engine, phone: str, default_area_code: str = "") -> bool:
    phone = normalize_phone(phone, default_area_code).e164
    with engine.begin() as conn:
        return bool(conn.execute(delete(DoNotCall).where(DoNotCall.phone == phone)).rowcount)


def do_not_call_entries(engine: Engine) -> list[tuple[int, str, str, str, datetime]]:
    """(id, phone, reason, added by, added at), oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(DoNotCall.id, DoNotCall.phone, DoNotCall.reason,
                                   DoNotCall.added_by, DoNotCall.added_at)
                            .order_by(DoNotCall.added_at)).all()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def remove_do_not_call_entry(conn: Connection, entry_id: int) -> str | None:
    """Remove one entry by id; its phone, or None if there was no such entry."""
    phone = conn.execute(select(DoNotCall.phone).where(DoNotCall.id == entry_id)).scalar()
    if phone is not None:
        conn.execute(delete(DoNotCall).where(DoNotCall.id == entry_id))
    return None if phone is None else str(phone)


def do_not_call(engine: Engine) -> list[tuple[str, str, str, datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(select(DoNotCall.phone, DoNotCall.reason, DoNotCall.added_by,
                                   DoNotCall.added_at).order_by(DoNotCall.added_at)).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


# -- status ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Status:
    state: State
    callbacks: dict[str, int]  # by status
    due_now: int
    attempts_today: dict[str, int]  # by outcome ("in_progress" while calling)
    nodes: list[tuple[str, datetime, datetime, int, str]]


def status(engine: Engine, now: datetime, name: str = DEFAULT) -> Status:
    current = state(engine, name)
    midnight = datetime.combine(now.date(), time(0))
    with engine.connect() as conn:
        by_status = {str(s): int(n) for s, n in conn.execute(
            select(Callback.status, func.count()).group_by(Callback.status)).all()}
        due_now = int(conn.execute(select(func.count()).where(
            Callback.status == CallbackStatus.PENDING, Callback.due_at <= now)).scalar_one())
        outcome = func.coalesce(CallAttempt.outcome, AttemptStatus.IN_PROGRESS.value)
        today = {str(o): int(n) for o, n in conn.execute(
            select(outcome, func.count()).where(CallAttempt.started_at >= midnight)
            .group_by(outcome)).all()}
        recent = now - timedelta(days=1)
        nodes = [(r.node, r.started_at, r.seen_at, r.calls_in_progress, r.state)
                 for r in conn.execute(select(DialerNode).where(DialerNode.seen_at >= recent)
                                       .order_by(DialerNode.node)).all()]
    return Status(current, by_status, due_now, today, nodes)
