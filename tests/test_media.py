"""The media clock with a fake clock and transport: pacing against absolute deadlines,
catch-up, barge-in, the jitter buffer, symmetric RTP, digits, and a recording that
survives a crash."""

from __future__ import annotations

import itertools
import wave
from pathlib import Path

import numpy as np
from twisted.internet.task import Clock

from dialer.media import JitterBuffer, MediaSession, StereoRecorder
from dialer.rtp import RtpPacket
from ivr.dtmf import TelephoneEvent
from prompts.audio import ulaw_encode
from tests.test_uac import UdpTransport

PEER = ("127.0.0.1", 6000)


def session(tmp_path: Path | None = None) -> tuple[MediaSession, UdpTransport, Clock,
                                                   list[str]]:
    clock = Clock()
    digits: list[str] = []
    recorder = StereoRecorder(tmp_path / "call.wav") if tmp_path else None
    media = MediaSession(clock, PEER, 0, 101, recorder, on_digit=digits.append)
    transport = UdpTransport()
    media.makeConnection(transport)  # type: ignore[arg-type]
    media.start()
    return media, transport, clock, digits


def tone(seconds: float, level: int = 8000) -> bytes:
    t = np.arange(int(seconds * 8000)) / 8000
    return bytes((np.sin(2 * np.pi * 440 * t) * level).astype("<i2").tobytes())


def test_paced_on_absolute_deadlines_without_drift() -> None:
    media, transport, clock, _ = session()
    done: list[bool] = []
    media.play(tone(1.0)).addCallback(done.append)
    for _ in range(3000):  # a minute in 20 ms steps, each a little late
        clock.advance(0.0201)
    packets = [RtpPacket.parse(d) for d, _ in transport.written]
    assert len(packets) == int(3000 * 0.0201 / 0.02)  # frames owed, not ticks taken
    assert done == [True]
    seqs = [p.sequence for p in packets]
    assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs))
    stamps = [p.timestamp for p in packets]
    assert all((b - a) % 2**32 == 160 for a, b in itertools.pairwise(stamps))
    assert packets[0].marker and not any(p.marker for p in packets[1:])
    assert {a for _, a in transport.written} == {PEER}


def test_a_late_tick_catches_up() -> None:
    media, transport, clock, _ = session()
    clock.advance(0.02)
    clock.advance(0.2)  # the reactor was busy for 200 ms
    assert len(transport.written) == 11
    assert media.stats.worst_lateness_ms >= 179


def test_barge_in_stops_now() -> None:
    media, transport, clock, _ = session()
    first, second = [], []
    media.play(tone(2.0)).addCallback(first.append)
    media.play(tone(1.0)).addCallback(second.append)
    clock.advance(0.5)
    media.stop_playback()
    assert first == [False] and second == [False]
    clock.advance(0.1)
    silence = ulaw_encode(np.zeros(160, dtype=np.int16))
    assert RtpPacket.parse(transport.written[-1][0]).payload == silence


def test_jitter_buffer_orders_and_skips() -> None:
    jb = JitterBuffer(depth=3)
    for slot in (10, 12, 11):
        jb.push(slot, bytes([slot]))
    assert [jb.pop(), jb.pop(), jb.pop()] == [b"\n", b"\x0b", b"\x0c"]
    assert jb.pop() is None
    jb.push(9, b"old")  # behind the play-out point
    assert jb.late == 1
    for slot in (14, 15, 16):  # 13 lost: waited for, then skipped
        jb.push(slot, bytes([slot]))
    assert jb.pop() == b"\x0e"


def rtp(seq: int, pcm: bytes, pt: int = 0) -> bytes:
    payload = ulaw_encode(np.frombuffer(pcm, "<i2")) if pt == 0 else pcm
    return RtpPacket(pt, seq, seq * 160, 1234, payload).serialize()


def test_receive_record_digits_and_foreign_sources(tmp_path: Path) -> None:
    media, _, clock, digits = session(tmp_path)
    said = tone(0.2, level=12000)
    media.play(tone(0.2, level=4000))
    for i in range(10):
        media.datagramReceived(rtp(100 + i, said[i * 320:(i + 1) * 320]), PEER)
        clock.advance(0.02)
    media.datagramReceived(rtp(5, said[:320]), ("127.0.0.1", 6666))  # not the peer
    media.datagramReceived(b"\x00garbage", PEER)
    event = TelephoneEvent(5, True, 10, 800).serialize()
    for _ in range(3):
        media.datagramReceived(RtpPacket(101, 200, 99999, 1234, event).serialize(), PEER)
    assert digits == ["5"]
    assert media.stats.dropped_foreign == 1 and media.stats.damaged == 1
    clock.advance(0.2)
    media.stop()
    with wave.open(str(tmp_path / "call.wav")) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    left, right = x[:, 0].astype(float), x[:, 1].astype(float)
    assert np.abs(left).max() > 8000 and np.abs(right).max() < 4500  # citizen left, us right
    assert np.abs(right).max() > 3000


