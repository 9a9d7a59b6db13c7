"""The vocabulary of the call's state machine (`dialer/uac.py`): what the driver feeds it
(events), what it asks the driver to do (actions), the call's settings and fresh
identifiers. Pure: nothing here touches a socket or a clock."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from dialer import sdp
from dialer.outcomes import Outcome
from dialer.sipmessage import NameAddr, SipMessage, SipParseError

T1, T2 = 0.5, 4.0
Address = tuple[str, int]


# -- events ----------------------------------------------------------------------------
class State(enum.StrEnum):
    IDLE = "idle"
    CALLING = "calling"  # INVITE sent, nothing back
    PROCEEDING = "proceeding"  # a provisional response came
    CANCELLING = "cancelling"  # CANCEL sent, waiting for 487
    CONFIRMED = "confirmed"  # answered and ACKed
    TERMINATING = "terminating"  # BYE sent
    ENDED = "ended"


ANSWERED_STATES = (State.CONFIRMED, State.TERMINATING)


@dataclass(frozen=True)
class Start:
    pass


@dataclass(frozen=True)
class Received:
    message: SipMessage
    source: Address
    size: int = 0  # bytes on the wire, for the drop log


@dataclass(frozen=True)
class TimerFired:
    name: str


@dataclass(frozen=True)
class Hangup:
    reason: str = ""  # why we end the call (a carrier announcement heard); empty: ours


@dataclass(frozen=True)
class TransportError:
    reason: str


Event = Start | Received | TimerFired | Hangup | TransportError


# -- actions ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Send:
    message: SipMessage
    to: Address


@dataclass(frozen=True)
class SetTimer:
    name: str
    seconds: float


@dataclass(frozen=True)
class StopTimer:
    name: str


@dataclass(frozen=True)
class EarlyMedia:
    media: sdp.MediaDescription


@dataclass(frozen=True)
class Answered:
    media: sdp.MediaDescription | None


@dataclass(frozen=True)
class MediaChanged:
    """The peer moved the answered call's media (a re-INVITE or UPDATE with an offer)."""

    media: sdp.MediaDescription


@dataclass(frozen=True)
class Digit:
    """A key press that came as SIP INFO (application/dtmf-relay or application/dtmf)."""

    digit: str


@dataclass(frozen=True)
class Dropped:
    """A received message that changed nothing, and why (a `dialog.Drop` reason)."""

    reason: str


@dataclass(frozen=True)
class Ended:
    outcome: Outcome
    code: int  # the final SIP status (0 when there was none)
    reason: str
    by: str  # "local", "remote" or "network"


Action = (Send | SetTimer | StopTimer | EarlyMedia | Answered | MediaChanged | Digit | Dropped
          | Ended)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


@dataclass
class CallSettings:
    target: str  # request URI, sip:1001@127.0.0.1:5090
    local: Address  # where our SIP socket listens (Via, Contact)
    media_port: int
    caller: str = "sip:huifang@127.0.0.1"  # From
    proxy: Address | None = None  # outbound proxy; else the target's host and port
    ring_timeout: float = 30.0
    credentials: Credentials | None = None
    user_agent: str = "huifang"
    call_id: str = ""  # chosen beforehand (the campaign stores it before dialling); else new
    # the trunk's other addresses that may speak for the call (port 0: any port of the
    # host), besides where the INVITE goes (the proxy, else the target)
    accept_from: tuple[Address, ...] = ()
    rtcp_mux: bool = False  # offer RTCP on the RTP port (RFC 5761)
    # RFC 4028 session timer: the interval we ask for (0: none) and our Min-SE
    session_expires: int = 1800
    min_se: int = 90


@dataclass
class Ids:
    """Fresh identifiers: random, so they never repeat across restarts."""

    token: Callable[[int], str]

    def call_id(self, host: str) -> str:
        return f"{self.token(16)}@{host}"

    def tag(self) -> str:
        return self.token(8)

    def branch(self) -> str:
        return "z9hG4bK" + self.token(10)


def target_address(uri: str) -> Address:
    rest = uri.partition(":")[2]
    hostport = rest.rpartition("@")[2].partition(";")[0].partition(">")[0]
    host, _, port = hostport.partition(":")
    if not host or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise SipParseError("no usable host and port in a URI")  # the URI may hold a number
    return host, int(port) if port else 5060


def response_to(request: SipMessage, status: int, reason: str,
                to_tag: str | None = None) -> SipMessage:
    reply = SipMessage(status=status, reason=reason)
    for via in request.values("Via"):
        reply.add("Via", via)
    reply.add("From", request.header("From"))
    to = request.header("To")
    if to_tag and NameAddr.parse(to).tag is None:
        to = f"{to};tag={to_tag}"
    reply.add("To", to)
    reply.add("Call-ID", request.call_id)
    reply.add("CSeq", request.header("CSeq"))
    return reply


def ack_of_non_2xx(invite: SipMessage, response: SipMessage) -> SipMessage:
    """The ACK of a non-2xx final response: part of the INVITE's transaction, its branch
    (RFC 3261 §17.1.1.3)."""
    ack = SipMessage(method="ACK", uri=invite.uri)
    ack.add("Via", invite.values("Via")[0])
    ack.add("Max-Forwards", "70")
    ack.add("From", invite.header("From"))
    ack.add("To", response.header("To"))
    ack.add("Call-ID", invite.call_id)
    ack.add("CSeq", f"{invite.cseq[0]} ACK")
    return ack


def cancel_of(invite: SipMessage) -> SipMessage:
    """The CANCEL of an INVITE: its branch, Route and CSeq number (RFC 3261 §9.1)."""
    cancel = SipMessage(method="CANCEL", uri=invite.uri)
    cancel.add("Via", invite.values("Via")[0])
    for route in invite.values("Route"):
        cancel.add("Route", route)
    cancel.add("Max-Forwards", "70")
    cancel.add("From", invite.header("From"))
    cancel.add("To", invite.header("To"))
    cancel.add("Call-ID", invite.call_id)
    cancel.add("CSeq", f"{invite.cseq[0]} CANCEL")
    return cancel
