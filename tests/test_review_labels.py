"""Which reviewed turns become the recogniser's labelled examples, and with which label:
a fixture worked out by hand, judged through the console's own store actions (spot check,
correction, confirmation), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, insert, select, update

from store.campaign_models import CallAttempt, Callback, CallTurn
from store.corrections import Who, confirm_answer, correct_answer
from store.enums import (
    AttemptOutcome,
    AttemptStatus,
    CallbackStatus,
    EvaluationSource,
    PhoneKind,
    Resolved,
    Satisfaction,
    TicketStatus,
    TicketType,
)
from store.models import Closure, Evaluation, Ticket, Unit
from store.review_labels import ReviewedTurn, caller_key, reviewed_turns
from store.spot_check_results import check
from store.spot_checks import SpotCheck

DAY = datetime(2026, 11, 20, 10, 0)
Turn = tuple[str, str, str, tuple[float, float] | None]  # question, intent, source, span


def _ticket(engine: Engine, n: int, answers: tuple[str, str] = ("yes", "satisfied")
            ) -> tuple[int, int]:
    """A closed ticket with its callback and the machine's evaluation: (ticket, callback)."""
    with engine.begin() as conn:
        unit = conn.execute(select(Unit.id)).scalar() or conn.execute(insert(Unit).values(
            name="青石街道", created_at=DAY, updated_at=DAY).returning(Unit.id)).scalar_one()
        phone = f"1390000{n:04d}"
        ticket = conn.execute(insert(Ticket).values(
            ticket_no=f"R{n:04d}", unit_id=unit, type=TicketType.COMPLAINT, phone=phone,
            phone_kind=PhoneKind.MOBILE, received_at=DAY - timedelta(days=5),
            closed_at=DAY - timedelta(days=1), status=TicketStatus.CLOSED, closure_count=1,
            created_at=DAY, updated_at=DAY).returning(Ticket.id)).scalar_one()
        closure = conn.execute(insert(Closure).values(
            ticket_id=ticket, seq=1, closed_at=DAY - timedelta(days=1), created_at=DAY
        ).returning(Closure.id)).scalar_one()
        callback = _callback(conn, closure, ticket, phone)
        conn.execute(insert(Evaluation).values(
            closure_id=closure, ticket_id=ticket, resolved=answers[0],
            satisfaction=answers[1], source=EvaluationSource.AUTO, evaluated_at=DAY,
            evaluated_by="huifang", created_at=DAY))
    return int(ticket), int(callback)


def _callback(conn: Connection, closure: int, ticket: int, phone: str) -> int:
    return int(conn.execute(insert(Callback).values(
        closure_id=closure, ticket_id=ticket, phone=phone, status=CallbackStatus.REVIEW,
        due_at=DAY, deadline_at=DAY + timedelta(days=5), attempts=1, created_at=DAY,
        updated_at=DAY).returning(Callback.id)).scalar_one())


def _attempt(engine: Engine, ticket: int, callback: int, turns: list[Turn],
             at: datetime = DAY, recording: str | None = "/rec/a.wav") -> int:
    with engine.begin() as conn:
        phone = conn.execute(select(Ticket.phone).where(Ticket.id == ticket)).scalar_one()
        attempt = conn.execute(insert(CallAttempt).values(
            callback_id=callback, ticket_id=ticket, call_id=f"c{ticket}-{at:%H%M}", node="t",
            phone=phone, status=AttemptStatus.FINISHED, started_at=at,
            ended_at=at + timedelta(minutes=1), outcome=AttemptOutcome.COMPLETED,
            recording=recording).returning(CallAttempt.id)).scalar_one()
        for question, intent, source, span in turns:
            conn.execute(insert(CallTurn).values(
                attempt_id=attempt, question=question, intent=intent, confidence=0.5,
                source=source, heard="听到的", at=at, from_s=span[0] if span else None,
                to_s=span[1] if span else None))
    return int(attempt)