def test_recording_survives_a_crash(tmp_path: Path) -> None:
    media, _, clock, _ = session(tmp_path)
    media.play(tone(3.0))
    for _ in range(120):
        clock.advance(0.02)
    # no stop(): the process died; what was written up to the last second is readable
    with wave.open(str(tmp_path / "call.wav")) as w:
        assert w.getnframes() >= 8000 * 2


def test_early_media_is_kept_before_the_answer() -> None:
    clock = Clock()
    media = MediaSession(clock)
    media.makeConnection(UdpTransport())  # type: ignore[arg-type]
    media.datagramReceived(rtp(1, tone(0.02)), PEER)  # before configure: not the peer yet
    assert media.stats.dropped_foreign == 1
    media.configure(PEER, 0, None)
    announcement = tone(0.5, level=9000)
    for i in range(25):
        media.datagramReceived(rtp(10 + i, announcement[i * 320:(i + 1) * 320]), PEER)
    assert len(media.early) == len(announcement)
    heard = np.frombuffer(bytes(media.early), "<i2").astype(float)
    assert np.corrcoef(heard, np.frombuffer(announcement, "<i2"))[0, 1] > 0.99


def test_jitter_buffer_keeps_a_frame_in_hand() -> None:
    """A packet a little late must not leave a hole: play-out waits for two frames, and
    again after running dry."""
    from dialer.media import JitterBuffer

    buffer = JitterBuffer()
    buffer.push(10, b"a")
    assert buffer.pop() is None  # one frame is not enough to start
    buffer.push(11, b"b")
    assert buffer.pop() == b"a"
    buffer.push(12, b"c")  # arrives just in time thanks to the frame in hand
    assert (buffer.pop(), buffer.pop()) == (b"b", b"c")
    assert buffer.pop() is None and buffer.underruns == 1
    buffer.push(13, b"d")
    assert buffer.pop() is None  # re-priming
    buffer.push(14, b"e")
    assert (buffer.pop(), buffer.pop()) == (b"d", b"e")


def one_reactor_pass(clock: Clock) -> None:
    """What the reactor's `runUntilCurrent` does: run the calls due now, not the ones
    they schedule (those wait for the next pass, after the sockets were read)."""
    now = clock.seconds()
    for call in sorted(clock.getDelayedCalls(), key=lambda c: c.getTime()):
        if call.getTime() <= now:
            clock.calls.remove(call)
            call.called = True
            call.func(*call.args, **call.kw)


def test_a_stalled_reactor_plays_what_queued_meanwhile_not_silence() -> None:
    """A GC pause or a starved CPU stops the reactor while the citizen speaks; their
    packets queue in the kernel. The frames owed are played one per reactor pass, so
    what was read in between plays: no silence lands inside the answer (a 600 ms hole
    ends it at the endpointer)."""
    clock = Clock()
    heard: list[bytes] = []
    media = MediaSession(clock, PEER, 0, None, on_audio=heard.append)
    media.makeConnection(UdpTransport())  # type: ignore[arg-type]
    media.start()
    said = tone(1.2, level=12000)  # 60 frames
    frames = [said[i * 320:(i + 1) * 320] for i in range(60)]
    for i in range(10):
        media.datagramReceived(rtp(100 + i, frames[i]), PEER)
        clock.advance(0.02)
    clock.rightNow += 0.6  # stalled: 30 packets wait in the kernel, unread
    one_reactor_pass(clock)  # the late tick
    for i in range(10, 40):  # the next pass reads the socket
        media.datagramReceived(rtp(100 + i, frames[i]), PEER)
    for _ in range(40):
        one_reactor_pass(clock)
    for i in range(40, 60):
        media.datagramReceived(rtp(100 + i, frames[i]), PEER)
        clock.advance(0.02)
    clock.advance(0.2)
    voiced = [i for i, f in enumerate(heard)
              if np.abs(np.frombuffer(f, "<i2")).max() > 1000]
    assert len(voiced) == 60 and voiced[-1] - voiced[0] == 59  # all of it, no hole
    assert media.stats.late == 0 and media.stats.worst_lateness_ms >= 580
