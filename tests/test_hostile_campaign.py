"""A campaign call to a sipp citizen playing recorded answers, while an attacker on the
trunk side fires a bounded burst of forged SIP at the service's SIP port, aimed at the
live call (its Call-ID, tags, branch and CSeq, read off its dialog record as an on-path
attacker reads them off the wire) from another address, and blind garbage between
(`tests/attacker.py`). The call must complete with both answers stored as spoken, and
sipp's scenario (one INVITE, one ACK, one BYE) must run through."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from ivr.pool import RecognitionPool
from ivr.sphinx import SphinxEngine
from store.campaign_models import CallAttempt
from tests.attacker import AttackerProcess
from tests.campaign_support import Clock, first_attempts_done, start_campaign, wait_until
from tests.peers import on_reactor
from tests.speech import MODEL
from tests.test_campaign import load
from tests.test_campaign_peers import SIPP_SESSION, sipp_citizen, the_answers_landed

BURST = 3000


def call_is_up(engine: Engine) -> bool:
    with engine.connect() as conn:
        return any('"answered":true' in (d or "") for d in conn.execute(
            select(CallAttempt.dialog)).scalars())


@pytest.mark.timeout(180)
def test_a_campaign_call_completes_with_its_answers_under_forged_sip(
        sqlite_engine: Engine, tmp_path: Path) -> None:
    engine = sqlite_engine
    port, sipp = sipp_citizen(tmp_path)
    load(engine, tmp_path, ["13800000001"])
    # a fresh engine: PocketSphinx adapts its cepstral mean across a decoder's utterances,
    # so the suite's shared pool, after thousands of other tests' audio, heard these
    # answers differently (the test passed alone and failed in the sequential suite)
    fresh = RecognitionPool(SphinxEngine(MODEL), workers=2)
    running = start_campaign(engine, {}, tmp_path, Clock(), session=SIPP_SESSION,
                             target=f"sip:{{number}}@127.0.0.1:{port}", recognition=fresh)
    attacker = AttackerProcess(str(engine.url), on_reactor(lambda: running.dialer.local),
                               rate=400, limit=BURST)
    try:
        wait_until(lambda: call_is_up(engine), 60, "the call answered")
        attacker.start()
        wait_until(lambda: first_attempts_done(engine), 120, "the call made")
    finally:
        attacker.stop()
        running.stop()
        fresh.shutdown()
        code = sipp.wait(30)
    assert code == 0, sipp.stderr.read() if sipp.stderr else ""  # one INVITE, ACK, BYE
    assert attacker.sent >= 1000 and attacker.aimed >= 500  # the burst hit the live call
    dropped = on_reactor(lambda: dict(running.dialer.endpoint.dropped))
    assert sum(dropped.values()) >= attacker.sent * 0.9, dropped
    the_answers_landed(engine)
