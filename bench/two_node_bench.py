"""`make bench` (issue 18): the campaign benchmark's callbacks and sipp callees, called by
two `huifang run` processes on one PostgreSQL server (started here, on loopback), half
the channels and half the call rate each, to show that the claim path scales across
processes. On this machine both nodes (and their recogniser workers) share the 2 cores:
the totals and each node's CPU are reported.

Wall time runs from the first attempt's start to the last one's end, as the store has
them (to the second); the ideal and channel use are those of `bench.campaign_bench`.
Turn latency comes from the nodes' own `huifang_turn_latency_seconds` histograms
(summed), so its percentiles are interpolated within buckets of 100 ms up to 600 ms.

HUIFANG_BENCH_CALLBACKS (1000), HUIFANG_BENCH_CHANNELS (100, in all) and
HUIFANG_BENCH_PROCESSES (recogniser worker processes per node, 1) change it. Writes
bench/out/two_nodes.json, and the nodes' logs to bench/out/two_node_logs/.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select

from bench.campaign_bench import CPS, OUT, RING_S, citizen_peers, cpu_of, tickets_csv

NODES = ("node-a", "node-b")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def node_config(work: Path, url: str, node: str, index: int, ports: dict[str, int],
                channels: int, processes: int, http: int) -> Path:
    from tests.speech import MODEL
    from tests.test_callsession import PROMPTS, VOICE

    low = 40000 + index * 5000
    texts = "\n".join(f'{pid} = "{text}"' for pid, text in PROMPTS.items())
    path = work / f"{node}.toml"
    path.write_text(f'''
[database]
url = "{url}"
[trunk]
bind = "127.0.0.1"
sip_port = 0
rtp_ports = "{low}-{low + 4998}"
target = "sip:{{number}}@127.0.0.1:{ports['answer']}"
routes = {{ "1450002" = "sip:{{number}}@127.0.0.1:{ports['busy']}", "1450003" = "sip:{{number}}@127.0.0.1:{ports['no_answer']}" }}
max_channels = {channels}
calls_per_second = {CPS / len(NODES)}
ring_timeout_s = {RING_S}
[campaign]
windows = ["00:00-24:00"]
skip_holidays = false
delay_days = 0
tick_s = 0.5
http = "127.0.0.1:{http}"
recordings_dir = "{work / 'recordings' / node}"
[console]
bind = ""
[recognition]
model = "{MODEL}"
workers = 2
processes = {processes}
[prompts]
voice = "{VOICE}"
rate = 190
cache_dir = "{OUT / 'prompts'}"
[prompts.texts]
{texts}
[logging]
level = "WARNING"
''', encoding="utf-8")  # noqa: E501 - one TOML line
    return path


def histogram(urls: list[str]) -> tuple[list[float], list[float]]:
    """The summed cumulative counts of the nodes' turn-latency buckets."""
    bounds: list[float] = []
    counts: dict[float, float] = {}
    for url in urls:
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        for line in text.splitlines():
            if line.startswith("huifang_turn_latency_seconds_bucket"):
                le = line.split('le="', 1)[1].split('"', 1)[0]
                bound = float("inf") if le == "+Inf" else float(le)
                counts[bound] = counts.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    bounds = sorted(counts)
    return bounds, [counts[b] for b in bounds]


