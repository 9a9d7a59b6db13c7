"""One caller process for bench.calls_bench: place N calls of S seconds each, playing
audio, with our engine or stock pyVoIP's VoIPPhone; print CPU use as JSON."""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from typing import Any

import numpy as np


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def audio(seconds: float) -> bytes:
    t = np.arange(int(seconds * 8000)) / 8000
    return bytes((np.sin(2 * np.pi * 440 * t) * 6000).astype("<i2").tobytes())


def huifang(calls: int, seconds: float, port: int) -> dict[str, Any]:
    from twisted.internet import reactor as _reactor
    from twisted.internet.defer import gatherResults

    from dialer.channels import ChannelPool
    from dialer.media import MediaSession
    from dialer.sipudp import SipEndpoint
    from dialer.uac import CallSettings

    reactor: Any = _reactor
    pcm = audio(seconds)
    endpoint = SipEndpoint(reactor)
    sip = reactor.listenUDP(0, endpoint, interface="127.0.0.1")
    pool = ChannelPool(reactor, max_channels=calls, calls_per_second=50)
    outcomes: list[str] = []
    lateness: list[float] = []

    def one(channel: Any) -> Any:
        media = MediaSession(reactor)
        rtp = reactor.listenUDP(0, media, interface="127.0.0.1")
        settings = CallSettings(target=f"sip:1001@127.0.0.1:{port}",
                                local=("127.0.0.1", sip.getHost().port),
                                media_port=rtp.getHost().port, ring_timeout=30)

        def answered(description: Any) -> None:
            media.configure((description.address, description.port), description.codec, None)
            media.start()
            media.play(pcm).addCallback(lambda _: runner.hangup())

        runner = endpoint.place_call(settings, on_answered=answered)

        def done(result: Any) -> None:
            media.stop()
            lateness.append(media.stats.worst_lateness_ms)
            outcomes.append(result.outcome)
            rtp.stopListening()
            pool.release(channel)

        return runner.done.addCallback(done)

    start_cpu, start = cpu_s(), time.monotonic()
    waits = [pool.acquire().addCallback(one) for _ in range(calls)]
    gatherResults(waits).addBoth(lambda _: reactor.stop())
    reactor.run()
    wall = time.monotonic() - start
    return {"cpu_pct_of_one_core": round(100 * (cpu_s() - start_cpu) / wall, 1),
            "answered": outcomes.count("answered"), "wall_s": round(wall, 1),
            "worst_tick_lateness_ms": round(max(lateness or [0.0]), 1)}


def pyvoip(calls: int, seconds: float, port: int) -> dict[str, Any]:
    """Stock VoIPPhone: one phone, N calls each fed by its own thread, as pyVoIP intends.
    It must REGISTER first, so the sipp callee sits behind a tiny registrar answer."""
    from pyVoIP.VoIP import CallState, VoIPPhone

    from tests.peers import free_udp_port

    phone = VoIPPhone("127.0.0.1", port, "bench", "bench", myIP="127.0.0.1",
                      sipPort=free_udp_port(), rtpPortLow=40000, rtpPortHigh=60000)
    phone.start()
    pcm8 = ((np.frombuffer(audio(seconds), "<i2").astype(np.int32) >> 8) + 128).astype(
        np.uint8).tobytes()
    answered = []

    def one(n: int) -> None:
        call = phone.call(f"100{n}")
        deadline = time.monotonic() + 30
        while call.state != CallState.ANSWERED and time.monotonic() < deadline:
            time.sleep(0.01)
        if call.state != CallState.ANSWERED:
            return
        answered.append(n)
        call.write_audio(pcm8)
        time.sleep(seconds)
        call.hangup()

    start_cpu, start = cpu_s(), time.monotonic()
    threads = [threading.Thread(target=one, args=(n,)) for n in range(calls)]
    for t in threads:
        t.start()
        time.sleep(0.02)
    for t in threads:
        t.join(seconds + 120)
    wall = time.monotonic() - start
    phone.stop()
    return {"cpu_pct_of_one_core": round(100 * (cpu_s() - start_cpu) / wall, 1),
            "answered": len(answered), "wall_s": round(wall, 1)}


if __name__ == "__main__":
    engine, n, s, p = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    result = (huifang if engine == "huifang" else pyvoip)(n, s, p)
    print(json.dumps(result))
