"""Claims and calls a dead dialer left behind: found, closed and hung up.

On start and at every heartbeat (`recover_claims`, blocking, on the store thread):
- the dialer processes of this host that are gone, whatever their names (by pid and the
  pid's start time), are marked dead and their claims come back at once;
- the calls that those processes, this one (starting again) or a dialer whose lease
  expired still had up are read with what would end them, before `recover` closes their
  attempts as interrupted (answers already saved are kept).

Then, on the reactor (`end_left_calls`), each such call is hung up from its record
(CANCEL while ringing, BYE once answered) and its RTP port held back from new calls
until it has ended: a dead call's media never reaches a new call.

That holds only if no other live process of this host may hand out the same ports: one
that does could give a dead call's port to a new call before its own heartbeat finds the
dead process. So a process refuses to start while another live one of its host holds an
overlapping `trunk.rtp_ports` (`check_media_ports`, before it registers and again once
it has, before it recovers anything: of two started at once, both give way).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from dialer.leftdialog import DialogRecord, DialogRecordError
from dialer.processes import alive
from dialer.trunk import Dialer
from store import campaign as state
from store.callbacks import Recovered, recover
from store.campaign import Process
from store.dialogs import LeftDialog, PortsHolder, dead_nodes, left_dialogs, sharing_ports

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recovery:
    recovered: Recovered
    dead_nodes: list[str]
    left: list[LeftDialog]


def recover_claims(engine: Engine, now: datetime, node: str, process: Process,
                   *, restarting: bool) -> Recovery:
    """Blocking. `restarting`: this process has just started, so whatever is still
    claimed under its own name was left by a previous process of that name."""
    dead = dead_nodes(engine, process.host, node, now, alive)
    mine = [*dead, node] if restarting else dead
    left = left_dialogs(engine, now, mine)
    recovered = recover(engine, now, node if restarting else None, dead)
    return Recovery(recovered, dead, left)


class PortsShared(RuntimeError):
    """Another live dialer process of this host holds some of this one's RTP ports."""

    def __init__(self, node: str, ports: tuple[int, int], holders: list[PortsHolder]) -> None:
        self.node, self.ports, self.holders = node, ports, holders
        others = "; ".join(f"node {h.node} (pid {h.pid}) {h.low}-{h.high}" for h in holders)
        super().__init__(
            f"trunk.rtp_ports {ports[0]}-{ports[1]} of node {node} overlap those of a dialer "
            f"running on this host: {others}. A port a dead call still streams to could be "
            "handed to the other's new call; give each node of a host its own range")


def check_media_ports(engine: Engine, node: str, process: Process,
                      registered_at: datetime | None = None) -> None:
    """Blocking. PortsShared if another live process of this host holds RTP ports
    overlapping this one's. Checked before this node registers and again once it has
    (`registered_at`): of two that start at once, each then sees the other and both give
    way, which is the safe failure; this node is marked stopped before it does."""
    if process.media_ports is None:
        return
    holders = sharing_ports(engine, process.host, node, process.pid, *process.media_ports,
                            alive)
    if holders:
        if registered_at is not None:
            state.node_seen(engine, node, registered_at, 0, "stopped")
        raise PortsShared(node, process.media_ports, holders)


def end_left_calls(dialer: Dialer, left: list[LeftDialog]) -> list[Deferred[Any]]:
    """Hang up each left call from its record; a record that cannot be read is logged
    with its attempts (their answers are kept; the call may stay up at the callee)."""
    ending: list[Deferred[Any]] = []
    for dialog in left:
        try:
            record = DialogRecord.from_json(dialog.record)
        except DialogRecordError as exc:
            log.error("call %s (attempts %s) may still be up at the callee: %s",
                      dialog.call_id, list(dialog.attempt_ids), exc)
            continue
        ending.append(dialer.end_left_dialog(record).addErrback(_failed, dialog.call_id))
    if left:
        log.warning("hanging up %d call(s) a dead dialer left up", len(ending))
    return ending


def _failed(failure: Failure, call_id: str) -> None:
    log.error("call %s: hanging up the left dialog failed: %s", call_id, failure.value)
