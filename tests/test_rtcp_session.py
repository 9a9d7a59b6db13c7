"""One call's RTCP on a fake clock and fake transports (`dialer.rtcpsession`): the sending
schedule, what a report says, the peer's reports read into round trip and CNAME, the
BYE at the end, rtcp-mux, RFC 3605's a=rtcp, and RTCP from strangers dropped.

The transports are `tests.test_uac.UdpTransport`: a DatagramProtocol writes
`(data, address)`, which Twisted's `StringTransport` (a stream) does not take."""

from __future__ import annotations

import itertools

import pytest
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock

from dialer import rtcp, sdp
from dialer.media import MediaSession
from dialer.rtcpsession import RtcpSession, RtcpSummary
from dialer.rtcpstats import COMPENSATION, ntp_middle
from dialer.rtp import RtpPacket
from tests.test_uac import UdpTransport

PEER = ("127.0.0.1", 6000)
PEER_RTCP = ("127.0.0.1", 6001)
PEER_SSRC = 0x1234ABCD
ANSWER = sdp.MediaDescription("127.0.0.1", 6000, (0, 101), {101: "telephone-event/8000"})


def call(description: sdp.MediaDescription = ANSWER
         ) -> tuple[RtcpSession, MediaSession, UdpTransport, UdpTransport, Clock]:
    clock = Clock()
    media = MediaSession(clock, PEER, 0, 101)
    rtp, control = UdpTransport(), UdpTransport()
    media.makeConnection(rtp)  # type: ignore[arg-type]
    session = RtcpSession(clock, media, cname="test-cname", rand=lambda: 0.5)
    session.makeConnection(control)  # type: ignore[arg-type]
    session.configure(description)
    media.start()
    session.start()
    return session, media, rtp, control, clock


def peer_rtp(media: MediaSession, seq: int, source: tuple[str, int] = PEER) -> None:
    media.datagramReceived(RtpPacket(0, seq, seq * 160, PEER_SSRC, bytes(160)).serialize(),
                           source)


def test_reports_on_the_randomised_schedule_with_our_cname() -> None:
    """2.5 s / (e - 3/2) to the first report, then 5 s / (e - 3/2) apart (the random
    factor pinned at 1), each counted from when the last was sent; the clock moves
    20 ms at a time, so a report is seen up to 20 ms after it fell due."""
    session, media, _, control, clock = call()
    sent_at: list[float] = []
    for _ in range(1500):  # 30 s in 20 ms steps
        clock.advance(0.02)
        if len(control.written) > len(sent_at):
            sent_at.append(clock.seconds())
    first, step = 2.5 / COMPENSATION, 5 / COMPENSATION
    assert first <= sent_at[0] < first + 0.02
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert len(gaps) == 6 and all(step <= gap < step + 0.02 for gap in gaps), gaps
    assert {address for _, address in control.written} == {PEER_RTCP}
    ssrc = media.sender_info()[0]
    for data, _ in control.written:
        sr, sdes = rtcp.parse(data)
        assert isinstance(sr, rtcp.SenderReport) and sr.ssrc == ssrc
        assert isinstance(sdes, rtcp.SourceDescription)
        assert sdes.cname(ssrc) == "test-cname"
    last = rtcp.parse(control.written[-1][0])[0]
    assert isinstance(last, rtcp.SenderReport)
    assert last.packet_count <= media.stats.sent and last.octet_count == last.packet_count * 160
    assert session.summary().reports_sent == len(sent_at)


