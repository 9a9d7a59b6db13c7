"""Early media (and the first seconds after the answer) cut into stretches of voice for
the announcement recogniser: the carriers' 您拨打的电话已关机 while the call still rings."""

from __future__ import annotations

from collections import deque

from dialer.media import FRAME_BYTES
from ivr.endpoint import Endpointer, EndpointSettings, Event

# a stretch of early media is judged when its voice stops, or after this long (music)
EARLY_ENDPOINT = EndpointSettings(no_input_ms=10**9, max_ms=8000)
# The recogniser gets the answer from shortly before its start, not the silence while the
# prompt played: long digital silence upsets PocketSphinx's cepstral mean (heard 还没有解决
# as 还没有), and decoding it costs CPU for nothing.
PREROLL_BYTES = 16000 * 4 // 10


class EarlyListener:
    """The early media heard so far, cut into stretches of voice by the endpointer (with
    a short pre-roll): `take` queues one in `stretches` when its voice has stopped (or ran
    on for EARLY_ENDPOINT.max_ms, as music does). Ring-back tone stretches come out too:
    the recogniser's rejection, not this, tells them from an announcement."""

    def __init__(self) -> None:
        self._fed = 0  # bytes of `early` already looked at
        self._endpointer = Endpointer(EARLY_ENDPOINT)
        self._voice = bytearray()
        self._preroll = bytearray()
        self.stretches: deque[bytes] = deque(maxlen=4)  # the newest, when decoding lags
        self.deciding = False  # a stretch is with the recogniser
        self.judged = 0  # stretches given to the recogniser
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True
        self.stretches.clear()

    def take(self, early: bytearray) -> None:
        if self.stopped:
            return
        end = self._fed + (len(early) - self._fed) // FRAME_BYTES * FRAME_BYTES
        for start in range(self._fed, end, FRAME_BYTES):
            frame = bytes(early[start:start + FRAME_BYTES])
            speaking = self._endpointer.started
            point = self._endpointer.feed(frame)
            if speaking:
                self._voice += frame
            else:
                self._preroll += frame
                del self._preroll[:max(0, len(self._preroll) - PREROLL_BYTES)]
            if point is None:
                continue
            if point.event is Event.SPEECH_STARTED:
                self._voice = bytearray(self._preroll)
                self._preroll.clear()
                continue
            self.stretches.append(bytes(self._voice))
            self._voice.clear()
            self._endpointer = Endpointer(EARLY_ENDPOINT)
        self._fed = end
