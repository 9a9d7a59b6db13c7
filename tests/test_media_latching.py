"""The receive path of `MediaSession` with a fake clock and transport: symmetric RTP
latching (on and off, before and after the answer), media that changes SSRC under the
call, the per-call counts, and the media clock surviving one call's fault."""

from __future__ import annotations

from typing import Any

import numpy as np
from twisted.internet.task import Clock

from dialer.media import MediaClock, MediaSession
from dialer.rtp import RtpPacket
from prompts.audio import ulaw_encode
from tests.test_uac import UdpTransport

SDP = ("127.0.0.1", 6000)
NAT = ("127.0.0.1", 6010)
STRANGER = ("127.0.0.1", 6666)


def speech(level: int = 9000) -> bytes:
    return ulaw_encode((np.sin(np.arange(160) / 3) * level).astype(np.int16))


def rtp(seq: int, ts: int | None = None, ssrc: int = 1234) -> bytes:
    return RtpPacket(0, seq, seq * 160 if ts is None else ts, ssrc, speech()).serialize()


def answered(latching: bool = True) -> tuple[MediaSession, UdpTransport, Clock]:
    clock = Clock()
    media = MediaSession(clock)
    media.latching = latching
    media.call_id = "test-call"
    transport = UdpTransport()
    media.makeConnection(transport)  # type: ignore[arg-type]
    media.configure(SDP, 0, 101)
    media.start()
    return media, transport, clock


def feed(media: MediaSession, clock: Clock, packets: list[tuple[bytes, Any]]) -> None:
    for datagram, source in packets:
        media.datagramReceived(datagram, source)
        clock.advance(0.02)


def test_rtp_from_another_source_is_latched_after_the_answer() -> None:
    media, transport, clock = answered()
    feed(media, clock, [(rtp(100 + i), NAT) for i in range(20)])
    assert media.remote == NAT and media.stats.latched == 1
    assert media.stats.dropped_foreign == 2  # the probation, then followed
    assert media.stats.delivered >= 15
    clock.advance(0.1)
    assert transport.written[-1][1] == NAT  # we send where they send from
    feed(media, clock, [(rtp(200), SDP), (rtp(201), STRANGER)])  # latched: others dropped
    assert media.stats.dropped_foreign == 4


def test_the_sdp_address_first_is_the_one_latched() -> None:
    media, _, clock = answered()
    feed(media, clock, [(rtp(100 + i), SDP) for i in range(5)])
    feed(media, clock, [(rtp(105 + i), NAT) for i in range(5)])
    assert media.remote == SDP and media.stats.latched == 0
    assert media.stats.dropped_foreign == 5


def test_an_interleaved_stranger_does_not_win_the_latch() -> None:
    """A packet sprayed at the port (RTP bleed) needs a run in sequence to be followed."""
    media, _, clock = answered()
    feed(media, clock, [(rtp(7), STRANGER), (rtp(100), NAT), (rtp(9), STRANGER),
                        (rtp(101), NAT), (rtp(102), NAT), (rtp(103), NAT)])
    assert media.remote == NAT


def test_without_latching_only_the_sdp_address_is_heard() -> None:
    media, _, clock = answered(latching=False)
    feed(media, clock, [(rtp(100 + i), NAT) for i in range(20)])
    assert media.remote == SDP and media.stats.dropped_foreign == 20
    assert media.stats.delivered == 0


def test_no_latching_before_the_answer() -> None:
    clock = Clock()
    media = MediaSession(clock)
    media.makeConnection(UdpTransport())  # type: ignore[arg-type]
    media.configure(SDP, 0, None)
    for i in range(10):
        media.datagramReceived(rtp(i), NAT)
    assert media.remote == SDP and media.stats.dropped_foreign == 10 and not media.early


def test_a_source_of_port_zero_is_never_latched() -> None:
    media, transport, clock = answered()
    feed(media, clock, [(rtp(100 + i), ("127.0.0.1", 0)) for i in range(10)])
    assert media.remote == SDP and len(transport.written) >= 9


def test_a_new_ssrc_backwards_reaches_the_recogniser() -> None:
    heard: list[bytes] = []
    clock = Clock()
    media = MediaSession(clock, on_audio=heard.append)
    media.makeConnection(UdpTransport())  # type: ignore[arg-type]
    media.configure(SDP, 0, None)
    media.start()
    feed(media, clock, [(rtp(1000 + i, 10**9 + 160 * i, ssrc=0xA), SDP) for i in range(50)])
    feed(media, clock, [(rtp(5 + i, 800 + 160 * i, ssrc=0xB), SDP) for i in range(50)])
    clock.advance(0.1)
    loud = [frame for frame in heard if np.abs(np.frombuffer(frame, "<i2")).max() > 6000]
    assert len(loud) == 100
    s = media.stats
    assert (s.new_ssrcs, s.reorigins, s.late, s.delivered) == (1, 1, 0, 100)
    assert s.received == 100


class Faulty(MediaSession):
    def frame(self) -> None:
        raise RuntimeError("a bug in one call")


def test_one_calls_fault_does_not_stop_the_others() -> None:
    clock = Clock()
    good, transport = MediaSession(clock, SDP, 0, None), UdpTransport()
    good.makeConnection(transport)  # type: ignore[arg-type]
    bad = Faulty(clock, SDP, 0, None)
    bad.start()
    good.start()
    for _ in range(50):
        clock.advance(0.02)
    assert len(transport.written) >= 49  # the good call's media goes on
    assert bad not in MediaClock.of(clock).sessions
