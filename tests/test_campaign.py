"""Campaigns end to end, in process: the scheduler claims due callbacks, the dialer calls
the citizen simulator over SIP and RTP, PocketSphinx hears the answers, and the results
land in the store (SQLite and PostgreSQL), counted by the reports at once."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from dialer.windows import CallingWindows
from huifang.demo.simulator import Behaviour, Citizen, Turn
from scoring.periods import parse_period
from scoring.report import build_report
from store import campaign as state
from store.campaign_models import CallAttempt, Callback, CallTurn
from store.enums import CallbackStatus, EvaluationSource, Resolved, Satisfaction
from store.models import Evaluation, Ticket
from tests.campaign_support import (
    NOW,
    Clock,
    callbacks_by_status,
    first_attempts_done,
    start_campaign,
    ticks_pass,
    wait_until,
)
from tests.files import TICKET_HEADER, ticket, write_csv
from tests.test_callsession import key, say
from tests.test_store_contract import imp, load_units

CLOSED = "2026-11-18 16:00:00"


def load(engine: Engine, tmp_path: Path, phones: list[str], twice: tuple[str, ...] = ()
         ) -> None:
    load_units(engine, tmp_path)
    rows = [ticket(f"T{i}", phone=p, closed=CLOSED) for i, p in enumerate(phones)]
    rows += [ticket(f"T{len(phones) + i}", phone=p, closed=CLOSED) for i, p in enumerate(twice)]
    imp(engine, "tickets", write_csv(tmp_path / "t.csv", [TICKET_HEADER, *rows]))


def evaluations(engine: Engine) -> dict[str, tuple[Resolved, Satisfaction, EvaluationSource]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Ticket.ticket_no, Evaluation.resolved,
                                   Evaluation.satisfaction, Evaluation.source)
                            .join(Evaluation, Evaluation.ticket_id == Ticket.id)).all()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


@pytest.mark.timeout(300)
def test_a_campaign_lands_in_the_store_and_the_report(engine: Engine, tmp_path: Path) -> None:
    citizens = {
        "13800000001": Citizen(turns=(key("1"), key("1"))),
        "13800000002": Citizen(turns=(say("还没有解决"), say("非常不满意"),
                                      say("物业一直没有来维修"))),
        "13800000003": Citizen(Behaviour.BUSY),
        "13800000004": Citizen(turns=(say("不是我"),)),
        "13800000005": Citizen(turns=(key("1"), key("2"), key("1"), key("1"))),  # 2 tickets
    }
    load(engine, tmp_path, list(citizens), twice=("13800000005",))
    clock = Clock()
    running = start_campaign(engine, citizens, tmp_path, clock, reopen_on_negative=True)
    try:
        wait_until(lambda: first_attempts_done(engine), what="every callback tried")
    finally:
        running.stop()
    got = evaluations(engine)
    yes, no = Resolved.YES, Resolved.NO
    auto = EvaluationSource.AUTO
    # By voice, exactly. A 20 ms hole in the received audio once turned 还没有解决 into
    # 处理好了 (0.74) here; the jitter buffer now keeps a frame in hand (dialer/media.py).
    assert got == {"T0": (yes, Satisfaction.SATISFIED, auto),
                   "T1": (no, Satisfaction.UNSATISFIED, auto),
                   "T4": (yes, Satisfaction.BASIC, auto),
                   "T5": (yes, Satisfaction.SATISFIED, auto)}
    with engine.connect() as conn:
        attempts = {r.phone: r for r in conn.execute(select(CallAttempt)).all()}
        heard = conn.execute(select(CallTurn.heard).where(
            CallTurn.source == "heard:speech")).scalars().all()
        reopened = conn.execute(select(Ticket.status).where(Ticket.ticket_no == "T1")
                                ).scalar_one()
    busy = attempts["+8613800000003"]
    assert (busy.outcome, busy.sip_code) == ("busy", 486) and busy.next_at is not None
    assert busy.next_at >= datetime(2026, 11, 20, 10, 10)  # 10 minutes later, in a window
    assert attempts["+8613800000004"].outcome == "wrong_person"
    assert busy.answered_at is None  # written with the attempt's end, when it was answered
    assert all(a.answered_at is not None and a.answered_at >= a.started_at
               for phone, a in attempts.items() if a is not busy)
    reason = attempts["+8613800000002"]
    assert Path(reason.recording).stat().st_size > 16000
    assert "还没有解决" in heard  # what was heard is kept for review
    assert reason.reason_to_s - reason.reason_from_s > 1.0  # the reason was recorded
    assert reopened == "reopened"  # 退回重办 is configured on
    statuses = callbacks_by_status(engine)
    assert statuses == {"done": 4, "pending": 1, "review": 1}  # busy again; wrong person
    report = build_report(engine, parse_period("2026-11"), now=NOW)
    [street] = [u for u in report.units if u.info.name == "东湖区青石街道"]
    assert street.counts.evaluated == 4  # automatic callbacks count at once
    assert (street.counts.unsatisfied, street.counts.basic_satisfied) == (1, 1)


@pytest.mark.timeout(120)
def test_no_call_outside_the_window_or_while_paused(engine: Engine, tmp_path: Path) -> None:
    citizens = {"13800000001": Citizen(turns=(key("1"), key("1")))}
    load(engine, tmp_path, list(citizens))
    clock = Clock(start=datetime(2026, 11, 20, 12, 30))  # lunch: no window
    windows = CallingWindows({d: ((time(9), time(12)), (time(14), time(20, 30)))
                              for d in range(7)}, skip_holidays=True)
    state.set_paused(engine, True, "test", NOW)
    running = start_campaign(engine, citizens, tmp_path, clock, windows=windows)
    try:
        wait_until(lambda: running.campaign.paused, 20, "the campaign sees the pause")
        clock.jump(datetime(2026, 11, 20, 14, 5))  # a window, but paused
        ticks_pass(running.campaign)  # ticks that began in the window have run
        with engine.connect() as conn:
            assert conn.execute(select(CallAttempt.id)).first() is None
        clock.jump(datetime(2026, 11, 20, 12, 30))  # outside a window again, then resumed
        state.set_paused(engine, False, "test", NOW)
        wait_until(lambda: not running.campaign.paused, 20, "the campaign sees the resume")
        ticks_pass(running.campaign)
        with engine.connect() as conn:
            assert conn.execute(select(CallAttempt.id)).first() is None
        clock.jump(datetime(2026, 11, 20, 14, 5))
        wait_until(lambda: first_attempts_done(engine), 60, "called once the window opens")
    finally:
        running.stop()
    with engine.connect() as conn:
        started = conn.execute(select(CallAttempt.started_at)).scalar_one()
    assert windows.allows(started)
    assert callbacks_by_status(engine) == {"done": 1}


@pytest.mark.timeout(120)
def test_graceful_stop_finishes_the_calls_in_progress(engine: Engine, tmp_path: Path) -> None:
    citizens = {f"1380000000{i}": Citizen(turns=(Turn("silence"), key("1"), key("1")))
                for i in range(1, 4)}
    load(engine, tmp_path, list(citizens))
    running = start_campaign(engine, citizens, tmp_path, Clock(), channels=2)
    wait_until(lambda: len(running.campaign.calls) == 2, 30, "two calls in progress")
    running.stop()  # returns when the calls in progress have finished
    with engine.connect() as conn:
        attempts = conn.execute(select(CallAttempt.status, CallAttempt.outcome)).all()
        statuses = conn.execute(select(Callback.status)).scalars().all()
    assert sorted(str(a[0]) for a in attempts) == ["finished", "finished"]
    assert {a[1] for a in attempts} == {"completed"}
    assert sorted(statuses) == sorted([CallbackStatus.DONE, CallbackStatus.DONE,
                                       CallbackStatus.PENDING])  # the third was not started
