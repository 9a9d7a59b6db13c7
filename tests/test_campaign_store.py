"""The campaign's store contract, on SQLite and PostgreSQL: planning, claims, leases,
recovery, answers as evaluations, reopening, do-not-call, pause and status."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update

from store import campaign
from store.attempts import (
    Answer,
    AttemptEnd,
    Decide,
    finish_attempt,
    save_answer,
    start_attempts,
)
from store.callbacks import claim, extend_leases, plan_callbacks, recover, release
from store.campaign_models import CallAttempt, Callback, CallTurn
from store.caps import Caps, Counts, Decision
from store.enums import (
    AttemptOutcome,
    AttemptStatus,
    CallbackStatus,
    EvaluationSource,
    Resolved,
    ReviewKind,
    Satisfaction,
    TicketStatus,
)
from store.models import Closure, Evaluation, Exclusion, Ticket
from tests.files import TICKET_HEADER, ticket, write_csv
from tests.test_store_contract import imp, load_units

NOW = datetime(2026, 11, 20, 12, 0, 0)
CLOSED = "2026-11-18 16:00:00"
LEASE = timedelta(minutes=5)
CAPS = Caps(max_attempts=3, max_calls_per_number_per_day=2)


def decided(at: datetime | None = None, review: bool = False, why: str = "") -> Decide:
    """A decision fixed in advance, whatever the counts."""
    return lambda _counts: Decision(at, review, why)


def due_next_morning(closed_at: datetime) -> datetime:
    return datetime.combine(closed_at.date() + timedelta(days=1), datetime.min.time()) \
        + timedelta(hours=9)


def load(engine: Engine, tmp_path: Path, rows: list[list[str]]) -> None:
    load_units(engine, tmp_path)
    imp(engine, "tickets", write_csv(tmp_path / "t.csv", [TICKET_HEADER, *rows]))


def grab(engine: Engine, node: str = "n1", now: datetime = NOW, limit: int = 10,
         **kw: int) -> list[list[int]]:
    groups = claim(engine, node, now, limit=limit, lease=LEASE,
                   caps=Caps(kw.get("max_attempts", 3), kw.get("max_calls_per_day", 2)))
    return [[c.callback_id for c in g] for g in groups]


def statuses(engine: Engine) -> dict[int, CallbackStatus]:
    with engine.connect() as conn:
        rows = conn.execute(select(Callback.id, Callback.status)).all()
    return {r[0]: r[1] for r in rows}


def test_plan_skips_excluded_evaluated_dnc_and_open_tickets(engine: Engine, tmp_path: Path
                                                            ) -> None:
    load(engine, tmp_path, [
        ticket("A", phone="13800000001", closed=CLOSED),
        ticket("B", phone="13800000002", closed=CLOSED),
        ticket("C", phone="13800000003", closed=CLOSED),
        ticket("D", phone="13800000004", closed="", signed=""),
        ticket("E", phone="13800000005", closed="2026-10-01 10:00:00",
               received="2026-09-28 09:00:00", dispatched="2026-09-28 09:30:00",
               signed="2026-09-28 10:00:00")])
    imp(engine, "exclusions", write_csv(tmp_path / "x.csv", [
        ["工单编号", "剔除原因", "审批人", "审批时间"],
        ["B", "重复工单", "李主任", "2026-11-19 10:00"]]))
    campaign.add_do_not_call(engine, "13800000003", "本人要求不再回访", "admin", NOW)
    assert plan_callbacks(engine, NOW, due_next_morning, within_days=7) == 1
    assert plan_callbacks(engine, NOW, due_next_morning, within_days=7) == 0  # idempotent
    with engine.connect() as conn:
        row = conn.execute(select(Callback)).one()
    assert row.due_at == datetime(2026, 11, 19, 9) and row.status is CallbackStatus.PENDING
    assert row.deadline_at == datetime(2026, 11, 25, 16)


def test_claim_groups_a_citizens_tickets_and_never_twice(engine: Engine, tmp_path: Path
                                                         ) -> None:
    load(engine, tmp_path, [ticket("A", phone="13800000001", closed=CLOSED),
                            ticket("B", phone="13800000001", closed=CLOSED),
                            ticket("C", phone="13800000002", closed=CLOSED)])
    plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    assert grab(engine, now=datetime(2026, 11, 19, 8)) == []  # not due yet
    groups = grab(engine)
    assert sorted(len(g) for g in groups) == [1, 2]
    assert grab(engine, node="n2") == []  # claimed: nobody else gets them
    assert set(statuses(engine).values()) == {CallbackStatus.CLAIMED}


def test_claim_limit_and_priority(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, [
        ticket("A", phone="13800000001", closed="2026-11-18 16:00:00"),
        ticket("B", phone="13800000002", closed="2026-11-15 16:00:00"),
        ticket("C", phone="13800000003", closed="2026-11-17 16:00:00")])
    plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    with engine.connect() as conn:
        ids = {r[0]: r[1] for r in conn.execute(select(Ticket.ticket_no, Callback.id).join(
            Callback, Callback.ticket_id == Ticket.id)).all()}
    assert grab(engine, limit=1) == [[ids["B"]]]  # nearest deadline first
    assert grab(engine, limit=1) == [[ids["C"]]]


def test_attempt_answers_become_evaluations_at_once(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, [ticket("A", phone="13800000001", closed=CLOSED)])
    plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    [group] = claim(engine, "n1", NOW, limit=5, lease=LEASE, caps=CAPS)
    [attempt] = start_attempts(engine, group, "call-1", "n1", NOW)
    assert save_answer(engine, attempt, Answer("resolved", "resolved", Resolved.YES, 0.9,
                                               "speech", "解决了"), NOW)
    with engine.connect() as conn:  # the hang-up could come now: question 1 is kept
        first = conn.execute(select(Evaluation.resolved, Evaluation.satisfaction,
                                    Evaluation.source)).one()
    assert tuple(first) == (Resolved.YES, Satisfaction.UNKNOWN, EvaluationSource.AUTO)
    assert not save_answer(engine, attempt, Answer("satisfied", "unclear", None, 0.0, "none"),
                           NOW)
    save_answer(engine, attempt, Answer("satisfied", "satisfied", Satisfaction.SATISFIED, 1.0,
                                        "keys", "1"), NOW)
    status = finish_attempt(engine, attempt, AttemptEnd(AttemptOutcome.COMPLETED, 200, "OK"),
                            NOW, decided(why="answered"))
    assert status is CallbackStatus.DONE
    with engine.connect() as conn:
        evaluation = conn.execute(select(Evaluation.resolved, Evaluation.satisfaction)).one()
        turns = conn.execute(select(CallTurn.intent)).scalars().all()
        attempt_row = conn.execute(select(CallAttempt)).one()
    assert tuple(evaluation) == (Resolved.YES, Satisfaction.SATISFIED)
    assert turns == ["resolved", "unclear", "satisfied"]
    assert attempt_row.status is AttemptStatus.FINISHED and attempt_row.sip_code == 200


def test_a_persons_evaluation_is_not_overwritten(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, [ticket("A", phone="13800000001", closed=CLOSED)])
    plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    [group] = claim(engine, "n1", NOW, limit=5, lease=LEASE, caps=CAPS)
    [attempt] = start_attempts(engine, group, "call-1", "n1", NOW)
    imp(engine, "evaluations", write_csv(tmp_path / "e.csv", [
        ["工单编号", "回访时间", "是否解决", "满意度"], ["A", "2026-11-19 10:00", "否", "不满意"]]))
    assert not save_answer(engine, attempt, Answer("resolved", "resolved", Resolved.YES, 0.9,
                                                   "speech"), NOW)
    with engine.connect() as conn:
        assert conn.execute(select(Evaluation.resolved)).scalar_one() is Resolved.NO


def test_retry_review_and_reopen(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, [ticket("A", phone="13800000001", closed=CLOSED),
                            ticket("B", phone="13800000002", closed=CLOSED)])
    plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    groups = claim(engine, "n1", NOW, limit=5, lease=LEASE, caps=CAPS)
    (a,), (b,) = (start_attempts(engine, g, f"c{i}", "n1", NOW) for i, g in enumerate(groups))
    later = NOW + timedelta(minutes=10)
    assert finish_attempt(engine, a, AttemptEnd(AttemptOutcome.BUSY, 486, "Busy Here"),
                          NOW, decided(later)) is CallbackStatus.PENDING
    save_answer(engine, b, Answer("resolved", "unresolved", Resolved.NO, 0.8, "speech"), NOW)
    save_answer(engine, b, Answer("satisfied", "satisfied", Satisfaction.SATISFIED, 1, "keys"),
                NOW)
    finish_attempt(engine, b, AttemptEnd(AttemptOutcome.COMPLETED), NOW, decided(),
                   reopen_on_negative=True)
    with engine.connect() as conn:
        reopened = conn.execute(select(Ticket.ticket_no, Ticket.status, Closure.reopened).join(
            Closure, Closure.ticket_id == Ticket.id).order_by(Ticket.ticket_no)).all()
    assert [tuple(r) for r in reopened] == [("A", TicketStatus.CLOSED, False),
                                            ("B", TicketStatus.REOPENED, True)]
    assert grab(engine) == []  # A is due again only at `later`
    [[again]] = grab(engine, now=later)
    [attempt] = start_attempts(engine, claim_of(engine, again), "c3", "n1", later)
    finish_attempt(engine, attempt, AttemptEnd(AttemptOutcome.NO_ANSWER, 487), later,
                   decided(review=True, why="3 attempts"))
    assert statuses(engine)[again] is CallbackStatus.REVIEW


def claim_of(engine: Engine, callback_id: int) -> list:  # type: ignore[type-arg]
    from store.callbacks import Claimed
    with engine.connect() as conn:
        c = conn.execute(select(Callback).where(Callback.id == callback_id)).one()
    return [Claimed(c.id, c.closure_id, c.ticket_id, c.phone, c.attempts, c.due_at,
                    c.deadline_at)]


def test_caps_deadline_and_cancellation(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, [ticket("A", phone="13800000001", closed=CLOSED),
                            ticket("B", phone="13800000002", closed=CLOSED),
                            ticket("C", phone="13800000003", closed=CLOSED)])
    plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    with engine.begin() as conn:
        ids = {r[0]: r[1] for r in conn.execute(select(Ticket.ticket_no, Callback.id).join(
            Callback, Callback.ticket_id == Ticket.id)).all()}
        conn.execute(update(Callback).where(Callback.id == ids["A"]).values(attempts=3))
        conn.execute(update(Callback).where(Callback.id == ids["B"])
                     .values(deadline_at=NOW - timedelta(hours=1)))
        tid = conn.execute(select(Ticket.id).where(Ticket.ticket_no == "C")).scalar_one()
        conn.execute(Exclusion.__table__.insert().values(  # type: ignore[attr-defined]
            ticket_id=tid, reason="重复", approved_by="x", approved_at=NOW, created_at=NOW))
    assert grab(engine) == []
    assert statuses(engine) == {ids["A"]: CallbackStatus.REVIEW,
                                ids["B"]: CallbackStatus.REVIEW,
                                ids["C"]: CallbackStatus.CANCELLED}


def test_two_calls_a_day_per_number(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, [ticket("A", phone="13800000001", closed=CLOSED)])
    plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    for n in range(2):
        [[cb]] = grab(engine, now=NOW + timedelta(hours=n))
        [attempt] = start_attempts(engine, claim_of(engine, cb), f"c{n}", "n1", NOW)
        finish_attempt(engine, attempt, AttemptEnd(AttemptOutcome.BUSY), NOW, decided(NOW))
    assert grab(engine, now=NOW + timedelta(hours=3)) == []
    with engine.connect() as conn:
        assert conn.execute(select(Callback.due_at)).scalar_one() == datetime(2026, 11, 21)


def test_crash_recovery_keeps_answers_and_leases_expire(engine: Engine, tmp_path: Path
                                                        ) -> None:
    load(engine, tmp_path, [ticket("A", phone="13800000001", closed=CLOSED),
                            ticket("B", phone="13800000002", closed=CLOSED),
                            ticket("C", phone="13800000003", closed=CLOSED)])
    plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    groups = claim(engine, "dead", NOW, limit=3, lease=LEASE, caps=CAPS)
    a, b = (start_attempts(engine, g, f"c{i}", "dead", NOW)[0]
            for i, g in enumerate(groups[:2]))
    save_answer(engine, a, Answer("resolved", "resolved", Resolved.YES, 1, "keys"), NOW)
    save_answer(engine, a, Answer("satisfied", "basic", Satisfaction.BASIC, 1, "keys"), NOW)
    save_answer(engine, b, Answer("resolved", "resolved", Resolved.YES, 1, "keys"), NOW)
    assert recover(engine, NOW + timedelta(minutes=1)) == (0, 0, 0)  # leases still valid
    assert extend_leases(engine, "dead", NOW + timedelta(minutes=4), LEASE) == 3
    assert recover(engine, NOW + timedelta(minutes=8)) == (0, 0, 0)
    after = NOW + timedelta(minutes=10)
    result = recover(engine, after)
    assert (result.interrupted, result.released, result.completed) == (2, 2, 1)
    with engine.connect() as conn:
        attempts = conn.execute(select(CallAttempt.status)).scalars().all()
        kept = conn.execute(select(Evaluation.resolved).order_by(Evaluation.id)).scalars().all()
    assert attempts == [AttemptStatus.INTERRUPTED] * 2
    assert kept == [Resolved.YES, Resolved.YES]  # nothing said is lost
    assert sorted(statuses(engine).values()) == sorted(
        [CallbackStatus.DONE, CallbackStatus.PENDING, CallbackStatus.PENDING])
    assert len(grab(engine, node="alive", now=after)) == 2


def test_restart_recovers_its_own_claims_at_once(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, [ticket("A", phone="13800000001", closed=CLOSED)])
    plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    [group] = claim(engine, "n1", NOW, limit=3, lease=LEASE, caps=CAPS)
    assert recover(engine, NOW, node="n2") == (0, 0, 0)
    assert recover(engine, NOW, node="n1").released == 1
    [group] = claim(engine, "n1", NOW, limit=3, lease=LEASE, caps=CAPS)
    release(engine, [c.callback_id for c in group], NOW)
    assert set(statuses(engine).values()) == {CallbackStatus.PENDING}


def test_one_failed_call_gives_back_only_its_own_claim(engine: Engine, tmp_path: Path
                                                     ) -> None:
    """A call of this node that failed (the database went away mid-call, or a bug): its
    claim alone is given back, due now and not counted, or later and counted for a bug."""
    load(engine, tmp_path, [ticket("A", phone="13800000001", closed=CLOSED),
                            ticket("B", phone="13800000002", closed=CLOSED),
                            ticket("C", phone="13800000003", closed=CLOSED)])
    plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    a, b, c = claim(engine, "n1", NOW, limit=3, lease=LEASE, caps=CAPS)
    for i, group in enumerate((a, b)):
        start_attempts(engine, group, f"c{i}", "n1", NOW)
    ids = [g[0].callback_id for g in (a, b, c)]
    assert recover(engine, NOW, "n2", (), [ids[0]]) == (0, 0, 0)  # not n2's claim
    assert recover(engine, NOW, "n1", (), [ids[0]]) == (1, 1, 0)
    later = NOW + timedelta(minutes=30)
    assert recover(engine, NOW, "n1", (), [ids[1]], later, count_attempt=True) == (1, 1, 0)
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(
            select(Callback.id, Callback.status, Callback.attempts, Callback.due_at))}
    assert (rows[ids[0]].status, rows[ids[0]].attempts, rows[ids[0]].due_at) == \
        (CallbackStatus.PENDING, 0, NOW)
    assert (rows[ids[1]].status, rows[ids[1]].attempts, rows[ids[1]].due_at) == \
        (CallbackStatus.PENDING, 1, later)
    assert rows[ids[2]].status is CallbackStatus.CLAIMED  # the call still going is kept


def test_pause_run_now_dnc_and_status(engine: Engine) -> None:
    assert not campaign.state(engine).paused
    campaign.set_paused(engine, True, "admin", NOW)
    state = campaign.state(engine)
    assert state.paused and state.changed_by == "admin"
    campaign.request_run_now(engine, "admin", NOW)
    assert campaign.take_run_now(engine) and not campaign.take_run_now(engine)
    assert campaign.add_do_not_call(engine, "13800000009", "投诉骚扰", "admin", NOW)
    assert not campaign.add_do_not_call(engine, "13800000009", "again", "admin", NOW)
    assert [r[0] for r in campaign.do_not_call(engine)] == ["+8613800000009"]
    assert campaign.remove_do_not_call(engine, "13800000009")
    campaign.node_seen(engine, "n1", NOW, 3, started=True)
    status = campaign.status(engine, NOW)
    assert status.state.paused and status.nodes[0][0] == "n1" and status.nodes[0][3] == 3



def test_two_dialers_planning_at_once_do_not_collide(engine: Engine, tmp_path: Path) -> None:
    """Both read the same unplanned closure; the second's insert must not fail."""
    import threading

    load(engine, tmp_path, [ticket("T1", closed=CLOSED)])
    first_done = threading.Event()
    results: dict[str, object] = {}

    def slow_due(closed_at: datetime) -> datetime:
        first_done.wait(30)  # the other planner runs to its end meanwhile
        return due_next_morning(closed_at)

    def plan_slowly() -> None:
        try:
            results["slow"] = plan_callbacks(engine, NOW, slow_due, within_days=7)
        except Exception as exc:
            results["slow"] = exc

    slow = threading.Thread(target=plan_slowly)
    slow.start()
    try:
        results["fast"] = plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    finally:
        first_done.set()
        slow.join(60)
    assert results["fast"] == 1 and results["slow"] == 0, results
    with engine.connect() as conn:
        assert len(conn.execute(select(Callback.id)).all()) == 1


