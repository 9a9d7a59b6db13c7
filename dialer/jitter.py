"""The receive side's jitter buffer: 20 ms frames put back in order on one play-out
timeline, whatever the peer's media does under the call. Pure: no sockets, no clock.

Carriers change the media under a call: a ring-back or 彩铃 service hands over to the
callee, a transfer, a re-INVITE. The new stream has a new SSRC, or the same one with its
sequence number and timestamp somewhere else entirely (backwards as often as forwards).
Frames are therefore not placed by the sender's timestamp but by their distance from
the newest packet of the current stream; a new SSRC, a timestamp that jumps by more
than `MAX_JUMP_SAMPLES` or more than the sequence numbers can explain, a sequence jump
and the marker bit of a new talkspurt each *re-origin* the stream at once: its next
packet plays straight after what is already buffered. Nothing is dropped for good
because a new stream's timestamps happen to be "behind" the old one's.

A frame lost in the middle of speech is concealed (the last frame repeated, 6 dB
quieter each time, for up to `MAX_CONCEAL` frames) instead of a hole of digital silence.
A frame merely late is waited for: when the buffer runs dry, play-out pauses (silence)
until `prefill` frames are in hand again, and the late frame still plays. The counts of all this are
kept in `JitterStats`, which `MediaStats` extends, so each call reports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLES = 160  # 20 ms at 8 kHz
FRAME_BYTES = SAMPLES * 2  # 16-bit linear
MAX_JUMP_SAMPLES = 8000 * 3 // 10  # a timestamp step beyond 300 ms is a new origin
MAX_MISORDER = 10  # packets a reordered one may be behind the newest
MAX_CONCEAL = 3  # consecutive lost frames concealed; a longer gap is skipped
MAX_FRAMES = 50  # a second of audio in hand at most: a flood cannot grow the buffer


@dataclass
class JitterStats:
    delivered: int = 0  # real frames handed on (to the recorder and the recogniser)
    concealed: int = 0  # lost frames replaced by an attenuated copy of the last one
    late: int = 0  # frames dropped: behind the play-out point, stray or overflowing
    underruns: int = 0  # times the buffer ran dry while playing
    new_ssrcs: int = 0  # times the peer's stream changed SSRC
    reorigins: int = 0  # times the play-out timeline was re-anchored on a new stream


def _signed(value: int, bits: int) -> int:
    half = 1 << (bits - 1)
    return ((value + half) & ((1 << bits) - 1)) - half


class JitterBuffer:
    """Frames by play-out slot (an int that only grows), holding a few for a late one.

    Play-out starts (and restarts after running dry) only once `prefill` frames are in
    hand: a packet a few milliseconds late must not become a 20 ms hole in an answer.
    One such hole at the onset of 还没有解决 made PocketSphinx hear 处理好了 (0.74)."""

    def __init__(self, depth: int = 3, prefill: int = 2,
                 stats: JitterStats | None = None) -> None:
        self.depth = depth
        self.prefill = prefill
        self.stats = stats if stats is not None else JitterStats()
        self._frames: dict[int, bytes] = {}
        self._next: int | None = None  # the slot to play next
        self._primed = False
        self._last: bytes | None = None  # the last real frame played, for concealment
        self._concealing = 0  # frames concealed since the last real one
        # the current stream: its SSRC, where it was anchored on the timeline, and its
        # newest packet (sequence, timestamp, length) with the slot just after it
        self.ssrc: int | None = None
        self._previous_ssrc: int | None = None
        self._since_switch = 0
        self._origin_ts = 0
        self._origin_slot = 0
        self._seq = 0
        self._timestamp = 0
        self._samples = SAMPLES
        self._end = 0

    @property
    def late(self) -> int:
        return self.stats.late

    @property
    def underruns(self) -> int:
        return self.stats.underruns

    # -- in ----------------------------------------------------------------------------
    def push_packet(self, ssrc: int, sequence: int, timestamp: int, marker: bool,
                    pcm: bytes) -> None:
        """One packet's decoded audio (any whole number of 20 ms frames; a shorter
        packet is padded with silence), placed on the play-out timeline."""
        if ssrc == self.ssrc and sequence == (self._seq + 1) & 0xFFFF \
                and timestamp == (self._timestamp + SAMPLES) & 0xFFFFFFFF \
                and len(pcm) == FRAME_BYTES:  # the usual next 20 ms: no questions
            self._since_switch += 1
            self._seq, self._timestamp, self._samples = sequence, timestamp, SAMPLES
            slot, self._end = self._end, self._end + 1
            self.push(slot, pcm)
            return
        if ssrc != self.ssrc:
            if ssrc == self._previous_ssrc and self._since_switch < MAX_MISORDER:
                self.stats.late += 1  # a straggler of the stream just replaced
                return
            if self.ssrc is not None:
                self.stats.new_ssrcs += 1
            self._previous_ssrc, self.ssrc, self._since_switch = self.ssrc, ssrc, 0
            self._reorigin(timestamp, count=self._previous_ssrc is not None)
        else:
            self._since_switch += 1
            d_seq = _signed(sequence - self._seq, 16)
            d_ts = _signed(timestamp - self._timestamp, 32)
            if 0 < d_seq <= MAX_MISORDER * 5:  # newer: the usual case, maybe after loss
                if d_ts <= 0 or d_ts > MAX_JUMP_SAMPLES \
                        or d_ts > d_seq * self._samples + SAMPLES \
                        or (marker and d_ts > self._samples):
                    self._reorigin(timestamp)
            elif -MAX_MISORDER <= d_seq <= 0:  # reordered or duplicated: not the newest
                if d_ts > 0 or d_ts < d_seq * self._samples - SAMPLES:
                    self.stats.late += 1  # a straggler from before a re-origin
                    return
                self._push_frames(self._slot_of(timestamp), pcm)
                return
            elif not 0 < d_ts <= MAX_JUMP_SAMPLES:  # the sequence jumped, and the time
                self._reorigin(timestamp)
        slot = self._slot_of(timestamp)
        self._seq, self._timestamp = sequence, timestamp
        self._samples = max(SAMPLES, len(pcm) // 2)
        self._end = slot + (self._samples + SAMPLES - 1) // SAMPLES
        self._push_frames(slot, pcm)

    def _slot_of(self, timestamp: int) -> int:
        return self._origin_slot + _signed(timestamp - self._origin_ts, 32) // SAMPLES

    def _reorigin(self, timestamp: int, count: bool = True) -> None:
        """Anchor the stream at `timestamp` right after the newest frame in hand (or the
        play-out point, if that is further on)."""
        if count:
            self.stats.reorigins += 1
        fresh = self._end
        if self._frames:
            fresh = max(fresh, max(self._frames) + 1)
        if self._next is not None:
            fresh = max(fresh, self._next)
        self._origin_ts, self._origin_slot = timestamp, fresh

    def _push_frames(self, slot: int, pcm: bytes) -> None:
        """Frames from `slot` on. A packet of 10 or 30 ms fills whole slots padded with
        silence (G.711 trunks send 20 ms)."""
        if len(pcm) == FRAME_BYTES:  # the usual 20 ms packet
            self.push(slot, pcm)
            return
        for i in range(0, len(pcm), FRAME_BYTES):
            self.push(slot + i // FRAME_BYTES, pcm[i:i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0"))

    def push(self, slot: int, pcm: bytes) -> None:
        """One 20 ms frame at a play-out slot."""
        if (self._next is not None and slot < self._next) or len(self._frames) >= MAX_FRAMES:
            self.stats.late += 1
            return
        self._frames[slot] = pcm

    # -- out ---------------------------------------------------------------------------
    def pop(self) -> bytes | None:
        """The next 20 ms frame: real, concealed, or None (nothing to play: silence)."""
        frames = self._frames
        if not self._primed:
            if len(frames) < self.prefill:
                return None
            self._primed = True
            if self._next is None or self._next not in frames:
                self._next = min(frames)  # silence covered the gap already
        if not frames:  # ran dry: wait for `prefill` frames again (a late frame still
            self._primed = False  # plays: the prefill is there to absorb lateness)
            self.stats.underruns += 1
            return None
        assert self._next is not None
        frame = frames.pop(self._next, None)
        if frame is None:
            earliest = min(frames)
            gap = earliest - self._next
            if gap <= MAX_CONCEAL and self._concealing < MAX_CONCEAL \
                    and self._last is not None:
                self._next += 1
                return self._conceal(self._last)
            self._next = earliest  # too long a gap to conceal: go on with what came
            frame = frames.pop(earliest)
        self._next += 1
        self._concealing = 0
        self._last = frame
        self.stats.delivered += 1
        return frame

    def _conceal(self, last: bytes) -> bytes:
        self._concealing += 1
        self.stats.concealed += 1
        if len(last) != FRAME_BYTES:
            return bytes(FRAME_BYTES)
        quieter = np.frombuffer(last, dtype="<i2") >> self._concealing
        return bytes(quieter.astype("<i2").tobytes())
