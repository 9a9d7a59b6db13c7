"""Session timers (RFC 4028) of one call, as a pure helper of the UAC (`dialer/uac.py`):
no clock, no socket; its timers are named actions the driver feeds back as events.

Our INVITE offers `Supported: timer` with `Session-Expires` and `Min-SE`; a 422 (Session
Interval Too Small) is answered by the UAC with a new INVITE asking the 422's Min-SE. The
2xx decides: no `Session-Expires`, no timer; `refresher=uac` (or none said), we refresh;
`refresher=uas`, the callee does.

- When we refresh, at half the interval: UPDATE if the peer's Allow lists it, else a
  re-INVITE with our very same SDP (a new CSeq; its 2xx ACKed, a retransmitted 2xx ACKed
  again). 422: again at once with the bigger Min-SE. 491 (glare): again after 2.1-4 s
  (RFC 3261 §14.1). 501 or 405 to an UPDATE: a re-INVITE. Any other failure, or no
  answer: the call is hung up (`Step.hang_up`).
- When the peer refreshes and nothing comes by the expiry minus min(32 s, a third of the
  interval) (RFC 4028 §10), the call is hung up.
- A refresh from the peer (an UPDATE or re-INVITE we answer 2xx) restarts the timer; our
  200 says the interval and who refreshes next (`peer_refresh`). One below our Min-SE
  gets 422.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dialer.sipactions import T1, Action, Address, Send, SetTimer, StopTimer, ack_of_non_2xx
from dialer.sipmessage import SipMessage

REFRESH = "session_refresh"  # time to send our refresh
EXPIRY = "session_expiry"  # the peer's refresh did not come in time
RETRANSMIT = "refresh_retransmit"  # our refresh again (UDP)
TIMEOUT = "refresh_timeout"  # our refresh got no final answer
TIMERS = (REFRESH, EXPIRY, RETRANSMIT, TIMEOUT)
RFC_MIN_SE = 90  # RFC 4028 §4: the smallest Min-SE a UA may ask for (tests go lower)
MAX_422 = 2  # new tries after a 422, each with a bigger Min-SE
GLARE_WAIT = (2.1, 4.0)  # RFC 3261 §14.1, as the owner of the Call-ID
MAX_ACKS = 4  # 2xx of our re-INVITEs whose ACK is kept for retransmissions


@dataclass(frozen=True)
class Interval:
    seconds: int
    refresher: str | None  # "uac" or "uas" as written (relative to that transaction)


def parse_interval(message: SipMessage) -> Interval | None:
    """The Session-Expires of a message (compact `x` too); None when absent or unreadable
    (an unreadable one is taken as no timer rather than a damaged message)."""
    value = message.get("Session-Expires")
    if value is None:
        return None
    delta, *params = (p.strip() for p in value.split(";"))
    if not delta.isdigit() or int(delta) < 1:
        return None
    refresher = None
    for p in params:
        name, _, v = p.partition("=")
        if name.strip().lower() == "refresher" and v.strip().lower() in ("uac", "uas"):
            refresher = v.strip().lower()
    return Interval(int(delta), refresher)


def parse_min_se(message: SipMessage) -> int | None:
    value = (message.get("Min-SE") or "").partition(";")[0].strip()
    return int(value) if value.isdigit() else None


def supports_timer(message: SipMessage) -> bool:
    return any(v.strip().lower() == "timer" for name in ("Supported", "Require")
               for v in message.values(name))


def expiry_after(seconds: int) -> float:
    """When the peer's refresh is given up on (RFC 4028 §10)."""
    return seconds - min(32.0, seconds / 3)


@dataclass(frozen=True)
class Step:
    actions: list[Action]
    hang_up: str = ""  # the call must end (BYE), and why
    answer_sdp: bytes = b""  # the SDP of a 2xx to our re-INVITE (the peer's media)


@dataclass(frozen=True)
class PeerReply:
    """What our answer to the peer's UPDATE or re-INVITE says about the session timer:
    a 422 (`status`), or the headers of the 2xx and the timers it restarts."""

    status: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    actions: tuple[Action, ...] = ()


