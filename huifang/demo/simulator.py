"""A loopback "citizen simulator": a SIP user agent that answers huifang's calls like
real people. It is the project's own test double (the demo's callee and one of the
integration tests' peers, beside sipp and baresip).

Each number dialled has a `Citizen`: busy, rejecting, never answering, a carrier
announcement on early media, or answering and then taking `turns`, one each time the
caller's prompt ends (its audio falls quiet): say something (audio rendered beforehand),
press a key, stay silent, or hang up. `barge_in` answers over the prompt instead.
"""

from __future__ import annotations

import enum
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from twisted.internet.protocol import DatagramProtocol

from dialer import sdp
from dialer.media import MediaSession
from dialer.sipactions import response_to
from dialer.sipmessage import NameAddr, SipMessage, SipParseError

log = logging.getLogger(__name__)
QUIET_RMS = 300.0  # 16-bit PCM: below this the caller is not speaking
PROMPT_MIN_S = 0.4  # a prompt is at least this long
PROMPT_END_S = 0.9  # quiet after a prompt that means it ended (espeak pauses are shorter)
SILENT_CALLER_S = 3.0  # no RTP from the caller for this long: the citizen hangs up


class Behaviour(enum.StrEnum):
    ANSWER = "answer"
    BUSY = "busy"  # 486
    REJECT = "reject"  # 603
    NO_ANSWER = "no_answer"  # rings until the caller gives up
    ANNOUNCEMENT = "announcement"  # 183 with a carrier announcement, then 480


@dataclass(frozen=True)
class Turn:
    kind: str  # "say", "key", "silence", "hangup"
    pcm: bytes = b""
    digit: str = ""
    label: str = ""  # what is said, for logs and tests


@dataclass(frozen=True)
class Citizen:
    behaviour: Behaviour = Behaviour.ANSWER
    turns: tuple[Turn, ...] = ()
    ring_s: float = 0.5
    barge_in_after_s: float | None = None  # answer this far into a prompt, over it
    barge_in_turn: int = 1  # ... the prompt before this turn (0: the greeting's)
    announcement: bytes = b""


@dataclass
class _Call:
    citizen: Citizen
    invite: SipMessage
    source: tuple[str, int]
    tag: str
    media: MediaSession
    port: Any
    turn: int = 0
    voiced_s: float = 0.0
    quiet_s: float = 0.0
    heard_prompt_s: float = 0.0
    speaking_until: float = 0.0
    answered: bool = False
    ended: bool = False
    events: list[str] = field(default_factory=list)
    span: list[float] = field(default_factory=list)


