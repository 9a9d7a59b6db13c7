"""`make bench` (issue 6): concurrent calls, our engine against stock pyVoIP.

A sipp callee answers every call and points its RTP at a capture process, which notes
when each packet arrives. Each caller runs in its own process so that its CPU time is
its own. Reported per run: CPU (% of one core), mean and worst-1 % interval between a
stream's packets, gaps over 40 ms, and drift (how far a stream's packet count falls
behind wall time, per 10 s). HUIFANG_BENCH_CALLS=50,100,200 and
HUIFANG_BENCH_PYVOIP=30,60 set the loads; HUIFANG_BENCH_CALL_S the call length (20 s).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tests.peers import free_udp_port

HERE = Path(__file__).parent
OUT = HERE / "out"


def stats(arrivals: dict[str, list[float]], seconds: float) -> dict[str, Any]:
    intervals, gaps, drifts = [], 0, []
    for times in arrivals.values():
        t = np.asarray(times[5:])  # skip the start-up
        if len(t) < 50:
            continue
        d = np.diff(t) * 1000
        intervals.append(d)
        gaps += int((d > 40).sum())
        span = t[-1] - t[0]
        drifts.append((span / 0.02 - (len(t) - 1)) * 20 / (span / 10))  # ms per 10 s
    if not intervals:
        return {"streams": 0}
    d = np.concatenate(intervals)
    return {"streams": len(intervals), "mean_interval_ms": round(float(d.mean()), 2),
            "worst_1pct_interval_ms": round(float(np.percentile(d, 99)), 2),
            "gaps_over_40ms": gaps, "drift_ms_per_10s_median": round(float(np.median(drifts)), 1),
            "drift_ms_per_10s_worst": round(float(np.max(drifts)), 1)}


def run(engine: str, calls: int, seconds: float) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="callbench-"))
    capture, sip = free_udp_port(), free_udp_port()
    scenario = (HERE / "sipp/uas_capture.xml.in").read_text().replace("@CAPTURE@", str(capture))
    (work / "uas.xml").write_text(scenario)
    catcher = subprocess.Popen([sys.executable, str(HERE / "rtp_capture.py"), str(capture),
                                str(seconds + 25), str(work / "arrivals.json")])
    uas = subprocess.Popen(["sipp", "-sf", str(work / "uas.xml"), "-i", "127.0.0.1", "-p",
                            str(sip), "-m", str(calls), "-nostdin", "-cp",
                            str(free_udp_port()), "-timeout", f"{int(seconds) + 60}s"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target, proxy = sip, None
    if engine == "pyvoip":  # it must REGISTER first: kamailio registers it and relays
        target = free_udp_port()
        (work / "k.cfg").write_text((HERE / "kamailio.cfg.in").read_text()
                                    .replace("@PORT@", str(target)).replace("@TRUNK@", str(sip)))
        proxy = subprocess.Popen(["kamailio", "-f", str(work / "k.cfg"), "-DD", "-E", "-m", "64",
                                  "-M", "8", "-Y", str(work), "-P", str(work / "k.pid")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from tests.test_kamailio import ready

        ready(target)
    caller = subprocess.run([sys.executable, "-m", "bench.calls_one", engine, str(calls),
                             str(seconds), str(target)], capture_output=True, text=True,
                            timeout=seconds + 300, check=False)
    uas.kill()
    if proxy is not None:
        proxy.terminate()
        proxy.wait(20)
    catcher.wait(seconds + 60)
    result: dict[str, Any] = {"engine": engine, "calls": calls, "call_s": seconds}
    try:
        result.update(json.loads(caller.stdout.strip().splitlines()[-1]))
    except (json.JSONDecodeError, IndexError):
        result["error"] = caller.stderr[-500:]
    result.update(stats(json.loads((work / "arrivals.json").read_text()), seconds))
    shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> None:
    if shutil.which("sipp") is None:
        print("sipp is not installed: skipping the call benchmark")
        return
    seconds = float(os.environ.get("HUIFANG_BENCH_CALL_S", "20"))
    ours = [int(n) for n in os.environ.get("HUIFANG_BENCH_CALLS", "50,100,200").split(",")]
    theirs = [int(n) for n in os.environ.get("HUIFANG_BENCH_PYVOIP", "30,60").split(",") if n]
    results = [run("huifang", n, seconds) for n in ours]
    results += [run("pyvoip", n, seconds) for n in theirs]
    OUT.mkdir(exist_ok=True)
    (OUT / "calls.json").write_text(json.dumps(results, indent=2))
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
