"""One caller process for bench.calls_bench: N concurrent calls of S seconds, playing
audio, with our engine (recording every call) or stock pyVoIP's VoIPPhone. Prints JSON:
CPU % per call, RSS per call, set-up times, packets received."""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf(
        "SC_PAGESIZE") / 2**20


def audio(seconds: float) -> bytes:
    t = np.arange(int(seconds * 8000)) / 8000
    return bytes((np.sin(2 * np.pi * 440 * t) * 6000).astype("<i2").tobytes())


def summary(calls: int, wall: float, cpu: float, base_rss: float, peak_rss: float,
            setups: list[float], received: list[int], seconds: float) -> dict[str, Any]:
    s = np.asarray(setups or [0.0]) * 1000
    return {"answered": len(setups), "wall_s": round(wall, 1),
            "cpu_pct_of_one_core": round(100 * cpu / wall, 1),
            "cpu_pct_per_call": round(100 * cpu / wall / calls, 3),
            "rss_mb_per_call": round((peak_rss - base_rss) / calls, 2),
            "setup_ms_p50": round(float(np.percentile(s, 50)), 1),
            "setup_ms_p95": round(float(np.percentile(s, 95)), 1),
            "received_share": round(sum(received) / (len(received) * seconds * 50), 3)
            if received else None}


def huifang(calls: int, seconds: float, port: int, low: int, high: int, work: Path
            ) -> dict[str, Any]:
    from twisted.internet import reactor as _reactor
    from twisted.internet.defer import gatherResults
    from twisted.internet.task import LoopingCall

    from dialer.media import MediaSession, StereoRecorder
    from dialer.mediacall import MediaCall
    from huifang.config import Settings
    from huifang.service import build_dialer

    reactor: Any = _reactor
    pcm = audio(seconds)
    # HUIFANG_BENCH_RTCP=off: RTCP and symmetric RTP latching off (both on by default), so
    # that their cost can be measured against the same engine in the same sitting
    extras = os.environ.get("HUIFANG_BENCH_RTCP", "on") != "off"
    settings = Settings.model_validate({"trunk": {
        "bind": "127.0.0.1", "sip_port": 0, "rtp_ports": f"{low}-{high}",
        "max_channels": calls, "calls_per_second": 50, "ring_timeout_s": 30,
        "rtcp": extras, "rtp_latching": extras}})
    dialer = build_dialer(settings, reactor)
    dialer.listen()
    pool = dialer.channels
    setups: list[float] = []
    received: list[int] = []
    peak = [0.0]
    sampler = LoopingCall(lambda: peak.__setitem__(0, max(peak[0], rss_mb())))

    def one(channel: Any) -> Any:
        media = MediaSession(reactor, recorder=StereoRecorder(work / f"rec-{channel.number}.wav"))

        def answered() -> None:
            media.play(pcm).addCallback(lambda _: call.hangup())

        call = MediaCall(dialer, media, f"sip:1001@127.0.0.1:{port}", on_answered=answered)

        def done(result: Any) -> None:
            media.stop()
            if result.answered_s is not None:
                setups.append(result.answered_s)
                received.append(media.stats.received)
            pool.release(channel)

        return call.start().addCallback(done)

    base = rss_mb()
    sampler.start(1.0)
    start_cpu, start = cpu_s(), time.monotonic()
    waits = [pool.acquire().addCallback(one) for _ in range(calls)]
    gatherResults(waits).addBoth(lambda _: reactor.stop())
    reactor.run()
    return {**summary(calls, time.monotonic() - start, cpu_s() - start_cpu, base, peak[0],
                      setups, received, seconds), "rtcp_and_latching": extras}


def pyvoip(calls: int, seconds: float, port: int, low: int, high: int, work: Path
           ) -> dict[str, Any]:
    """Stock VoIPPhone: one phone, a thread per call writing its audio, as pyVoIP intends."""
    from pyVoIP.VoIP import CallState, VoIPPhone

    from tests.peers import free_udp_port

    phone = VoIPPhone("127.0.0.1", port, "bench", "bench", myIP="127.0.0.1",
                      sipPort=free_udp_port(), rtpPortLow=low, rtpPortHigh=high)
    phone.start()
    pcm8 = ((np.frombuffer(audio(seconds), "<i2").astype(np.int32) >> 8) + 128).astype(
        np.uint8).tobytes()
    setups: list[float] = []
    received: list[int] = []
    peak = [0.0]
    running = [True]

    def sample() -> None:
        while running[0]:
            peak[0] = max(peak[0], rss_mb())
            time.sleep(1.0)

    def one(n: int) -> None:
        t0 = time.monotonic()
        call = phone.call(f"100{n}")
        deadline = t0 + 30
        while call.state != CallState.ANSWERED and time.monotonic() < deadline:
            time.sleep(0.005)
        if call.state != CallState.ANSWERED:
            return
        setups.append(time.monotonic() - t0)
        call.write_audio(pcm8)
        heard = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            heard += len(call.read_audio(160, blocking=False))
            time.sleep(0.02)
        received.append(heard // 160)
        call.hangup()

    base = rss_mb()
    threading.Thread(target=sample, daemon=True).start()
    start_cpu, start = cpu_s(), time.monotonic()
    threads = [threading.Thread(target=one, args=(n,)) for n in range(calls)]
    for t in threads:
        t.start()
        time.sleep(0.02)
    for t in threads:
        t.join(seconds + 120)
    wall = time.monotonic() - start
    running[0] = False
    result = summary(calls, wall, cpu_s() - start_cpu, base, peak[0], setups, received,
                     seconds)
    phone.stop()
    return result


if __name__ == "__main__":
    engine, n, s, p = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    low, high = (int(x) for x in sys.argv[5].split("-"))
    run = huifang if engine == "huifang" else pyvoip
    print(json.dumps(run(n, s, p, low, high, Path(sys.argv[6]))))
