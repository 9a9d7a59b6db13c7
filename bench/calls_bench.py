"""`make bench` (issue 6): concurrent answered calls, our engine against stock pyVoIP.

A sipp callee answers every call and sends recorded audio for its whole length; the
caller plays audio too (and records, for ours). tshark captures the caller's RTP on the
loopback interface (headers only); each caller runs in its own process so that its CPU
time and memory are its own. Per run: send interval p50 and p99, gaps over 40 ms, drift
over the call, packets lost (sequence gaps in the capture, and what the caller received
against what 50 packets a second would be), CPU % per call, RSS per call, call set-up
time. HUIFANG_BENCH_CALLS=50,100,200,300, HUIFANG_BENCH_PYVOIP=30,60 and
HUIFANG_BENCH_CALL_S=60 set the sizes and length; HUIFANG_BENCH_RTCP=off runs ours with
RTCP and RTP latching off (issue 16's cost, in the same sitting). Writes bench/out/calls.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tests.peers import free_udp_port
from tests.test_kamailio import modules, ready

HERE = Path(__file__).parent
OUT = HERE / "out"
PORTS = {"huifang": (30000, 31998), "pyvoip": (32000, 33998)}


def callee_audio(path: Path) -> None:
    """Ten seconds of a real Mandarin clip as raw μ-law, for sipp to loop."""
    from huifang.speech import read_8k
    from prompts.audio import ulaw_encode
    from tests.speech import MODEL

    pcm = np.frombuffer(read_8k(MODEL.parents[2] / "speech/real/tfasr_vad_test.wav"), "<i2")
    path.write_bytes(ulaw_encode(pcm))


def analyse(pcap: Path, seconds: float) -> dict[str, Any]:
    fields = subprocess.run(
        ["tshark", "-r", str(pcap), "-o", "rtp.heuristic_rtp:TRUE", "-T", "fields",
         "-e", "frame.time_epoch", "-e", "udp.srcport", "-e", "rtp.seq"],
        capture_output=True, text=True, check=False).stdout
    streams: dict[str, list[tuple[float, int]]] = {}
    for line in fields.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2]:
            streams.setdefault(parts[1], []).append((float(parts[0]), int(parts[2])))
    intervals, gaps, drifts, lost, sent = [], 0, [], 0, 0
    for packets in streams.values():
        if len(packets) < 100:
            continue
        t = np.array([p[0] for p in packets[5:]])
        seq = np.array([p[1] for p in packets])
        d = np.diff(t) * 1000
        intervals.append(d)
        gaps += int((d > 40).sum())
        span = t[-1] - t[0]
        drifts.append(span * 1000 - (len(t) - 1) * 20)  # ms behind wall time over the call
        steps = np.diff(seq) % 65536
        lost += int((steps[steps > 1] - 1).sum())
        sent += len(seq)
    if not intervals:
        return {"streams": 0}
    d = np.concatenate(intervals)
    return {"streams": len(intervals), "packets": sent,
            "send_interval_p50_ms": round(float(np.percentile(d, 50)), 2),
            "send_interval_p99_ms": round(float(np.percentile(d, 99)), 2),
            "gaps_over_40ms": gaps, "packets_lost": lost,
            "drift_ms_over_call_median": round(float(np.median(drifts)), 1),
            "drift_ms_over_call_worst": round(float(np.max(np.abs(drifts))), 1)}


def run(engine: str, calls: int, seconds: float, audio: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="callbench-"))
    sip = free_udp_port()
    (work / "uas.xml").write_text((HERE / "sipp/uas_audio.xml.in").read_text()
                                  .replace("@AUDIO@", str(audio)))
    uas = subprocess.Popen(["sipp", "-sf", str(work / "uas.xml"), "-i", "127.0.0.1",
                            "-p", str(sip), "-mi", "127.0.0.1", "-m", str(calls), "-nostdin",
                            "-cp", str(free_udp_port()), "-mp", str(free_udp_port(span=4)),
                            "-timeout", f"{int(seconds) + 120}s"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    low, high = PORTS[engine]
    capture = subprocess.Popen(["tshark", "-i", "lo", "-s", "64", "-q", "-f",
                                f"udp and src portrange {low}-{high}", "-w",
                                str(work / "rtp.pcap")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target, proxy = sip, None
    if engine == "pyvoip":  # it must REGISTER first: kamailio registers it and relays
        target = free_udp_port()
        (work / "k.cfg").write_text((HERE / "kamailio.cfg.in").read_text()
                                    .replace("@PORT@", str(target)).replace("@TRUNK@", str(sip))
                                    .replace("@MPATH@", modules()))
        proxy = subprocess.Popen(["kamailio", "-f", str(work / "k.cfg"), "-DD", "-E", "-m", "64",
                                  "-M", "8", "-Y", str(work), "-P", str(work / "k.pid")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ready(target)
    time.sleep(2.0)  # tshark takes about a second to start capturing
    caller = subprocess.run([sys.executable, "-m", "bench.calls_one", engine, str(calls),
                             str(seconds), str(target), f"{low}-{high}", str(work)],
                            capture_output=True, text=True, timeout=seconds + 600,
                            check=False)
    capture.terminate()
    capture.wait(30)
    uas.kill()
    if proxy is not None:
        proxy.terminate()
        proxy.wait(20)
    result: dict[str, Any] = {"engine": engine, "calls": calls, "call_s": seconds}
    try:
        result.update(json.loads(caller.stdout.strip().splitlines()[-1]))
    except (json.JSONDecodeError, IndexError):
        result["error"] = caller.stderr[-800:]
    result.update(analyse(work / "rtp.pcap", seconds))
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    missing = [tool for tool in ("sipp", "tshark", "kamailio") if shutil.which(tool) is None]
    if missing:
        print(f"{', '.join(missing)} not installed: skipping the call benchmark")
        return
    seconds = float(os.environ.get("HUIFANG_BENCH_CALL_S", "60"))
    ours = [int(n) for n in os.environ.get("HUIFANG_BENCH_CALLS", "50,100,200,300").split(",")
            if n]
    theirs = [int(n) for n in os.environ.get("HUIFANG_BENCH_PYVOIP", "30,60").split(",") if n]
    OUT.mkdir(exist_ok=True)
    audio = OUT / "callee.ulaw"
    callee_audio(audio)
    results = [run("huifang", n, seconds, audio) for n in ours]
    results += [run("pyvoip", n, seconds, audio) for n in theirs]
    (OUT / "calls.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
