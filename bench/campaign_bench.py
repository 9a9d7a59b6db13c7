"""`make bench` (issue 7): a campaign of 1,000 callbacks against sipp callees with 100
channels. 60 % answer by voice (已经解决了, 基本满意, as recorded u-law played by sipp),
20 % are busy, 20 % ring until the 10 s ring timeout. The whole service runs as in
production (scheduler, channel pool, SIP, media, PocketSphinx, SQLite store) in this
process; sipp runs in three processes beside it.

Reports: campaign wall time against the ideal for those channels (the sum of call
durations over the channels, and no faster than the call rate allows), channel
utilisation while work was due, turn latency from the end of the citizen's voice to the
next prompt's first packet (p50, p95) and its parts (the end point's wait, the
recogniser's answer, the flow), the recognisers' backlog of audio not decoded yet,
answers understood, CPU and RSS.
HUIFANG_BENCH_CALLBACKS and HUIFANG_BENCH_CHANNELS change the size;
HUIFANG_BENCH_PROCESSES=N decodes in N recogniser worker processes (`[recognition]
processes`; unset: one per core, as `huifang run`; 0: threads), whose CPU is reported
apart. Writes bench/out/campaign.json (HUIFANG_BENCH_OUT names another file).
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select

HERE = Path(__file__).parent
OUT = HERE / "out"
CPS = 20.0
RING_S = 10.0


def ulaw(path: Path, pcm: bytes) -> Path:
    from prompts.audio import ulaw_encode

    path.write_bytes(ulaw_encode(np.frombuffer(pcm, "<i2")))
    return path


def tickets_csv(path: Path, callbacks: int) -> dict[str, int]:
    from tests.files import TICKET_HEADER, ticket, write_csv

    closed = f"{datetime.now() - timedelta(hours=1):%Y-%m-%d %H:%M:%S}"
    kinds = {"answer": 0, "busy": 0, "no_answer": 0}
    rows = [TICKET_HEADER]
    for i in range(callbacks):
        kind = "answer" if i % 5 < 3 else ("busy" if i % 5 == 3 else "no_answer")
        prefix = {"answer": "1450001", "busy": "1450002", "no_answer": "1450003"}[kind]
        kinds[kind] += 1
        rows.append(ticket(f"B{i:05d}", phone=f"{prefix}{i:04d}", closed=closed,
                           received="2026-01-01 09:00:00", dispatched="2026-01-01 09:10:00",
                           signed="2026-01-01 10:00:00"))
    write_csv(path, rows)
    return kinds


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def citizen_peers(work: Path, ports: dict[str, int], seconds: dict[str, float]
                  ) -> list[subprocess.Popen[bytes]]:
    """The three sipp callees: citizens who answer by voice (timed to the prompts'
    `seconds`), a busy line, and a phone that rings for ever."""
    from tests.peers import free_udp_port
    from tests.speech import espeak
    from tests.test_callsession import VOICE

    a1 = espeak("已经解决了", VOICE, speed=170, pad_s=0.1)
    a2 = espeak("基本满意", VOICE, speed=170, pad_s=0.1)
    t1 = int(1000 * (seconds["greeting"] + seconds["ask_resolved"] + 0.8))
    t2 = int(1000 * (len(a1) / 16000 + 0.7 + 1.0 + seconds["ask_satisfied"] + 0.5))
    scenario = (HERE / "sipp/citizen.xml.in").read_text() \
        .replace("@A1@", str(ulaw(work / "a1.ulaw", a1))) \
        .replace("@A2@", str(ulaw(work / "a2.ulaw", a2))) \
        .replace("@T1@", str(t1)).replace("@T2@", str(t2))
    (work / "citizen.xml").write_text(scenario)
    tests = HERE.parent / "tests/sipp"
    return [subprocess.Popen(
        ["sipp", "-sf", str(path), "-i", "127.0.0.1", "-p", str(ports[kind]), "-mi",
         "127.0.0.1", "-mp", str(free_udp_port(span=4)), "-nostdin", "-cp",
         str(free_udp_port()), "-timeout", "3600s", "-max_socket", "4096"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for kind, path in (("answer", work / "citizen.xml"), ("busy", tests / "busy.xml"),
                           ("no_answer", tests / "ringforever.xml"))]


def main() -> int:
    for tool in ("sipp", "espeak-ng"):
        if shutil.which(tool) is None:
            print(f"campaign bench skipped: {tool} not installed (make test installs it)")
            return 0
    from tests.speech import MODEL

    if not MODEL.exists():
        print(f"campaign bench skipped: no model at {MODEL}")
        return 0
    from twisted.internet import reactor as _reactor
    from twisted.internet.task import LoopingCall

    from dialer.callsession import CallReport
    from huifang.cli.imports import import_file  # noqa: F401  (the real import path below)
    from huifang.config import Settings
    from huifang.service import build_service
    from store.campaign_models import CallAttempt, Callback
    from store.db import make_engine, upgrade
    from store.enums import Resolved, Satisfaction
    from store.importing.runner import ImportOptions, run_import
    from store.models import Evaluation
    from tests.files import UNITS, write_csv
    from tests.peers import free_udp_port
    from tests.speech import espeak
    from tests.test_callsession import PROMPTS, VOICE

    reactor: Any = _reactor
    callbacks = int(os.environ.get("HUIFANG_BENCH_CALLBACKS", "1000"))
    channels = int(os.environ.get("HUIFANG_BENCH_CHANNELS", "100"))
    wanted = os.environ.get("HUIFANG_BENCH_PROCESSES", "")  # unset: as huifang run, per core
    processes = int(wanted) if wanted else None
    work = Path(tempfile.mkdtemp(prefix="campaignbench-"))
    ports = {kind: free_udp_port() for kind in ("answer", "busy", "no_answer")}
    # the service as `huifang run` builds it; only its settings are the benchmark's
    settings = Settings.model_validate({
        "trunk": {"bind": "127.0.0.1", "sip_port": 0, "rtp_ports": "40000-49998",
                  "max_channels": channels, "calls_per_second": CPS, "ring_timeout_s": RING_S,
                  "target": f"sip:{{number}}@127.0.0.1:{ports['answer']}",
                  "routes": {"1450002": f"sip:{{number}}@127.0.0.1:{ports['busy']}",
                             "1450003": f"sip:{{number}}@127.0.0.1:{ports['no_answer']}"}},
        "campaign": {"windows": ["00:00-24:00"], "skip_holidays": False, "delay_days": 0,
                     "tick_s": 0.5, "recordings_dir": str(work / "recordings"),
                     "node": "bench", "http": ""},
        "prompts": {"texts": PROMPTS, "voice": VOICE, "rate": 190,
                    "cache_dir": str(HERE / "out" / "prompts")},
        "recognition": {"model": str(MODEL), "workers": 2, "processes": processes,
                        "vad": os.environ.get("HUIFANG_BENCH_VAD") or None},
        "console": {"bind": ""}})
    url = f"sqlite:///{work / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    service = build_service(settings, reactor, engine)
    campaign = service.campaign
    seconds = {pid: len(pcm) / 16000 for (pid, _), pcm in service.prompts.fixed().items()}
    seconds["greeting"] = seconds.get("greeting", 0.0) or len(espeak(
        PROMPTS["greeting"], VOICE, speed=190)) / 16000
    peers = citizen_peers(work, ports, seconds)
    atexit.register(lambda: [p.kill() for p in peers])  # also when the run fails midway
    now = datetime.now()
    run_import(engine, "units", write_csv(work / "u.csv", UNITS), now=now,
               options=ImportOptions())
    kinds = tickets_csv(work / "t.csv", callbacks)
    run_import(engine, "tickets", work / "t.csv", now=now, options=ImportOptions())
    reports: list[CallReport] = []
    campaign.on_call_done = reports.append
    samples: list[int] = []
    backlogs: list[float] = []  # the recognisers' audio not decoded yet, s (processes)
    marks: dict[str, float] = {}
    cpu0 = time.process_time()
    worker_cpu: dict[int, float] = {}

    def workers_cpu() -> None:  # read while they run: a worker's CPU is gone once it ends
        pids = getattr(service.recognition, "pids", list)()
        worker_cpu.update({pid: cpu_of(pid) for pid in pids})

    def untried() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(
                Callback.attempts == 0)).scalar_one())

    def sample() -> None:
        left = untried()
        if "first" not in marks and campaign.calls:
            marks["first"] = time.monotonic()
        if "first" in marks and left > 0:
            samples.append(len(campaign.calls))
            stats = getattr(service.recognition, "stats", None)
            if stats is not None:
                backlogs.append(max((w.backlog_bytes / 16000 for w in stats()), default=0.0))
        with engine.connect() as conn:
            busy = conn.execute(select(func.count()).where(
                CallAttempt.status == "in_progress")).scalar_one()
        if left == 0 and not busy and not campaign.calls and "first" in marks:
            marks["end"] = time.monotonic()
            workers_cpu()
            poll.stop()
            service.stop().addBoth(lambda _: reactor.stop())

    poll = LoopingCall(sample)
    attack_rate = float(os.environ.get("HUIFANG_BENCH_ATTACK_RATE", "0"))
    attacker = None
    tools = None

    def started(_: Any) -> None:
        nonlocal attacker, tools
        poll.start(0.5)
        if attack_rate > 0:  # forged SIP at the service's SIP port during the campaign
            from tests.attacker import AttackerProcess

            attacker = AttackerProcess(url, service.dialer.local, attack_rate)
            attacker.start()
        if os.environ.get("HUIFANG_BENCH_SIP_TOOLS") == "1":  # sipvicious and sipsak too
            from bench.sip_tools import SipToolsAttack

            tools = SipToolsAttack(*service.dialer.local)
            tools.start()

    service.start().addCallback(started)
    reactor.callLater(3600, reactor.stop)
    reactor.run()
    cpu = time.process_time() - cpu0
    if attacker is not None:
        attacker.stop()
    tools_report = tools.stop() if tools is not None else None
    sipp_cpu = sum(cpu_of(p.pid) for p in peers)
    for p in peers:
        p.kill()
        p.wait(10)
    wall = marks.get("end", time.monotonic()) - marks.get("first", time.monotonic())
    durations = [(r.sip.answered_s or 0) + r.sip.duration_s if r.sip and r.sip.answered_s
                 else (r.sip.first_response_s or 0) + (RING_S if r.sip and r.sip.outcome ==
                                                       "no_answer" else 0)
                 for r in reports]
    busy_time = sum(durations)
    ideal = max(busy_time / channels, callbacks / CPS)
    latencies = [x for r in reports for x in r.turn_latencies_ms]
    parts = np.array([x for r in reports for x in r.turn_parts_ms]).reshape(-1, 3)

    def spread(values: Any) -> dict[str, float | None]:
        return {"p50": round(float(np.percentile(values, 50)), 1) if len(values) else None,
                "p95": round(float(np.percentile(values, 95)), 1) if len(values) else None}
    with engine.connect() as conn:
        outcomes = dict(conn.execute(select(CallAttempt.outcome, func.count())
                                     .group_by(CallAttempt.outcome)).all())
        understood = conn.execute(select(func.count()).where(
            Evaluation.resolved == Resolved.YES,
            Evaluation.satisfaction == Satisfaction.BASIC)).scalar_one()
    result = {
        "callbacks": callbacks, "channels": channels, "calls_per_second": CPS,
        "mix": kinds, "outcomes": outcomes, "recogniser_processes": processes,
        "answers_understood": {"both_right": understood, "answered": kinds["answer"]},
        "wall_s": round(wall, 1), "ideal_s": round(ideal, 1),
        "wall_over_ideal": round(wall / ideal, 2) if ideal else None,
        "channel_utilisation_while_due": round(float(np.mean(samples)) / channels, 3)
        if samples else None,
        "turn_latency_ms": {"n": len(latencies),
                            "p50": round(float(np.percentile(latencies, 50)), 1)
                            if latencies else None,
                            "p95": round(float(np.percentile(latencies, 95)), 1)
                            if latencies else None},
        "turn_parts_ms": {"endpoint_wait": spread(parts[:, 0]),
                          "recognition": spread(parts[:, 1]), "flow": spread(parts[:, 2])},
        "recogniser_backlog_s": {**spread(backlogs),
                                 "max": round(max(backlogs), 1) if backlogs else None},
        "cpu_s": round(cpu, 1), "cpu_percent_of_one_core": round(100 * cpu / wall, 1)
        if wall else None, "recogniser_cpu_s": round(sum(worker_cpu.values()), 1),
        "sipp_cpu_s": round(sipp_cpu, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "attack": {"rate_per_s": attack_rate, "datagrams": attacker.sent if attacker else 0,
                   "dropped": dict(service.dialer.endpoint.dropped), "tools": tools_report},
    }
    OUT.mkdir(exist_ok=True)
    out = os.environ.get("HUIFANG_BENCH_OUT", "campaign.json")
    (OUT / out).write_text(json.dumps(result, ensure_ascii=False, indent=2))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
