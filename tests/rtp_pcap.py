"""RTP streams for sipp's `play_pcap_audio`, written byte by byte: a pcap (Ethernet,
IPv4, UDP) of G.711 packets, each with its own SSRC, sequence number, timestamp and
send time. The tests build what carriers do to media under a call (a tone under one
SSRC, then speech under another whose timestamps jump; loss; reordering) from these."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prompts.audio import ulaw_encode

SAMPLES = 160


@dataclass(frozen=True)
class Rtp:
    at: float  # seconds from the start of the stream
    ssrc: int
    sequence: int
    timestamp: int
    payload: bytes
    marker: bool = False
    payload_type: int = 0

    def serialize(self) -> bytes:
        return struct.pack("!BBHII", 0x80, (0x80 if self.marker else 0) | self.payload_type,
                           self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF,
                           self.ssrc) + self.payload


def stream(pcm: np.ndarray, *, ssrc: int, sequence: int, timestamp: int, start: float
           ) -> list[Rtp]:
    """20 ms μ-law packets of 16-bit `pcm`, the first with the marker bit."""
    wire = ulaw_encode(pcm.astype(np.int16))
    return [Rtp(start + i * 0.02, ssrc, sequence + i, timestamp + i * SAMPLES,
                wire[i * SAMPLES:(i + 1) * SAMPLES], marker=i == 0)
            for i in range(len(wire) // SAMPLES)]


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def write_pcap(path: Path, packets: list[Rtp], *, sport: int = 16000, dport: int = 20000
               ) -> None:
    """A pcap sipp replays: what it sends, when (the packets' `at`, in list order)."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    for n, packet in enumerate(packets):
        rtp = packet.serialize()
        udp = struct.pack("!HHHH", sport, dport, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0,
                         src, dst)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        frame = b"\0\0\0\0\0\2" + b"\0\0\0\0\0\1" + b"\x08\x00" + ip + udp
        seconds, micros = divmod(round(packet.at * 1e6), 10**6)
        out += struct.pack("<IIII", 1_700_000_000 + seconds, micros, len(frame),
                           len(frame)) + frame
    path.write_bytes(bytes(out))
