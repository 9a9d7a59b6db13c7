"""The recogniser's labelled examples from what people reviewed: each heard turn whose
answer a person judged, with where its audio lies in the call's recording.

A person's judgment of an attempt's answers is one of
- a spot check of that attempt (`spot_checks`, checked blind): "spot_check";
- a supervisor's correction of a callback's answers (`audit_log` action `correct_answer`,
  not one a spot check made): "corrected";
- a supervisor's confirmation, on the call's page, that the machine's answers stand
  (`confirm_answer`; a bulk confirmation from the queue's list is not taken as having
  listened, and is skipped): "confirmed".
A correction or confirmation is of its callback (the audit entry names it), so it labels
the callback's latest attempt that ended before it; if that attempt heard no speech for a
question, nothing of that question is labelled (an older call may not have said what the
person settled on). A spot check, blind and of the recording itself, is never overridden
by a correction or confirmation, which may come from a call back to the citizen; among
those, the latest wins.

Within an attempt, the turn a question's label belongs to is
- none if a key answered the question (what the speech before it meant is not known);
- else the last heard speech turn whose intent is an answer to that question (what the
  machine took, or would have taken with more confidence);
- else the question's only heard speech turn, if the machine heard it as unclear.
Anything else is counted as skipped with why, never guessed: several unclear turns
("ambiguous"), a lone turn heard as something else, e.g. 在开车 ("not_an_answer"), a key
that answered ("answered_by_key"), an answer a person left unknown ("unknown_answer"), a
turn from before offsets were kept ("no_span"), a recording the retention job deleted
("recording_deleted"), a bulk confirmation ("bulk_confirmed"), an audit entry from before
entries named their callback ("no_callback").

Phone numbers never leave this module: each turn carries `caller`, a stable number
derived from the phone, only so that a caller's turns stay in one part of a split.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from store.campaign_models import CallAttempt, Callback, CallTurn
from store.console_models import AuditEntry
from store.enums import AttemptStatus
from store.spot_checks import INTENT_ANSWERS, SpotCheck

HEARD_SPEECH = "heard:speech"
HEARD_KEY = "heard:key"
UNCLEAR = "unclear"
# a stored answer (store.enums values) -> the intent (ivr's Intent values) it stands for
ANSWER_INTENTS: dict[tuple[str, str], str] = {v: k for k, v in INTENT_ANSWERS.items()}
QUESTIONS = ("resolved", "satisfied")
_COLUMN = {"resolved": "resolved", "satisfied": "satisfaction"}


@dataclass(frozen=True)
class ReviewedTurn:
    turn_id: int
    attempt_id: int
    question: str  # "resolved" or "satisfied"
    label: str  # the person's answer as an intent value ("unresolved", "basic_satisfied" ...)
    machine: str  # the intent the live call understood for this turn
    how: str  # "spot_check", "corrected" or "confirmed"
    judged_at: datetime
    recording: str
    from_s: float
    to_s: float
    call_at: datetime
    caller: int  # derived from the phone number, for splitting by caller; never shown


@dataclass
class ReviewedTurns:
    turns: list[ReviewedTurn] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Judgment:
    at: datetime
    how: str
    answers: dict[str, str]  # question -> stored answer ("yes", "basic" ...)


@dataclass(frozen=True)
class _Turn:
    id: int
    question: str
    intent: str
    source: str
    from_s: float | None
    to_s: float | None


def caller_key(phone: str) -> int:
    return zlib.crc32(("huifang-caller:" + phone).encode())


def reviewed_turns(engine: Engine, since: datetime | None = None) -> ReviewedTurns:
    """Every labelled turn of the attempts started since `since` (all if None)."""
    with engine.connect() as conn:
        attempts = _attempts(conn, since)
        if not attempts:
            return ReviewedTurns()
        turns = _turns(conn, list(attempts))
        judged = _spot_checks(conn, list(attempts))
        skipped: Counter[str] = Counter()
        reviewed: dict[int, _Judgment] = {}
        for attempt_id, judgment in _reviews(conn, attempts, skipped):
            if attempt_id not in reviewed or reviewed[attempt_id].at <= judgment.at:
                reviewed[attempt_id] = judgment  # of corrections and confirmations, the latest
        for attempt_id, judgment in reviewed.items():
            judged.setdefault(attempt_id, judgment)  # a blind spot check is never overridden
    result = ReviewedTurns(skipped=skipped)
    for attempt_id, question in sorted((a, q) for a in judged for q in QUESTIONS):
        a, judgment = attempts[attempt_id], judged[attempt_id]
        answer = judgment.answers.get(question, "unknown")
        candidates = [t for t in turns.get(attempt_id, []) if t.question == question]
        if not any(t.source == HEARD_SPEECH for t in candidates):
            continue  # no speech for this question in this attempt: nothing to learn from
        label = ANSWER_INTENTS.get((question, answer))
        if label is None:
            result.skipped["unknown_answer"] += 1
            continue
        turn, why = _labelled_turn(candidates, question)
        if turn is None:
            result.skipped[why] += 1
            continue
        if turn.from_s is None or turn.to_s is None:
            result.skipped["no_span"] += 1
            continue
        if not a.recording or a.recording_deleted_at is not None:
            result.skipped["recording_deleted" if a.recording else "no_recording"] += 1
            continue
        result.turns.append(ReviewedTurn(
            turn.id, attempt_id, question, label, turn.intent, judgment.how, judgment.at,
            a.recording, float(turn.from_s), float(turn.to_s), a.started_at,
            caller_key(a.phone)))
    return result


def _labelled_turn(candidates: list[_Turn], question: str) -> tuple[_Turn | None, str]:
    if any(t.source == HEARD_KEY and t.intent in INTENT_ANSWERS for t in candidates):
        return None, "answered_by_key"
    speech = [t for t in candidates if t.source == HEARD_SPEECH]
    answering = [t for t in speech if INTENT_ANSWERS.get(t.intent, ("",))[0] == question]
    if answering:
        return answering[-1], ""
    if len(speech) == 1:
        return (speech[0], "") if speech[0].intent == UNCLEAR else (None, "not_an_answer")
    return None, "ambiguous"


def _attempts(conn: Connection, since: datetime | None) -> dict[int, Any]:
    """The finished attempts (since `since`) that heard speech, by id."""
    heard = select(CallTurn.attempt_id).where(CallTurn.source == HEARD_SPEECH).distinct()
    query = (select(CallAttempt.id, CallAttempt.callback_id, CallAttempt.phone,
                    CallAttempt.started_at,
                    CallAttempt.ended_at, CallAttempt.recording,
                    CallAttempt.recording_deleted_at, Callback.ticket_id)
             .join(Callback, Callback.id == CallAttempt.callback_id)
             .where(CallAttempt.status == AttemptStatus.FINISHED,
                    CallAttempt.id.in_(heard)))
    if since is not None:
        query = query.where(CallAttempt.started_at >= since)
    return {row.id: row for row in conn.execute(query)}


def _turns(conn: Connection, attempt_ids: list[int]) -> dict[int, list[_Turn]]:
    turns: dict[int, list[_Turn]] = defaultdict(list)
    for chunk in _chunks(attempt_ids):
        for t in conn.execute(select(CallTurn.id, CallTurn.attempt_id, CallTurn.question,
                                     CallTurn.intent, CallTurn.source, CallTurn.from_s,
                                     CallTurn.to_s)
                              .where(CallTurn.attempt_id.in_(chunk),
                                     CallTurn.source.in_((HEARD_SPEECH, HEARD_KEY)))
                              .order_by(CallTurn.id)):
            turns[t.attempt_id].append(_Turn(t.id, t.question, t.intent, t.source,
                                             t.from_s, t.to_s))
    return turns


def _spot_checks(conn: Connection, attempt_ids: list[int]
                 ) -> dict[int, _Judgment]:
    judged: dict[int, _Judgment] = {}  # an attempt is drawn (and checked) once
    for chunk in _chunks(attempt_ids):
        for s in conn.execute(select(SpotCheck.attempt_id, SpotCheck.checked_at,
                                     SpotCheck.checked_resolved,
                                     SpotCheck.checked_satisfaction)
                              .where(SpotCheck.attempt_id.in_(chunk),
                                     SpotCheck.checked_at.is_not(None))):
            judged[s.attempt_id] = _Judgment(s.checked_at, "spot_check",
                                             {"resolved": str(s.checked_resolved),
                                              "satisfied": str(s.checked_satisfaction)})
    return judged


def _reviews(conn: Connection, attempts: dict[int, Any], skipped: Counter[str]
             ) -> Iterable[tuple[int, _Judgment]]:
    """Each supervisor's correction or confirmation, as the attempt it labels: its
    callback's latest attempt that ended before it (if that one heard speech)."""
    callbacks = sorted({a.callback_id for a in attempts.values()})
    ended: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    entries: list[Any] = []
    for chunk in _chunks(callbacks):
        for a in conn.execute(select(CallAttempt.id, CallAttempt.callback_id,
                                     CallAttempt.ended_at)
                              .where(CallAttempt.callback_id.in_(chunk),
                                     CallAttempt.ended_at.is_not(None))):
            ended[a.callback_id].append((a.ended_at, a.id))
    for chunk in _chunks(sorted({a.ticket_id for a in attempts.values()})):
        entries += conn.execute(select(AuditEntry.at, AuditEntry.action, AuditEntry.after)
                                .where(AuditEntry.ticket_id.in_(chunk),
                                       AuditEntry.action.in_(("correct_answer",
                                                              "confirm_answer")))).all()
    wanted = set(callbacks)
    for entry in entries:
        after = _parsed(entry.after)
        if after.get("from") == "spot_check":
            continue  # the spot check itself labels its attempt
        callback = after.get("callback")
        if not isinstance(callback, int):
            skipped["no_callback"] += 1
            continue
        if callback not in wanted:
            continue  # another closure's callback, with no speech here
        if after.get("bulk"):
            skipped["bulk_confirmed"] += 1
            continue
        before = [(at, a) for at, a in ended[callback] if at <= entry.at]
        if not before:
            continue  # judged before any call of it ended: not from its audio
        latest = max(before)[1]
        if latest not in attempts:
            continue  # no speech in that call (or before --since)
        how = "corrected" if entry.action == "correct_answer" else "confirmed"
        yield latest, _Judgment(entry.at, how,
                                {q: str(after.get(_COLUMN[q], "unknown")) for q in QUESTIONS})


def _parsed(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]
