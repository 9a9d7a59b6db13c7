"""kill -9 in the middle of answered calls, against callees no one here wrote: sipp
callees that answer and stream RTP (all calls from one media port, as the attack run
of issue 21 had it) and wait for our BYE, directly and through kamailio record-routing.
The process started again, under another name, must hang up every call the dead one
left up (sipp's scenario ends only on a BYE of its dialog), at once rather than after
the 300 s lease, and close the attempts as interrupted without using up the citizens'
attempts; its own new calls get other RTP ports than the dead calls held."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from store.campaign_models import CallAttempt, Callback, DialerNode
from store.db import make_engine, upgrade
from store.enums import AttemptStatus
from tests.campaign_support import wait_until
from tests.conftest import need
from tests.peers import SCENARIOS, free_udp_port
from tests.rtp_pcap import stream, write_pcap
from tests.test_service import config, load, needs_tools, start_run, stop_run

CALLS = 2


def tone_pcap(path: Path, seconds: float = 90.0) -> Path:
    t = np.arange(int(seconds * 8000)) / 8000
    pcm = (np.sin(2 * np.pi * 450 * t) * 6000).astype(np.int16)
    write_pcap(path, stream(pcm, ssrc=0x51A1E, sequence=1, timestamp=0, start=0.0))
    return path


@contextmanager
def callee(tmp_path: Path, calls: int) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """sipp answering `calls` calls, each streaming a tone until our BYE (90 s at most)."""
    need(shutil.which("sipp") is not None, "sipp (Debian sip-tester) not installed")
    scenario = (SCENARIOS / "answer_pcap.xml.in").read_text(encoding="utf-8")
    path = tmp_path / "hold.xml"
    path.write_text(scenario.replace("@PCAP@", str(tone_pcap(tmp_path / "tone.pcap")))
                    .replace("@SDP_PORT@", "[media_port]").replace("@EXTRA@", ""),
                    encoding="utf-8")
    port, media = free_udp_port(), free_udp_port(span=4)
    process = subprocess.Popen(
        ["sipp", "-sf", str(path), "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1",
         "-mp", str(media), "-m", str(calls), "-nostdin", "-timeout", "150s",
         "-timeout_error", "-cp", str(free_udp_port()), "-trace_stat", "-stf",
         str(tmp_path / "sipp.csv")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        yield port, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def answered_records(engine: object) -> list[dict[str, object]]:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(select(CallAttempt.dialog).where(
            CallAttempt.status == AttemptStatus.IN_PROGRESS)).scalars().all()
    records = [json.loads(r) for r in rows if r]
    return [r for r in records if r["answered"]]


def sqlite_store(tmp_path: Path, citizens: int) -> tuple[str, Any]:
    """A new SQLite store for `huifang run`, with `citizens` closed tickets to call back."""
    needs_tools()
    url = f"sqlite:///{tmp_path / 'huifang.db'}"
    engine = make_engine(url)
    upgrade(engine)
    load(engine, tmp_path, [f"1380000{i:04d}" for i in range(1, citizens + 1)])
    return url, engine


def kill_once_answered(cfg: Path, tmp_path: Path, engine: object, calls: int) -> set[int]:
    """`huifang run` as node "before" until `calls` calls are answered (their dialogs
    written down), then kill -9; the RTP ports the dead calls held."""
    first = start_run(cfg, "before", tmp_path)
    try:
        wait_until(lambda: len(answered_records(engine)) == calls, 90,
                   f"{calls} calls answered, their dialogs written down")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    return {int(r["media_port"]) for r in answered_records(engine)}  # type: ignore[call-overload]


def kill_then_restart(tmp_path: Path, sip_port: int, sipp_process: subprocess.Popen[str],
                      extra: str = "", proxy: str = "") -> None:
    url, engine = sqlite_store(tmp_path, CALLS)
    first_cfg = config(tmp_path, url, sip_port, "before", extra)
    # a trunk's SIP port is fixed (5060): the restarted process is where the dead one was
    text = first_cfg.read_text(encoding="utf-8").replace("lease_s = 10", "lease_s = 300") \
        .replace("sip_port = 0", f"sip_port = {free_udp_port()}")
    if proxy:
        text = text.replace('bind = "127.0.0.1"\n', f'bind = "127.0.0.1"\n{proxy}\n', 1)
    first_cfg.write_text(text, encoding="utf-8")
    held = kill_once_answered(first_cfg, tmp_path, engine, CALLS)
    assert sipp_process.poll() is None  # the calls are still up at the callee
    with engine.connect() as conn:
        attempts_before = dict(conn.execute(select(Callback.id, Callback.attempts)).all())
    # started again under another name (the default name holds the pid): the dead
    # process is known by its pid, not its name, and its 300 s lease is not waited for
    second = start_run(first_cfg, "after", tmp_path)
    try:
        wait_until(lambda: "left up by a dead process" in (tmp_path / "after.log").read_text(
            errors="replace"), 60, "the restarted process hanging up the dead one's calls")
        wait_until(lambda: _interrupted(engine) == CALLS, 60, "attempts closed")
        with engine.connect() as conn:
            nodes = dict(conn.execute(select(DialerNode.node, DialerNode.state)).all())
            given = dict(conn.execute(select(Callback.id, Callback.attempts)).all())
        assert nodes["before"] == "dead"
        assert all(given[i] <= attempts_before[i] for i in attempts_before)
        # sipp's scenario ends for a call only on a BYE of its dialog: all of them ended
        code = sipp_process.wait(60)
        assert code == 0, sipp_process.stderr.read() if sipp_process.stderr else code
    finally:
        assert stop_run(second) in (0, -signal.SIGTERM)
    with engine.connect() as conn:
        later = [json.loads(r) for r in conn.execute(select(CallAttempt.dialog).where(
            CallAttempt.node == "after")).scalars() if r]
    assert all(int(r["media_port"]) not in held for r in later)  # no dead call's port
    log = (tmp_path / "after.log").read_text(errors="replace")
    assert "Traceback" not in log and "13800000001" not in log


def _interrupted(engine: object) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return len(conn.execute(select(CallAttempt.id).where(
            CallAttempt.status == AttemptStatus.INTERRUPTED)).all())


@pytest.mark.timeout(300)
def test_kill_9_with_calls_up_at_sipp_then_restart_under_another_name(tmp_path: Path) -> None:
    with callee(tmp_path, CALLS) as (port, process):
        kill_then_restart(tmp_path, port, process)


@pytest.mark.timeout(300)
def test_kill_9_with_calls_up_through_kamailio(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_kamailio import CONFIG, PASSWORD, modules, ready
    need(shutil.which("kamailio") is not None, "kamailio not installed")
    monkeypatch.setenv("HUIFANG_SIP_PASSWORD", PASSWORD)
    with callee(tmp_path, CALLS) as (trunk, sipp_process):
        port = free_udp_port()
        cfg = tmp_path / "kamailio.cfg"
        cfg.write_text(CONFIG.read_text(encoding="utf-8").replace("@PORT@", str(port))
                       .replace("@TRUNK@", str(trunk)).replace("@PASSWORD@", PASSWORD)
                       .replace("@MPATH@", modules()), encoding="utf-8")
        kamailio = subprocess.Popen(
            ["kamailio", "-f", str(cfg), "-DD", "-E", "-m", "32", "-M", "8", "-Y",
             str(tmp_path), "-P", str(tmp_path / "k.pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            assert ready(port)
            kill_then_restart(tmp_path, port, sipp_process,
                              proxy=f'proxy = "127.0.0.1:{port}"\nusername = "huifang"\n'
                              'dial_prefix = "9"')  # kamailio routes 9… to the trunk
        finally:
            kamailio.terminate()
            kamailio.wait(20)
