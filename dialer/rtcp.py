"""RTCP packets (RFC 3550 §6): `parse(bytes)` of a compound packet into its parts and
`serialize(parts)` back. Pure.

Sender and receiver reports (SR, RR) with their report blocks, source descriptions
(SDES, every item kept: CNAME is the one that matters) and BYE with its reason are read
into dataclasses; any other packet type (APP, the feedback messages of RFC 4585, XR) is
kept as it came, so a compound packet serialises back to the same bytes. Peers do not
all follow §6.1's order (baresip 1.0.0 sends BYE before SDES, and a lone APP "PING" as a
keep-alive), so the order is not enforced here; `is_rtcp` says whether a datagram on a
multiplexed RTP port is RTCP (RFC 5761 §4).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

SR, RR, SDES, BYE, APP = 200, 201, 202, 203, 204
CNAME = 1  # the SDES item every participant sends
_HEADER = struct.Struct("!BBH")
_BLOCK = struct.Struct("!IB3sIIII")
_SENDER = struct.Struct("!IIIIII")  # SSRC, NTP seconds, NTP fraction, RTP ts, packets, octets


class RtcpError(ValueError):
    pass


@dataclass(frozen=True)
class ReportBlock:
    """What one receiver says about one source (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int  # of 256, since the previous report
    packets_lost: int  # cumulative, signed 24 bits
    highest_sequence: int  # extended: cycles << 16 | highest sequence number
    jitter: int  # interarrival jitter, in RTP timestamp units
    lsr: int = 0  # middle 32 bits of the NTP time of the last SR heard from the source
    dlsr: int = 0  # since that SR, in 1/65536 s

    def serialize(self) -> bytes:
        lost = max(-0x800000, min(0x7FFFFF, self.packets_lost)) & 0xFFFFFF
        return _BLOCK.pack(self.ssrc, self.fraction_lost, lost.to_bytes(3, "big"),
                           self.highest_sequence, self.jitter, self.lsr, self.dlsr)

    @classmethod
    def parse(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        packets_lost = int.from_bytes(lost, "big", signed=True)
        return cls(ssrc, fraction, packets_lost, highest, jitter, lsr, dlsr)


@dataclass(frozen=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int  # 64-bit NTP time, seconds since 1900 << 32 | fraction
    rtp_timestamp: int  # the same instant on the RTP clock
    packet_count: int
    octet_count: int  # payload octets
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""  # profile-specific, kept as sent

    def serialize(self) -> bytes:
        body = _SENDER.pack(self.ssrc, self.ntp_timestamp >> 32,
                            self.ntp_timestamp & 0xFFFFFFFF, self.rtp_timestamp,
                            self.packet_count, self.octet_count)
        body += b"".join(r.serialize() for r in self.reports) + self.extension
        return _packet(SR, len(self.reports), body)


@dataclass(frozen=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    def serialize(self) -> bytes:
        body = struct.pack("!I", self.ssrc) + b"".join(r.serialize() for r in self.reports)
        return _packet(RR, len(self.reports), body + self.extension)


@dataclass(frozen=True)
class SourceDescription:
    """SDES: for each source, its items as (type, value) pairs (1 CNAME, 2 NAME, ...)."""

    chunks: tuple[tuple[int, tuple[tuple[int, bytes], ...]], ...]

    def cname(self, ssrc: int) -> str | None:
        for source, items in self.chunks:
            if source == ssrc:
                for kind, value in items:
                    if kind == CNAME:
                        return value.decode("utf-8", "replace")
        return None

    def serialize(self) -> bytes:
        body = b""
        for ssrc, items in self.chunks:
            chunk = struct.pack("!I", ssrc)
            for kind, value in items:
                chunk += bytes((kind, len(value))) + value
            chunk += b"\0" * (4 - len(chunk) % 4)  # the end item, then to a 32-bit boundary
            body += chunk
        return _packet(SDES, len(self.chunks), body)


@dataclass(frozen=True)
class Goodbye:
    sources: tuple[int, ...]
    reason: bytes = b""

    def serialize(self) -> bytes:
        body = struct.pack(f"!{len(self.sources)}I", *self.sources)
        if self.reason:
            text = bytes((len(self.reason),)) + self.reason
            body += text + b"\0" * (-len(text) % 4)
        return _packet(BYE, len(self.sources), body)


@dataclass(frozen=True)
class OtherPacket:
    """A packet type read no further (APP, RTPFB, PSFB, XR ...), kept to be sent back."""

    packet_type: int
    count: int  # the header's five-bit field (APP: the subtype)
    body: bytes

    def serialize(self) -> bytes:
        return _packet(self.packet_type, self.count, self.body)


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Goodbye | OtherPacket


def _packet(packet_type: int, count: int, body: bytes) -> bytes:
    if count > 31:
        raise RtcpError(f"{count} items do not fit in one RTCP packet (31 at most)")
    if len(body) % 4:
        raise RtcpError("an RTCP packet's body is a whole number of 32-bit words")
    return _HEADER.pack(0x80 | count, packet_type, len(body) // 4) + body


def is_rtcp(datagram: bytes) -> bool:
    """RFC 5761 §4: on a shared port, RTCP's packet types 192-223 are RTP payload types
    64-95 with the marker bit, which no audio uses."""
    return len(datagram) >= 8 and datagram[0] >> 6 == 2 and 192 <= datagram[1] <= 223


def serialize(packets: Sequence[RtcpPacket]) -> bytes:
    """A compound packet: the parts one after another, no padding."""
    return b"".join(p.serialize() for p in packets)


def parse(data: bytes) -> list[RtcpPacket]:
    """Every packet of a compound RTCP datagram; RtcpError if any is malformed."""
    packets: list[RtcpPacket] = []
    offset = 0
    if len(data) < 4:
        raise RtcpError(f"{len(data)} bytes is shorter than an RTCP header")
    while offset < len(data):
        if len(data) - offset < 4:
            raise RtcpError(f"{len(data) - offset} bytes left after the last packet")
        first, packet_type, words = _HEADER.unpack_from(data, offset)
        if first >> 6 != 2:
            raise RtcpError(f"RTCP version {first >> 6}, not 2")
        end = offset + 4 + 4 * words
        if end > len(data):
            raise RtcpError(f"packet type {packet_type} runs past the datagram")
        body = data[offset + 4:end]
        if first & 0x20:  # padding (RFC 3550 §6.4.1): the last octet counts it
            if end != len(data) or not body or not 0 < body[-1] <= len(body):
                raise RtcpError("bad RTCP padding")
            body = body[:-body[-1]]
        packets.append(_parse_one(packet_type, first & 0x1F, body))
        offset = end
    return packets


def _parse_one(packet_type: int, count: int, body: bytes) -> RtcpPacket:
    if packet_type == SR:
        if len(body) < 24 + 24 * count:
            raise RtcpError(f"a sender report of {count} blocks in {len(body)} bytes")
        ssrc, seconds, fraction, rtp_ts, packets, octets = _SENDER.unpack_from(body)
        return SenderReport(ssrc, seconds << 32 | fraction, rtp_ts, packets, octets,
                            _blocks(body, 24, count), body[24 + 24 * count:])
    if packet_type == RR:
        if len(body) < 4 + 24 * count:
            raise RtcpError(f"a receiver report of {count} blocks in {len(body)} bytes")
        return ReceiverReport(struct.unpack_from("!I", body)[0], _blocks(body, 4, count),
                              body[4 + 24 * count:])
    if packet_type == SDES:
        return _parse_sdes(count, body)
    if packet_type == BYE:
        if len(body) < 4 * count:
            raise RtcpError(f"a BYE of {count} sources in {len(body)} bytes")
        sources = struct.unpack_from(f"!{count}I", body)
        rest = body[4 * count:]
        reason = b""
        if rest:
            if rest[0] + 1 > len(rest):
                raise RtcpError("a BYE's reason runs past the packet")
            reason = rest[1:1 + rest[0]]
        return Goodbye(tuple(sources), reason)
    return OtherPacket(packet_type, count, body)


def _blocks(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    return tuple(ReportBlock.parse(body, offset + 24 * i) for i in range(count))


def _parse_sdes(count: int, body: bytes) -> SourceDescription:
    chunks: list[tuple[int, tuple[tuple[int, bytes], ...]]] = []
    offset = 0
    for _ in range(count):
        if offset + 4 > len(body):
            raise RtcpError("an SDES chunk runs past the packet")
        ssrc = struct.unpack_from("!I", body, offset)[0]
        offset += 4
        items: list[tuple[int, bytes]] = []
        while True:
            if offset >= len(body):
                raise RtcpError("an SDES chunk has no end item")
            kind = body[offset]
            if kind == 0:  # the end: skip to the next 32-bit boundary
                offset += 4 - offset % 4
                break
            if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
                raise RtcpError("an SDES item runs past the packet")
            length = body[offset + 1]
            items.append((kind, body[offset + 2:offset + 2 + length]))
            offset += 2 + length
        chunks.append((ssrc, tuple(items)))
    return SourceDescription(tuple(chunks))
