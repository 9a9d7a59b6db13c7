"""A campaign call to a sipp citizen while the service's reactor stalls for 0.9 s just
before a media tick, in the middle of the first answer, as a long GC pause or a starved
CPU stops it. Both answers must still be heard whole and stored: before the media clock
played its owed frames one per reactor pass, this call stored nothing (已 heard, then
the answer's tail on its own; in the full suite the same happened under the hostile-SIP
campaign)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine
from twisted.internet import reactor

from dialer.media import MediaClock
from tests.campaign_support import Clock, first_attempts_done, start_campaign, wait_until
from tests.peers import on_reactor
from tests.test_campaign import load
from tests.test_campaign_peers import SIPP_SESSION, answers, sipp_citizen, the_answers_landed
from tests.test_hostile_campaign import call_is_up

log = logging.getLogger(__name__)
STALL_S = 0.9  # longer than the 700 ms of silence that ends an answer


@pytest.mark.timeout(180)
def test_a_reactor_stall_mid_answer_loses_no_part_of_it(
        sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = sqlite_engine
    port, sipp = sipp_citizen(tmp_path)
    _, _, t1, _ = answers()
    load(engine, tmp_path, ["13800000001"])
    running = start_campaign(engine, {}, tmp_path, Clock(), session=SIPP_SESSION,
                             target=f"sip:{{number}}@127.0.0.1:{port}")
    tick = MediaClock._tick
    stalls: list[float] = []

    def stalled_tick(self: MediaClock) -> None:
        if stalls and stalls[-1] == 0.0:
            log.info("the reactor stalls for %.1f s", STALL_S)
            time.sleep(STALL_S)  # the stall itself, on the reactor thread, not a wait
            stalls[-1] = STALL_S
        tick(self)

    monkeypatch.setattr(MediaClock, "_tick", stalled_tick)
    try:
        wait_until(lambda: call_is_up(engine), 60, "the call answered")
        # 0.3 s into the first answer (about 1.3 s long), the next tick is held up
        on_reactor(lambda: reactor.callLater(t1 / 1000 + 0.3, stalls.append, 0.0))
        wait_until(lambda: first_attempts_done(engine), 120, "the call made")
    finally:
        running.stop()
        code = sipp.wait(30)
    assert code == 0, sipp.stderr.read() if sipp.stderr else ""
    assert stalls == [STALL_S]  # it did stall, once
    the_answers_landed(engine)
