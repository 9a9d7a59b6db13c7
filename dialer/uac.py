"""One outbound call as a pure state machine: `step(event) -> actions`.

The INVITE client transaction (RFC 3261 §17.1.1: timers A, B, D), the dialog it makes,
CANCEL at the ring timeout, BYE either way, digest authentication on 401/407, and the
non-INVITE transactions for CANCEL and BYE (timers E, F; K is zero on UDP for our use,
as nothing is absorbed after a final response to BYE). Nothing here touches a socket or
a clock: timers are named actions that the driver schedules and feeds back as events.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from dialer import sdp
from dialer.digest import Challenge, DigestError, authorization
from dialer.outcomes import Outcome, classify
from dialer.sipmessage import NameAddr, SipMessage, SipParseError

log = logging.getLogger(__name__)
T1, T2 = 0.5, 4.0
Address = tuple[str, int]


class State(enum.StrEnum):
    IDLE = "idle"
    CALLING = "calling"  # INVITE sent, nothing back
    PROCEEDING = "proceeding"  # a provisional response came
    CANCELLING = "cancelling"  # CANCEL sent, waiting for 487
    CONFIRMED = "confirmed"  # answered and ACKed
    TERMINATING = "terminating"  # BYE sent
    ENDED = "ended"


# -- events ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Start:
    pass


@dataclass(frozen=True)
class Received:
    message: SipMessage
    source: Address


@dataclass(frozen=True)
class TimerFired:
    name: str


@dataclass(frozen=True)
class Hangup:
    pass


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
class Ended:
    outcome: Outcome
    code: int  # the final SIP status (0 when there was none)
    reason: str
    by: str  # "local", "remote" or "network"


Action = Send | SetTimer | StopTimer | EarlyMedia | Answered | Ended


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
        raise SipParseError(f"no usable host and port in {uri!r}")
    return host, int(port) if port else 5060


@dataclass
class OutboundCall:
    settings: CallSettings
    ids: Ids
    state: State = State.IDLE
    call_id: str = ""
    local_tag: str = ""
    remote_tag: str | None = None
    cseq: int = 1
    branch: str = ""
    invite: SipMessage | None = None
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    provisional: bool = False
    cancel_wanted: str = ""  # why we want to cancel once a provisional arrives
    final: tuple[int, str] | None = None
    auth_tried: bool = False
    answered: bool = False
    offer_body: bytes = b""
    _timer_a: float = T1
    _pending: SipMessage | None = None  # the CANCEL or BYE in its non-INVITE transaction
    _pending_to: Address = ("", 0)
    _timer_e: float = T1

    @property
    def next_hop(self) -> Address:
        return self.settings.proxy or target_address(self.settings.target)

    # -- building messages -------------------------------------------------------------
    def _request(self, method: str, uri: str, cseq: int, branch: str,
                 to_tag: str | None) -> SipMessage:
        s = self.settings
        host, port = s.local
        to = NameAddr(s.target) if to_tag is None else NameAddr(s.target).with_tag(to_tag)
        m = SipMessage(method=method, uri=uri)
        m.add("Via", f"SIP/2.0/UDP {host}:{port};branch={branch};rport")
        for route in self.route_set:  # empty until the dialog exists
            m.add("Route", route)
        m.add("Max-Forwards", "70")
        m.add("From", str(NameAddr(s.caller).with_tag(self.local_tag)))
        m.add("To", str(to))
        m.add("Call-ID", self.call_id)
        m.add("CSeq", f"{cseq} {method}")
        m.add("Contact", f"<sip:huifang@{host}:{port}>")
        m.add("User-Agent", s.user_agent)
        return m

    def _invite(self, authorization_header: tuple[str, str] | None = None) -> list[Action]:
        self.branch = self.ids.branch()
        m = self._request("INVITE", self.settings.target, self.cseq, self.branch, None)
        m.add("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")
        if authorization_header:
            m.add(*authorization_header)
        m.add("Content-Type", "application/sdp")
        m.body = self.offer_body
        self.invite = m
        self._timer_a = T1
        return [Send(m, self.next_hop), SetTimer("A", T1), SetTimer("B", 64 * T1)]

    def _ack_non_2xx(self, response: SipMessage) -> SipMessage:
        assert self.invite is not None
        ack = SipMessage(method="ACK", uri=self.invite.uri)
        ack.add("Via", self.invite.values("Via")[0])
        ack.add("Max-Forwards", "70")
        ack.add("From", self.invite.header("From"))
        ack.add("To", response.header("To"))
        ack.add("Call-ID", self.call_id)
        ack.add("CSeq", f"{self.invite.cseq[0]} ACK")
        return ack

    def _ack_2xx(self) -> SipMessage:
        """A new transaction, but the INVITE's CSeq number, even after a BYE was sent
        (a retransmitted 200 is ACKed as the first was)."""
        assert self.invite is not None
        return self._request("ACK", self.remote_target, self.invite.cseq[0],
                             self.ids.branch(), self.remote_tag)

    def _in_dialog_hop(self) -> Address:
        if self.route_set:
            return target_address(NameAddr.parse(self.route_set[0]).uri)
        return self.settings.proxy or target_address(self.remote_target)

    # -- the machine -------------------------------------------------------------------
    def step(self, event: Event) -> list[Action]:
        handler = {Start: self._on_start, Received: self._on_received,
                   TimerFired: self._on_timer, Hangup: self._on_hangup,
                   TransportError: self._on_transport_error}[type(event)]
        before = self.state
        try:
            actions: list[Action] = handler(event)  # type: ignore[operator]
        except SipParseError as exc:  # a damaged message: dropped, the call goes on
            log.warning("call %s: dropped a damaged message: %s", self.call_id, exc)
            return []
        if self.state is not before:
            log.info("call %s: %s -> %s", self.call_id, before, self.state)
        return actions

    def _end(self, outcome: Outcome, code: int, reason: str, by: str) -> list[Action]:
        self.state = State.ENDED
        stops: list[Action] = [StopTimer(t) for t in ("A", "B", "ring", "E", "F")]
        return [*stops, Ended(outcome, code, reason, by)]

    def _on_start(self, _: Start) -> list[Action]:
        if self.state is not State.IDLE:
            return []
        s = self.settings
        self.call_id = s.call_id or self.ids.call_id(s.local[0])
        self.local_tag = self.ids.tag()
        self.offer_body = sdp.offer(s.local[0], s.media_port, session_id=abs(hash(
            self.call_id)) % 10**9)
        self.state = State.CALLING
        return [*self._invite(), SetTimer("ring", s.ring_timeout)]

    def _on_timer(self, event: TimerFired) -> list[Action]:
        name = event.name
        if name == "A" and self.state is State.CALLING and self.invite is not None:
            self._timer_a *= 2
            return [Send(self.invite, self.next_hop), SetTimer("A", self._timer_a)]
        if name == "B" and self.state in (State.CALLING, State.PROCEEDING, State.CANCELLING):
            if self.state is State.CANCELLING:
                return self._end(Outcome.NO_ANSWER, 0, "no 487 after CANCEL", "network")
            return self._end(Outcome.TIMEOUT, 0, "no response to INVITE", "network")
        if name == "ring" and self.state in (State.CALLING, State.PROCEEDING):
            return self._cancel("ring timeout")
        if name == "E" and self.state in (State.CANCELLING, State.TERMINATING):
            return self._retransmit_non_invite()
        if name == "F" and self.state is State.TERMINATING:
            return self._end(Outcome.ANSWERED, 200, "BYE unanswered", "local")
        if name == "F" and self.state is State.CANCELLING:
            return self._end(Outcome.NO_ANSWER, 0, "CANCEL unanswered", "network")
        return []

    def _non_invite(self, message: SipMessage, to: Address) -> list[Action]:
        self._pending, self._pending_to = message, to
        self._timer_e = T1
        return [Send(message, to), SetTimer("E", T1), SetTimer("F", 64 * T1)]

    def _retransmit_non_invite(self) -> list[Action]:
        if self._pending is None:
            return []
        self._timer_e = min(self._timer_e * 2, T2)
        return [Send(self._pending, self._pending_to), SetTimer("E", self._timer_e)]

    def _cancel(self, why: str) -> list[Action]:
        if not self.provisional:  # RFC 3261 §9.1: no CANCEL before a provisional
            self.cancel_wanted = why
            return []
        assert self.invite is not None
        cancel = SipMessage(method="CANCEL", uri=self.invite.uri)
        cancel.add("Via", self.invite.values("Via")[0])
        for route in self.invite.values("Route"):
            cancel.add("Route", route)
        cancel.add("Max-Forwards", "70")
        cancel.add("From", self.invite.header("From"))
        cancel.add("To", self.invite.header("To"))
        cancel.add("Call-ID", self.call_id)
        cancel.add("CSeq", f"{self.invite.cseq[0]} CANCEL")
        self.state = State.CANCELLING
        self.cancel_wanted = why
        return [StopTimer("ring"), *self._non_invite(cancel, self.next_hop)]

    def _on_hangup(self, _: Hangup) -> list[Action]:
        if self.state in (State.CALLING, State.PROCEEDING):
            return self._cancel("hung up by us")
        if self.state is State.CONFIRMED:
            return self._bye()
        if self.state is State.IDLE:
            self.state = State.ENDED
            return [Ended(Outcome.CANCELLED, 0, "never started", "local")]
        return []

    def _bye(self) -> list[Action]:
        self.cseq += 1
        bye = self._request("BYE", self.remote_target, self.cseq, self.ids.branch(),
                            self.remote_tag)
        self.state = State.TERMINATING
        return self._non_invite(bye, self._in_dialog_hop())

    def _on_transport_error(self, event: TransportError) -> list[Action]:
        if self.state in (State.ENDED, State.IDLE):
            return []
        if self.state in (State.CONFIRMED, State.TERMINATING):
            return self._end(Outcome.ANSWERED, 200, f"transport: {event.reason}", "network")
        return self._end(Outcome.TRANSPORT_FAILURE, 0, event.reason, "network")

    def _on_received(self, event: Received) -> list[Action]:
        m = event.message
        if m.is_request:
            return self._on_request(m, event.source)
        try:
            number, method = m.cseq
        except SipParseError:
            return []
        if method == "INVITE":
            return self._on_invite_response(m)
        if method in ("CANCEL", "BYE") and m.status >= 200 and self._pending is not None \
                and self._pending.cseq == (number, method):
            self._pending = None
            actions: list[Action] = [StopTimer("E"), StopTimer("F")]
            if method == "BYE":
                final = self.final or (200, "OK")
                return actions + self._end(Outcome.ANSWERED, final[0], final[1], "local")
            return actions  # CANCEL accepted: the 487 to the INVITE ends the call
        return []

    def _on_invite_response(self, m: SipMessage) -> list[Action]:
        if self.invite is None or m.branch != self.branch:
            return []  # a stray or an old transaction's response
        status = m.status
        if status < 200:
            if self.state not in (State.CALLING, State.PROCEEDING):
                return []
            first = not self.provisional
            self.provisional = True
            actions: list[Action] = [StopTimer("A")]
            if self.state is State.CALLING:
                self.state = State.PROCEEDING
            if status in (180, 183) and m.body and (m.get("Content-Type") or "").startswith(
                    "application/sdp"):
                try:
                    actions.append(EarlyMedia(sdp.parse(m.body)))
                except sdp.SdpError as exc:
                    log.warning("call %s: early media SDP refused: %s", self.call_id, exc)
            if first and self.cancel_wanted:
                actions += self._cancel(self.cancel_wanted)
            return actions
        if status < 300:
            return self._on_2xx(m)
        return self._on_failure(m)

    def _on_2xx(self, m: SipMessage) -> list[Action]:
        # Everything the dialog takes from the 200 is read before anything changes: a
        # damaged header raises SipParseError here and the message is dropped whole.
        to_tag = NameAddr.parse(m.header("To")).tag
        contact = m.values("Contact")
        remote_target = NameAddr.parse(contact[0]).uri if contact else self.settings.target
        route_set = list(reversed(m.values("Record-Route")))
        for route in route_set:
            target_address(NameAddr.parse(route).uri)
        target_address(remote_target)
        if self.state is State.CONFIRMED or self.state is State.TERMINATING:
            return [Send(self._ack_2xx(), self._in_dialog_hop())]  # a retransmitted 200
        if self.state is State.ENDED:
            return []
        self.remote_tag = to_tag
        self.remote_target = remote_target
        self.route_set = route_set
        self.answered = True
        self.final = (m.status, m.reason)
        actions: list[Action] = [StopTimer("A"), StopTimer("B"), StopTimer("ring"),
                                 StopTimer("E"), StopTimer("F")]
        actions.append(Send(self._ack_2xx(), self._in_dialog_hop()))
        if self.state is State.CANCELLING:  # answered as we cancelled: end it at once
            self.state = State.CONFIRMED
            return actions + self._bye()
        media = None
        if m.body:
            try:
                media = sdp.parse(m.body)
            except sdp.SdpError as exc:
                log.warning("call %s: answer SDP refused: %s", self.call_id, exc)
        self.state = State.CONFIRMED
        if media is None or media.codec is None:
            return [*actions, Answered(None), *self._bye()]
        return [*actions, Answered(media)]

    def _on_failure(self, m: SipMessage) -> list[Action]:
        if self.state is State.ENDED:
            return [Send(self._ack_non_2xx(m), self.next_hop)]  # retransmitted final
        ack = Send(self._ack_non_2xx(m), self.next_hop)
        stops: list[Action] = [StopTimer("A"), StopTimer("B")]
        if m.status in (401, 407) and self.settings.credentials and not self.auth_tried:
            header = "WWW-Authenticate" if m.status == 401 else "Proxy-Authenticate"
            try:
                challenge = Challenge.parse(m.header(header))
            except (DigestError, SipParseError) as exc:
                return [ack, *self._end(Outcome.AUTH_FAILURE, m.status, str(exc), "remote")]
            self.auth_tried = True
            self.cseq += 1
            self.provisional = False
            self.state = State.CALLING
            c = self.settings.credentials
            value = authorization(challenge, "INVITE", self.settings.target, c.username,
                                  c.password, cnonce=self.ids.token(8))
            name = "Authorization" if m.status == 401 else "Proxy-Authorization"
            return [ack, *stops, *self._invite((name, value))]
        outcome = classify(m.status)
        if self.cancel_wanted and m.status == 487:
            outcome = Outcome.NO_ANSWER if self.cancel_wanted == "ring timeout" \
                else Outcome.CANCELLED
        self.final = (m.status, m.reason)
        return [ack, *self._end(outcome, m.status, m.reason, "remote")]

    def _on_request(self, m: SipMessage, source: Address) -> list[Action]:
        if m.method == "BYE" and self.state in (State.CONFIRMED, State.TERMINATING):
            reply = response_to(m, 200, "OK")
            return [Send(reply, source), *self._end(Outcome.ANSWERED, 200, "BYE", "remote")]
        if m.method == "INVITE" and self.state is State.CONFIRMED:  # re-INVITE: keep media
            reply = response_to(m, 200, "OK")
            reply.add("Contact", f"<sip:huifang@{self.settings.local[0]}:"
                                 f"{self.settings.local[1]}>")
            reply.add("Content-Type", "application/sdp")
            reply.body = self.offer_body
            return [Send(reply, source)]
        if m.method == "ACK":
            return []
        if m.method == "OPTIONS":  # an in-dialog keep-alive
            return [Send(response_to(m, 200, "OK"), source)]
        return [Send(response_to(m, 481, "Call/Transaction Does Not Exist"), source)]


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