def _spot(engine: Engine, attempt: int, callback: int, ticket: int) -> int:
    with engine.begin() as conn:
        return int(conn.execute(insert(SpotCheck).values(
            attempt_id=attempt, callback_id=callback, ticket_id=ticket, call_at=DAY,
            number=0.01, weight=1.0, drawn_by="share", drawn_at=DAY,
            machine_resolved=Resolved.YES, machine_satisfaction=Satisfaction.SATISFIED,
            checks=0).returning(SpotCheck.id)).scalar_one())


def _by(turns: list[ReviewedTurn]) -> dict[tuple[int, str], tuple[int, str, str, str]]:
    """(attempt, question) -> (turn id, label, machine, how)."""
    return {(t.attempt_id, t.question): (t.turn_id, t.label, t.machine, t.how) for t in turns}


def _turn_ids(engine: Engine, attempt: int) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(CallTurn.id).where(CallTurn.attempt_id == attempt)
                                 .order_by(CallTurn.id)).scalars())


def test_labels_from_spot_checks_corrections_and_confirmations(engine: Engine) -> None:
    later = DAY + timedelta(hours=3)
    # 1. spot-checked blind: 解决 agreed, 满意 heard as 基本满意 (the last answering turn)
    t1, c1 = _ticket(engine, 1)
    a1 = _attempt(engine, t1, c1, [
        ("resolved", "resolved", "heard:speech", (1.0, 2.0)),
        ("resolved", "resolved", "speech", None),  # the saved answer's own row
        ("satisfied", "unclear", "heard:speech", (3.0, 4.0)),
        ("satisfied", "satisfied", "heard:speech", (5.0, 6.5))])
    check(engine, _spot(engine, a1, c1, t1), Resolved.YES, Satisfaction.BASIC,
          Who("zhijian", "", later))
    # 2. corrected: two unclear turns for 解决 (which one held the answer is unknown), no
    #    speech at all for 满意
    t2, c2 = _ticket(engine, 2, ("unknown", "unknown"))
    a2 = _attempt(engine, t2, c2, [("resolved", "unclear", "heard:speech", (1.0, 2.0)),
                                   ("resolved", "unclear", "heard:speech", (3.0, 4.0)),
                                   ("satisfied", "unsatisfied", "heard:key", None)])
    correct_answer(engine, c2, Resolved.NO, Satisfaction.UNSATISFIED,
                   Who("zhuguan", "复听：没解决", later))
    # 3. confirmed after a second call: only the latest attempt with speech is labelled
    t3, c3 = _ticket(engine, 3, ("no", "unsatisfied"))
    a3_first = _attempt(engine, t3, c3, [("resolved", "resolved", "heard:speech", (1.0, 2.0))])
    a3 = _attempt(engine, t3, c3, [("resolved", "unresolved", "heard:speech", (1.0, 2.5)),
                                   ("satisfied", "unsatisfied", "heard:speech", (3.0, 4.0))],
                  at=DAY + timedelta(hours=1))
    confirm_answer(engine, c3, Who("zhuguan", "复听无误", later))
    # 4. corrected: 解决 answered by a key after an unclear word; 满意's only turn unclear
    t4, c4 = _ticket(engine, 4, ("yes", "unknown"))
    a4 = _attempt(engine, t4, c4, [("resolved", "unclear", "heard:speech", (1.0, 2.0)),
                                   ("resolved", "resolved", "heard:key", None),
                                   ("satisfied", "unclear", "heard:speech", (4.0, 5.0))])
    correct_answer(engine, c4, Resolved.YES, Satisfaction.SATISFIED,
                   Who("zhuguan", "复听：满意", later))
    # 5. a call from before offsets were kept; 6. its recording deleted since
    t5, c5 = _ticket(engine, 5)
    a5 = _attempt(engine, t5, c5, [("resolved", "resolved", "heard:speech", None)])
    check(engine, _spot(engine, a5, c5, t5), Resolved.YES, Satisfaction.SATISFIED,
          Who("zhijian", "", later))
    t6, c6 = _ticket(engine, 6)
    a6 = _attempt(engine, t6, c6, [("resolved", "resolved", "heard:speech", (1.0, 2.0))])
    with engine.begin() as conn:
        conn.execute(update(CallAttempt).where(CallAttempt.id == a6)
                     .values(recording_deleted_at=later))
    check(engine, _spot(engine, a6, c6, t6), Resolved.YES, Satisfaction.SATISFIED,
          Who("zhijian", "", later))
    # 7. reviewed by nobody: never labelled; 8. judged before the call ended: not its label
    t7, c7 = _ticket(engine, 7)
    _attempt(engine, t7, c7, [("resolved", "resolved", "heard:speech", (1.0, 2.0))])
    t8, c8 = _ticket(engine, 8)
    correct_answer(engine, c8, Resolved.NO, Satisfaction.SATISFIED,
                   Who("zhuguan", "电话核实", DAY - timedelta(hours=1)))
    _attempt(engine, t8, c8, [("resolved", "resolved", "heard:speech", (1.0, 2.0))])

    found = reviewed_turns(engine)
    ids1, ids3, ids4 = _turn_ids(engine, a1), _turn_ids(engine, a3), _turn_ids(engine, a4)
    assert _by(found.turns) == {
        (a1, "resolved"): (ids1[0], "resolved", "resolved", "spot_check"),
        (a1, "satisfied"): (ids1[3], "basic_satisfied", "satisfied", "spot_check"),
        (a3, "resolved"): (ids3[0], "unresolved", "unresolved", "confirmed"),
        (a3, "satisfied"): (ids3[1], "unsatisfied", "unsatisfied", "confirmed"),
        (a4, "satisfied"): (ids4[2], "satisfied", "unclear", "corrected")}
    assert a2 not in {t.attempt_id for t in found.turns}
    assert a3_first not in {t.attempt_id for t in found.turns}
    assert found.skipped == Counter(ambiguous=1, answered_by_key=1, no_span=1,
                                    recording_deleted=1)
    turn = next(t for t in found.turns if t.turn_id == ids1[3])
    assert (turn.from_s, turn.to_s, turn.recording, turn.judged_at) == (
        5.0, 6.5, "/rec/a.wav", later)
    assert turn.caller == caller_key("13900000001") != caller_key("13900000003")
    assert reviewed_turns(engine, since=DAY + timedelta(minutes=30)).turns == [
        t for t in found.turns if t.attempt_id == a3]


