"""RTP media for the calls on Twisted's reactor, all on one shared 20 ms media clock.

Every tick, due at an absolute deadline (start + n x 20 ms, so a long call cannot drift;
a late tick catches up on every frame it owes), each call sends one frame of the prompt
being played (or silence), takes one frame from the jitter buffer of what the citizen
said, and writes both to its recording. One timer for all calls: with a timer per call,
200 calls meant 10,000 timer events a second and the reactor fell behind. Internally
audio is 16-bit linear; G.711 only at the wire, by table lookup.
The jitter buffer (`dialer.jitter`) survives media that changes under the call (a new
SSRC, timestamps jumping either way) and conceals lost frames. After the answer the
media latches to where the peer's packets really come from (symmetric RTP, for a callee
behind NAT or an SBC); packets from any other address are dropped and counted. RFC 4733
digits go through `ivr.dtmf`, one per key press. RTCP (`dialer.rtcpsession`) hears of each
RTP packet (`on_rtp`) and, multiplexed, of RTCP here (`on_rtcp`; sent by `send_control`).
"""

from __future__ import annotations

import functools
import logging
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import DatagramProtocol

from dialer import g711
from dialer.jitter import FRAME_BYTES, SAMPLES, JitterBuffer, JitterStats
from dialer.rtcp import is_rtcp
from dialer.rtp import RtpError, RtpPacket
from dialer.sipudp import DelayedCall, ReactorTime
from ivr.dtmf import EVENTS, DigitReceiver, TelephoneEvent

__all__ = ["FRAME", "FRAME_BYTES", "SAMPLES", "SILENCE", "JitterBuffer", "MediaClock",
           "MediaSession", "MediaStats", "Playback", "PortRange", "StereoRecorder"]
log = logging.getLogger(__name__)
FRAME = 0.02
SILENCE = bytes(FRAME_BYTES)
EARLY_MAX_BYTES = 60 * 8000 * 2  # a minute of early media is kept, no more
_RTP_HEADER = struct.Struct("!BBHII")
_RTP_FIXED = struct.Struct("!xBHII")  # marker/payload type, sequence, timestamp, SSRC
LATCH_PACKETS = 3  # in sequence from one new source before the media follows it


@functools.cache
def _silence(codec: int) -> bytes:
    return g711.encode(codec, SILENCE)


