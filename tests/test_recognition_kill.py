"""A recogniser worker process killed with SIGKILL in the middle of a campaign costs the
turn it held and nothing else: the campaign goes on, the worker is replaced, and no
answer is stored that the citizen did not give. Calls go one at a time, so that the turn
lost is known: the second call's satisfaction answer, 200 ms into it."""

from __future__ import annotations

import os
import shutil
import signal
from concurrent.futures import Future
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from huifang.config import RecognitionSettings
from huifang.demo.simulator import Citizen
from huifang.recognition_processes import ProcessRecognitionPool, ProcessStream
from huifang.recognition_worker import SettingsEngine
from ivr.intents import Question
from ivr.pool import PartialHandler
from ivr.recognition import Grammar, grammar_for
from store.campaign_models import CallAttempt
from store.enums import EvaluationSource, Resolved, Satisfaction
from store.models import Ticket
from tests.campaign_support import Clock, first_attempts_done, start_campaign, wait_until
from tests.conftest import need
from tests.speech import MODEL
from tests.test_callsession import say
from tests.test_campaign import evaluations, load

SATISFIED = grammar_for(Question.SATISFIED)


class KillDuringTurn(ProcessRecognitionPool):
    """The real pool of worker processes, which SIGKILLs the worker decoding the second
    call's satisfaction answer once 10 frames of it were fed."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.asked: list[str] = []  # calls whose satisfaction answer was listened to
        self.killed_call, self.killed_pid = "", 0

    def open(self, call_id: str, grammar: Grammar,
             on_partial: PartialHandler | None = None) -> ProcessStream:
        stream = super().open(call_id, grammar, on_partial)
        fed, feed, reset = [0], stream.feed, stream.reset

        def resetting(new: Grammar) -> Future[None]:
            fed[0] = 0
            if new == SATISFIED and call_id not in self.asked:
                self.asked.append(call_id)
            return reset(new)

        def feeding(pcm: bytes) -> None:
            feed(pcm)
            fed[0] += 1
            if fed[0] == 10 and self.asked[1:2] == [call_id] and not self.killed_pid \
                    and stream.worker is not None:
                self.killed_call, self.killed_pid = call_id, stream.worker.pid
                os.kill(self.killed_pid, signal.SIGKILL)

        stream.feed, stream.reset = feeding, resetting  # type: ignore[method-assign,assignment]
        return stream


@pytest.mark.timeout(300)
def test_a_killed_recogniser_costs_only_the_turn_it_held(sqlite_engine: Engine,
                                                           tmp_path: Path) -> None:
    need(MODEL.exists(), f"the shared Mandarin model is missing at {MODEL}")
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    engine = sqlite_engine
    happy = (say("已经解决了"), say("基本满意"))
    unhappy = (say("还没有解决"), say("非常不满意"))
    citizens = {"13800000001": Citizen(turns=happy), "13800000002": Citizen(turns=unhappy),
                "13800000003": Citizen(turns=unhappy), "13800000004": Citizen(turns=happy)}
    load(engine, tmp_path, list(citizens))
    pool = KillDuringTurn(SettingsEngine(RecognitionSettings(model=str(MODEL))), 1)
    try:
        running = start_campaign(engine, citizens, tmp_path, Clock(), channels=1,
                                 recognition=pool)
        try:
            wait_until(lambda: first_attempts_done(engine), 240, "every callback tried")
        finally:
            running.stop()
        assert pool.killed_pid and pool.killed_pid not in pool.pids()
        assert pool.restarts == {"died": 1} and pool.turns_lost.get("died", 0) >= 1
        assert len(pool.asked) == 4  # the calls after the kill were listened to
        with engine.connect() as conn:
            victim = conn.execute(select(Ticket.ticket_no).join(
                CallAttempt, CallAttempt.ticket_id == Ticket.id).where(
                CallAttempt.call_id == pool.killed_call)).scalar_one()
        got = evaluations(engine)
        right = {"T0": (Resolved.YES, Satisfaction.BASIC),
                 "T1": (Resolved.NO, Satisfaction.UNSATISFIED),
                 "T2": (Resolved.NO, Satisfaction.UNSATISFIED),
                 "T3": (Resolved.YES, Satisfaction.BASIC)}
        for ticket, answers in right.items():
            if ticket != victim:  # every other call is heard in full, before and after
                assert got[ticket] == (*answers, EvaluationSource.AUTO), ticket
        # the victim's lost turn is asked again, and nothing more is said: no answer
        # invented for it (a resolution heard before the kill may stand)
        resolved, satisfied, _ = got.get(victim, (None, None, None))
        assert resolved in (None, Resolved.UNKNOWN, right[victim][0]), got
        assert satisfied in (None, Satisfaction.UNKNOWN), got
    finally:
        pool.shutdown()