def test_a_blind_spot_check_stands_and_of_reviews_the_latest_wins(engine: Engine) -> None:
    t, c = _ticket(engine, 1)
    a = _attempt(engine, t, c, [("resolved", "resolved", "heard:speech", (1.0, 2.0)),
                                ("satisfied", "satisfied", "heard:speech", (3.0, 4.0))])
    check(engine, _spot(engine, a, c, t), Resolved.YES, Satisfaction.SATISFIED,
          Who("zhijian", "", DAY + timedelta(hours=1)))
    # a call back to the citizen later: a fact about the ticket, not about this audio
    correct_answer(engine, c, Resolved.YES, Satisfaction.UNSATISFIED,
                   Who("zhuguan", "市民回电说不满意", DAY + timedelta(hours=2)))
    assert {(x.question, x.label, x.how) for x in reviewed_turns(engine).turns} == {
        ("resolved", "resolved", "spot_check"), ("satisfied", "satisfied", "spot_check")}
    # two reviews of an unchecked call: the later one
    t2, c2 = _ticket(engine, 2)
    a2 = _attempt(engine, t2, c2, [("resolved", "resolved", "heard:speech", (1.0, 2.0))])
    correct_answer(engine, c2, Resolved.NO, Satisfaction.SATISFIED,
                   Who("zhuguan", "复听：没解决", DAY + timedelta(hours=1)))
    correct_answer(engine, c2, Resolved.YES, Satisfaction.SATISFIED,
                   Who("zhuguan", "再听：解决了", DAY + timedelta(hours=2)))
    assert [(x.label, x.how) for x in reviewed_turns(engine).turns if x.attempt_id == a2] == [
        ("resolved", "corrected")]
    # a spot check that disagrees makes its own correction: it is labelled once, as a check
    t3, c3 = _ticket(engine, 3)
    a3 = _attempt(engine, t3, c3, [("resolved", "resolved", "heard:speech", (1.0, 2.0))])
    check(engine, _spot(engine, a3, c3, t3), Resolved.NO, Satisfaction.SATISFIED,
          Who("zhijian", "", DAY + timedelta(hours=3)))
    assert [(x.label, x.how) for x in reviewed_turns(engine).turns if x.attempt_id == a3] == [
        ("unresolved", "spot_check")]


