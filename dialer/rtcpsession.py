"""One call's RTCP (RFC 3550 §6) on Twisted: reports with our CNAME at the randomised
interval of §6.3 (about every 5 s, on the injected clock), the peer's reports read into
the call's figures, and a BYE when the call ends.

RTCP goes to the odd port above the peer's RTP port, or where its SDP's `a=rtcp:` says
(RFC 3605), or onto the RTP port itself when its SDP has `a=rtcp-mux` (RFC 5761; we
offer it): then the media session sends it (`MediaSession.send_control`) and hands over
what arrives (`on_rtcp`). The protocol writes only to its own transport, the odd port of
the pair `listen_pair` binds. The media session tells us of each RTP packet heard after
the answer (`on_rtp`), which feeds the receiver statistics (`dialer.rtcpstats`).

RTCP is heard from the peer's RTCP address, from where its RTP comes (the media may
have latched to another source, `dialer.media`), or, with latching on, from a new
address whose packets name an SSRC already heard on RTP: then RTCP follows it too.
Anything else is dropped and counted.
"""

from __future__ import annotations

import logging
import random
import secrets
import socket
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet.protocol import DatagramProtocol

from dialer import rtcp
from dialer.jitter import SAMPLES
from dialer.media import MediaSession, PortRange
from dialer.rtcpstats import SourceStats, interval, ntp, round_trip
from dialer.sdp import MediaDescription
from dialer.sipudp import DelayedCall
from store.phones import mask_phones_in_text

log = logging.getLogger(__name__)
Address = tuple[str, int]
MAX_SOURCES = 16  # SSRCs kept per call: a flood of new ones cannot grow the table
UDP_IP_HEADERS = 28  # §6.3.3: the average RTCP size counts the lower layers' headers
SESSION_BANDWIDTH = 8000.0  # octets per second: G.711 at 64 kbit/s


@dataclass(frozen=True)
class RtcpSummary:
    """What RTCP measured over one call."""

    packets_lost: int | None  # of the peer's RTP to us, all its sources (A.3); None: none
    packets_expected: int
    jitter_ms: float | None  # interarrival jitter (A.8) of the source heard most
    rtt_ms: float | None  # mean round trip from the peer's reports on our SRs (§6.4.1)
    rtt_samples: int
    peer_cname: str | None
    peer_lost: int | None  # what the peer's last report says it lost of ours
    peer_jitter_ms: float | None
    reports_sent: int
    reports_received: int
    dropped: int  # RTCP from elsewhere, or damaged
    mux: bool


