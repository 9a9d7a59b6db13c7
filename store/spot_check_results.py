"""A supervisor's blind spot check (抽检) of one drawn call, in one transaction: the check
itself (who, when, their answers, whether each agrees with the machine's), its audit
entry, and, when the person heard something else than the evaluation now says, the
correction of the evaluation through the console's own path (`correct_answer_in`) with
its audit entry saying it came from this spot check. Agreement is stored the same way.

A checked call is not checked again silently: only with `again` (the console's 再次处理),
and the conditional UPDATE on the checks seen refuses a second check made at the same
time by someone else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update

from store import audit
from store.campaign_models import Callback
from store.corrections import CorrectionError, Who, correct_answer_in
from store.enums import RESOLVED_LABELS, SATISFACTION_LABELS, Resolved, Satisfaction
from store.models import Evaluation, Ticket
from store.spot_checks import SpotCheck

log = logging.getLogger(__name__)


class AlreadyChecked(CorrectionError):
    """The call was checked already (by `by`, at `at`); a new check needs `again`."""

    def __init__(self, by: str, at: datetime) -> None:
        super().__init__(f"spot check already made by {by} at {at:%Y-%m-%d %H:%M}")
        self.by, self.at = by, at


@dataclass(frozen=True)
class CheckResult:
    spot_id: int
    agreed_resolved: bool
    agreed_satisfaction: bool
    corrected: bool  # the evaluation was corrected to the person's answers


def _reason(agreed: bool, note: str) -> str:
    said = "抽检一致" if agreed else "抽检不一致，按人工复听修正"
    return f"{said}：{note.strip()}" if note.strip() else said


def check(engine: Engine, spot_id: int, resolved: Resolved, satisfaction: Satisfaction,
          who: Who, *, again: bool = False) -> CheckResult:
    """Store the person's answers to the call's two questions, heard blind. `who.reason`
    is their note (may be empty); with `again` it must say why the call is checked again."""
    if resolved is Resolved.UNKNOWN or satisfaction is Satisfaction.UNKNOWN:
        raise CorrectionError("both answers are needed for a spot check")
    if again and not who.reason.strip():
        raise audit.ReasonRequired("a reason is required to check again")
    with engine.begin() as conn:
        row = conn.execute(select(SpotCheck).where(SpotCheck.id == spot_id)).first()
        if row is None:
            raise CorrectionError(f"spot check {spot_id} does not exist")
        if row.checked_at is not None and not again:
            raise AlreadyChecked(str(row.checked_by or ""), row.checked_at)
        agreed_r = resolved == row.machine_resolved
        agreed_s = satisfaction == row.machine_satisfaction
        changed = conn.execute(update(SpotCheck).where(
            SpotCheck.id == spot_id, SpotCheck.checks == row.checks).values(
            checks=row.checks + 1, checked_at=who.now, checked_by=who.actor,
            checked_resolved=resolved, checked_satisfaction=satisfaction,
            agreed_resolved=agreed_r, agreed_satisfaction=agreed_s,
            note=who.reason.strip() or None)).rowcount
        if changed != 1:
            raise AlreadyChecked("另一位质检员", who.now)
        ticket = conn.execute(select(Ticket.ticket_no, Evaluation.resolved,
                                     Evaluation.satisfaction).select_from(Callback)
                              .join(Ticket, Ticket.id == Callback.ticket_id)
                              .outerjoin(Evaluation,
                                         Evaluation.closure_id == Callback.closure_id)
                              .where(Callback.id == row.callback_id)).first()
        origin = {"from": "spot_check", "spot_check": spot_id}
        before: dict[str, Any] | None = None if row.checked_at is None else {
            "resolved": str(row.checked_resolved),
            "satisfaction": str(row.checked_satisfaction),
            "checked_by": row.checked_by, "checked_at": row.checked_at}
        after = {"resolved": str(resolved), "satisfaction": str(satisfaction),
                 "machine_resolved": str(row.machine_resolved),
                 "machine_satisfaction": str(row.machine_satisfaction),
                 "agreed_resolved": agreed_r, "agreed_satisfaction": agreed_s, **origin}
        agreed = agreed_r and agreed_s
        reason = _reason(agreed, who.reason)
        if again:
            reason = f"再次抽检（此前由 {row.checked_by} 于 {row.checked_at:%Y-%m-%d %H:%M}" \
                     f" 抽检）：{who.reason.strip()}"
        target = ticket.ticket_no if ticket is not None else f"spot check {spot_id}"
        audit.record(conn, at=who.now, actor=who.actor, action="spot_check", target=target,
                     reason=reason, ticket_id=row.ticket_id, before=before, after=after,
                     address=who.address)
        corrected = False
        if ticket is not None and (ticket.resolved != resolved
                                   or ticket.satisfaction != satisfaction):
            heard = f"{RESOLVED_LABELS[resolved]}/{SATISFACTION_LABELS[satisfaction]}"
            correct_answer_in(conn, row.callback_id, resolved, satisfaction,
                              Who(who.actor, f"{reason}（人工复听：{heard}）", who.now,
                                  who.address),
                              label="抽检修正", origin=origin)
            corrected = True
    log.info("spot check %s by %s: resolved %s, satisfaction %s%s", spot_id, who.actor,
             "agrees" if agreed_r else "differs", "agrees" if agreed_s else "differs",
             ", evaluation corrected" if corrected else "")
    return CheckResult(spot_id, agreed_r, agreed_s, corrected)