class StereoRecorder:
    """A 16-bit 8 kHz stereo WAV, citizen left and our prompts right, written as the call
    goes; the header's sizes are brought up to date every second, so a crash keeps what
    was recorded up to then."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = path.open("wb")
        self.frames = 0
        self._write_header()

    def _write_header(self) -> None:
        assert self._file is not None
        data = self.frames * SAMPLES * 4
        self._file.seek(0)
        self._file.write(b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt "
                         + struct.pack("<IHHIIHH", 16, 1, 2, 8000, 8000 * 4, 4, 16)
                         + b"data" + struct.pack("<I", data))
        self._file.seek(0, 2)

    def write(self, left: bytes, right: bytes) -> None:
        if self._file is None:
            return
        stereo = bytearray(len(left) * 2)
        stereo[0::4], stereo[1::4] = left[0::2], left[1::2]
        stereo[2::4], stereo[3::4] = right[0::2], right[1::2]
        self._file.write(stereo)
        self.frames += 1
        if self.frames % 50 == 0:
            self._write_header()
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._write_header()
            self._file.close()
            self._file = None


@dataclass
class Playback:
    pcm: bytes
    done: Deferred[bool]  # True when played to the end, False when stopped
    offset: int = 0
    wire: bytes | None = None  # the whole prompt in G.711, encoded once at first use


@dataclass
class MediaStats(JitterStats):
    sent: int = 0
    received: int = 0  # RTP packets taken from the peer (audio and digits)
    dropped_foreign: int = 0  # from any address but the peer's (or the latched one)
    damaged: int = 0
    send_errors: int = 0
    latched: int = 0  # 1: the media came from elsewhere than the SDP said, and we follow
    dropped_stale: int = 0  # under an SSRC refused on this port (a dead call's media)
    worst_lateness_ms: float = 0.0


class MediaClock:
    """The 20 ms tick shared by every call on one reactor."""

    _clocks: ClassVar[dict[int, MediaClock]] = {}  # one per reactor (or test Clock)

    def __init__(self, clock: ReactorTime) -> None:
        self.clock = clock
        self.sessions: list[MediaSession] = []
        self._start = 0.0
        self._ticks = 0
        self._timer: DelayedCall | None = None
        self.worst_lateness_ms = 0.0

    @classmethod
    def of(cls, clock: ReactorTime) -> MediaClock:
        if id(clock) not in cls._clocks:
            cls._clocks[id(clock)] = cls(clock)
        return cls._clocks[id(clock)]

    def attach(self, session: MediaSession) -> None:
        if not self.sessions:
            self._start, self._ticks = self.clock.seconds(), 0
            self._schedule()
        self.sessions.append(session)

    def detach(self, session: MediaSession) -> None:
        if session in self.sessions:
            self.sessions.remove(session)
        if not self.sessions and self._timer is not None and self._timer.active():
            self._timer.cancel()

    def _schedule(self) -> None:
        wait = self._start + (self._ticks + 1) * FRAME - self.clock.seconds()
        self._timer = self.clock.callLater(wait if wait > 1e-9 else 0.0, self._tick)

    def _tick(self) -> None:
        """One frame owed, for every call. A late reactor (a GC pause, a starved CPU) owes
        more: they are played one per reactor pass, never in one loop, so the packets
        that queued in the kernel meanwhile are read in between. Played in one loop, the
        buffer ran dry at once and the stall became silence in the citizen's answer: the
        endpointer ended 已经解决了 after 已 (tests/test_media_stall.py)."""
        now = self.clock.seconds()
        due = self._start + (self._ticks + 1) * FRAME
        if due <= now + 1e-9:
            lateness = (now - due) * 1000
            self.worst_lateness_ms = max(self.worst_lateness_ms, lateness)
            self._ticks += 1
            for session in list(self.sessions):
                session.stats.worst_lateness_ms = max(session.stats.worst_lateness_ms,
                                                      lateness)
                try:
                    session.frame()
                except Exception:  # one call's fault must not stop every call's media
                    log.exception("call %s: media stopped", session.call_id)
                    self.detach(session)
        if self.sessions:
            self._schedule()  # at once if more are owed: after the reactor reads sockets


class MediaSession(DatagramProtocol):
    def __init__(self, clock: ReactorTime, remote: tuple[str, int] | None = None,
                 codec: int = 0, telephone_event: int | None = None,
                 recorder: StereoRecorder | None = None,
                 on_audio: Callable[[bytes], None] | None = None,
                 on_digit: Callable[[str], None] | None = None) -> None:
        self.clock = clock
        self.remote = remote
        self.codec = codec
        self.telephone_event = telephone_event
        self.recorder = recorder
        self.on_audio = on_audio
        self.on_digit = on_digit
        self.digits = DigitReceiver()
        self.stats = MediaStats()
        self.jitter = JitterBuffer(stats=self.stats)
        self.call_id = ""  # for the logs, once the call has one
        self.on_rtp: Callable[[int, int, int, bool], None] | None = None  # RTCP's stats
        self.on_rtcp: Callable[[bytes, tuple[str, int]], None] | None = None  # muxed
        # symmetric RTP (RFC 4961; Asterisk's rtp_symmetric/comedia): once answered, the
        # media follows where the peer's packets really come from, then only that source
        self.latching = True
        self._latched = False
        # SSRCs that kept coming to this port while a dead call held it (dialer/strays.py)
        self.refused_ssrcs: frozenset[int] = frozenset()
        self._candidate: tuple[str, int] | None = None
        self._candidate_seq = 0
        self._candidate_run = 0
        self._queue: list[Playback] = []
        self._ssrc = random.getrandbits(32)
        self._sequence = random.getrandbits(16)
        self._timestamp = random.getrandbits(32)
        self._first = True
        self.running = False
        self.early = bytearray()  # audio heard before the answer (carrier announcements)
        self._media_clock = MediaClock.of(clock)

    def configure(self, remote: tuple[str, int], codec: int,
                  telephone_event: int | None) -> None:
        """Where the peer's media is, once its SDP is known (early media or answer)."""
        if remote != self.remote:
            self._latched = False  # new SDP: a new source may be learnt
        self.remote, self.codec, self.telephone_event = remote, codec, telephone_event

    # -- the media clock ---------------------------------------------------------------
    def start(self) -> None:
        if not self.running:
            self.running = True
            self._media_clock.attach(self)

    def frame(self) -> None:
        """One 20 ms tick: send a frame, take one heard, record both. The hot path of
        the engine (per call, 50 times a second): no per-packet objects."""
        out, wire = self._next_prompt_frame()
        header = _RTP_HEADER.pack(0x80, (0x80 if self._first else 0) | self.codec,
                                  self._sequence, self._timestamp, self._ssrc)
        self._first = False
        self._sequence = (self._sequence + 1) % 65536
        self._timestamp = (self._timestamp + SAMPLES) % 2**32
        transport: Any = self.transport
        if transport is not None and self.remote is not None:
            try:
                transport.write(header + wire, self.remote)
                self.stats.sent += 1
            except OSError as exc:  # the peer's address refused by the kernel
                self.stats.send_errors += 1
                if self.stats.send_errors == 1:
                    log.warning("call %s: RTP to %s:%d not sent: %s", self.call_id,
                                *self.remote, exc)
        heard = self.jitter.pop() or SILENCE  # real (counted delivered), concealed or none
        if self.recorder is not None:
            self.recorder.write(heard, out)
        if self.on_audio is not None:  # a steady 20 ms stream: silence where none came
            self.on_audio(heard)

    def _next_prompt_frame(self) -> tuple[bytes, bytes]:
        """(16-bit PCM, G.711) of the next 20 ms to send."""
        while self._queue:
            playing = self._queue[0]
            offset = playing.offset
            if offset < len(playing.pcm):
                if playing.wire is None:
                    padded = len(playing.pcm) + (-len(playing.pcm)) % FRAME_BYTES
                    playing.wire = g711.encode(self.codec, playing.pcm.ljust(padded, b"\0"))
                playing.offset += FRAME_BYTES
                chunk = playing.pcm[offset:offset + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
                return chunk, playing.wire[offset // 2:offset // 2 + SAMPLES]
            self._queue.pop(0)
            playing.done.callback(True)
        return SILENCE, _silence(self.codec)

    # -- playback ----------------------------------------------------------------------
    def play(self, pcm: bytes) -> Deferred[bool]:
        """Queue 8 kHz 16-bit mono PCM; fires True when played out, False if stopped."""
        playback = Playback(pcm[:len(pcm) - len(pcm) % 2], Deferred())
        self._queue.append(playback)
        return playback.done

    def stop_playback(self) -> None:
        """Barge-in: stop now, and drop what was queued."""
        queue, self._queue = self._queue, []
        for playback in queue:
            playback.done.callback(False)

    def send_digit(self, digit: str, frames: int = 5) -> None:
        """A key press as RFC 4733 telephone-events: `frames` packets 20 ms apart with a
        growing duration, then the end packet three times (the peer may lose one)."""
        if self.telephone_event is None:
            raise ValueError("the peer did not offer telephone-event: keys cannot be sent")
        event, timestamp = EVENTS.index(digit), self._timestamp

        def send(n: int) -> None:
            transport: Any = self.transport
            if transport is None or self.remote is None or self.telephone_event is None:
                return
            end = n >= frames
            payload = TelephoneEvent(event, end, 10, SAMPLES * min(n + 1, frames)).serialize()
            header = _RTP_HEADER.pack(0x80, (0x80 if n == 0 else 0) | self.telephone_event,
                                      self._sequence, timestamp, self._ssrc)
            self._sequence = (self._sequence + 1) % 65536
            transport.write(header + payload, self.remote)
            if n < frames + 2:
                self.clock.callLater(FRAME, send, n + 1)

        send(0)

    def stop(self) -> None:
        self.running = False
        self._media_clock.detach(self)
        self.stop_playback()
        if self.recorder is not None:
            self.recorder.close()

    # -- receiving ---------------------------------------------------------------------
    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        source = (str(addr[0]), int(addr[1]))
        if self.on_rtcp is not None and is_rtcp(datagram):  # RFC 5761: RTCP on this port
            self.on_rtcp(datagram, source)
            return
        if source != self.remote:
            if not self._learn(source, datagram):
                self.stats.dropped_foreign += 1
                return
        elif not self._latched and self.running:
            self._latched = True  # the SDP's address is the source: it stays the one
        if len(datagram) > 12 and datagram[0] == 0x80:  # the usual packet: plain header
            second, sequence, timestamp, ssrc = _RTP_FIXED.unpack_from(datagram)
            payload_type, payload = second & 0x7F, datagram[12:]
            marker = second > 0x7F
        else:
            try:
                packet = RtpPacket.parse(datagram)
            except RtpError as exc:
                self.stats.damaged += 1
                log.debug("damaged RTP from %s:%s: %s", addr[0], addr[1], exc)
                return
            payload_type, timestamp, payload = (packet.payload_type, packet.timestamp,
                                                packet.payload)
            sequence, ssrc, marker = packet.sequence, packet.ssrc, packet.marker
        if ssrc in self.refused_ssrcs:
            self.stats.dropped_stale += 1
            return
        self.stats.received += 1
        if self.on_rtp is not None and self.running:  # (SSRC, seq, ts, audio?) for RTCP
            self.on_rtp(ssrc, sequence, timestamp, payload_type == self.codec)
        if payload_type == self.telephone_event:
            digit = self.digits.receive(timestamp, payload)
            if digit is not None and self.on_digit is not None:
                self.on_digit(digit)
            return
        if payload_type != self.codec or not payload:
            return
        pcm = g711.decode(self.codec, payload)
        if not self.running:  # early media, before the answer: kept for classification
            self.early += pcm[:max(0, EARLY_MAX_BYTES - len(self.early))]
            return
        jitter = self.jitter
        if ssrc != jitter.ssrc:
            log.info("call %s: the peer's media is now SSRC %08x (was %s)", self.call_id,
                     ssrc, "none" if jitter.ssrc is None else f"{jitter.ssrc:08x}")
        reorigins = self.stats.reorigins
        jitter.push_packet(ssrc, sequence, timestamp, marker, pcm)
        if self.stats.reorigins != reorigins:
            log.debug("call %s: media re-origined at seq %d ts %d (SSRC %08x)",
                      self.call_id, sequence, timestamp, ssrc)

    def send_control(self, datagram: bytes) -> None:
        """RTCP multiplexed on this port (RFC 5761), to where the media goes (OSError)."""
        transport: Any = self.transport
        if transport is not None and self.remote is not None:
            transport.write(datagram, self.remote)

    def sender_info(self) -> tuple[int, int]:
        """(SSRC, RTP timestamp of the next frame) of our stream, for RTCP's SR."""
        return self._ssrc, self._timestamp

    def _learn(self, source: tuple[str, int], datagram: bytes) -> bool:
        """A packet from elsewhere than the peer's address: True if the media now follows
        it (symmetric RTP latching; `LATCH_PACKETS` in sequence from that one source,
        after the answer, before anything came from the SDP's address)."""
        if not self.latching or self._latched or not self.running or self.remote is None \
                or not source[1] or len(datagram) < 12 or datagram[0] >> 6 != 2:
            return False
        if int.from_bytes(datagram[8:12], "big") in self.refused_ssrcs:
            return False  # a dead call's media is never followed
        sequence = int.from_bytes(datagram[2:4], "big")
        if source == self._candidate and sequence == (self._candidate_seq + 1) % 65536:
            self._candidate_run += 1
        else:
            self._candidate, self._candidate_run = source, 1
        self._candidate_seq = sequence
        if self._candidate_run < LATCH_PACKETS:
            return False
        log.info("call %s: RTP latched to %s:%d (the SDP said %s:%d)", self.call_id,
                 source[0], source[1], *self.remote)
        self.remote, self._latched = source, True
        self.stats.latched = 1
        return True


@dataclass
class PortRange:
    """RTP ports from configuration; even ports only (RTCP takes the odd one above)."""

    low: int = 20000
    high: int = 20999
    _next: int = field(default=0, init=False)
    # port -> until when it is not handed out: a dead process's call may still be sending
    # to it (`quarantine`); inf until that call is known ended
    held: dict[int, float] = field(default_factory=dict, init=False)
    # port -> (until when, SSRCs): media a dead call's peer kept sending there (`refuse`)
    refused: dict[int, tuple[float, frozenset[int]]] = field(default_factory=dict,
                                                            init=False)

    def candidates(self) -> list[int]:
        ports = list(range(self.low + self.low % 2, self.high + 1, 2))
        start = self._next % len(ports) if ports else 0
        self._next += 1
        return ports[start:] + ports[:start]

    def quarantine(self, port: int, until: float) -> None:
        """Hand `port` to no call before `until` (clock seconds)."""
        self.held[port - port % 2] = until

    def refuse(self, port: int, ssrcs: set[int] | frozenset[int], until: float) -> None:
        """Media under `ssrcs` is not heard on `port` before `until`."""
        self.refused[port - port % 2] = (until, frozenset(ssrcs))

    def refused_on(self, port: int, now: float) -> frozenset[int]:
        until, ssrcs = self.refused.get(port - port % 2, (0.0, frozenset()))
        if until <= now:
            self.refused.pop(port - port % 2, None)
            return frozenset()
        return ssrcs

    def free(self, now: float) -> list[int]:
        """The even ports of the range, in this turn's order, that no quarantine holds at
        `now` (whether some other process has bound one is for the caller to find)."""
        for port in [p for p, t in self.held.items() if t <= now]:
            del self.held[port]
        return [p for p in self.candidates() if p not in self.held]

    def listen(self, reactor: Any, protocol: DatagramProtocol, interface: str,
               now: float = 0.0) -> Any:
        """Bind `protocol` to the first free port of the range that is not held in
        quarantine at `now`; None if all are taken."""
        for port in self.free(now):
            try:
                return reactor.listenUDP(port, protocol, interface=interface)
            except (OSError, CannotListenError):  # twisted's is not an OSError
                continue
        return None
