"""RTCP arithmetic (RFC 3550), pure and on an injected time: a received source's sequence
bookkeeping (appendix A.1), its loss figures (A.3), its interarrival jitter (A.8), the
round-trip time from a report block's LSR and DLSR (§6.4.1) and the randomised interval
between reports (§6.3, A.7).

Times are seconds on the caller's clock; NTP timestamps are made from them (`ntp`), so
with a test clock the whole exchange is reproducible. One deviation from A.8: a transit
time that moves by more than `MAX_TRANSIT_STEP_S` at once is a discontinuity of the
sender's timestamps (a carrier switching the media under the same SSRC, see
`dialer.jitter`), not network jitter, and restarts the estimate instead of feeding it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from dialer.rtcp import ReportBlock

NTP_EPOCH_OFFSET = 2208988800  # 1900-01-01 to 1970-01-01, in seconds
RTP_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2
MAX_TRANSIT_STEP_S = 1.0
RTCP_MIN_INTERVAL_S = 5.0
COMPENSATION = math.e - 1.5  # A.7: makes up for the timer reconsideration's bias


def ntp(seconds: float) -> int:
    """A clock's seconds (Unix epoch) as a 64-bit NTP timestamp."""
    whole = math.floor(seconds)
    fraction = int((seconds - whole) * (1 << 32)) & 0xFFFFFFFF
    return ((whole + NTP_EPOCH_OFFSET) & 0xFFFFFFFF) << 32 | fraction


def ntp_middle(timestamp: int) -> int:
    """The middle 32 bits of an NTP timestamp: what LSR carries (units of 1/65536 s)."""
    return (timestamp >> 16) & 0xFFFFFFFF


def round_trip(arrival: float, block: ReportBlock) -> float | None:
    """§6.4.1: seconds from our SR to the report echoing it, less the time the peer held
    it (A - LSR - DLSR, in 1/65536 s); None when the peer has heard no SR of ours (LSR 0)
    or the figure comes out negative (clocks are ours only, so that is a corrupt block)."""
    if block.lsr == 0:
        return None
    units = (ntp_middle(ntp(arrival)) - block.lsr - block.dlsr) & 0xFFFFFFFF
    if units >= 1 << 31:
        return None
    return units / 65536


@dataclass
class SourceStats:
    """One SSRC heard on RTP: A.1's state plus A.3's and A.8's."""

    ssrc: int
    clock_rate: int = 8000
    max_seq: int = 0
    cycles: int = 0  # sequence wraps, times RTP_SEQ_MOD
    base_seq: int = 0
    bad_seq: int = RTP_SEQ_MOD + 1  # "so seq == bad_seq is false"
    probation: int = MIN_SEQUENTIAL
    received: int = 0
    expected_prior: int = 0
    received_prior: int = 0
    transit: int | None = None  # of the last packet, in RTP units (mod 2^32)
    jitter: float = 0.0  # in RTP timestamp units
    lsr: int = 0  # the middle of the NTP timestamp of the source's last SR
    lsr_arrival: float | None = None
    cname: str | None = None
    valid: bool = False  # past probation

    @classmethod
    def first(cls, ssrc: int, seq: int, clock_rate: int = 8000) -> SourceStats:
        """A source whose first packet has sequence number `seq` (A.1: on probation)."""
        return cls(ssrc, clock_rate, max_seq=(seq - 1) % RTP_SEQ_MOD)

    def _init_seq(self, seq: int) -> None:
        self.base_seq, self.max_seq = seq, seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = self.received = self.received_prior = self.expected_prior = 0
        self.transit = None

    def update_seq(self, seq: int) -> bool:
        """A.1: True if the packet counts. A new source needs MIN_SEQUENTIAL packets in
        a row; a jump of more than MAX_DROPOUT is believed when the next packet follows
        it, and then the source starts over."""
        udelta = (seq - self.max_seq) % RTP_SEQ_MOD
        if self.probation:
            if seq == (self.max_seq + 1) % RTP_SEQ_MOD:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.valid = True
                    self.received += 1
                    return True
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq == self.bad_seq:  # two in a row after a jump: the sender restarted
                self._init_seq(seq)
            else:
                self.bad_seq = (seq + 1) % RTP_SEQ_MOD
                return False
        # else a duplicate or reordered packet: counted, max_seq unchanged
        self.received += 1
        return True

    def update_jitter(self, arrival: float, rtp_timestamp: int) -> None:
        """A.8: J += (|D| - J) / 16, D the change in transit time between two packets."""
        transit = (round(arrival * self.clock_rate) - rtp_timestamp) % (1 << 32)
        if self.transit is not None:
            d = (transit - self.transit + (1 << 31)) % (1 << 32) - (1 << 31)
            if abs(d) > MAX_TRANSIT_STEP_S * self.clock_rate:
                self.transit = transit  # the sender's timestamps jumped: start again
                return
            self.jitter += (abs(d) - self.jitter) / 16
        self.transit = transit

    def received_packet(self, seq: int, rtp_timestamp: int, arrival: float,
                        timed: bool = True) -> None:
        """One RTP packet of this source; `timed` False for a packet whose timestamp is
        not its sampling instant (an RFC 4733 event), left out of the jitter."""
        if seq == self.max_seq + 1 and not self.probation:  # the usual next packet: short
            self.max_seq = seq
            self.received += 1
        elif not self.update_seq(seq):
            return
        if timed:
            self.update_jitter(arrival, rtp_timestamp)

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1 if self.valid else 0

    @property
    def lost(self) -> int:
        """A.3: cumulative, expected less received (negative with duplicates)."""
        return self.expected - self.received if self.valid else 0

    @property
    def heard_since_report(self) -> bool:
        return self.valid and self.received != self.received_prior

    def report_block(self, now: float) -> ReportBlock:
        """A.3: the block for this source, and the interval counters moved on."""
        expected_interval = self.expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior, self.received_prior = self.expected, self.received
        lost_interval = expected_interval - received_interval
        fraction = 0 if expected_interval == 0 or lost_interval <= 0 else \
            (lost_interval << 8) // expected_interval
        dlsr = 0 if self.lsr_arrival is None else \
            min(0xFFFFFFFF, max(0, round((now - self.lsr_arrival) * 65536)))
        return ReportBlock(self.ssrc, min(255, fraction), self.lost,
                           self.extended_max & 0xFFFFFFFF, int(self.jitter), self.lsr, dlsr)

    def sender_report(self, ntp_timestamp: int, arrival: float) -> None:
        self.lsr, self.lsr_arrival = ntp_middle(ntp_timestamp), arrival


def interval(members: int, senders: int, we_sent: bool, avg_rtcp_size: float,
             session_bandwidth: float, initial: bool, rand: Callable[[], float]) -> float:
    """A.7 `rtcp_interval`: seconds to the next report. `session_bandwidth` in octets per
    second (64 kbit/s G.711: 8000); RTCP takes 5 % of it, a quarter for the senders when
    they are fewer than a quarter of the members. At least 5 s (2.5 s before the first
    report), then randomised over [0.5, 1.5] and divided by e - 3/2."""
    rtcp_bw = session_bandwidth * 0.05
    t_min = RTCP_MIN_INTERVAL_S / 2 if initial else RTCP_MIN_INTERVAL_S
    n = members
    if senders <= members * 0.25:
        if we_sent:
            rtcp_bw *= 0.25
            n = senders
        else:
            rtcp_bw *= 0.75
            n = members - senders
    t = max(avg_rtcp_size * n / rtcp_bw, t_min)
    return t * (rand() + 0.5) / COMPENSATION