def test_the_peers_reports_give_loss_jitter_round_trip_and_cname() -> None:
    session, media, _, control, clock = call()
    sent_at = None
    for seq in range(1000, 1200):
        clock.advance(0.02)
        if seq not in (1050, 1051, 1100):  # three lost
            peer_rtp(media, seq)
        if control.written and sent_at is None:
            sent_at = clock.seconds()
    assert sent_at is not None
    ours = rtcp.parse(control.written[0][0])[0]
    assert isinstance(ours, rtcp.SenderReport)
    (block,) = ours.reports  # our first report, at 2.06 s, already speaks of the peer
    assert (block.ssrc, block.packets_lost, block.highest_sequence) == (PEER_SSRC, 3, 1101)
    assert block.fraction_lost == (3 << 8) // 101  # 1001..1101 expected, 1000 on probation
    # at 4 s the peer reports on our first SR (sent at 2.06 s), which it held 0.2 s
    arrival = clock.seconds()
    held = int(0.2 * 65536)
    report = rtcp.SenderReport(PEER_SSRC, 0xEEBA0CC896D601FF, 0, 190, 30400, (
        rtcp.ReportBlock(ours.ssrc, 0, 7, 0, 80, ntp_middle(ours.ntp_timestamp), held),))
    sdes = rtcp.SourceDescription(((PEER_SSRC, ((rtcp.CNAME, b"callee@peer"),)),))
    session.datagramReceived(rtcp.serialize([report, sdes]), PEER_RTCP)
    summary = session.summary()
    assert summary.peer_cname == "callee@peer"
    assert summary.rtt_ms == pytest.approx((arrival - sent_at - 0.2) * 1000, abs=0.1)
    assert (summary.peer_lost, summary.peer_jitter_ms) == (7, 10.0)
    # our next report echoes the peer's SR: LSR its NTP middle, DLSR since it came
    clock.advance(5)
    sr = rtcp.parse(control.written[-1][0])[0]
    assert isinstance(sr, rtcp.SenderReport)
    (echo,) = sr.reports
    assert echo.lsr == ntp_middle(0xEEBA0CC896D601FF)
    assert echo.dlsr == pytest.approx(5 * 65536, abs=1)
    final = session.stop()
    assert (final.packets_lost, final.packets_expected) == (3, 199)  # 1000 on probation
    assert final.jitter_ms == 0.0  # every packet exactly on time
    bye = rtcp.parse(control.written[-1][0])
    assert [type(p) for p in bye] == [rtcp.SenderReport, rtcp.SourceDescription,
                                      rtcp.Goodbye]
    assert bye[2] == rtcp.Goodbye((ours.ssrc,))
    sent = len(control.written)
    assert session.stop() == final and len(control.written) == sent  # one BYE only
    clock.advance(30)
    assert len(control.written) == sent  # and no report after it


def test_rtcp_mux_goes_through_the_rtp_port() -> None:
    session, media, rtp, control, clock = call(
        sdp.MediaDescription("127.0.0.1", 6000, (0,), rtcp_mux=True))
    clock.advance(3)
    reports = [d for d, _ in rtp.written if rtcp.is_rtcp(d)]
    assert len(reports) == 1 and not control.written
    assert {a for _, a in rtp.written} == {PEER}
    received = media.stats.received
    ours = rtcp.parse(reports[0])[0]
    assert isinstance(ours, rtcp.SenderReport)
    rr = rtcp.ReceiverReport(PEER_SSRC, (rtcp.ReportBlock(
        ours.ssrc, 0, 0, 0, 0, ntp_middle(ours.ntp_timestamp), 0),))
    media.datagramReceived(rr.serialize(), PEER)  # RTCP on the RTP port: not RTP
    assert media.stats.received == received
    assert session.summary().reports_received == 1 and session.summary().mux
    assert session.summary().rtt_samples == 1


def test_a_rtcp_attribute_moves_rtcp_and_strangers_are_dropped() -> None:
    session, media, _, control, clock = call(
        sdp.MediaDescription("127.0.0.1", 6000, (0,), rtcp_port=7009,
                             rtcp_address="127.0.0.9"))
    clock.advance(3)
    assert {a for _, a in control.written} == {("127.0.0.9", 7009)}
    rr = rtcp.ReceiverReport(PEER_SSRC).serialize()
    session.datagramReceived(rr, ("127.0.0.66", 7009))  # nobody we know, SSRC unheard
    session.datagramReceived(b"\x80\xc9\x00", ("127.0.0.9", 7009))  # damaged
    assert (session.summary().dropped, session.summary().reports_received) == (2, 0)
    for seq in range(1, 5):  # once its SSRC is heard on RTP, a new source is latched
        peer_rtp(media, seq)
    session.datagramReceived(rr, ("127.0.0.66", 7010))
    assert session.remote == ("127.0.0.66", 7010)
    assert session.summary().reports_received == 1
    media.latching = False
    session.datagramReceived(rr, ("127.0.0.67", 7010))
    assert session.summary().dropped == 3


