"""The review queue and the supervisors' changes, on SQLite and PostgreSQL: what the
queue holds and how it filters and counts; every change in one transaction with its
audit entry; the rankings moving with a correction."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from scoring.periods import parse_period
from scoring.report import build_report
from store import audit, corrections, review
from store.audit import AuditFilter, ReasonRequired
from store.campaign import do_not_call_entries
from store.campaign_models import Callback
from store.console_models import AuditEntry
from store.enums import (
    CallbackStatus,
    EvaluationSource,
    Resolved,
    Satisfaction,
    TicketStatus,
)
from store.models import Evaluation, Exclusion, Ticket
from tests.console_support import NOW, PERIOD, XSS, Seeded, seed

WHO = corrections.Who("zhijian", "听录音，市民说满意", NOW + timedelta(hours=1), "127.0.0.1")


@pytest.fixture
def seeded(engine: Engine, tmp_path: Path) -> Seeded:
    return seed(engine, tmp_path, tmp_path / "rec")


def audit_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


def test_queue_holds_what_the_machine_could_not_settle(engine: Engine, seeded: Seeded) -> None:
    q = review.queue(engine, review.QueueFilter())
    kinds = {i.callback_id: i.kind for i in q.items}
    assert kinds == {seeded.negative: "negative", seeded.unclear: "unclear",
                     seeded.unreachable: "unreachable"}
    assert q.total == 3 and q.by_kind == {"negative": 1, "unclear": 1, "unreachable": 1}
    # a clean completed call with positive answers is not there
    assert all(i.ticket_no != "Q001" for i in q.items)


def test_filters_and_counts(engine: Engine, seeded: Seeded) -> None:
    units = {name: uid for uid, name in review.unit_choices(engine)}
    q = review.queue(engine, review.QueueFilter(unit_id=units["白沙街道"]))
    assert {i.ticket_no for i in q.items} == {"B011", "X001"}
    assert q.by_kind == {"unclear": 1, "unreachable": 1}
    q = review.queue(engine, review.QueueFilter(kind="unclear"))
    assert [i.ticket_no for i in q.items] == ["B011"] and q.total == 1
    assert q.by_kind["unreachable"] == 1  # counts per kind ignore the kind filter
    assert review.queue(engine, review.QueueFilter(outcome="no_answer")).total == 1
    assert review.queue(engine, review.QueueFilter(category="城乡建设")).total == 3
    assert review.queue(engine, review.QueueFilter(category="教育")).total == 0
    day = NOW.date()
    assert review.queue(engine, review.QueueFilter(since=day, until=day)).total == 3
    assert review.queue(engine, review.QueueFilter(until=day - timedelta(days=1))).total == 0
    assert set(review.outcome_choices(engine)) == {"completed", "unclear", "no_answer"}


@pytest.mark.parametrize("hostile", ["' OR 1=1 --", "%", "_", "\\", "城乡%' --",
                                     "'); DROP TABLE tickets; --"])
def test_hostile_filters_match_nothing_and_harm_nothing(engine: Engine, seeded: Seeded,
                                                        hostile: str) -> None:
    assert review.queue(engine, review.QueueFilter(category=hostile)).total == 0
    assert review.queue(engine, review.QueueFilter(outcome=hostile)).total == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Ticket)).scalar_one() == 22


def test_neighbours_follow_the_queue_order(engine: Engine, seeded: Seeded) -> None:
    ids = [i.callback_id for i in review.queue(engine, review.QueueFilter()).items]
    assert review.neighbours(engine, review.QueueFilter(), ids[0]) == (None, ids[1])
    assert review.neighbours(engine, review.QueueFilter(), ids[1]) == (ids[0], ids[2])
    assert review.neighbours(engine, review.QueueFilter(), ids[2]) == (ids[1], None)


def test_call_detail_has_attempts_turns_and_recording(engine: Engine, seeded: Seeded) -> None:
    d = review.call_detail(engine, seeded.negative)
    assert d is not None and d.in_queue and d.kind == "negative"
    assert d.ticket["ticket_no"] == "Q010" and d.ticket["unit"] == "青石街道"
    (attempt,) = d.attempts
    assert attempt.outcome == "completed" and attempt.sip_code == 200
    assert attempt.recording == str(seeded.recording) and attempt.reason_span == (1.5, 4.0)
    assert [(t.question, t.intent, t.source, t.heard, t.from_s) for t in attempt.turns] == [
        ("resolved", "resolved", "heard:speech", "已经解决了", 0.3),
        ("resolved", "resolved", "speech", "已经解决了", None),
        ("satisfied", "unsatisfied", "heard:speech", "不满意", 2.0),
        ("satisfied", "unsatisfied", "speech", "不满意", None)]
    assert d.evaluation == {"resolved": "yes", "satisfaction": "unsatisfied", "source": "auto",
                            "evaluated_by": "huifang", "evaluated_at": NOW,
                            "note": d.evaluation["note"] if d.evaluation else None}
    unreachable = review.call_detail(engine, seeded.unreachable)
    assert unreachable is not None and len(unreachable.attempts) == 3
    assert unreachable.ticket["summary"] == XSS
    assert review.call_detail(engine, 99999) is None


def _satisfaction_rank(engine: Engine, unit: str) -> tuple[float | None, int | None]:
    report = build_report(engine, parse_period(PERIOD), now=NOW + timedelta(days=3))
    u = next(u for u in report.units if u.info.name == unit)
    return u.rates.satisfaction_rate, u.rank


def _cards(engine: Engine) -> dict[str, str | None]:
    report = build_report(engine, parse_period(PERIOD), now=NOW + timedelta(days=3))
    return {u.info.name: u.card for u in report.units if u.info.group == "街道乡镇"}


def test_correction_moves_the_rate_and_rank_and_is_audited(engine: Engine,
                                                          seeded: Seeded) -> None:
    assert _satisfaction_rank(engine, "青石街道") == (0.9, 2)
    assert _cards(engine) == {"青石街道": "red", "白沙街道": None}
    corrections.correct_answer(engine, seeded.negative, Resolved.YES, Satisfaction.SATISFIED,
                               WHO)
    assert _satisfaction_rank(engine, "青石街道") == (1.0, 1)
    # tied at the top: no bottom, so no red card for anyone
    assert _cards(engine) == {"青石街道": None, "白沙街道": None}
    with engine.connect() as conn:
        ev = conn.execute(select(Evaluation).join(Ticket, Ticket.id == Evaluation.ticket_id)
                          .where(Ticket.ticket_no == "Q010")).one()
        cb = conn.execute(select(Callback).where(Callback.id == seeded.negative)).one()
    assert ev.source == EvaluationSource.SUPERVISOR and ev.evaluated_by == "zhijian"
    assert ev.satisfaction == Satisfaction.SATISFIED and ev.note == WHO.reason
    assert cb.reviewed_by == "zhijian" and cb.status == CallbackStatus.DONE
    (entry,), total = audit.entries(engine, AuditFilter(action="correct_answer"))
    assert total == 1 and entry.actor == "zhijian" and entry.ticket_no == "Q010"
    assert entry.before == {"resolved": "yes", "satisfaction": "unsatisfied",
                            "source": "auto", "evaluated_by": "huifang"}
    assert entry.after is not None and entry.after["satisfaction"] == "satisfied"
    assert entry.reason == WHO.reason and entry.address == "127.0.0.1"
    # settled: it leaves the queue
    assert seeded.negative not in {i.callback_id for i in
                                   review.queue(engine, review.QueueFilter()).items}


def test_every_change_needs_a_reason_and_writes_nothing_without(engine: Engine,
                                                               seeded: Seeded) -> None:
    blank = corrections.Who("zhijian", "  ", NOW)
    before = audit_count(engine)
    with pytest.raises(ReasonRequired):
        corrections.correct_answer(engine, seeded.negative, Resolved.NO,
                                   Satisfaction.UNSATISFIED, blank)
    for call in (lambda: corrections.exclude_ticket(engine, "Q010", blank),
                 lambda: corrections.reopen_ticket(engine, "Q010", blank),
                 lambda: corrections.confirm_answer(engine, seeded.negative, blank),
                 lambda: corrections.reveal_phone(engine, "Q010", blank, "145****0010")):
        with pytest.raises(ReasonRequired):
            call()
    assert audit_count(engine) == before
    assert review.queue(engine, review.QueueFilter()).total == 3


def test_confirm_keeps_the_answer_and_needs_a_complete_one(engine: Engine,
                                                          seeded: Seeded) -> None:
    corrections.confirm_answer(engine, seeded.negative, WHO)
    d = review.call_detail(engine, seeded.negative)
    assert d is not None and not d.in_queue and d.evaluation is not None
    assert d.evaluation["source"] == "auto" and d.evaluation["satisfaction"] == "unsatisfied"
    with pytest.raises(corrections.CorrectionError, match="no complete answer"):
        corrections.confirm_answer(engine, seeded.unclear, WHO)


def test_schedule_call_puts_it_back_for_the_dialer(engine: Engine, seeded: Seeded) -> None:
    at = datetime(2026, 11, 30, 9, 0)
    corrections.schedule_call(engine, seeded.unreachable, at, WHO)
    with engine.connect() as conn:
        cb = conn.execute(select(Callback).where(Callback.id == seeded.unreachable)).one()
    assert cb.status == CallbackStatus.PENDING and cb.due_at == at
    assert cb.deadline_at >= at + timedelta(days=1)
    with pytest.raises(corrections.CorrectionError, match="already waiting"):
        corrections.schedule_call(engine, seeded.unreachable, at, WHO)
    with pytest.raises(corrections.CorrectionError, match="past"):
        corrections.schedule_call(engine, seeded.unclear, NOW - timedelta(days=1), WHO)
    (entry,), _ = audit.entries(engine, AuditFilter(action="schedule_call"))
    assert entry.before is not None and entry.before["status"] == "review"
    assert entry.after is not None and entry.after["due_at"] == "2026-11-30 09:00:00"


def test_exclude_reopen_and_do_not_call(engine: Engine, seeded: Seeded) -> None:
    corrections.exclude_ticket(engine, "X001", WHO)
    with pytest.raises(corrections.CorrectionError, match="already excluded"):
        corrections.exclude_ticket(engine, "X001", WHO)
    with engine.connect() as conn:
        assert conn.execute(select(Exclusion.approved_by)).scalar() == "zhijian"
        status = conn.execute(select(Callback.status).where(
            Callback.id == seeded.unreachable)).scalar()
    assert status == CallbackStatus.CANCELLED

    corrections.reopen_ticket(engine, "Q010", WHO)
    with engine.connect() as conn:
        assert conn.execute(select(Ticket.status).where(Ticket.ticket_no == "Q010")
                            ).scalar() == TicketStatus.REOPENED
    with pytest.raises(corrections.CorrectionError, match="not closed"):
        corrections.reopen_ticket(engine, "Q010", WHO)

    assert corrections.do_not_call(engine, "B011", WHO, "145****0111") is True
    assert corrections.do_not_call(engine, "B011", WHO, "145****0111") is False
    assert [p for _i, p, *_ in do_not_call_entries(engine)] == ["+8614507310111"]
    phone = corrections.reveal_phone(engine, "B011", WHO, "145****0111")
    assert phone == "+8614507310111"
    actions = [e.action for e in audit.entries(engine, AuditFilter())[0]]
    assert actions == ["reveal_phone", "do_not_call", "reopen", "exclude"]
    assert review.queue(engine, review.QueueFilter()).total == 0
    # the trail of one ticket, and the full stream for exports
    with engine.connect() as conn:
        x = conn.execute(select(Ticket.id).where(Ticket.ticket_no == "X001")).scalar_one()
        assert [e.action for e in audit.for_ticket(conn, x)] == ["exclude"]
    assert [e.action for e in audit.stream(engine, AuditFilter(), batch=2)] == [
        "exclude", "reopen", "do_not_call", "reveal_phone"]


def test_audit_filters(engine: Engine, seeded: Seeded) -> None:
    corrections.exclude_ticket(engine, "X001", WHO)
    later = corrections.Who("admin", "复核", WHO.now + timedelta(days=2))
    corrections.reopen_ticket(engine, "Q010", later)
    assert [e.target for e in audit.entries(engine, AuditFilter(actor="admin"))[0]] == ["Q010"]
    assert audit.entries(engine, AuditFilter(target="X001"))[1] == 1
    since = WHO.now + timedelta(days=1)
    assert [e.actor for e in audit.entries(engine, AuditFilter(since=since))[0]] == ["admin"]
    assert audit.entries(engine, AuditFilter(until=since))[1] == 1
    assert audit.entries(engine, AuditFilter(actor="' OR 1=1 --"))[1] == 0
    assert audit.actions(engine) == ["exclude", "reopen"]
    rows, total = audit.entries(engine, AuditFilter(), limit=1, offset=1)
    assert total == 2 and [r.action for r in rows] == ["exclude"]


def test_search_by_number_phone_and_words(engine: Engine, seeded: Seeded) -> None:
    from store.search import search_tickets, ticket_status

    assert [h.ticket_no for h in search_tickets(engine, "X001")] == ["X001"]
    assert [h.ticket_no for h in search_tickets(engine, "0999")] == ["X001"]
    assert [h.ticket_no for h in search_tickets(engine, "14507310999")] == ["X001"]
    assert [h.ticket_no for h in search_tickets(engine, "楼道灯")] == ["X001"]
    assert len(search_tickets(engine, "Q0")) == 10
    for hostile in ("%", "_", "' OR '1'='1", "\\"):
        assert search_tickets(engine, hostile) == []
    status = ticket_status(engine, "Q010")
    assert status is not None and status["status"] == "closed"
    (closure,) = status["closures"]  # type: ignore[misc]
    assert closure["evaluation"]["satisfaction"] == "unsatisfied"
    assert closure["callback"] == {"status": "done", "attempts": 1}
    assert ticket_status(engine, "NOPE") is None


def test_dates_in_the_filter_are_whole_days(engine: Engine, seeded: Seeded) -> None:
    f = review.QueueFilter(since=date(2026, 11, 28), until=date(2026, 11, 28))
    assert review.queue(engine, f).total == 3


def test_a_scheduled_call_that_fails_again_comes_back(engine: Engine, seeded: Seeded) -> None:
    from store.attempts import AttemptEnd, finish_attempt, start_attempts
    from store.callbacks import Claimed
    from store.caps import Decision
    from store.enums import AttemptOutcome

    corrections.schedule_call(engine, seeded.unreachable, NOW + timedelta(days=1), WHO)
    assert review.queue(engine, review.QueueFilter(kind="unreachable")).total == 0
    with engine.connect() as conn:
        cb = conn.execute(select(Callback).where(Callback.id == seeded.unreachable)).one()
    claimed = Claimed(cb.id, cb.closure_id, cb.ticket_id, cb.phone, cb.attempts, cb.due_at,
                      cb.deadline_at)
    (attempt,) = start_attempts(engine, [claimed], "again", "test", NOW + timedelta(days=1))
    finish_attempt(engine, attempt, AttemptEnd(AttemptOutcome.BUSY, 486, "Busy Here"),
                   NOW + timedelta(days=1), lambda _counts: Decision(None, True, ""))
    q = review.queue(engine, review.QueueFilter(kind="unreachable"))
    assert [i.callback_id for i in q.items] == [seeded.unreachable]
    assert q.items[0].last_outcome == "busy"


def test_a_positive_call_never_enters_the_queue(engine: Engine, seeded: Seeded) -> None:
    with engine.connect() as conn:
        kinds = dict(conn.execute(select(Callback.id, Callback.review_kind)).all())
    assert kinds[seeded.negative] == "negative" and kinds[seeded.unclear] == "unclear"
    corrections.correct_answer(engine, seeded.negative, Resolved.YES, Satisfaction.SATISFIED,
                               WHO)
    with engine.connect() as conn:
        kept = conn.execute(select(Callback.review_kind, Callback.reviewed_by)
                            .where(Callback.id == seeded.negative)).one()
    assert tuple(kept) == ("negative", "zhijian")  # why it was there stays on record


def test_no_correction_while_a_call_is_in_progress(engine: Engine, seeded: Seeded) -> None:
    from sqlalchemy import update

    with engine.begin() as conn:
        conn.execute(update(Callback).where(Callback.id == seeded.negative)
                     .values(status=CallbackStatus.CLAIMED))
    for change in (lambda: corrections.correct_answer(engine, seeded.negative, Resolved.YES,
                                                      Satisfaction.SATISFIED, WHO),
                   lambda: corrections.confirm_answer(engine, seeded.negative, WHO)):
        with pytest.raises(corrections.CorrectionError, match="in progress"):
            change()
    assert audit_count(engine) == 0
