"""The RTP port of a call a dead process left up, held from new calls until its media
has really stopped.

After a kill -9 the callee (or the carrier's SBC in front of it) goes on sending RTP to
the port the dead call had, and the process that recovers the call would hand that
port to a new call: the new citizen's answers would be taken from the dead call's audio
(issue 21 measured wrong answers in 8 of 28 such calls). Another node on the same host
is kept off it only by a range of its own (README). The port is bound here, to a
listener that only counts what comes (`StrayMedia`), and handed out again only when the
dialog has ended (our BYE or CANCEL answered) and nothing has come to it for `QUIET_S`;
after an unanswered BYE not before `UNANSWERED_HOLD_S`; and after `HOLD_MAX_S` whatever
comes. A port given back while the stray media still comes refuses the SSRCs that came
to it for `BAN_S` (`PortRange.refuse`): a new call there neither hears nor latches to
them. A port given back quiet refuses nothing: a callee that replays recorded media
sends one SSRC in every call, and its next honest call may land on that port.
"""

from __future__ import annotations

import logging
from typing import Any

from twisted.internet.error import CannotListenError
from twisted.internet.protocol import DatagramProtocol

from dialer.media import PortRange
from dialer.rtcp import is_rtcp

log = logging.getLogger(__name__)
QUIET_S = 5.0  # nothing came for this long: the dead call's media has stopped
UNANSWERED_HOLD_S = 600.0  # the callee never answered our BYE: it may still be sending
HOLD_MAX_S = 1800.0  # a port is not lost for good to a peer that never stops
BAN_S = 3600.0  # the SSRCs seen while held are refused on the port this long after
MAX_SSRCS = 32  # what one port remembers (a flood of forged SSRCs cannot grow it)


class StrayMedia(DatagramProtocol):
    """Counts the datagrams that come to a held port and notes their SSRCs; sends nothing."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.packets = 0
        self.last = clock.seconds()
        self.ssrcs: set[int] = set()

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.packets += 1
        self.last = self.clock.seconds()
        if len(datagram) >= 12 and datagram[0] >> 6 == 2 and not is_rtcp(datagram) \
                and len(self.ssrcs) < MAX_SSRCS:
            self.ssrcs.add(int.from_bytes(datagram[8:12], "big"))


class HeldPort:
    """One dead call's RTP port: held in `ports` from now until `ended` has been called
    and its media is quiet (see the module's docstring)."""

    def __init__(self, reactor: Any, clock: Any, ports: PortRange, port: int,
                 interface: str, call_id: str = "") -> None:
        self.clock, self.ports = clock, ports
        self.port, self.call_id = port - port % 2, call_id
        self.stray = StrayMedia(clock)
        self.released = False
        self._ended_at: float | None = None
        self._min_hold = 0.0
        ports.quarantine(self.port, float("inf"))
        try:
            self._listener: Any = reactor.listenUDP(self.port, self.stray, interface=interface)
        except (OSError, CannotListenError) as exc:  # another process has it: not ours to watch
            self._listener = None
            log.warning("call %s: RTP port %d of the dead call cannot be watched (%s); held "
                        "for %g s", call_id, self.port, exc, UNANSWERED_HOLD_S)

    def ended(self, unanswered: bool) -> None:
        """The dialog is over (BYE or CANCEL answered, or given up when `unanswered`)."""
        self._ended_at = self.clock.seconds()
        self._min_hold = UNANSWERED_HOLD_S if unanswered or self._listener is None else 0.0
        self.clock.callLater(QUIET_S, self._check)

    def _check(self) -> None:
        assert self._ended_at is not None
        now = self.clock.seconds()
        held = now - self._ended_at
        quiet = now - self.stray.last >= QUIET_S
        if (held >= self._min_hold and quiet) or held >= HOLD_MAX_S:
            self.release(now, refuse=not quiet)
        else:
            self.clock.callLater(QUIET_S, self._check)

    def release(self, now: float, refuse: bool) -> None:
        if self._listener is not None:
            self._listener.stopListening()
        self.ports.quarantine(self.port, now)  # handed out from now on
        refused = self.stray.ssrcs if refuse else set()
        if refused:
            self.ports.refuse(self.port, refused, now + BAN_S)
        self.released = True
        log.info("call %s: RTP port %d free again after %d stray packets; %d SSRCs refused "
                 "there for %g s", self.call_id, self.port, self.stray.packets, len(refused),
                 BAN_S if refused else 0)