class RtcpSession(DatagramProtocol):
    def __init__(self, clock: Any, media: MediaSession, *, cname: str | None = None,
                 rand: Callable[[], float] = random.random) -> None:
        self.clock, self.media, self.rand = clock, media, rand
        # RFC 7022: a random CNAME per call, nothing about the machine or the citizen
        self.cname = cname or secrets.token_urlsafe(12)
        self.remote: Address | None = None
        self.mux = False
        self.sources: dict[int, SourceStats] = {}
        self.rtts: list[float] = []
        self.peer_cname: str | None = None
        self.peer_block: rtcp.ReportBlock | None = None
        self.sent = self.received = self.dropped = 0
        self.avg_size = 0.0
        self._timer: DelayedCall | None = None
        self._initial = True
        self._ended = False
        media.on_rtp = self.rtp_received
        media.on_rtcp = self.datagramReceived

    @property
    def call_id(self) -> str:
        return self.media.call_id

    # -- set up and tear down -------------------------------------------------------------
    def configure(self, description: MediaDescription) -> None:
        """Where the peer wants RTCP, from its SDP (early media, answer or re-offer)."""
        remote, mux = description.rtcp, description.rtcp_mux
        if (remote, mux) != (self.remote, self.mux):
            log.info("call %s: RTCP to %s:%d%s", self.call_id, *remote,
                     " (muxed with RTP)" if mux else "")
        self.remote, self.mux = remote, mux

    def start(self) -> None:
        """The call is answered: reports from now on."""
        if self._timer is None and not self._ended:
            self._schedule()

    def stop(self) -> RtcpSummary:
        """The call has ended: a last report with a BYE (once), and the call's figures."""
        if not self._ended:
            self._ended = True
            if self._timer is not None and self._timer.active():
                self._timer.cancel()
            self._timer = None
            if self.media.stats.sent or self.received:  # anything said: leave properly
                self._send(self._compound(bye=True))
            self.media.on_rtp = None
            self.media.on_rtcp = None
        return self.summary()

    def _schedule(self) -> None:
        members = 1 + max(1, sum(1 for s in self.sources.values() if s.valid))
        senders = (1 if self.media.stats.sent else 0) + sum(
            1 for s in self.sources.values() if s.heard_since_report)
        delay = interval(members, senders, bool(self.media.stats.sent),
                         self.avg_size or 100.0, SESSION_BANDWIDTH, self._initial, self.rand)
        self._initial = False
        self._timer = self.clock.callLater(delay, self._due)

    def _due(self) -> None:
        self._send(self._compound())
        self._schedule()

    # -- sending --------------------------------------------------------------------------
    def _compound(self, bye: bool = False) -> bytes:
        now = self.clock.seconds()
        ssrc, rtp_timestamp = self.media.sender_info()
        blocks = tuple(s.report_block(now) for s in self.sources.values()
                       if s.heard_since_report)[:31]
        sent = self.media.stats.sent
        report: rtcp.RtcpPacket = rtcp.SenderReport(
            ssrc, ntp(now), rtp_timestamp, sent, sent * SAMPLES, blocks) if sent else \
            rtcp.ReceiverReport(ssrc, blocks)
        parts: list[rtcp.RtcpPacket] = [report, rtcp.SourceDescription(
            ((ssrc, ((rtcp.CNAME, self.cname.encode("ascii")),)),))]
        if bye:
            parts.append(rtcp.Goodbye((ssrc,)))
        return rtcp.serialize(parts)

    def _send(self, datagram: bytes) -> None:
        if self.remote is None:
            return  # no SDP from the peer yet: nowhere to send
        self._average(len(datagram))
        transport: Any = self.transport
        try:
            if self.mux:
                self.media.send_control(datagram)
            elif transport is not None:
                transport.write(datagram, self.remote)
            else:
                return
            self.sent += 1
        except OSError as exc:
            log.debug("call %s: RTCP not sent: %s", self.call_id, exc)

    def _average(self, size: int) -> None:
        size += UDP_IP_HEADERS
        self.avg_size = size if not self.avg_size else size / 16 + self.avg_size * 15 / 16

    # -- receiving ------------------------------------------------------------------------
    def rtp_received(self, ssrc: int, sequence: int, timestamp: int, timed: bool) -> None:
        """One RTP packet from the peer, after the answer (the media session's hook)."""
        source = self.sources.get(ssrc)
        if source is None:
            if len(self.sources) >= MAX_SOURCES:
                return
            source = self.sources[ssrc] = SourceStats.first(ssrc, sequence)
        source.received_packet(sequence, timestamp, self.clock.seconds(), timed)

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        source = (str(addr[0]), int(addr[1]))
        try:
            packets = rtcp.parse(datagram)
        except rtcp.RtcpError as exc:
            self.dropped += 1
            log.debug("call %s: damaged RTCP from %s:%d: %s", self.call_id, *source, exc)
            return
        if not self._heard_from(source, packets):
            self.dropped += 1
            return
        self.received += 1
        self._average(len(datagram))
        now = self.clock.seconds()
        ours = self.media.sender_info()[0]
        for packet in packets:
            if isinstance(packet, rtcp.SenderReport | rtcp.ReceiverReport):
                if isinstance(packet, rtcp.SenderReport) and packet.ssrc in self.sources:
                    self.sources[packet.ssrc].sender_report(packet.ntp_timestamp, now)
                for block in packet.reports:
                    if block.ssrc == ours:
                        self._peer_report(block, now)
            elif isinstance(packet, rtcp.SourceDescription):
                for ssrc, _ in packet.chunks:
                    cname = packet.cname(ssrc)
                    if cname is not None and cname != self.peer_cname:
                        log.info("call %s: the peer's RTCP CNAME is %r", self.call_id,
                                 mask_phones_in_text(cname[:64]))  # an AOR may be a number
                        self.peer_cname = cname
            elif isinstance(packet, rtcp.Goodbye):
                log.info("call %s: RTCP BYE from the peer (%s)", self.call_id, mask_phones_in_text(
                    packet.reason.decode("utf-8", "replace")[:64]) or "no reason")

    def _peer_report(self, block: rtcp.ReportBlock, now: float) -> None:
        self.peer_block = block
        rtt = round_trip(now, block)
        if rtt is not None:
            if not self.rtts:
                log.info("call %s: RTCP round trip %.1f ms", self.call_id, rtt * 1000)
            self.rtts.append(rtt)

    def _heard_from(self, source: Address, packets: list[rtcp.RtcpPacket]) -> bool:
        if source in (self.remote, self.media.remote):
            return True
        if not self.media.latching or self.remote is None:
            return False
        named = {p.ssrc for p in packets
                 if isinstance(p, rtcp.SenderReport | rtcp.ReceiverReport)}
        if not named & {s for s, stats in self.sources.items() if stats.valid}:
            return False
        log.info("call %s: RTCP latched to %s:%d (the SDP said %s:%d)", self.call_id,
                 *source, *self.remote)
        self.remote = source
        return True

    # -- the call's figures ---------------------------------------------------------------
    def summary(self) -> RtcpSummary:
        valid = [s for s in self.sources.values() if s.valid]
        main = max(valid, key=lambda s: s.received, default=None)
        block = self.peer_block
        return RtcpSummary(
            packets_lost=max(0, sum(s.lost for s in valid)) if valid else None,
            packets_expected=sum(s.expected for s in valid),
            jitter_ms=None if main is None else round(main.jitter * 1000 / main.clock_rate, 2),
            rtt_ms=round(statistics.fmean(self.rtts) * 1000, 2) if self.rtts else None,
            rtt_samples=len(self.rtts), peer_cname=self.peer_cname,
            peer_lost=None if block is None else block.packets_lost,
            peer_jitter_ms=None if block is None else round(block.jitter / 8, 2),  # 8 kHz
            reports_sent=self.sent, reports_received=self.received, dropped=self.dropped,
            mux=self.mux)


