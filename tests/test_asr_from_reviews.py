"""Every reviewed call teaches the recogniser, end to end: real calls over SIP and RTP
record where each heard answer lies in the recording; supervisors spot-check, confirm and
correct through the store's own actions; `huifang asr-eval --from-reviews` then measures
the live decision path on the cut turns (the same audio gives the live call's decisions,
scored against the people's answers), and `huifang asr-tune --from-reviews` calibrates on
the tune callers and measures on the held-out one. No number reaches the output and the
cut clips do not outlive the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, select

from huifang.demo.simulator import Citizen
from huifang.reasons import citizen_slice
from store.campaign_models import CallAttempt, Callback, CallTurn
from store.corrections import Who, confirm_answer, correct_answer
from store.enums import Resolved, Satisfaction
from store.spot_check_results import check
from store.spot_checks import SpotCheck, draw_day
from store.spot_rule import DrawRules
from tests.campaign_support import NOW, Clock, first_attempts_done, start_campaign, wait_until
from tests.speech import MODEL
from tests.test_callsession import say
from tests.test_campaign import load

# the callers' numbers fall in the split as 02 tune, 06 tune, 03 held out (caller_key % 3)
UNHAPPY, HAPPY, BASIC = "13800000002", "13800000006", "13800000003"


def huifang(*args: str, cwd: Path, db: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUIFANG_DB": db, "COLUMNS": "200", "TMPDIR": str(tmp)}
    env.pop("HUIFANG_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "huifang", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def _rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples ** 2))) if len(samples) else 0.0


@pytest.mark.timeout(600)
def test_reviewed_turns_measure_and_tune_the_recogniser(sqlite_engine: Engine,
                                                        tmp_path: Path) -> None:
    engine = sqlite_engine
    citizens = {UNHAPPY: Citizen(turns=(say("还没有解决"), say("非常不满意"),
                                        say("物业一直没有来维修"))),
                HAPPY: Citizen(turns=(say("已经解决了"), say("挺满意的"))),
                BASIC: Citizen(turns=(say("已经解决了"), say("基本满意")))}
    load(engine, tmp_path, list(citizens))
    running = start_campaign(engine, citizens, tmp_path, Clock())
    try:
        wait_until(lambda: first_attempts_done(engine), what="every callback tried")
    finally:
        running.stop()
    with engine.connect() as conn:
        attempts = {r.phone[3:]: r for r in conn.execute(select(CallAttempt)).all()}
        turns = conn.execute(select(CallTurn).where(CallTurn.source == "heard:speech")
                             .order_by(CallTurn.id)).all()
        callbacks = {r.phone[3:]: r.id for r in conn.execute(select(Callback)).all()}
    assert sorted(attempts) == sorted(citizens)
    heard = {(t.attempt_id, t.question): t for t in turns}
    by_id = {a.id: a for a in attempts.values()}
    assert len(heard) == 6  # each citizen's two answers, each heard once
    for t in turns:  # each heard turn says where its audio is, and the voice is there
        data = Path(by_id[t.attempt_id].recording).read_bytes()
        assert t.from_s is not None and t.to_s is not None and 0 <= t.from_s < t.to_s
        voice = citizen_slice(data, t.from_s, t.to_s)
        before = citizen_slice(data, max(0.0, t.from_s - 0.6), t.from_s)
        assert 0.5 < t.to_s - t.from_s < 4.0
        assert _rms(voice) > 10 * max(_rms(before), 1.0), (t.heard, t.from_s, t.to_s)
    # the people's judgments: a blind spot check that agrees; a confirmation; a correction
    # that gives 不满意 where the machine took 基本满意 (here against what the simulated
    # citizen said, so that a label the machine disagrees with shows as one)
    later = NOW + timedelta(hours=2)
    draw_day(engine, NOW.date(), DrawRules(share=1.0, min_per_day=0), later)
    with engine.connect() as conn:
        spot = conn.execute(select(SpotCheck.id).where(
            SpotCheck.attempt_id == attempts[HAPPY].id)).scalar_one()
    check(engine, spot, Resolved.YES, Satisfaction.SATISFIED, Who("zhijian", "", later))
    confirm_answer(engine, callbacks[UNHAPPY], Who("zhuguan", "复听无误", later))
    correct_answer(engine, callbacks[BASIC], Resolved.YES, Satisfaction.UNSATISFIED,
                   Who("zhuguan", "复听：市民说的是不满意", later))

    config = tmp_path / "huifang.toml"
    config.write_text(f'[recognition]\nmodel = "{MODEL}"\n[campaign]\n'
                      f'recordings_dir = "{tmp_path / "recordings"}"\n', encoding="utf-8")
    db, scratch = str(engine.url), tmp_path / "scratch"
    scratch.mkdir()
    measured = huifang("--config", str(config), "asr-eval", "--from-reviews", "--out",
                       str(tmp_path / "eval.json"), cwd=tmp_path, db=db, tmp=scratch)
    assert measured.returncode == 0, measured.stderr
    report = json.loads((tmp_path / "eval.json").read_text(encoding="utf-8"))
    assert report["reviews"]["turns"] == 6 and report["split"] == "all"
    assert report["reviews"]["judged"] == {"spot_check": 2, "confirmed": 2, "corrected": 2}
    assert report["reviews"]["parts"] == {"tune": 4, "heldout": 2}
    # the cut audio decodes as it did live: the machine's intents, scored against people
    live = {(t.question, t.intent) for t in turns}
    assert ("satisfied", "basic_satisfied") in live and ("resolved", "unresolved") in live
    assert report["per_intent"]["resolved"] == {
        "resolved": {"clips": 2, "right": 2, "accuracy": 1.0},
        "unresolved": {"clips": 1, "right": 1, "accuracy": 1.0}}
    assert report["per_intent"]["satisfied"] == {
        "satisfied": {"clips": 1, "right": 1, "accuracy": 1.0},
        "unsatisfied": {"clips": 2, "right": 1, "accuracy": 0.5}}
    assert report["reviews"]["measured_by_judgment"] == {
        "spot_check": {"turns": 2, "right": 2, "accuracy": 1.0},
        "confirmed": {"turns": 2, "right": 2, "accuracy": 1.0},
        "corrected": {"turns": 2, "right": 1, "accuracy": 0.5}}
    assert "人工复核的回答 6 段" in measured.stdout
    blind = huifang("--config", str(config), "asr-eval", "--from-reviews", "--judged",
                    "spot_check", "--out", str(tmp_path / "blind.json"), cwd=tmp_path, db=db,
                    tmp=scratch)
    assert blind.returncode == 0, blind.stderr
    assert json.loads((tmp_path / "blind.json").read_text(encoding="utf-8"))["clips"] == 2
    for text in (measured.stdout, measured.stderr, json.dumps(report, ensure_ascii=False)):
        assert "1380000" not in text and "8613800" not in text
    assert list(scratch.iterdir()) == []  # the cut clips are gone

    tuned = huifang("--config", str(config), "asr-tune", "--from-reviews", "--max-wrong",
                    "1", "--max-reversals", "1", "--heldout-every", "1", "--out",
                    str(tmp_path / "tune.json"), cwd=tmp_path, db=db, tmp=scratch)
    assert tuned.returncode == 0, tuned.stderr
    assert "[recognition]" in tuned.stdout and "off-script bound" in tuned.stdout
    record = json.loads((tmp_path / "tune.json").read_text(encoding="utf-8"))
    assert record["chosen"]["answers"] == 4 and record["reviews"]["parts"]["heldout"] == 2
    assert record["heldout"]["clips"] == 2 and record["corpus"] == "reviews"
    assert list(scratch.iterdir()) == []
    cached = huifang("--config", str(config), "asr-tune", "--from-reviews", "--cache",
                     str(tmp_path / "cache"), cwd=tmp_path, db=db, tmp=scratch)
    assert cached.returncode == 2 and "--cache" in cached.stderr
    since = huifang("--config", str(config), "asr-eval", "--from-reviews", "--since",
                    (NOW + timedelta(days=1)).strftime("%Y-%m-%d"), cwd=tmp_path, db=db,
                    tmp=scratch)
    assert since.returncode == 1 and "no reviewed turn with its audio since" in since.stderr

