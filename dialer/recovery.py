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
from store.callbacks import Recovered, recover
from store.campaign import Process
from store.dialogs import LeftDialog, dead_nodes, left_dialogs

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
