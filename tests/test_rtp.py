"""RTP packets: round trip, and damaged packets refused with the reason."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.rtp import RtpError, RtpPacket

# A PCMU packet as sipp sends it (marker on the first), and an RFC 4733 event packet.
PCMU = bytes.fromhex("8080000100000000deadbeef") + b"\xff" * 160
EVENT = bytes.fromhex("80e5003000001f40deadbeef") + bytes.fromhex("018a0280")


def test_round_trip() -> None:
    for data in (PCMU, EVENT):
        assert RtpPacket.parse(data).serialize() == data
    p = RtpPacket.parse(PCMU)
    assert (p.payload_type, p.sequence, p.timestamp, p.ssrc, p.marker) == (0, 1, 0, 0xDEADBEEF,
                                                                          True)
    e = RtpPacket.parse(EVENT)
    assert (e.payload_type, e.marker, e.payload) == (101, True, bytes.fromhex("018a0280"))


def test_csrc_extension_and_padding() -> None:
    packet = RtpPacket(8, 65535, 2**32 - 1, 7, b"abc", csrc=(1, 2),
                       extension=bytes.fromhex("bede0001") + b"\x10\x00\x00\x00")
    assert RtpPacket.parse(packet.serialize()) == packet
    padded = bytearray(RtpPacket(0, 1, 1, 1, b"xy").serialize())
    padded[0] |= 0x20
    padded += b"\x00\x00\x03"
    assert RtpPacket.parse(bytes(padded)).payload == b"xy"


@pytest.mark.parametrize(("data", "reason"), [
    (b"\x80\x00", "shorter than an RTP header"),
    (bytes.fromhex("4000000100000000deadbeef"), "version 1"),
    (bytes.fromhex("8300000100000000deadbeef"), "CSRC list"),
    (bytes.fromhex("9000000100000000deadbeef") + b"\xbe\xde", "extension"),
    (bytes.fromhex("a000000100000000deadbeef") + b"\x00", "bad padding"),
])
def test_damaged_packets(data: bytes, reason: str) -> None:
    with pytest.raises(RtpError, match=reason):
        RtpPacket.parse(data)


@given(st.binary(max_size=300))
def test_any_bytes(data: bytes) -> None:
    with contextlib.suppress(RtpError):
        RtpPacket.parse(data)