def percentile(bounds: list[float], cumulative: list[float], q: float) -> float | None:
    """Linear within the bucket, as Prometheus' histogram_quantile does (in ms)."""
    total = cumulative[-1] if cumulative else 0
    if not total:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in zip(bounds, cumulative, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return round(lower * 1000, 1)
            share = (rank - below) / (count - below) if count > below else 1.0
            return round((lower + (bound - lower) * share) * 1000, 1)
        lower, below = bound, count
    return None


def store_figures(engine: Engine, channels: int, callbacks: int) -> dict[str, Any]:
    from store.campaign_models import CallAttempt
    from store.enums import Resolved, Satisfaction
    from store.models import Evaluation

    with engine.connect() as conn:
        spans = conn.execute(select(CallAttempt.started_at, CallAttempt.ended_at,
                                    CallAttempt.node)).all()
        outcomes = dict(conn.execute(select(CallAttempt.outcome, func.count())
                                     .group_by(CallAttempt.outcome)).all())
        understood = conn.execute(select(func.count()).where(
            Evaluation.resolved == Resolved.YES,
            Evaluation.satisfaction == Satisfaction.BASIC)).scalar_one()
    start = min(s for s, _, _ in spans)
    end = max(e for _, e, _ in spans if e is not None)
    wall = (end - start).total_seconds()
    busy = sum((e - s).total_seconds() for s, e, _ in spans if e is not None)
    ideal = max(busy / channels, callbacks / CPS)
    per_node: dict[str, int] = {}
    for _, _, node in spans:
        per_node[node] = per_node.get(node, 0) + 1
    return {"wall_s": wall, "ideal_s": round(ideal, 1),
            "wall_over_ideal": round(wall / ideal, 2) if ideal else None,
            "outcomes": outcomes, "attempts_per_node": per_node,
            "answers_understood": {"both_right": understood}}


def main() -> int:
    for tool in ("sipp", "espeak-ng"):
        if shutil.which(tool) is None:
            print(f"two-node bench skipped: {tool} not installed (make test installs it)")
            return 0
    from tests.pgserver import PostgresServer, find_binaries, free_port
    from tests.speech import MODEL

    bindir = find_binaries()
    if bindir is None or not MODEL.exists():
        print("two-node bench skipped: no PostgreSQL server binaries or no model")
        return 0
    from huifang.config import Settings
    from huifang.service import prompt_renderer
    from store.campaign_models import CallAttempt, Callback
    from store.db import make_engine, upgrade
    from store.importing.runner import ImportOptions, run_import
    from tests.files import UNITS, write_csv
    from tests.peers import free_udp_port
    from tests.test_callsession import PROMPTS, VOICE

    callbacks = int(os.environ.get("HUIFANG_BENCH_CALLBACKS", "1000"))
    channels = int(os.environ.get("HUIFANG_BENCH_CHANNELS", "100"))
    processes = int(os.environ.get("HUIFANG_BENCH_PROCESSES", "1"))
    work = Path(tempfile.mkdtemp(prefix="twonodebench-"))
    server = PostgresServer(bindir)
    server.start()
    runs: list[subprocess.Popen[bytes]] = []
    peers: list[subprocess.Popen[bytes]] = []
    try:
        url = server.create_database("bench")
        engine = make_engine(url)
        upgrade(engine)
        now = datetime.now()
        run_import(engine, "units", write_csv(work / "u.csv", UNITS), now=now,
                   options=ImportOptions())
        kinds = tickets_csv(work / "t.csv", callbacks)
        run_import(engine, "tickets", work / "t.csv", now=now, options=ImportOptions())
        from dialer.prompting import CallPrompts

        settings = Settings.model_validate({"prompts": {
            "texts": PROMPTS, "voice": VOICE, "rate": 190, "cache_dir": str(OUT / "prompts")}})
        fixed = CallPrompts(prompt_renderer(settings)).fixed()
        seconds = {pid: len(pcm) / 16000 for (pid, _), pcm in fixed.items()}
        seconds.setdefault("greeting", 3.0)
        ports = {kind: free_udp_port() for kind in ("answer", "busy", "no_answer")}
        peers = citizen_peers(work, ports, seconds)
        https = [free_port() for _ in NODES]
        for index, node in enumerate(NODES):
            cfg = node_config(work, url, node, index, ports, channels // len(NODES),
                              processes, https[index])
            log = (work / f"{node}.log").open("ab")
            runs.append(subprocess.Popen(
                [sys.executable, "-m", "huifang", "--config", str(cfg), "run", "--node", node],
                stdout=log, stderr=subprocess.STDOUT))
        samples: list[int] = []
        cpu: dict[str, float] = {}
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            time.sleep(1.0)  # a benchmark's sampling period, not a test's wait
            with engine.connect() as conn:
                untried = conn.execute(select(func.count()).where(
                    Callback.attempts == 0)).scalar_one()
                live = conn.execute(select(func.count()).where(
                    CallAttempt.status == "in_progress")).scalar_one()
            if untried and (live or samples):
                samples.append(int(live))
            if not untried and not live and samples:
                break
            if any(r.poll() is not None for r in runs):
                raise RuntimeError(f"a node stopped: see {work}/*.log")
        for node, run in zip(NODES, runs, strict=True):
            workers = children_of(run.pid)
            cpu[node] = round(cpu_of(run.pid), 1)
            cpu[f"{node} recognisers"] = round(sum(cpu_of(p) for p in workers), 1)
        bounds, cumulative = histogram([f"http://127.0.0.1:{p}/metrics" for p in https])
        figures = store_figures(engine, channels, callbacks)
        result = {
            "callbacks": callbacks, "channels": channels, "nodes": len(NODES),
            "recogniser_processes_per_node": processes, "mix": kinds, **figures,
            "channel_utilisation_while_due": round(float(np.mean(samples)) / channels, 3)
            if samples else None,
            "turn_latency_ms": {"n": int(cumulative[-1]) if cumulative else 0,
                                "p50": percentile(bounds, cumulative, 0.5),
                                "p95": percentile(bounds, cumulative, 0.95)},
            "cpu_s": cpu, "cpu_s_total": round(sum(cpu.values()), 1),
        }
        OUT.mkdir(exist_ok=True)
        (OUT / "two_nodes.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
        print(json.dumps(result, ensure_ascii=False, indent=2))
        engine.dispose()
    finally:
        for run in runs:
            if run.poll() is None:
                run.send_signal(signal.SIGTERM)
        for run in runs:
            try:
                run.wait(120)
            except subprocess.TimeoutExpired:
                run.kill()
        for peer in peers:
            peer.kill()
            peer.wait(10)
        server.stop()
        server.cleanup()
        logs = OUT / "two_node_logs"  # each node's log, kept: a failure is read there
        logs.mkdir(parents=True, exist_ok=True)
        for node in NODES:
            if (work / f"{node}.log").exists():
                shutil.copy(work / f"{node}.log", logs / f"{node}.log")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
