"""A call that fails by a bug in our code (an exception out of the call session) gives its
claim back at once, due again 30 minutes later, with the traceback in the log. Before,
the attempt stayed in progress and the heartbeat kept the claim alive for as long as the
process ran, so the citizen was never called back (seen once in a two-node benchmark:
"dial failed: AssertionError")."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from dialer.callsession import CallSession
from huifang.demo.simulator import Citizen
from store.campaign_models import CallAttempt, Callback
from store.enums import AttemptOutcome, CallbackStatus
from tests.campaign_support import Clock, start_campaign, wait_until
from tests.test_callsession import key
from tests.test_campaign import load


@pytest.mark.timeout(120)
def test_a_call_that_fails_by_a_bug_gives_its_claim_back(
        sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    engine = sqlite_engine
    load(engine, tmp_path, ["13800000001"])
    start = CallSession.start
    failures: list[str] = []

    def broken_once(self: CallSession) -> Any:
        if not failures:
            failures.append(self.call_id)
            raise AssertionError("a bug in the call session")
        return start(self)

    monkeypatch.setattr(CallSession, "start", broken_once)
    citizens = {"13800000001": Citizen(turns=(key("1"), key("1")))}
    caplog.set_level(logging.ERROR, logger="dialer.campaign")
    clock = Clock()
    running = start_campaign(engine, citizens, tmp_path, clock)
    try:
        def given_back() -> bool:
            with engine.connect() as conn:
                return conn.execute(select(Callback.status)).scalar_one_or_none() \
                    is CallbackStatus.PENDING and bool(failures)
        wait_until(given_back, 60, "the broken call's claim given back")
        with engine.connect() as conn:
            due = conn.execute(select(Callback.due_at)).scalar_one()
        assert due >= clock() + timedelta(minutes=29)  # not redialled at once
        clock.jump(due + timedelta(seconds=1))

        def called_again() -> bool:
            with engine.connect() as conn:
                return conn.execute(select(Callback.status)).scalar_one_or_none() \
                    is CallbackStatus.DONE
        wait_until(called_again, 90, "the callback called again and done")
    finally:
        running.stop()
    with engine.connect() as conn:
        attempts = conn.execute(select(CallAttempt.call_id, CallAttempt.outcome)
                                .order_by(CallAttempt.id)).all()
        tries = conn.execute(select(Callback.attempts)).scalar_one()
    assert [tuple(a) for a in attempts] == [(failures[0], AttemptOutcome.INTERRUPTED),
                                            (attempts[1][0], AttemptOutcome.COMPLETED)]
    assert tries == 2  # counted: a bug that keeps failing runs out of attempts, not calls
    errors = [r for r in caplog.records if r.getMessage() == "call failed"]
    assert errors and errors[0].exc_info is not None  # with its traceback
    assert "a bug in the call session" in caplog.text