def _second_closure(engine: Engine, ticket: int) -> int:
    """The ticket reopened and closed again: a new closure and its callback."""
    with engine.begin() as conn:
        phone = conn.execute(select(Ticket.phone).where(Ticket.id == ticket)).scalar_one()
        closure = conn.execute(insert(Closure).values(
            ticket_id=ticket, seq=2, closed_at=DAY, created_at=DAY).returning(Closure.id)
        ).scalar_one()
        return _callback(conn, closure, ticket, phone)


def test_what_a_review_does_not_label(engine: Engine) -> None:
    later = DAY + timedelta(hours=5)
    # reopened: closure 1's confirmation says nothing of closure 2's call
    t1, c1 = _ticket(engine, 1)
    first = _attempt(engine, t1, c1, [("resolved", "resolved", "heard:speech", (1.0, 2.0))])
    c1b = _second_closure(engine, t1)
    second = _attempt(engine, t1, c1b, [
        ("resolved", "unresolved", "heard:speech", (1.0, 2.0))], at=DAY + timedelta(hours=1))
    confirm_answer(engine, c1, Who("zhuguan", "复听无误", later))
    # the answers came by key in the last call: the older call's 在开车 is no answer
    t2, c2 = _ticket(engine, 2)
    _attempt(engine, t2, c2, [("resolved", "call_later", "heard:speech", (1.0, 2.0))])
    _attempt(engine, t2, c2, [("resolved", "resolved", "heard:key", None),
                              ("satisfied", "satisfied", "heard:key", None)],
             at=DAY + timedelta(hours=1))
    confirm_answer(engine, c2, Who("zhuguan", "复听无误", later))
    # a lone turn heard as something else; a key after an answer heard by voice
    t3, c3 = _ticket(engine, 3, ("no", "satisfied"))
    a3 = _attempt(engine, t3, c3, [("resolved", "resolved", "heard:speech", (1.0, 2.0)),
                                   ("resolved", "unresolved", "heard:key", None),
                                   ("satisfied", "call_later", "heard:speech", (3.0, 4.0))])
    correct_answer(engine, c3, Resolved.NO, Satisfaction.SATISFIED,
                   Who("zhuguan", "复听", later))
    # confirmed in bulk from the queue's list: nobody listened
    t4, c4 = _ticket(engine, 4)
    a4 = _attempt(engine, t4, c4, [("resolved", "resolved", "heard:speech", (1.0, 2.0))])
    confirm_answer(engine, c4, Who("zhuguan", "批量确认", later), bulk=True)
    found = reviewed_turns(engine)
    assert [(t.attempt_id, t.question, t.label) for t in found.turns] == [
        (first, "resolved", "resolved")]
    assert second not in {t.attempt_id for t in found.turns}
    assert a3 not in {t.attempt_id for t in found.turns}
    assert a4 not in {t.attempt_id for t in found.turns}
    assert found.skipped == Counter(answered_by_key=1, not_an_answer=1, bulk_confirmed=1)
