"""What a call accepts, and from whom: pure helpers of the UAC (`dialer/uac.py`).

A datagram with the right Call-ID is not yet the call's: a request must come from the
dialog's peer (the trunk's addresses, `trunk.accept_from`; by default the proxy, else the
callee the INVITE went to; and the route set and remote target the dialog learned) and
carry both of the dialog's tags; a response must belong to an open client transaction
(Via branch, CSeq number and method). Here are the pieces of that matching, the reasons a
message is dropped (bounded labels, for counters), and the SIP INFO key presses.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from dialer import sdp
from dialer.sessiontimer import SessionTimer
from dialer.sipactions import (
    Action,
    Address,
    Digit,
    EarlyMedia,
    MediaChanged,
    Send,
    response_to,
    target_address,
)
from dialer.sipmessage import NameAddr, SipMessage

ANY_PORT = 0  # in an accepted address: any port of that host
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"


class Drop:
    """Why a datagram changed nothing: the `reason` label of the dropped counter."""

    DAMAGED = "damaged"  # not SIP, or a header the dialog needs cannot be read
    FOREIGN_SOURCE = "foreign_source"  # from an address that is not the call's peer
    UNKNOWN_CALL = "unknown_call"  # a response for a Call-ID we do not know
    NO_TRANSACTION = "no_transaction"  # branch or CSeq of no open client transaction
    LATE_PROVISIONAL = "late_provisional"  # 1xx after the call was answered or ended
    LATE_FINAL = "late_final"  # a non-2xx final after the 200 OK
    REACK_LIMIT = "reack_limit"  # more 200 retransmissions than any callee sends
    FORK = "fork"  # a 200 of another dialog already ACKed and BYEd, or too many
    WRONG_TAGS = "wrong_tags"  # an ACK of no dialog
    STRANGER = "stranger"  # a request of no call from a host that is not the trunk's


def dialog_parts(response: SipMessage, default_target: str
                 ) -> tuple[str | None, str, list[str]]:
    """To tag, remote target and route set of a 2xx, all read before anything changes:
    a damaged header raises SipParseError and the message is dropped whole."""
    to_tag = NameAddr.parse(response.header("To")).tag
    contact = response.values("Contact")
    remote_target = NameAddr.parse(contact[0]).uri if contact else default_target
    route_set = list(reversed(response.values("Record-Route")))
    for route in route_set:
        target_address(NameAddr.parse(route).uri)
    target_address(remote_target)
    return to_tag, remote_target, route_set


def bare(host: str) -> str:
    """A host as a datagram's source names it: an IPv6 address without its brackets."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def accept_address(text: str) -> Address:
    """'host', 'host:port', '[v6]' or '[v6]:port' -> (host, port), port 0 for any port.
    ValueError for anything else."""
    value = text.strip()
    if value.startswith("["):
        host, close, rest = value[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r}: use [addr]:port")
        port = rest[1:]
    else:
        host, _, port = value.partition(":")
        if ":" in port:
            raise ValueError(f"{text!r}: write an IPv6 address as [addr]:port")
    if not host or any(c.isspace() for c in host) or (
            port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise ValueError(f"{text!r}: use host[:port]")
    return host, int(port) if port else ANY_PORT


def from_any(source: Address, allowed: Iterable[Address]) -> bool:
    """Whether `source` is one of `allowed` (an allowed port 0 takes any port)."""
    return any(source[0] == host and port in (ANY_PORT, source[1]) for host, port in allowed)


# SIP INFO key presses: application/dtmf-relay ("Signal=5\r\nDuration=160") and
# application/dtmf (the key alone). Some gateways write * and # as 10 and 11.
_SIGNAL = re.compile(r"^\s*signal\s*=\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)
_KEYS = frozenset("0123456789*#ABCD")
DTMF_TYPES = ("application/dtmf-relay", "application/dtmf")


def info_digit(content_type: str, body: bytes) -> str | None:
    """The key an INFO carries, or None when its body says no key we know."""
    kind = content_type.partition(";")[0].strip().lower()
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    if kind == "application/dtmf-relay":
        found = _SIGNAL.search(text)
        if found is None:
            return None
        key = found.group(1).upper()
    elif kind == "application/dtmf":
        key = text.strip().upper()
    else:
        return None
    key = {"10": "*", "11": "#"}.get(key, key)
    return key if key in _KEYS and len(key) == 1 else None


@dataclass
class ServedRequests:
    """The answers we gave to the peer's requests, by transaction, so that a
    retransmitted request gets the same answer again and changes nothing twice
    (RFC 3261 §17.2). The last few only: a retransmission comes within seconds."""

    size: int = 16
    _answers: dict[tuple[str, str, int], SipMessage] = field(default_factory=dict)

    @staticmethod
    def key(request: SipMessage) -> tuple[str, str, int]:
        return request.branch, request.method, request.cseq[0]

    def has_branch(self, branch: str) -> bool:
        return any(key[0] == branch for key in self._answers)

    def get(self, request: SipMessage) -> SipMessage | None:
        return self._answers.get(self.key(request))

    def put(self, request: SipMessage, answer: SipMessage) -> None:
        self._answers[self.key(request)] = answer
        while len(self._answers) > self.size:
            del self._answers[next(iter(self._answers))]


@dataclass
class PeerRequests:
    """The peer's requests inside our call's dialog, once the UAC has matched them to it
    (source, Call-ID, both tags) and checked their CSeq order: OPTIONS, INFO key presses,
    UPDATE and re-INVITE (RFC 3311, RFC 4028 refreshes with or without SDP), CANCEL, and
    501 for the methods we do not implement. BYE is the UAC's own: it ends the call."""

    contact: str  # our Contact, in answers that set up or refresh the session
    offer_body: bytes = b""  # our SDP: the answer to any offer (our media never moves)
    media: sdp.MediaDescription | None = None  # where the peer's media is now
    served: ServedRequests = field(default_factory=ServedRequests)
    remote_cseq: int | None = None

    def in_order(self, request: SipMessage) -> bool:
        """RFC 3261 §12.2.2: a request whose CSeq is not above the last one is refused
        (ACK and CANCEL reuse their request's number)."""
        if request.method in ("ACK", "CANCEL"):
            return True
        number = request.cseq[0]
        if self.remote_cseq is not None and number <= self.remote_cseq:
            return False
        self.remote_cseq = number
        return True

    def reply(self, request: SipMessage, source: Address, status: int, reason: str,
              *, body: bytes = b"", extra: tuple[tuple[str, str], ...] = ()) -> Send:
        answer = response_to(request, status, reason)
        for name, value in extra:
            answer.add(name, value)
        if body:
            answer.add("Content-Type", "application/sdp")
            answer.body = body
        self.served.put(request, answer)
        return Send(answer, source)

    def answer(self, request: SipMessage, source: Address, *, early: bool,
               extra: tuple[tuple[str, str], ...] = ()) -> list[Action]:
        """`extra`: headers for the 200 to an UPDATE or re-INVITE (the session timer's)."""
        method = request.method
        if method in ("INVITE", "UPDATE"):
            return self._offer(request, source, early, extra)
        if method == "INFO":
            return self._info(request, source)
        if method == "OPTIONS":
            return [self.reply(request, source, 200, "OK", extra=(
                ("Allow", ALLOW), ("Accept", "application/sdp")))]
        if method == "CANCEL":  # what it would cancel was answered at once: no effect
            known = self.served.has_branch(request.branch)
            return [self.reply(request, source, *((200, "OK") if known else (
                481, "Call/Transaction Does Not Exist")))]
        return [self.reply(request, source, 501, "Not Implemented", extra=(("Allow", ALLOW),))]

    def _offer(self, request: SipMessage, source: Address, early: bool,
               extra: tuple[tuple[str, str], ...]) -> list[Action]:
        contact = (("Contact", self.contact), *extra)
        if request.method == "INVITE" and early:  # RFC 3261 §14.1: not on an early dialog
            return [self.reply(request, source, 400, "Bad Request")]
        if not request.body:  # a refresh (RFC 4028), or a re-INVITE asking for our offer
            body = self.offer_body if request.method == "INVITE" else b""
            return [self.reply(request, source, 200, "OK", body=body, extra=contact)]
        kind = (request.get("Content-Type") or "").partition(";")[0].strip().lower()
        if kind != "application/sdp":
            return [self.reply(request, source, 415, "Unsupported Media Type",
                               extra=(("Accept", "application/sdp"),))]
        try:
            media = sdp.parse(request.body)
        except sdp.SdpError:
            return [self.reply(request, source, 488, "Not Acceptable Here")]
        if media.codec is None or not 0 < media.port < 65536:
            return [self.reply(request, source, 488, "Not Acceptable Here")]
        actions: list[Action] = [self.reply(request, source, 200, "OK", body=self.offer_body,
                                            extra=contact)]
        held = media.address == "0.0.0.0"  # RFC 2543 hold: nowhere to send to
        if not held and not same_media(media, self.media):
            self.media = media
            actions.append(EarlyMedia(media) if early else MediaChanged(media))
        return actions

    def refresh(self, request: SipMessage, source: Address, timer: SessionTimer
                ) -> list[Action]:
        """The peer's re-INVITE or UPDATE in the confirmed dialog, with the session
        timer's part (RFC 4028 §9): 491 while our re-INVITE is pending (RFC 3261 §14.2),
        422 below our Min-SE; a 200 restarts the timer and says its interval."""
        if request.method == "INVITE" and timer.invite_pending:
            return [self.reply(request, source, 491, "Request Pending")]
        part = timer.peer_refresh(request)
        if part.status == 422:
            return [self.reply(request, source, 422, "Session Interval Too Small",
                               extra=part.headers)]
        actions = self.answer(request, source, early=False, extra=part.headers)
        answer = actions[0]
        if isinstance(answer, Send) and answer.message.status == 200:
            actions += part.actions
        return actions

    def answered(self, body: bytes) -> list[Action]:
        """The peer's SDP in its 2xx to our re-INVITE: MediaChanged if it moved."""
        if not body:
            return []
        try:
            media = sdp.parse(body)
        except sdp.SdpError:
            return []
        if media.codec is None or same_media(media, self.media):
            return []
        self.media = media
        return [MediaChanged(media)]

    def _info(self, request: SipMessage, source: Address) -> list[Action]:
        if not request.body:  # an empty INFO: a keep-alive
            return [self.reply(request, source, 200, "OK")]
        content_type = request.get("Content-Type") or ""
        if content_type.partition(";")[0].strip().lower() not in DTMF_TYPES:
            return [self.reply(request, source, 415, "Unsupported Media Type",
                               extra=(("Accept", ", ".join(DTMF_TYPES)),))]
        digit = info_digit(content_type, request.body)
        if digit is None:
            return [self.reply(request, source, 400, "Bad Request")]
        return [self.reply(request, source, 200, "OK"), Digit(digit)]


def same_media(a: sdp.MediaDescription, b: sdp.MediaDescription | None) -> bool:
    return b is not None and (a.address, a.port, a.codec, a.telephone_event) == (
        b.address, b.port, b.codec, b.telephone_event)


def dialog_of(m: SipMessage, local_tag: str, answered: bool, remote_tag: str | None,
              early_tags: Collection[str]) -> str | None:
    """'confirmed' or 'early' when a request carries both tags of one of a call's dialogs
    (theirs in From, ours in To), else None: once answered only the answered dialog's
    `remote_tag` counts, before it the early dialogs' `early_tags`."""
    theirs = NameAddr.parse(m.header("From")).tag
    ours = NameAddr.parse(m.header("To")).tag
    if ours != local_tag or theirs is None:
        return None
    if answered:
        return "confirmed" if theirs == remote_tag else None
    return "early" if theirs in early_tags else None