def listen_pair(ports: PortRange, reactor: Any, rtp: DatagramProtocol,
                rtcp_protocol: DatagramProtocol, interface: str, now: float = 0.0
                ) -> tuple[Any, Any] | None:
    """An even RTP port of the range (as `PortRange.listen` hands them out: none held in
    quarantine) and the odd one above it for RTCP (RFC 3550 §11), bound together; None
    when no pair is free.

    Both sockets are bound before either protocol is given one: a Twisted port stops
    listening only on a later turn of the reactor, so a protocol whose port was given
    back because the odd port was taken could not be bound again at once."""
    family = socket.AF_INET6 if ":" in interface else socket.AF_INET
    for port in ports.free(now):
        pair = _bound_pair(family, interface, port)
        if pair is None:
            continue
        try:
            try:
                rtp_port = reactor.adoptDatagramPort(pair[0].fileno(), family, rtp)
            except OSError as exc:  # no descriptor left, say: no pair here or elsewhere
                log.error("RTP port %d could not be taken over: %s", port, exc)
                return None
            try:
                return rtp_port, reactor.adoptDatagramPort(pair[1].fileno(), family,
                                                           rtcp_protocol)
            except Exception as exc:  # the RTP protocol is bound now: it cannot try again
                rtp_port.stopListening()
                log.error("RTCP port %d could not be taken over: %s", port + 1, exc)
                return None
        finally:  # Twisted holds its own copies of the descriptors
            for sock in pair:
                sock.close()
    return None


def _bound_pair(family: int, interface: str, port: int
                ) -> tuple[socket.socket, socket.socket] | None:
    """`port` and `port + 1` bound on `interface`, non-blocking; None if either is taken."""
    bound: list[socket.socket] = []
    try:
        for number in (port, port + 1):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            bound.append(sock)
            sock.setblocking(False)
            sock.bind((interface, number))
    except OSError:
        for sock in bound:
            sock.close()
        return None
    return bound[0], bound[1]