class CitizenSimulator(DatagramProtocol):
    """The UAS. `citizens` maps the dialled user part (the phone number) to a Citizen;
    unknown numbers get 404."""

    def __init__(self, reactor: Any, citizens: dict[str, Citizen], host: str = "127.0.0.1"
                 ) -> None:
        self.reactor, self.citizens, self.host = reactor, citizens, host
        self.calls: dict[str, _Call] = {}
        self.history: dict[str, list[str]] = {}  # number -> what happened, call after call
        self.spans: dict[str, list[list[float]]] = {}  # number -> [invited, ended] per call
        self.garbled = 0

    def overlapping(self) -> list[str]:
        """Numbers that were in two calls at once (never allowed)."""
        return [n for n, spans in self.spans.items() if any(
            b[0] < a[1] for a, b in zip(sorted(spans), sorted(spans)[1:], strict=False))]

    # -- SIP -----------------------------------------------------------------------------
    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        if not datagram.strip():
            return
        try:
            message = SipMessage.parse(datagram)
        except SipParseError:
            self.garbled += 1
            return
        source = (str(addr[0]), int(addr[1]))
        if not message.is_request:
            return  # 200 to our BYE
        call = self.calls.get(message.call_id)
        if message.method == "INVITE" and call is None:
            self._invite(message, source)
        elif message.method == "CANCEL" and call is not None:
            self._send(response_to(message, 200, "OK", call.tag), source)
            self._final(call, 487, "Request Terminated")
        elif message.method == "BYE" and call is not None:
            self._send(response_to(message, 200, "OK", call.tag), source)
            self._end(call, "caller hung up")
        elif message.method != "ACK":
            self._send(response_to(message, 481, "Call/Transaction Does Not Exist"), source)

    def _send(self, message: SipMessage, to: tuple[str, int]) -> None:
        transport: Any = self.transport
        transport.write(message.serialize(), to)

    def _port(self) -> int:
        transport: Any = self.transport
        return int(transport.getHost().port)

    def _number(self, message: SipMessage) -> str:
        return message.uri.removeprefix("sip:").split("@")[0]

    def _invite(self, invite: SipMessage, source: tuple[str, int]) -> None:
        number = self._number(invite)
        citizen = self.citizens.get(number)
        self._send(response_to(invite, 100, "Trying"), source)
        if citizen is None:
            self._send(response_to(invite, 404, "Not Found", secrets.token_hex(4)), source)
            return
        media = MediaSession(self.reactor)
        port = self.reactor.listenUDP(0, media, interface=self.host)
        call = _Call(citizen, invite, source, secrets.token_hex(4), media, port)
        media.on_audio = lambda pcm: self._heard(call, pcm)
        self.calls[invite.call_id] = call
        self.history.setdefault(number, []).append(citizen.behaviour.value)
        call.span = [self.reactor.seconds(), float("inf")]
        self.spans.setdefault(number, []).append(call.span)
        offer = sdp.parse(invite.body)
        media.configure((offer.address, offer.port), offer.codec or 0, offer.telephone_event)
        behaviour = citizen.behaviour
        if behaviour is Behaviour.BUSY:
            self._final(call, 486, "Busy Here")
        elif behaviour is Behaviour.REJECT:
            self._final(call, 603, "Decline")
        elif behaviour is Behaviour.NO_ANSWER:
            self._send(response_to(invite, 180, "Ringing", call.tag), source)
        elif behaviour is Behaviour.ANNOUNCEMENT:
            self._send(self._with_sdp(call, response_to(invite, 183, "Session Progress",
                                                        call.tag)), source)
            media.start()
            media.play(citizen.announcement).addCallback(
                lambda _: self._final(call, 480, "Temporarily Unavailable"))
        else:
            self._send(response_to(invite, 180, "Ringing", call.tag), source)
            self.reactor.callLater(citizen.ring_s, self._answer, call)

    def _with_sdp(self, call: _Call, reply: SipMessage) -> SipMessage:
        offer = sdp.parse(call.invite.body)
        reply.add("Contact", f"<sip:citizen@{self.host}:{self._port()}>")
        reply.add("Content-Type", "application/sdp")
        reply.body = sdp.offer(self.host, call.port.getHost().port, secrets.randbits(31),
                               codecs=(offer.codec or 0,))
        return reply

    def _answer(self, call: _Call) -> None:
        if call.ended:
            return
        self._send(self._with_sdp(call, response_to(call.invite, 200, "OK", call.tag)),
                   call.source)
        call.answered = True
        call.media.start()
        call.events.append("answered")
        self.reactor.callLater(SILENT_CALLER_S, self._watch, call, -1)

    def _watch(self, call: _Call, received: int) -> None:
        """A caller whose media stopped without a BYE (its process died): the citizen
        hangs up, as a person would."""
        if call.ended:
            return
        if call.media.stats.received == received:
            self._end(call, "caller went silent")
            return
        self.reactor.callLater(SILENT_CALLER_S, self._watch, call, call.media.stats.received)

    def _final(self, call: _Call, status: int, reason: str) -> None:
        if call.ended:
            return
        self._send(response_to(call.invite, status, reason, call.tag), call.source)
        self._end(call, f"{status} {reason}")

    def _end(self, call: _Call, why: str) -> None:
        if call.ended:
            return
        call.ended = True
        call.events.append(why)
        if call.span:
            call.span[1] = self.reactor.seconds()
        call.media.stop()
        call.port.stopListening()
        self.reactor.callLater(32, self.calls.pop, call.invite.call_id, None)

    def _bye(self, call: _Call) -> None:
        invite = call.invite
        caller = NameAddr.parse(invite.header("From"))
        contact = NameAddr.parse(invite.get("Contact") or invite.header("From")).uri
        port = self._port()
        bye = SipMessage(method="BYE", uri=contact)
        bye.add("Via", f"SIP/2.0/UDP {self.host}:{port};branch=z9hG4bK{secrets.token_hex(8)}")
        bye.add("Max-Forwards", "70")
        bye.add("From", f"{invite.header('To')};tag={call.tag}")
        bye.add("To", str(caller))
        bye.add("Call-ID", invite.call_id)
        bye.add("CSeq", "1 BYE")
        bye.add("Content-Length", "0")
        self._send(bye, call.source)
        self._end(call, "citizen hung up")

    # -- media: take a turn when the caller's prompt ends ---------------------------------
    def _heard(self, call: _Call, pcm: bytes) -> None:
        if not call.answered or call.ended or not pcm:
            return
        seconds = len(pcm) / 16000
        if self.reactor.seconds() < call.speaking_until:
            return  # we are talking; the caller's silence is not a prompt's end
        rms = float(np.sqrt(np.mean(np.frombuffer(pcm, "<i2").astype(np.float64) ** 2)))
        if rms >= QUIET_RMS:
            call.voiced_s += seconds
            call.heard_prompt_s += seconds
            call.quiet_s = 0.0
            barge = call.citizen.barge_in_after_s
            if barge is not None and call.turn == call.citizen.barge_in_turn \
                    and call.heard_prompt_s >= barge:
                self._take_turn(call)
            return
        call.quiet_s += seconds
        if call.voiced_s >= PROMPT_MIN_S and call.quiet_s >= PROMPT_END_S:
            self._take_turn(call)

    def _take_turn(self, call: _Call) -> None:
        call.voiced_s = call.quiet_s = call.heard_prompt_s = 0.0
        if call.turn >= len(call.citizen.turns):
            return
        turn = call.citizen.turns[call.turn]
        call.turn += 1
        call.events.append(f"{turn.kind} {turn.label or turn.digit}".strip())
        if turn.kind == "say":
            call.speaking_until = self.reactor.seconds() + len(turn.pcm) / 16000 + 0.2
            call.media.play(turn.pcm)
        elif turn.kind == "key":
            call.media.send_digit(turn.digit)
        elif turn.kind == "hangup":
            self._bye(call)
