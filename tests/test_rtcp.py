"""RTCP packets and arithmetic (`dialer.rtcp`, `dialer.rtcpstats`): round trips of bytes
captured from baresip, and receiver statistics, round trip and report interval against
figures worked out by hand from RFC 3550's appendix A."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer import rtcp
from dialer.rtcpstats import SourceStats, interval, ntp, ntp_middle, round_trip

CAPTURED = Path(__file__).parent / "data" / "rtcp" / "baresip-1.0.0.txt"


def captured() -> dict[str, bytes]:
    lines = CAPTURED.read_text(encoding="utf-8").splitlines()
    return {name: bytes.fromhex(data) for name, data in
            (line.split() for line in lines if line and not line.startswith("#"))}


@pytest.mark.parametrize("name", sorted(captured()))
def test_captured_datagrams_round_trip(name: str) -> None:
    data = captured()[name]
    assert rtcp.serialize(rtcp.parse(data)) == data
    assert rtcp.is_rtcp(data)


def test_baresips_sender_report_read_field_by_field() -> None:
    sr, sdes = rtcp.parse(captured()["baresip-sr-echoing-ours"])
    assert sr == rtcp.SenderReport(
        ssrc=0x827E5A78, ntp_timestamp=0xEEBA0CC896D601FF, rtp_timestamp=0xFE37,
        packet_count=250, octet_count=40000, reports=(rtcp.ReportBlock(
            ssrc=0xD9B53433, fraction_lost=0, packets_lost=0, highest_sequence=0xD0E1,
            jitter=1, lsr=0x0CC55BC7, dlsr=0x33AE1),))
    assert isinstance(sdes, rtcp.SourceDescription)
    assert sdes.cname(0x827E5A78) == "sip:callee@127.0.0.1:35062"
    assert sdes.cname(1) is None
    # the LSR it echoes is the middle of the NTP time of our first SR
    (ours, _) = rtcp.parse(captured()["huifang-first-sr"])
    assert isinstance(ours, rtcp.SenderReport)
    assert ntp_middle(ours.ntp_timestamp) == 0x0CC55BC7


def test_baresips_bye_comes_before_its_sdes_and_its_keepalive_is_app() -> None:
    bye, sdes = rtcp.parse(captured()["baresip-bye-sdes"])
    assert bye == rtcp.Goodbye((0xE37CFD4F,), b"Adjo")
    assert isinstance(sdes, rtcp.SourceDescription)
    (app,) = rtcp.parse(captured()["baresip-app-ping"])
    assert app == rtcp.OtherPacket(rtcp.APP, 0, bytes.fromhex("e37cfd4f") + b"PINGPONG")
    *_, ours = rtcp.parse(captured()["huifang-sr-sdes-bye"])
    assert ours == rtcp.Goodbye((0xD9B53433,))


def test_negative_loss_and_clamping_in_24_bits() -> None:
    for lost, wire in ((-1, -1), (5, 5), (10**9, 0x7FFFFF), (-(10**9), -0x800000)):
        block = rtcp.ReportBlock(1, 0, lost, 0, 0)
        (rr,) = rtcp.parse(rtcp.ReceiverReport(7, (block,)).serialize())
        assert isinstance(rr, rtcp.ReceiverReport)
        assert rr.reports[0].packets_lost == wire


def test_sdes_items_pad_to_a_word_with_at_least_one_null() -> None:
    for cname in (b"", b"a", b"ab", b"abc", b"abcd", b"x" * 255):
        packet = rtcp.SourceDescription(((9, ((rtcp.CNAME, cname), (6, b"huifang"))),))
        data = packet.serialize()
        assert len(data) % 4 == 0
        assert rtcp.parse(data) == [packet]


def test_padding_is_read_and_damage_refused() -> None:
    rr = rtcp.ReceiverReport(7).serialize()  # 8 bytes; padded to 12
    padded = bytes((rr[0] | 0x20, rr[1])) + (2).to_bytes(2, "big") + rr[4:] + b"\0\0\0\4"
    assert rtcp.parse(padded) == [rtcp.ReceiverReport(7)]
    for bad in (b"", b"\x80\xc9", bytes.fromhex("40c90001") + bytes(4),  # version 1
                bytes.fromhex("81c90001") + bytes(4),  # one block promised, none there
                bytes.fromhex("80c90005") + bytes(4),  # longer than the datagram
                bytes.fromhex("81ca0001") + bytes.fromhex("00000001"),  # SDES without end
                bytes.fromhex("81cb0001") + bytes.fromhex("0000000105")):  # reason overruns
        with pytest.raises(rtcp.RtcpError):
            rtcp.parse(bad)
    assert not rtcp.is_rtcp(bytes.fromhex("80000001") + bytes(8))  # PCMU
    assert not rtcp.is_rtcp(bytes.fromhex("80e50001") + bytes(8))  # 101 with the marker


def test_loss_fraction_and_extended_sequence_by_hand() -> None:
    source = SourceStats.first(5, 100)
    for seq in (100, 101, 102, 103, 104, 106, 107, 108, 109):  # 105 lost
        source.received_packet(seq, seq * 160, seq * 0.02)
    # A.1: 100 is probation; counting starts at 101. Expected 101..109 = 9, received 8
    assert (source.base_seq, source.received, source.expected, source.lost) == (101, 8, 9, 1)
    block = source.report_block(now=3.0)
    assert (block.fraction_lost, block.packets_lost, block.highest_sequence) == (
        256 // 9, 1, 109)  # (1 << 8) / 9 = 28
    for seq in range(110, 120):
        source.received_packet(seq, seq * 160, seq * 0.02)
    block = source.report_block(now=5.0)
    assert (block.fraction_lost, block.packets_lost) == (0, 1)  # none lost this interval
    assert not source.heard_since_report


def test_sequence_wrap_duplicates_and_a_restarted_sender() -> None:
    source = SourceStats.first(5, 65533)
    for seq in (65533, 65534, 65535, 0, 1):
        source.received_packet(seq, 0, 0.0, timed=False)
    assert source.cycles == 65536
    assert source.report_block(0).highest_sequence == 0x10001
    assert (source.expected, source.lost) == (4, 0)
    source.received_packet(1, 0, 0.0, timed=False)  # a duplicate
    assert source.lost == -1
    source.received_packet(30000, 0, 0.0, timed=False)  # a jump: not believed yet
    assert source.received == 5
    source.received_packet(30001, 0, 0.0, timed=False)  # ... but followed: a restart
    assert (source.base_seq, source.received, source.lost) == (30001, 1, 0)


def test_interarrival_jitter_by_hand() -> None:
    """A.8 on 20 ms packets, one 5 ms late. Transit (arrival x 8000 - timestamp): packet 1
    is on probation, 2: 0, 3: 0 (D 0, J 0), 4: 520 - 480 = 40 (J = 40/16 = 2.5),
    5: 0 (|D| 40, J = 2.5 + (40 - 2.5)/16 = 4.84375)."""
    source = SourceStats.first(5, 1)
    for seq, arrival in ((1, 0.0), (2, 0.020), (3, 0.040), (4, 0.065), (5, 0.080)):
        source.received_packet(seq, (seq - 1) * 160, arrival)
    assert source.jitter == pytest.approx(4.84375)
    assert source.report_block(0.1).jitter == 4
    source.received_packet(6, 10**9, 0.1)  # the sender's timestamps jumped: no 7 s jitter
    assert source.jitter == pytest.approx(4.84375)
    source.received_packet(7, 10**9 + 160, 0.12)
    assert source.jitter == pytest.approx(4.84375 * 15 / 16)


def test_round_trip_from_lsr_and_dlsr() -> None:
    sent = 1000.0  # our SR's time; the peer held it 3.25 s, the network took 1/16 s
    block = rtcp.ReportBlock(1, 0, 0, 0, 0, lsr=ntp_middle(ntp(sent)),
                             dlsr=int(3.25 * 65536))
    assert round_trip(sent + 3.25 + 0.0625, block) == 0.0625
    assert round_trip(sent + 3.0, block) is None  # before it was sent: a corrupt block
    assert round_trip(sent + 4, rtcp.ReportBlock(1, 0, 0, 0, 0)) is None  # no SR heard
    assert ntp(0.5) == (2208988800 << 32) | (1 << 31)


def test_report_interval_by_hand() -> None:
    """A.7 for a call (2 members, both sending, 64 kbit/s: RTCP gets 400 octets/s): the
    5 s minimum wins, 2.5 s before the first report, randomised over [0.5, 1.5] and
    divided by e - 3/2; with 100 members of whom 2 send, a receiver's share decides."""
    compensation = 2.718281828459045 - 1.5
    assert interval(2, 2, True, 100, 8000, False, lambda: 0.5) == pytest.approx(
        5 / compensation)
    assert interval(2, 2, True, 100, 8000, True, lambda: 0.0) == pytest.approx(
        2.5 * 0.5 / compensation)
    assert interval(2, 2, True, 100, 8000, False, lambda: 1.0) == pytest.approx(
        5 * 1.5 / compensation)
    assert interval(100, 2, False, 100, 8000, False, lambda: 0.5) == pytest.approx(
        100 * 98 / 300 / compensation)
    assert interval(100, 2, True, 100, 8000, False, lambda: 0.5) == pytest.approx(
        5 / compensation)  # 100 x 2 / 100 = 2 s: the minimum again
