"""One outbound call as a pure state machine: `step(event) -> actions`.

The INVITE client transaction (RFC 3261 §17.1.1: timers A, B, D), the dialog it makes,
CANCEL at the ring timeout, BYE either way, digest authentication on 401/407 (one more
try on `stale=true`), and the non-INVITE transactions for CANCEL and BYE (timers E, F; K
is zero on UDP for our use, as nothing is absorbed after a final response to BYE).
Session timers (RFC 4028: our refreshes, the peer's, 422 and expiry) are
`dialer/sessiontimer.py`'s; this machine routes their timers, responses and requests.
Nothing here touches a socket or a clock: timers are named actions that the driver
schedules and feeds back as events.

Nothing that arrives changes the call until it is matched to it (`dialer/dialog.py`):
every message must come from the call's peer; a response must belong to an open client
transaction (branch, CSeq number and method); a request must carry both of the dialog's
tags and a CSeq above the last one. After the answer, a 200 with the dialog's tag is a
retransmission (ACKed again, its SDP never read), a 200 with another tag is a forked
dialog (ACKed and BYEd once, RFC 3261 §13.2.2.4), and a 1xx or a non-2xx final is
dropped. What is dropped is said with a `Dropped` action, for the endpoint to count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from dialer import sdp
from dialer import sessiontimer as st
from dialer.dialog import ALLOW, Drop, PeerRequests, dialog_of, dialog_parts, from_any
from dialer.digest import (
    Challenge,
    DigestError,
    answer_header,
    authorization,
    challenge_header,
)
from dialer.outcomes import Outcome, classify
from dialer.sipactions import (
    ANSWERED_STATES,
    T1,
    T2,
    Action,
    Address,
    Answered,
    CallSettings,
    Dropped,
    EarlyMedia,
    Ended,
    Event,
    Hangup,
    Ids,
    Received,
    Send,
    SetTimer,
    Start,
    State,
    StopTimer,
    TimerFired,
    TransportError,
    ack_of_non_2xx,
    cancel_of,
    target_address,
)
from dialer.sipmessage import NameAddr, SipMessage, SipParseError

log = logging.getLogger(__name__)
MAX_REACKS = 16  # a callee retransmits its 200 about 10 times before giving up (64*T1)
MAX_FORKS = 4  # other dialogs of one INVITE that we ACK and BYE
MAX_EARLY = 8  # early dialogs remembered (tags of 1xx)


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
    stale_retried: bool = False
    answered: bool = False
    offer_body: bytes = b""
    early_tags: list[str] = field(default_factory=list)
    forks: set[str] = field(default_factory=set)  # To tags of other dialogs, ACKed and BYEd
    reacks: int = 0
    peer: PeerRequests = field(init=False)
    _ack: SipMessage | None = None  # the ACK of our dialog's 200, sent again as it was
    _previous: SipMessage | None = None  # the INVITE before a digest retry
    _fork_byes: set[str] = field(default_factory=set)  # branches of the forks' BYEs
    _timer_a: float = T1
    _pending: SipMessage | None = None  # the CANCEL or BYE in its non-INVITE transaction
    _pending_to: Address = ("", 0)
    _timer_e: float = T1
    _authorization: tuple[str, str] | None = None  # kept for a new INVITE after a 422
    _bye_reason: tuple[str, str] | None = None  # why we hung up, when it is not the flow's
    timer: st.SessionTimer = field(init=False)

    def __post_init__(self) -> None:
        host, port = self.settings.local
        self.peer = PeerRequests(contact=f"<sip:huifang@{host}:{port}>")
        self.timer = st.SessionTimer(
            self.settings.session_expires, self.settings.min_se, self._in_dialog_request,
            lambda number: self._request("ACK", self.remote_target, number, self.ids.branch(),
                                         self.remote_tag),
            self._in_dialog_hop, lambda: self.offer_body,
            lambda: int(self.ids.token(2), 16) / 65536)

    @property
    def next_hop(self) -> Address:
        return self.settings.proxy or target_address(self.settings.target)

    def peers(self) -> list[Address]:
        """Who may speak for this call: where the INVITE goes (the proxy, else the
        callee) and the trunk's other addresses (`accept_from`); once answered, also where
        the dialog's requests go and its remote target."""
        allowed = [self.next_hop, *self.settings.accept_from]
        if self.answered:
            allowed.append(self._in_dialog_hop())
            allowed.append(target_address(self.remote_target))
        return allowed

    # -- building messages -------------------------------------------------------------
    def _request(self, method: str, uri: str, cseq: int, branch: str,
                 to_tag: str | None, route_set: list[str] | None = None) -> SipMessage:
        s = self.settings
        host, port = s.local
        to = NameAddr(s.target) if to_tag is None else NameAddr(s.target).with_tag(to_tag)
        m = SipMessage(method=method, uri=uri)
        m.add("Via", f"SIP/2.0/UDP {host}:{port};branch={branch};rport")
        for route in self.route_set if route_set is None else route_set:
            m.add("Route", route)  # empty until the dialog exists
        m.add("Max-Forwards", "70")
        m.add("From", str(NameAddr(s.caller).with_tag(self.local_tag)))
        m.add("To", str(to))
        m.add("Call-ID", self.call_id)
        m.add("CSeq", f"{cseq} {method}")
        m.add("Contact", self.peer.contact)
        m.add("User-Agent", s.user_agent)
        return m

    def _invite(self, authorization_header: tuple[str, str] | None = None) -> list[Action]:
        self.branch = self.ids.branch()
        m = self._request("INVITE", self.settings.target, self.cseq, self.branch, None)
        m.add("Allow", ALLOW)
        for header in self.timer.invite_headers():
            m.add(*header)
        self._authorization = authorization_header or self._authorization
        if self._authorization:
            m.add(*self._authorization)
        m.add("Content-Type", "application/sdp")
        m.body = self.offer_body
        self._previous, self.invite = self.invite, m
        self._timer_a = T1
        return [Send(m, self.next_hop), SetTimer("A", T1), SetTimer("B", 64 * T1)]

    def _ack_2xx(self, remote_target: str, to_tag: str | None,
                 route_set: list[str]) -> SipMessage:
        """A new transaction, but the INVITE's CSeq number, even after a BYE was sent
        (a retransmitted 200 is ACKed as the first was)."""
        assert self.invite is not None
        return self._request("ACK", remote_target, self.invite.cseq[0], self.ids.branch(),
                             to_tag, route_set)

    def _in_dialog_hop(self, route_set: list[str] | None = None,
                       remote_target: str | None = None) -> Address:
        routes = self.route_set if route_set is None else route_set
        if routes:
            return target_address(NameAddr.parse(routes[0]).uri)
        return self.settings.proxy or target_address(
            self.remote_target if remote_target is None else remote_target)

    # -- the machine -------------------------------------------------------------------
    def step(self, event: Event) -> list[Action]:
        handler = {Start: self._on_start, Received: self._on_received,
                   TimerFired: self._on_timer, Hangup: self._on_hangup,
                   TransportError: self._on_transport_error}[type(event)]
        before = self.state
        try:
            actions: list[Action] = handler(event)  # type: ignore[operator]
        except SipParseError:  # a damaged message: dropped whole, the call goes on
            return [Dropped(Drop.DAMAGED)]
        if self.state is not before:
            log.info("call %s: %s -> %s", self.call_id, before, self.state)
        return actions

    def _end(self, outcome: Outcome, code: int, reason: str, by: str) -> list[Action]:
        self.state = State.ENDED
        stops: list[Action] = [StopTimer(t) for t in ("A", "B", "ring", "E", "F", *st.TIMERS)]
        return [*stops, Ended(outcome, code, reason, by)]

    def _on_start(self, _: Start) -> list[Action]:
        if self.state is not State.IDLE:
            return []
        s = self.settings
        self.call_id = s.call_id or self.ids.call_id(s.local[0])
        self.local_tag = self.ids.tag()
        self.offer_body = sdp.offer(s.local[0], s.media_port, session_id=abs(hash(
            self.call_id)) % 10**9, rtcp_mux=s.rtcp_mux)
        self.peer.offer_body = self.offer_body
        self.state = State.CALLING
        return [*self._invite(), SetTimer("ring", s.ring_timeout)]

    def _on_timer(self, event: TimerFired) -> list[Action]:
        name = event.name
        if name in st.TIMERS:
            return self._session(self.timer.on_timer(name)) \
                if self.state is State.CONFIRMED else []
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
            reason, by = self._bye_reason or ("BYE unanswered", "local")
            return self._end(Outcome.ANSWERED, 200, reason, by)
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
        cancel = cancel_of(self.invite)
        self.state = State.CANCELLING
        self.cancel_wanted = why
        # the 487 is due within 64*T1 of the CANCEL (RFC 3261 §9.1), else the call ends
        return [StopTimer("ring"), SetTimer("B", 64 * T1),
                *self._non_invite(cancel, self.next_hop)]

    def _on_hangup(self, event: Hangup) -> list[Action]:
        if self.state in (State.CALLING, State.PROCEEDING):
            return self._cancel(event.reason or "hung up by us")
        if self.state is State.CONFIRMED:
            return self._bye(event.reason)
        if self.state is State.IDLE:
            self.state = State.ENDED
            return [Ended(Outcome.CANCELLED, 0, "never started", "local")]
        return []

    def _in_dialog_request(self, method: str) -> SipMessage:
        self.cseq += 1
        return self._request(method, self.remote_target, self.cseq, self.ids.branch(),
                             self.remote_tag)

    def _bye(self, reason: str = "", by: str = "local") -> list[Action]:
        """`reason`: why the engine itself ends an answered call (the session timer)."""
        if reason:
            log.info("call %s: hanging up: %s", self.call_id, reason)
            self._bye_reason = (reason, by)
        bye = self._in_dialog_request("BYE")
        self.state = State.TERMINATING
        return [*self.timer.stop(), *self._non_invite(bye, self._in_dialog_hop())]

    def _session(self, step: st.Step) -> list[Action]:
        """What the session timer asks: its sends and timers, maybe a new place for the
        peer's media (its answer to our re-INVITE), maybe the end of the call."""
        actions = [*step.actions, *self.peer.answered(step.answer_sdp)]
        if step.hang_up and self.state is State.CONFIRMED:
            actions += self._bye(step.hang_up, "network")
        return actions

    def _on_transport_error(self, event: TransportError) -> list[Action]:
        if self.state in (State.ENDED, State.IDLE):
            return []
        if self.state in ANSWERED_STATES:
            return self._end(Outcome.ANSWERED, 200, f"transport: {event.reason}", "network")
        return self._end(Outcome.TRANSPORT_FAILURE, 0, event.reason, "network")

    # -- what arrives ------------------------------------------------------------------
    def _on_received(self, event: Received) -> list[Action]:
        m = event.message
        if not from_any(event.source, self.peers()):
            return [Dropped(Drop.FOREIGN_SOURCE)]
        if m.is_request:
            return self._on_request(m, event.source)
        number, method = m.cseq
        if self.answered and self.timer.owns(m):
            return self._session(self.timer.on_response(m))
        if method == "INVITE":
            return self._on_invite_response(m, number)
        pending = self._pending
        if method in ("CANCEL", "BYE") and pending is not None \
                and pending.cseq == (number, method) and m.branch == pending.branch:
            if m.status < 200:
                return []  # a provisional to our BYE or CANCEL: its timers go on
            self._pending = None
            actions: list[Action] = [StopTimer("E"), StopTimer("F")]
            if method == "BYE":
                code, reason = self.final or (200, "OK")
                reason, by = self._bye_reason or (reason, "local")
                return actions + self._end(Outcome.ANSWERED, code, reason, by)
            return actions  # CANCEL accepted: the 487 to the INVITE ends the call
        if method == "BYE" and m.branch in self._fork_byes:
            return []  # the answer to a forked dialog's BYE
        return [Dropped(Drop.NO_TRANSACTION)]

    def _on_invite_response(self, m: SipMessage, number: int) -> list[Action]:
        previous = self._previous
        if previous is not None and m.branch == previous.branch and m.status >= 300 \
                and number == previous.cseq[0]:
            # the challenge we already answered, again: our ACK of it was lost
            return [Send(ack_of_non_2xx(previous, m), self.next_hop)]
        if self.invite is None or m.branch != self.branch or number != self.invite.cseq[0]:
            return [Dropped(Drop.NO_TRANSACTION)]  # a stray or an old transaction's response
        status = m.status
        if status < 200:
            return self._on_provisional(m)
        if status < 300:
            return self._on_2xx(m)
        return self._on_failure(m)

    def _on_provisional(self, m: SipMessage) -> list[Action]:
        if self.state is State.CANCELLING:
            return []
        if self.state not in (State.CALLING, State.PROCEEDING):
            return [Dropped(Drop.LATE_PROVISIONAL)]
        tag = NameAddr.parse(m.header("To")).tag
        first = not self.provisional
        self.provisional = True
        if tag and tag not in self.early_tags and len(self.early_tags) < MAX_EARLY:
            self.early_tags.append(tag)
        # RFC 3261 §17.1.1.2: timer B runs in Calling only; ringing is the ring timer's
        actions: list[Action] = [StopTimer("A"), StopTimer("B")]
        if self.state is State.CALLING:
            self.state = State.PROCEEDING
        if m.status in (180, 183) and m.body and (m.get("Content-Type") or "").startswith(
                "application/sdp"):
            try:
                media = sdp.parse(m.body)
            except sdp.SdpError:
                log.warning("call %s: early media SDP refused (%d bytes)", self.call_id,
                            len(m.body))
            else:
                self.peer.media = media
                actions.append(EarlyMedia(media))
        if first and self.cancel_wanted:
            actions += self._cancel(self.cancel_wanted)
        return actions

    def _on_2xx(self, m: SipMessage) -> list[Action]:
        to_tag, remote_target, route_set = dialog_parts(m, self.settings.target)
        if self.answered:
            if to_tag != self.remote_tag:
                return self._fork(to_tag, remote_target, route_set)
            if self.reacks >= MAX_REACKS or self._ack is None:
                return [Dropped(Drop.REACK_LIMIT)]
            self.reacks += 1  # a retransmission: our ACK was lost; its SDP is not read
            return [Send(self._ack, self._in_dialog_hop())]
        if self.state is State.ENDED:
            return [Dropped(Drop.NO_TRANSACTION)]
        self.remote_tag = to_tag
        self.remote_target = remote_target
        self.route_set = route_set
        self.answered = True
        self.final = (m.status, m.reason)
        self._ack = self._ack_2xx(remote_target, to_tag, route_set)
        actions: list[Action] = [StopTimer("A"), StopTimer("B"), StopTimer("ring"),
                                 StopTimer("E"), StopTimer("F")]
        actions.append(Send(self._ack, self._in_dialog_hop()))
        if self.state is State.CANCELLING:  # answered as we cancelled: end it at once
            self.state = State.CONFIRMED
            return actions + self._bye()
        media = None
        if m.body:
            try:
                media = sdp.parse(m.body)
            except sdp.SdpError:
                log.warning("call %s: answer SDP refused (%d bytes)", self.call_id,
                            len(m.body))
        self.state = State.CONFIRMED
        if media is None or media.codec is None:
            return [*actions, Answered(None), *self._bye()]
        self.peer.media = media
        actions += [Answered(media), *self.timer.answered(m)]
        if self.timer.interval:
            log.info("call %s: session timer %d s, refreshed by %s", self.call_id,
                     self.timer.interval, "us" if self.timer.we_refresh else "the peer")
        return actions

    def _fork(self, to_tag: str | None, remote_target: str, route_set: list[str]
              ) -> list[Action]:
        """A 200 of another dialog than ours (RFC 3261 §13.2.2.4): ACKed and BYEd once,
        to that dialog's own target, never as our dialog's retransmission."""
        tag = to_tag or ""
        if tag in self.forks or len(self.forks) >= MAX_FORKS:
            return [Dropped(Drop.FORK)]
        hop = self._in_dialog_hop(route_set, remote_target)
        if not from_any(hop, self.peers()):
            return [Dropped(Drop.FORK)]  # we send only where the trunk is
        self.forks.add(tag)
        ack = self._ack_2xx(remote_target, to_tag, route_set)
        assert self.invite is not None
        bye = self._request("BYE", remote_target, self.invite.cseq[0] + 1, self.ids.branch(),
                            to_tag, route_set)
        self._fork_byes.add(bye.branch)
        log.info("call %s: a second dialog answered; ACKed and hung up", self.call_id)
        return [Send(ack, hop), Send(bye, hop)]

    def _on_failure(self, m: SipMessage) -> list[Action]:
        if self.answered:
            return [Dropped(Drop.LATE_FINAL)]  # a 486 after the 200 OK ends nothing
        assert self.invite is not None  # a response of its transaction brought us here
        ack = Send(ack_of_non_2xx(self.invite, m), self.next_hop)
        if self.state is State.ENDED:
            return [ack]  # a retransmitted final: our ACK was lost
        stops: list[Action] = [StopTimer("A"), StopTimer("B")]
        if m.status in (401, 407) and self.settings.credentials:
            try:
                challenge = Challenge.parse(m.header(challenge_header(m.status)))
            except (DigestError, SipParseError) as exc:
                return [ack, *self._end(Outcome.AUTH_FAILURE, m.status, str(exc), "remote")]
            # One answer to a challenge; one more when the server says our nonce went
            # stale (RFC 2617 §3.2.1): the password was right, the nonce is new.
            if not self.auth_tried or (challenge.stale and not self.stale_retried):
                self.stale_retried = self.auth_tried
                self.auth_tried = True
                return [ack, *stops, *self._answer_challenge(m.status, challenge)]
        if m.status == 422 and self.timer.too_small(m):  # RFC 4028 §7.4: a longer interval
            log.info("call %s: 422, asking Min-SE %d", self.call_id, self.timer.min_se)
            return [ack, *stops, *self._invite_again()]
        outcome, reason = classify(m.status), m.reason
        if self.cancel_wanted and m.status == 487:
            outcome = Outcome.NO_ANSWER if self.cancel_wanted == "ring timeout" \
                else Outcome.CANCELLED
            if self.cancel_wanted not in ("ring timeout", "hung up by us"):
                reason = f"{m.reason} ({self.cancel_wanted})"  # the reason we gave
        self.final = (m.status, m.reason)
        return [ack, *self._end(outcome, m.status, reason, "remote")]

    def _answer_challenge(self, status: int, challenge: Challenge) -> list[Action]:
        c = self.settings.credentials
        assert c is not None
        return self._invite_again((answer_header(status), authorization(
            challenge, "INVITE", self.settings.target, c.username, c.password,
            cnonce=self.ids.token(8))))

    def _invite_again(self, authorization_header: tuple[str, str] | None = None
                      ) -> list[Action]:
        """A new INVITE (new CSeq) after a challenge or a 422."""
        self.cseq += 1
        self.provisional = False
        self.early_tags.clear()
        self.state = State.CALLING
        return self._invite(authorization_header)

    def _on_request(self, m: SipMessage, source: Address) -> list[Action]:
        dialog = None if self.state is State.ENDED else dialog_of(
            m, self.local_tag, self.answered, self.remote_tag, self.early_tags)
        if m.method == "ACK":  # of our answer to a re-INVITE: it changes nothing
            return [] if dialog is not None else [Dropped(Drop.WRONG_TAGS)]
        again = self.peer.served.get(m)
        if again is not None:  # a retransmission: the same answer, nothing done twice
            return [Send(again, source)]
        if dialog is None:
            if m.method == "OPTIONS" and NameAddr.parse(m.header("To")).tag is None:
                return [self.peer.reply(m, source, 200, "OK", extra=(("Allow", ALLOW),))]
            return [self.peer.reply(m, source, 481, "Call/Transaction Does Not Exist")]
        if not self.peer.in_order(m):
            return [self.peer.reply(m, source, 500, "Server Internal Error",
                                    extra=(("Retry-After", "1"),))]
        if m.method == "BYE":
            if dialog == "early":
                return [self.peer.reply(m, source, 481, "Call/Transaction Does Not Exist")]
            return [self.peer.reply(m, source, 200, "OK"),
                    *self._end(Outcome.ANSWERED, 200, "BYE", "remote")]
        if m.method in ("INVITE", "UPDATE") and dialog == "confirmed":
            return self.peer.refresh(m, source, self.timer)  # with the session timer's part
        return self.peer.answer(m, source, early=dialog == "early")
