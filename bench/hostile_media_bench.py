"""`make bench` (issue 16): a hostile trunk. N calls at once (HUIFANG_BENCH_HOSTILE_CALLS,
default 100) whose media changes under them as carriers' does: a 彩铃-like tone under one
SSRC, then the citizen's speech (a real Mandarin clip) under a new SSRC whose timestamps
jump backwards or forwards (tens of seconds), and halfway through the speech the same
SSRC's timestamps jump again the other way (a re-INVITE); 2 % of packets lost and 2 %
swapped with the next. Every call's RTP comes over real loopback UDP sockets into a
`MediaSession` on the reactor; what its jitter buffer hands on to the recogniser is
compared with the speech sent.

Per run: the share of calls whose speech reached the recogniser (at least 90 % of the
speech's 20 ms frames found in what was handed on, in order, correlation > 0.9), the
speech lost per call (ms of frames not found: the packets the network lost, and any the
engine dropped), the per-call counts (new SSRCs, re-origins, frames concealed, late
frames dropped) and CPU per call. Writes bench/out/hostile_media.json.
"""

from __future__ import annotations

import json
import os
import random
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from twisted.internet.protocol import DatagramProtocol

from dialer.media import MediaSession
from prompts.audio import ulaw_decode, ulaw_encode
from tests.rtp_pcap import Rtp, stream
from tests.test_media_peers import best_match, rms, share_heard, speech, tone

OUT = Path(__file__).parent / "out"
FRAME_MS = 20


def hostile(rng: random.Random, clip: npt.NDArray[np.int16]) -> list[Rtp]:
    """One call's packets in the order sent: tone, then speech under a new SSRC with a
    timestamp jump, a second jump mid-speech, loss and reordering."""
    ring = stream(tone(1.0), ssrc=rng.getrandbits(32), sequence=rng.getrandbits(16),
                  timestamp=rng.getrandbits(32), start=0.0)
    direction = rng.choice((-1, 1))
    base = ring[-1].timestamp + direction * rng.randint(2, 60) * 8000
    half = len(clip) // 320 * 160
    first = stream(clip[:half], ssrc=rng.getrandbits(32), sequence=rng.getrandbits(16),
                   timestamp=base, start=1.0)
    last = first[-1]
    second = stream(clip[half:], ssrc=last.ssrc, sequence=last.sequence + 1,
                    timestamp=last.timestamp - direction * rng.randint(2, 60) * 8000,
                    start=1.0 + len(first) * 0.02)
    packets = [*ring, *[Rtp(p.at, p.ssrc, p.sequence, p.timestamp, p.payload)
                        for p in [*first, *second]]]
    for i in range(len(packets) - 1):
        if rng.random() < 0.02:
            packets[i], packets[i + 1] = packets[i + 1], packets[i]
    return [p for p in packets if rng.random() >= 0.02]


class Sink(DatagramProtocol):
    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        pass


def run(calls: int) -> dict[str, Any]:
    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor
    rng = random.Random(16)
    clip = speech()
    sent_speech = np.asarray(ulaw_decode(ulaw_encode(clip)), dtype=float)
    voiced = sum(1 for s in range(0, len(sent_speech) - 159, 160)
                 if rms(sent_speech[s:s + 160]) >= 300)
    plans = [hostile(rng, clip) for _ in range(calls)]
    heard: list[list[bytes]] = [[] for _ in range(calls)]
    sessions: list[MediaSession] = []
    senders: list[Any] = []
    ports: list[Any] = []
    for n in range(calls):
        sender = reactor.listenUDP(0, Sink(), interface="127.0.0.1")
        media = MediaSession(reactor, on_audio=heard[n].append)
        port = reactor.listenUDP(0, media, interface="127.0.0.1")
        media.configure(("127.0.0.1", sender.getHost().port), 0, 101)
        media.call_id = f"hostile-{n}"
        senders.append((sender, ("127.0.0.1", port.getHost().port)))
        sessions.append(media)
        ports.append(port)
    wire = [[p.serialize() for p in plan] for plan in plans]
    length = max(len(p) for p in wire)
    started = time.monotonic()
    cpu = resource.getrusage(resource.RUSAGE_SELF)

    def tick(i: int) -> None:
        """Every packet due by now (a late tick catches up, as a peer's clock does)."""
        owed = min(length + 25, int((time.monotonic() - started) / 0.02) + 1)
        for k in range(i, max(owed, i + 1)):
            for (sender, to), packets in zip(senders, wire, strict=True):
                if k < len(packets):
                    sender.write(packets[k], to)
        i = max(owed, i + 1)
        if i < length + 25:
            due = started + i * 0.02
            reactor.callLater(max(0.0, due - time.monotonic()), tick, i)
        else:
            reactor.callLater(0.2, reactor.stop)

    for media in sessions:
        media.start()
    reactor.callWhenRunning(tick, 0)
    reactor.run()
    after = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic() - started
    used = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    for media, port in zip(sessions, ports, strict=True):
        media.stop()
        port.stopListening()
    results = []
    for media, frames in zip(sessions, heard, strict=True):
        got = np.frombuffer(b"".join(frames), "<i2").astype(float)
        _, lag = best_match(got, sent_speech)
        share = share_heard(got, sent_speech, lag, window=160)
        s = media.stats
        results.append({"share": share, "lost_ms": round((1 - share) * voiced * FRAME_MS),
                        "new_ssrcs": s.new_ssrcs, "reorigins": s.reorigins,
                        "concealed": s.concealed, "late": s.late,
                        "delivered": s.delivered, "received": s.received})
    reached = [r for r in results if r["share"] >= 0.9]

    def mean(key: str) -> float:
        return round(float(np.mean([r[key] for r in results])), 2)

    return {"calls": calls, "reached_recogniser_pct": round(100 * len(reached) / calls, 1),
            "speech_lost_ms_per_call_mean": mean("lost_ms"),
            "speech_lost_ms_per_call_worst": max(r["lost_ms"] for r in results),
            "new_ssrcs_per_call": mean("new_ssrcs"), "reorigins_per_call": mean("reorigins"),
            "concealed_per_call": mean("concealed"), "late_per_call": mean("late"),
            "cpu_pct_per_call": round(100 * used / wall / calls, 3),
            "wall_s": round(wall, 1)}


def main() -> None:
    calls = int(os.environ.get("HUIFANG_BENCH_HOSTILE_CALLS", "100"))
    result = run(calls)
    OUT.mkdir(exist_ok=True)
    (OUT / "hostile_media.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print("| calls | citizen audio reached the recogniser | speech lost per call (mean / worst)"
          " | new SSRCs / re-origins / concealed / late per call | CPU % per call |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| {result['calls']} | {result['reached_recogniser_pct']} % "
          f"| {result['speech_lost_ms_per_call_mean']} / "
          f"{result['speech_lost_ms_per_call_worst']} ms "
          f"| {result['new_ssrcs_per_call']} / {result['reorigins_per_call']} / "
          f"{result['concealed_per_call']} / {result['late_per_call']} "
          f"| {result['cpu_pct_per_call']} |")


if __name__ == "__main__":
    main()
