"""DTMF digits from RFC 4733 (formerly RFC 2833) telephone-event payloads.

A key press is sent as several RTP packets with the same RTP timestamp: updates while
the key is held, then the end-of-event packet three times. `DigitReceiver` turns them
into one digit per press, whichever of the packets arrive. Pure: the dialer gives it
payloads and timestamps from the wire.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

EVENTS = "0123456789*#ABCD"
RECENT = 16  # presses remembered for de-duplication; far more than can overlap


class DtmfError(ValueError):
    pass


@dataclass(frozen=True)
class TelephoneEvent:
    event: int  # 0-15: 0-9, *, #, A-D
    end: bool
    volume: int  # 0-63, as -dBm0
    duration: int  # in RTP timestamp units (1/8000 s for 8 kHz)

    @property
    def digit(self) -> str:
        return EVENTS[self.event]

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        if len(payload) < 4:
            raise DtmfError(f"telephone-event payload is {len(payload)} bytes, needs 4")
        event, flags, duration = struct.unpack("!BBH", payload[:4])
        if event >= len(EVENTS):
            raise DtmfError(f"telephone-event {event} is not a DTMF key (0-15)")
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def serialize(self) -> bytes:
        if not 0 <= self.event < len(EVENTS) or not 0 <= self.volume <= 63:
            raise DtmfError(f"cannot send event {self.event} at volume {self.volume}")
        return struct.pack("!BBH", self.event, (0x80 if self.end else 0) | self.volume,
                           min(self.duration, 0xFFFF))


class DigitReceiver:
    """One per call. `receive` returns the digit the first time a press is seen."""

    def __init__(self) -> None:
        self._seen: deque[tuple[int, int]] = deque(maxlen=RECENT)
        self.digits: list[str] = []
        self.errors = 0  # malformed payloads, dropped

    def receive(self, timestamp: int, payload: bytes) -> str | None:
        try:
            event = TelephoneEvent.parse(payload)
        except DtmfError:
            self.errors += 1
            return None
        key = (timestamp, event.event)
        if key in self._seen:
            return None
        self._seen.append(key)
        self.digits.append(event.digit)
        return event.digit
