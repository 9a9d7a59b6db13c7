"""Dialogs a dead process left up, and dead processes on this host.

The dialer writes with each attempt what would end its call (`save_dialog`); after a
crash the process that recovers the attempts reads them back (`left_dialogs`) before
`recover` closes them, and ends each call. A process started again on the same host
finds the processes that died there (`dead_nodes`) by their pid and its start time,
whatever their names, so that their claims come back at once instead of after the
lease. Two live processes of one host must not share RTP ports (`sharing_ports`): the
port of a call one of them left up when it died could be handed by the other to a new
call before it knows the first is dead. Nothing here knows what a dialog record says: it
is the dialer's text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, or_, select, update

from store.campaign_models import CallAttempt, Callback, DialerNode
from store.enums import AttemptStatus, CallbackStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeftDialog:
    call_id: str
    attempt_ids: tuple[int, ...]
    record: str


def save_dialog(engine: Engine, attempt_ids: Sequence[int], record: str | None) -> None:
    """Write (or clear, with None) the dialog record of a call's attempts."""
    with engine.begin() as conn:
        conn.execute(update(CallAttempt).where(CallAttempt.id.in_(list(attempt_ids)))
                     .values(dialog=record))


def _dead_claims(now: datetime, nodes: Sequence[str]) -> ColumnElement[bool]:
    dead: ColumnElement[bool] = or_(Callback.lease_until < now, Callback.lease_until.is_(None))
    if nodes:
        dead = or_(dead, Callback.claimed_by.in_(list(nodes)))
    return dead


def left_dialogs(engine: Engine, now: datetime, nodes: Sequence[str]) -> list[LeftDialog]:
    """The calls whose attempts `recover(engine, now, …)` would close as interrupted and
    whose dialog record says they may still be up: attempts in progress, claimed by one
    of `nodes` (dead or this one, starting again) or by a dialer whose lease expired."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(CallAttempt.id, CallAttempt.call_id, CallAttempt.dialog)
            .join(Callback, Callback.id == CallAttempt.callback_id)
            .where(CallAttempt.status == AttemptStatus.IN_PROGRESS,
                   CallAttempt.dialog.is_not(None),
                   Callback.status == CallbackStatus.CLAIMED,
                   _dead_claims(now, nodes))
            .order_by(CallAttempt.id)).all()
    calls: dict[str, tuple[list[int], str]] = {}
    for attempt_id, call_id, record in rows:
        calls.setdefault(call_id, ([], str(record)))[0].append(int(attempt_id))
    return [LeftDialog(c, tuple(ids), record) for c, (ids, record) in calls.items()]


def dead_nodes(engine: Engine, host: str, own: str, now: datetime,
               alive: Callable[[int, str | None], bool]) -> list[str]:
    """Dialer processes of `host` still marked running that are gone (`alive(pid,
    process_start)` says no): marked dead, and their names returned."""
    with engine.begin() as conn:
        rows = conn.execute(select(DialerNode.node, DialerNode.pid, DialerNode.process_start)
                            .where(DialerNode.host == host, DialerNode.node != own,
                                   DialerNode.state == "running",
                                   DialerNode.pid.is_not(None))).all()
        gone = [r.node for r in rows if not alive(int(r.pid), r.process_start)]
        if gone:
            conn.execute(update(DialerNode).where(DialerNode.node.in_(gone))
                         .values(state="dead", seen_at=now, calls_in_progress=0))
            log.warning("dialer processes gone from %s: %s", host, ", ".join(gone))
    return gone


@dataclass(frozen=True)
class PortsHolder:
    """A live process of this host whose RTP ports overlap ours."""

    node: str
    pid: int
    low: int
    high: int
    started_at: datetime


def sharing_ports(engine: Engine, host: str, own: str, own_pid: int, low: int, high: int,
                  alive: Callable[[int, str | None], bool]) -> list[PortsHolder]:
    """The dialer processes of `host`, other than this one (`own` name and `own_pid`),
    marked running or paused, alive (`alive(pid, process_start)`) and holding an RTP range
    that overlaps `low`–`high`: oldest first. Another live process under this very name
    counts too. A node that registered no range (an older version) is left out."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(DialerNode.node, DialerNode.pid, DialerNode.process_start,
                   DialerNode.rtp_low, DialerNode.rtp_high, DialerNode.started_at)
            .where(DialerNode.host == host, DialerNode.state.in_(("running", "paused")),
                   DialerNode.pid.is_not(None),
                   DialerNode.rtp_low <= high, DialerNode.rtp_high >= low)
            .order_by(DialerNode.started_at, DialerNode.node)).all()
    return [PortsHolder(r.node, int(r.pid), int(r.rtp_low), int(r.rtp_high), r.started_at)
            for r in rows if (r.node, int(r.pid)) != (own, own_pid)
            and alive(int(r.pid), r.process_start)]