def test_the_retry_is_decided_from_counts_read_while_closing(engine: Engine, tmp_path: Path
                                                             ) -> None:
    """`finish_attempt` reads the closure's counted attempts and the number's calls today
    and asks for the decision inside its own transaction, under the number's lock (on
    PostgreSQL, another dialer's claim of the number waits for it)."""
    load(engine, tmp_path, [ticket("A", phone="13800000001", closed=CLOSED)])
    plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    seen: list[Counts] = []
    locked: list[bool] = []

    def decide(counts: Counts) -> Decision:
        seen.append(counts)
        if engine.dialect.name == "postgresql":
            with engine.connect() as other:
                locked.append(not other.execute(text(
                    "SELECT pg_try_advisory_xact_lock(hashtext('+8613800000001'))"
                )).scalar_one())
        return Decision(NOW, False, "again")

    for n, outcome in enumerate((AttemptOutcome.BUSY, AttemptOutcome.TIMEOUT,
                                 AttemptOutcome.NO_ANSWER)):
        [[cb]] = grab(engine, now=NOW, max_calls_per_day=5)
        [attempt] = start_attempts(engine, claim_of(engine, cb), f"c{n}", "n1", NOW)
        finish_attempt(engine, attempt, AttemptEnd(
            outcome, counted=outcome is not AttemptOutcome.TIMEOUT), NOW, decide)
    # the trunk failure (timeout) is a call today but not one of the closure's attempts
    assert seen == [Counts(1, 1), Counts(1, 2), Counts(2, 3)]
    assert locked == ([True] * 3 if engine.dialect.name == "postgresql" else [])
    with engine.connect() as conn:
        assert conn.execute(select(Callback.attempts)).scalar_one() == 2


