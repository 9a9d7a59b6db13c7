"""RTP packets (RFC 3550 §5.1): `RtpPacket.parse(bytes)` and `serialize()`. Pure."""

from __future__ import annotations

import struct
from dataclasses import dataclass


class RtpError(ValueError):
    pass


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: bytes = b""  # the header extension as sent (profile + length + data)

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        if len(data) < 12:
            raise RtpError(f"{len(data)} bytes is shorter than an RTP header")
        first, second, sequence, timestamp, ssrc = struct.unpack("!BBHII", data[:12])
        if first >> 6 != 2:
            raise RtpError(f"RTP version {first >> 6}, not 2")
        offset = 12 + 4 * (first & 0x0F)
        if len(data) < offset:
            raise RtpError("CSRC list runs past the packet")
        csrc = struct.unpack(f"!{first & 0x0F}I", data[12:offset])
        extension = b""
        if first & 0x10:
            if len(data) < offset + 4:
                raise RtpError("header extension runs past the packet")
            length = 4 + 4 * struct.unpack("!H", data[offset + 2:offset + 4])[0]
            if len(data) < offset + length:
                raise RtpError("header extension runs past the packet")
            extension = data[offset:offset + length]
            offset += length
        end = len(data)
        if first & 0x20:  # padding: the last byte counts it
            pad = data[-1]
            if pad == 0 or offset + pad > len(data):
                raise RtpError(f"bad padding length {pad}")
            end -= pad
        return cls(second & 0x7F, sequence, timestamp, ssrc, data[offset:end],
                   bool(second & 0x80), tuple(csrc), extension)

    def serialize(self) -> bytes:
        first = 0x80 | len(self.csrc) | (0x10 if self.extension else 0)
        second = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        header = struct.pack("!BBHII", first, second, self.sequence & 0xFFFF,
                             self.timestamp & 0xFFFFFFFF, self.ssrc)
        return (header + struct.pack(f"!{len(self.csrc)}I", *self.csrc) + self.extension
                + self.payload)