def test_offer_and_answer_attributes() -> None:
    body = sdp.offer("127.0.0.1", 20000, 1, rtcp_mux=True)
    assert b"a=rtcp-mux\r\n" in body and b"rtcp-mux" not in sdp.offer("127.0.0.1", 20000, 1)
    answer = sdp.parse(b"v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n"
                       b"a=rtcp:4011 IN IP4 10.0.0.2\r\n")
    assert answer.rtcp == ("10.0.0.2", 4011) and not answer.rtcp_mux
    assert sdp.parse(b"v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n"
                     b"a=rtcp:4011\r\n").rtcp == ("10.0.0.1", 4011)
    assert sdp.parse(b"v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n"
                     ).rtcp == ("10.0.0.1", 4001)
    muxed = sdp.parse(b"v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n"
                      b"a=rtcp:4001\r\na=rtcp-mux\r\n")
    assert muxed.rtcp == ("10.0.0.1", 4000) and muxed.rtcp_mux


def test_a_calls_figures_reach_the_metrics_and_the_attempt() -> None:
    from dialer.callsession import CallReport
    from dialer.metrics import Metrics
    from dialer.outcome_of import call_quality
    from store.attempts import CallQuality

    session, media, _, _, clock = call()
    for seq in range(1, 101):
        clock.advance(0.02)
        if seq != 50:
            peer_rtp(media, seq)
    summary = session.stop()
    assert (summary.packets_lost, summary.packets_expected, summary.rtt_ms) == (1, 99, None)
    metrics = Metrics()
    metrics.observe_rtcp(summary)
    metrics.observe_rtcp(RtcpSummary(None, 0, None, 41.0, 1, None, None, None, 1, 1, 0,
                                     False))
    value = metrics.registry.get_sample_value
    assert value("huifang_rtcp_jitter_seconds_count") == 1
    assert value("huifang_rtcp_rtt_seconds_sum") == pytest.approx(0.041)
    assert (value("huifang_rtcp_packets_lost_total"),
            value("huifang_rtcp_packets_expected_total")) == (1, 99)
    assert call_quality(CallReport(rtcp=summary)) == CallQuality(1, summary.jitter_ms, None)
    assert call_quality(CallReport()) is None  # RTCP off
    never = RtcpSummary(None, 0, None, None, 0, None, None, None, 0, 0, 0, False)
    assert call_quality(CallReport(rtcp=never)) is None  # set up, nothing measured


def test_rtp_and_rtcp_ports_are_bound_as_a_pair() -> None:
    """On the real reactor: the odd port above the first even one is someone else's (an
    ephemeral port of another process, as sipsak's was in the hostile benchmark), so the
    pair is the next one, and the protocols work there. Binding RTP first and giving it
    back raised AssertionError: a Twisted port lets go of its protocol a turn later."""
    import socket

    from dialer.media import PortRange
    from dialer.rtcpsession import listen_pair
    from tests.campaign_support import wait_until
    from tests.peers import free_udp_port, on_reactor, reactor

    class Heard(DatagramProtocol):
        def __init__(self) -> None:
            self.got: list[bytes] = []

        def datagramReceived(self, datagram: bytes, addr: object) -> None:
            self.got.append(datagram)

    low = free_udp_port(8)
    low += low % 2
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", low + 1))
    rtp, rtcp_heard = Heard(), Heard()
    try:
        pair = on_reactor(lambda: listen_pair(PortRange(low, low + 5), reactor, rtp,
                                              rtcp_heard, "127.0.0.1"))
        assert pair is not None
        assert [p.getHost().port for p in pair] == [low + 2, low + 3]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # low is free again
            probe.bind(("127.0.0.1", low))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.sendto(b"rtp", ("127.0.0.1", low + 2))
            peer.sendto(b"rtcp", ("127.0.0.1", low + 3))
            wait_until(lambda: rtp.got == [b"rtp"] and rtcp_heard.got == [b"rtcp"], 10,
                       "both ports heard")
        taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # now no pair is free
        taken.bind(("127.0.0.1", low + 5))
        try:
            assert on_reactor(lambda: listen_pair(PortRange(low, low + 5), reactor, Heard(),
                                                  Heard(), "127.0.0.1")) is None
        finally:
            taken.close()
        on_reactor(lambda: [p.stopListening() for p in pair])
    finally:
        other.close()
