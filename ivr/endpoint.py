"""Voice activity and endpointing: when the citizen started speaking (for barge-in) and
when they stopped (to take the answer).

Frames are 20 ms of 8 kHz 16-bit mono PCM (320 bytes), as RTP delivers them. webrtcvad
classifies each frame; speech starts after `start_ms` of voiced frames within a short
window and ends after `end_ms` of unvoiced ones. Time is the frame count, not a clock,
so the same audio always gives the same events.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

import webrtcvad

RATE = 8000
FRAME_MS = 20
FRAME_BYTES = RATE * FRAME_MS // 1000 * 2


class EndpointError(ValueError):
    pass


class Event(enum.StrEnum):
    SPEECH_STARTED = "speech_started"
    SPEECH_ENDED = "speech_ended"
    TIMEOUT = "timeout"  # no speech within no_input_ms, or speech longer than max_ms


@dataclass(frozen=True)
class Endpoint:
    event: Event
    at_ms: int  # from the first frame fed


@dataclass(frozen=True)
class EndpointSettings:
    aggressiveness: int = 2  # webrtcvad 0..3
    start_ms: int = 120  # voiced audio needed to call it speech (a cough is shorter)
    end_ms: int = 700  # silence that ends an answer
    # ... once what was heard is already a whole answer (see complete): 550 ms, the shortest
    # that cut no answer with a 400 ms hesitation on the tune split (bench.turn_taking_bench;
    # 250 ms cut 30 of 48 of them)
    complete_ms: int = 550
    no_input_ms: int = 5000
    max_ms: int = 15000


class Endpointer:
    def __init__(self, settings: EndpointSettings = EndpointSettings()) -> None:
        self.settings = settings
        self._vad = webrtcvad.Vad(settings.aggressiveness)
        self._window: deque[bool] = deque(maxlen=max(1, settings.start_ms // FRAME_MS + 2))
        self._frames = 0
        self._started_at: int | None = None
        self._silent = 0
        self._end_ms = settings.end_ms
        self.done = False

    def complete(self) -> None:
        """What was heard so far is a whole answer that nothing longer could change (the
        VoiceXML `completetimeout`): a shorter silence ends it."""
        self._end_ms = min(self._end_ms, self.settings.complete_ms)

    @property
    def started(self) -> bool:
        """Speech has started (barge-in happened or the answer is under way)."""
        return self._started_at is not None

    @property
    def now_ms(self) -> int:
        return self._frames * FRAME_MS

    def feed(self, frame: bytes) -> Endpoint | None:
        """One 20 ms frame; returns an event when one happens. Nothing after the end."""
        if self.done:
            return None
        if len(frame) != FRAME_BYTES:
            raise EndpointError(f"a frame is {FRAME_BYTES} bytes of 8 kHz 16-bit PCM, "
                                f"not {len(frame)}")
        voiced = self._vad.is_speech(frame, RATE)
        self._frames += 1
        s = self.settings
        if self._started_at is None:
            self._window.append(voiced)
            if sum(self._window) * FRAME_MS >= s.start_ms:
                self._started_at = self.now_ms - len(self._window) * FRAME_MS
                return Endpoint(Event.SPEECH_STARTED, max(0, self._started_at))
            if self.now_ms >= s.no_input_ms:
                self.done = True
                return Endpoint(Event.TIMEOUT, self.now_ms)
            return None
        self._silent = 0 if voiced else self._silent + FRAME_MS
        if self._silent >= self._end_ms:
            self.done = True
            return Endpoint(Event.SPEECH_ENDED, self.now_ms - self._silent)
        if self.now_ms - self._started_at >= s.max_ms:
            self.done = True
            return Endpoint(Event.TIMEOUT, self.now_ms)
        return None

    def feed_all(self, pcm: bytes) -> list[Endpoint]:
        """Split a buffer into frames (a trailing partial frame is ignored)."""
        events = []
        for start in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
            event = self.feed(pcm[start:start + FRAME_BYTES])
            if event is not None:
                events.append(event)
        return events
