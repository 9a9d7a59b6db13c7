"""kill -9 with calls up, at a callee whose media goes on after their dialogs ended:
the new calls must store their own citizens' answers.

Issue 21's run: after a kill -9 the callees kept streaming to the dead calls' RTP ports,
the restarted process handed those ports to new calls, and the new citizens' answers
were taken from the dead calls' audio (8 of 28 wrong). Here one sipp, sending every
call's media from one port as a carrier's SBC does, takes all the calls. The first two
(killed with their process) press 2 (未解决, 基本满意) twice a second from 15 s on, and go
on streaming for a minute after they have answered our BYE. The restarted process calls
all six citizens; the later calls press 1 (已解决, 满意) every 1.5 s from 1 s after the
answer. The range has 4 RTP ports, 2 of them the dead calls': a new call on one of
those would hear the dead calls' 2s from the very address its callee sends from. Every
answer stored must be 1, every dead dialog ended, no dead port handed out while its
media came."""

from __future__ import annotations

import json
import shutil
import signal
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from store.campaign_models import CallAttempt
from store.enums import AttemptStatus, EvaluationSource, Resolved, Satisfaction
from store.models import Evaluation
from tests.campaign_support import wait_until
from tests.conftest import need
from tests.peers import SCENARIOS, free_udp_port
from tests.rtp_pcap import Rtp, stream, write_pcap
from tests.test_left_dialogs_live import kill_once_answered, sqlite_store
from tests.test_service import config, start_run, stop_run

DEAD_CALLS = 2
CITIZENS = 6
AFTER_BYE_MS = 60_000  # the dead calls' media after their BYE was answered


def presses(path: Path, digit: int, *, ssrc: int, seconds: float, first_s: float,
            every_s: float) -> Path:
    """A quiet line, and `digit` pressed for 160 ms every `every_s` from `first_s` on,
    each press its own RFC 4733 event (its own timestamp, a growing duration, three end
    packets), all under `ssrc`."""
    rng = np.random.default_rng(ssrc)
    packets = stream((rng.standard_normal(int(seconds * 8000)) * 20).astype(np.int16),
                     ssrc=ssrc, sequence=1, timestamp=0, start=0.0)
    for press in range(int((seconds - first_s - 0.2) / every_s)):
        first = int((first_s + every_s * press) / 0.02)
        for k in range(8):
            audio = packets[first + k]
            packets[first + k] = Rtp(audio.at, ssrc, audio.sequence, packets[first].timestamp,
                                     struct.pack("!BBH", digit, 0x8A if k >= 5 else 0x0A,
                                                 (k + 1) * 160),
                                     marker=k == 0, payload_type=101)
    write_pcap(path, packets)
    return path


def callee(tmp_path: Path) -> tuple[int, subprocess.Popen[str]]:
    need(shutil.which("sipp") is not None, "sipp (Debian sip-tester) not installed")
    dead = presses(tmp_path / "dead.pcap", 2, ssrc=0xDEAD, seconds=150, first_s=15,
                   every_s=0.5)
    keys = presses(tmp_path / "keys.pcap", 1, ssrc=0x4B1, seconds=90, first_s=1,
                   every_s=1.5)
    scenario = (SCENARIOS / "dead_then_keys.xml.in").read_text(encoding="utf-8")
    path = tmp_path / "callee.xml"
    path.write_text(scenario.replace("@DEAD@", str(DEAD_CALLS))
                    .replace("@DEAD_PCAP@", str(dead)).replace("@KEYS_PCAP@", str(keys))
                    .replace("@AFTER@", str(AFTER_BYE_MS)), encoding="utf-8")
    port = free_udp_port()
    return port, subprocess.Popen(
        ["sipp", "-sf", str(path), "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1",
         "-mp", str(free_udp_port(span=4)), "-m", str(DEAD_CALLS + CITIZENS), "-nostdin",
         "-timeout", "280s", "-timeout_error", "-cp", str(free_udp_port())],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path)


def trunk(cfg: Path, sip_port: int, low: int) -> None:
    """Two channels, the SIP port a trunk fixes, 4 RTP ports from the even `low` (each
    with its RTCP port above it), the lease the default's."""
    text = cfg.read_text(encoding="utf-8")
    start = text.index('rtp_ports = "') + len('rtp_ports = "')
    text = text[:start] + f'{low}-{low + 7}' + text[text.index('"', start):]
    cfg.write_text(text.replace("max_channels = 3", "max_channels = 2").replace(
        "sip_port = 0", f"sip_port = {sip_port}").replace("lease_s = 10", "lease_s = 300"),
        encoding="utf-8")


@pytest.mark.timeout(400)
def test_after_kill_9_new_calls_never_hear_the_dead_calls_media(tmp_path: Path) -> None:
    url, engine = sqlite_store(tmp_path, CITIZENS)
    sip_port, low = free_udp_port(), free_udp_port(span=10)
    low += low % 2
    port, sipp = callee(tmp_path)
    try:
        cfg = config(tmp_path, url, port, "before")
        trunk(cfg, sip_port, low)
        dead = kill_once_answered(cfg, tmp_path, engine, DEAD_CALLS)
        assert not _answers(engine)  # killed before either was asked anything
        second = start_run(cfg, "after", tmp_path)  # another name: known by its pid
        try:
            wait_until(lambda: _settled(engine), 240, "every citizen called and answered")
        finally:
            assert stop_run(second) in (0, -signal.SIGTERM)
        code = sipp.wait(AFTER_BYE_MS / 1000 + 60)  # every dialog ended, by a BYE of ours
        assert code == 0, sipp.stderr.read() if sipp.stderr else code
    finally:
        if sipp.poll() is None:
            sipp.kill()
            sipp.wait(10)
    assert _answers(engine) == [
        (Resolved.YES, Satisfaction.SATISFIED, EvaluationSource.AUTO)] * CITIZENS
    with engine.connect() as conn:
        ports = [json.loads(r)["media_port"] for r in conn.execute(
            select(CallAttempt.dialog).where(CallAttempt.node == "after")).scalars() if r]
    assert len(ports) >= CITIZENS and not set(ports) & dead  # held while their media came
    log = (tmp_path / "after.log").read_text(errors="replace")
    assert "left up by a dead process" in log and "Traceback" not in log
    assert "13800000001" not in log


def _answers(engine: object) -> list[tuple[object, ...]]:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return [tuple(r) for r in conn.execute(select(
            Evaluation.resolved, Evaluation.satisfaction, Evaluation.source)).all()]


def _settled(engine: object) -> bool:
    """Both answers stored for every ticket, and no call in progress."""
    with engine.connect() as conn:  # type: ignore[attr-defined]
        busy = conn.execute(select(CallAttempt.id).where(
            CallAttempt.status == AttemptStatus.IN_PROGRESS)).first()
        done = conn.execute(select(Evaluation.id).where(
            Evaluation.resolved.is_not(None), Evaluation.satisfaction.is_not(None))).all()
    return busy is None and len(done) == CITIZENS