def test_a_failing_decision_leaves_the_attempt_open(engine: Engine, tmp_path: Path) -> None:
    """The decision and the attempt's end are one transaction: no end without a decision."""
    load(engine, tmp_path, [ticket("A", phone="13800000001", closed=CLOSED)])
    plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    [group] = claim(engine, "n1", NOW, limit=1, lease=LEASE, caps=CAPS)
    [attempt] = start_attempts(engine, group, "c1", "n1", NOW)

    def broken(_counts: Counts) -> Decision:
        raise RuntimeError("the planner failed")

    with pytest.raises(RuntimeError):
        finish_attempt(engine, attempt, AttemptEnd(AttemptOutcome.BUSY), NOW, broken)
    with engine.connect() as conn:
        row = conn.execute(select(CallAttempt.status, CallAttempt.outcome)).one()
        assert tuple(row) == (AttemptStatus.IN_PROGRESS, None)
        assert conn.execute(select(Callback.status)).scalar_one() is CallbackStatus.CLAIMED


def test_the_answer_time_is_written_with_the_attempts_end(engine: Engine, tmp_path: Path
                                                          ) -> None:
    load(engine, tmp_path, [ticket("A", phone="13800000001", closed=CLOSED),
                            ticket("B", phone="13800000002", closed=CLOSED)])
    plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    groups = claim(engine, "n1", NOW, limit=5, lease=LEASE, caps=CAPS)
    (a,), (b,) = (start_attempts(engine, g, f"c{i}", "n1", NOW) for i, g in enumerate(groups))
    end = NOW + timedelta(minutes=1)
    finish_attempt(engine, a, AttemptEnd(AttemptOutcome.COMPLETED, 200, "OK",
                                         answered_after_s=4.25), end, decided())
    finish_attempt(engine, b, AttemptEnd(AttemptOutcome.BUSY, 486), end, decided(end))
    with engine.connect() as conn:
        answered = dict(conn.execute(select(CallAttempt.id, CallAttempt.answered_at)).all())
    assert answered == {a: NOW + timedelta(seconds=4.25), b: None}


@pytest.mark.parametrize(("outcome", "kind"), [
    (AttemptOutcome.ANNOUNCEMENT, ReviewKind.ANNOUNCEMENT),
    (AttemptOutcome.MEDIA_FAILURE, ReviewKind.MEDIA_FAILURE),
    (AttemptOutcome.BUSY, ReviewKind.UNREACHABLE)])
def test_a_callback_goes_to_review_with_its_outcomes_kind(
        engine: Engine, tmp_path: Path, outcome: AttemptOutcome, kind: ReviewKind) -> None:
    load(engine, tmp_path, [ticket("A", phone="13800000001", closed=CLOSED)])
    plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    [group] = claim(engine, "n1", NOW, limit=1, lease=LEASE, caps=CAPS)
    [attempt] = start_attempts(engine, group, "c1", "n1", NOW)
    finish_attempt(engine, attempt, AttemptEnd(outcome), NOW, decided(review=True))
    with engine.connect() as conn:
        row = conn.execute(select(Callback.review_kind, Callback.last_outcome)).one()
    assert tuple(row) == (kind, outcome)