@dataclass
class SessionTimer:
    expires: int  # the interval we ask for; 0: none asked (a peer's timer is honoured)
    min_se: int
    new_request: Callable[[str], SipMessage]  # an in-dialog request, the next CSeq
    ack_2xx: Callable[[int], SipMessage]  # the ACK of a 2xx to our re-INVITE of that CSeq
    hop: Callable[[], Address]  # where in-dialog requests go
    offer_body: Callable[[], bytes]  # our SDP, unchanged
    jitter: Callable[[], float]  # in [0, 1): how long a glare wait is
    interval: int = 0  # 0: no timer running
    we_refresh: bool = False
    peer_update: bool = False  # the peer's Allow lists UPDATE
    retries_422: int = 0
    stopped: bool = False
    _pending: SipMessage | None = None  # our refresh in its transaction
    _retransmit: float = T1
    _acks: dict[tuple[str, int], SipMessage] = field(default_factory=dict)

    # -- our INVITE ----------------------------------------------------------------------
    def invite_headers(self) -> list[tuple[str, str]]:
        if not self.expires:
            return []
        return [("Supported", "timer"),
                ("Session-Expires", str(max(self.expires, self.min_se))),
                ("Min-SE", str(self.min_se))]

    def too_small(self, response: SipMessage) -> bool:
        """A 422 to our INVITE: True when a new INVITE may ask its bigger Min-SE."""
        wanted = parse_min_se(response)
        if wanted is None or wanted <= self.min_se or self.retries_422 >= MAX_422:
            return False
        self.retries_422 += 1
        self.min_se = wanted
        self.expires = max(self.expires, wanted)
        return True

    def answered(self, response: SipMessage) -> list[Action]:
        """The 2xx that answered our INVITE."""
        self.peer_update = any(v.strip().upper() == "UPDATE" for v in response.values("Allow"))
        return self._from_response(response)

    # -- timers --------------------------------------------------------------------------
    def _start(self, seconds: int, we_refresh: bool) -> list[Action]:
        self.interval, self.we_refresh = seconds, we_refresh
        if we_refresh:
            return [StopTimer(EXPIRY), SetTimer(REFRESH, seconds / 2)]
        return [StopTimer(REFRESH), SetTimer(EXPIRY, expiry_after(seconds))]

    def _from_response(self, response: SipMessage) -> list[Action]:
        interval = parse_interval(response)
        if interval is None:  # RFC 4028 §7.2: no Session-Expires, no expiration
            self.interval = 0
            return [StopTimer(REFRESH), StopTimer(EXPIRY)]
        return self._start(max(interval.seconds, 1), interval.refresher != "uas")

    def stop(self) -> list[Action]:
        """The call is ending: no more refreshes nor expiry (a 2xx still gets its ACK)."""
        self.stopped = True
        self.interval = 0
        return [StopTimer(name) for name in TIMERS]

    def on_timer(self, name: str) -> Step:
        if self.stopped:
            return Step([])
        if name == REFRESH and self.interval and self.we_refresh and self._pending is None:
            return Step(self._send_refresh())
        if name == EXPIRY and self.interval and not self.we_refresh:
            return Step([], hang_up=f"session expired: no refresh from the peer within "
                                    f"{self.interval} s")
        pending = self._pending
        if name == RETRANSMIT and pending is not None:
            self._retransmit *= 2
            if pending.method != "INVITE":
                self._retransmit = min(self._retransmit, 4.0)
            return Step([Send(pending, self.hop()), SetTimer(RETRANSMIT, self._retransmit)])
        if name == TIMEOUT and pending is not None:
            self._pending = None
            return Step([StopTimer(RETRANSMIT)],
                        hang_up=f"session refresh ({pending.method}) unanswered")
        return Step([])

    # -- our refresh ---------------------------------------------------------------------
    @property
    def invite_pending(self) -> bool:
        return self._pending is not None and self._pending.method == "INVITE"

    def _send_refresh(self) -> list[Action]:
        method = "UPDATE" if self.peer_update else "INVITE"
        m = self.new_request(method)
        m.add("Session-Expires", f"{max(self.interval, self.min_se)};refresher=uac")
        m.add("Min-SE", str(self.min_se))
        m.add("Supported", "timer")
        if method == "INVITE":
            m.add("Content-Type", "application/sdp")
            m.body = self.offer_body()
        self._pending, self._retransmit = m, T1
        # no later than the session's end: a refresh unanswered by then is a dead session
        timeout = min(64 * T1, max(self.interval / 2, T1))
        return [Send(m, self.hop()), SetTimer(RETRANSMIT, T1), SetTimer(TIMEOUT, timeout)]

    def owns(self, response: SipMessage) -> bool:
        """Whether a response is of our refresh (open, or a re-INVITE whose 2xx we ACKed)."""
        number, method = response.cseq
        pending = self._pending
        if pending is not None and response.branch == pending.branch \
                and (number, method) == pending.cseq:
            return True
        return method == "INVITE" and (response.branch, number) in self._acks

    def on_response(self, response: SipMessage) -> Step:
        number, _ = response.cseq
        status = response.status
        ack = self._acks.get((response.branch, number))
        if ack is not None:  # our re-INVITE's 2xx again: our ACK was lost
            return Step([Send(ack, self.hop())] if 200 <= status < 300 else [])
        pending = self._pending
        assert pending is not None  # `owns` brought us here
        if status < 200:
            return Step([StopTimer(RETRANSMIT)] if pending.method == "INVITE" else [])
        self._pending = None
        actions: list[Action] = [StopTimer(RETRANSMIT), StopTimer(TIMEOUT)]
        if pending.method == "INVITE":
            if status < 300:
                ack = self.ack_2xx(number)
                self._acks[(response.branch, number)] = ack
                while len(self._acks) > MAX_ACKS:
                    del self._acks[next(iter(self._acks))]
            else:
                ack = ack_of_non_2xx(pending, response)
            actions.append(Send(ack, self.hop()))
        if self.stopped:
            return Step(actions)
        if status < 300:
            body = response.body if pending.method == "INVITE" else b""
            return Step(actions + self._from_response(response), answer_sdp=body)
        if status == 422:
            wanted = parse_min_se(response)
            if wanted is not None and wanted > self.min_se:
                self.min_se = wanted
                self.interval = max(self.interval, wanted)
                return Step(actions + self._send_refresh())
        if status == 491:
            low, high = GLARE_WAIT
            return Step([*actions, SetTimer(REFRESH, low + (high - low) * self.jitter())])
        if status in (405, 501) and pending.method == "UPDATE":
            self.peer_update = False
            return Step(actions + self._send_refresh())
        return Step(actions, hang_up=f"session refresh ({pending.method}) refused: "
                                     f"{status} {response.reason}")

    # -- the peer's refresh --------------------------------------------------------------
    def peer_refresh(self, request: SipMessage) -> PeerReply:
        """The session-timer part of our answer to the peer's UPDATE or re-INVITE. In the
        request, refresher=uac is the peer (it sent it), uas is us."""
        if self.stopped:
            return PeerReply()
        interval = parse_interval(request)
        if interval is None:
            if not self.interval:
                return PeerReply()
            # a request without a timer while one runs: we keep it and refresh it
            # ourselves (RFC 4028 §9: the UAS may ask for one, refresher=uas)
            seconds, we_refresh = self.interval, True
        elif interval.seconds < self.min_se:
            return PeerReply(422, (("Min-SE", str(self.min_se)),))
        else:
            seconds = interval.seconds
            we_refresh = interval.refresher == "uas" or (
                interval.refresher is None and not supports_timer(request))
        headers = [("Session-Expires", f"{seconds};refresher={'uas' if we_refresh else 'uac'}")]
        if not we_refresh:  # RFC 4028 §9: the peer must see that it refreshes
            headers.append(("Require", "timer"))
        return PeerReply(0, tuple(headers), tuple(self._start(seconds, we_refresh)))
