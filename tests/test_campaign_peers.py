"""Campaigns against callees no one here wrote: sipp playing recorded answers, and the
baresip softphone playing a WAV of them. The answers must land in the store."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, select

from dialer.callsession import SessionSettings
from prompts.audio import ulaw_encode, write_wav
from store.campaign_models import CallAttempt
from store.enums import EvaluationSource, Resolved, Satisfaction
from store.models import Evaluation
from tests.campaign_support import Clock, first_attempts_done, start_campaign, wait_until
from tests.conftest import need
from tests.peers import free_udp_port
from tests.speech import espeak
from tests.test_callsession import VOICE, prompts
from tests.test_campaign import load

HERE = Path(__file__).parent


def answers() -> tuple[bytes, bytes, int, int]:
    """The two spoken answers, and when the citizen says them (ms after the answer, and
    after the first answer), from the prompts' own lengths."""
    seconds = {pid: len(pcm) / 16000 for (pid, _), pcm in prompts().items()}
    a1 = espeak("已经解决了", VOICE, speed=170, pad_s=0.1)
    a2 = espeak("基本满意", VOICE, speed=170, pad_s=0.1)
    # sipp says them at fixed times, whatever we play: the slack (1.5 s after the first
    # question, 2.5 s for our turn latency) lets a loaded machine play and decode late
    # without the answer landing on the prompt; SIPP_SESSION waits long enough for it
    t1 = int(1000 * (seconds["greeting"] + seconds["ask_resolved"] + 1.5))
    t2 = int(1000 * (len(a1) / 16000 + 0.7 + 2.5 + seconds["ask_satisfied"] + 0.5))
    return a1, a2, t1, t2


SIPP_SESSION = SessionSettings(no_input_s=6.0)  # the answers' slack above, and more


def the_answers_landed(engine: Engine) -> None:
    with engine.connect() as conn:
        got = conn.execute(select(Evaluation.resolved, Evaluation.satisfaction,
                                  Evaluation.source)).all()
        attempt = conn.execute(select(CallAttempt.outcome, CallAttempt.sip_code)).one()
    assert [tuple(g) for g in got] == [(Resolved.YES, Satisfaction.BASIC,
                                        EvaluationSource.AUTO)]
    assert tuple(attempt) == ("completed", 200)


def sipp_citizen(tmp_path: Path) -> tuple[int, subprocess.Popen[str]]:
    """A sipp callee for one call that answers and says the two recorded answers."""
    need(shutil.which("sipp") is not None, "sipp (Debian sip-tester) not installed")
    a1, a2, t1, t2 = answers()
    for name, pcm in (("a1", a1), ("a2", a2)):
        (tmp_path / f"{name}.ulaw").write_bytes(ulaw_encode(np.frombuffer(pcm, "<i2")))
    scenario = (HERE.parent / "bench/sipp/citizen.xml.in").read_text() \
        .replace("@A1@", str(tmp_path / "a1.ulaw")).replace("@A2@", str(tmp_path / "a2.ulaw")) \
        .replace("@T1@", str(t1)).replace("@T2@", str(t2))
    (tmp_path / "citizen.xml").write_text(scenario)
    port = free_udp_port()
    sipp = subprocess.Popen(
        ["sipp", "-sf", str(tmp_path / "citizen.xml"), "-i", "127.0.0.1", "-p", str(port),
         "-mi", "127.0.0.1", "-mp", str(free_udp_port(span=4)), "-m", "1", "-nostdin",
         "-cp", str(free_udp_port()), "-timeout", "120s", "-timeout_error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return port, sipp


@pytest.mark.timeout(180)
def test_a_campaign_against_sipp(engine: Engine, tmp_path: Path) -> None:
    port, sipp = sipp_citizen(tmp_path)
    load(engine, tmp_path, ["13800000001"])
    running = start_campaign(engine, {}, tmp_path, Clock(), session=SIPP_SESSION,
                             target=f"sip:{{number}}@127.0.0.1:{port}")
    try:
        wait_until(lambda: first_attempts_done(engine), 120, "the call made")
    finally:
        running.stop()
        code = sipp.wait(30)
    assert code == 0, sipp.stderr.read() if sipp.stderr else ""  # sipp's scenario ran through
    the_answers_landed(engine)


@pytest.mark.timeout(180)
def test_a_campaign_against_baresip(engine: Engine, tmp_path: Path) -> None:
    need(shutil.which("baresip") is not None, "baresip not installed")
    a1, a2, t1, t2 = answers()
    silence = lambda ms: np.zeros(int(8 * ms), "<i2")  # noqa: E731
    audio = np.concatenate([silence(t1), np.frombuffer(a1, "<i2"), silence(t2),
                            np.frombuffer(a2, "<i2"), silence(20000)])
    write_wav(tmp_path / "citizen.wav", audio.astype(np.int16))
    sip_port, rtp = free_udp_port(), free_udp_port(span=12)
    (tmp_path / "config").write_text(
        f"sip_listen 127.0.0.1:{sip_port}\nnet_interface 127.0.0.1\n"
        f"audio_source aufile,{tmp_path / 'citizen.wav'}\naudio_player aubridge,sink\n"
        "audio_alert aubridge,sink\naudio_srate 8000\naudio_channels 1\n"
        f"rtp_ports {rtp}-{rtp + 10}\nsnd_path {tmp_path}\n"
        "module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\n"
        "module aubridge.so\nmodule sndfile.so\nmodule_app account.so\nmodule_app menu.so\n",
        encoding="utf-8")
    (tmp_path / "accounts").write_text("<sip:callee@127.0.0.1>;regint=0;answermode=auto\n",
                                       encoding="utf-8")
    phone = subprocess.Popen(["baresip", "-f", str(tmp_path), "-t", "90"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    load(engine, tmp_path, ["13800000001"])
    running = start_campaign(engine, {}, tmp_path, Clock(), session=SIPP_SESSION,
                             target=f"sip:callee@127.0.0.1:{sip_port}")
    try:
        wait_until(lambda: first_attempts_done(engine), 120, "the call made")
    finally:
        running.stop()
        phone.terminate()
        log = phone.communicate(timeout=20)[0]
    assert "Call established" in log or "established" in log.lower(), log[-2000:]
    the_answers_landed(engine)
    with engine.connect() as conn:  # baresip's RTCP reports on ours: a round trip measured
        lost, jitter, rtt = conn.execute(select(CallAttempt.packets_lost,
                                                CallAttempt.jitter_ms, CallAttempt.rtt_ms)).one()
    assert lost == 0 and jitter is not None and rtt is not None, log[-2000:]
