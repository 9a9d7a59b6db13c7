"""SIP over UDP on Twisted's reactor: one socket, every call's state machine behind it.

The protocol writes only to its transport; timers come from the injected reactor clock
(tests pass `task.Clock`). What changes nothing (damaged datagrams, messages from
addresses that are not the call's peer, responses of no transaction, ...) is counted by
reason in `SipEndpoint.dropped`, and logged as a summary at most once every
`DROP_LOG_S` seconds: a flood of forged datagrams neither disturbs a call nor fills the
disk, and no datagram's bytes (which may hold a phone number) reach the log. OPTIONS is
answered so that trunks that keep-alive see us alive; requests for calls we do not know
get 481. Both only for the trunk's hosts when `trusted` is set (the dialer sets it: its
proxy, registrar and `accept_from`, and every host it has sent an INVITE to): a
stranger's request of no call is dropped unanswered, so scanners find nothing and forged
sources get nothing reflected.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.protocol import DatagramProtocol

from dialer.dialog import ALLOW, Drop, bare
from dialer.register import Register, Registration, RegistrationSettings, Unregister
from dialer.sipactions import (
    Action,
    Address,
    Answered,
    CallSettings,
    Digit,
    Dropped,
    EarlyMedia,
    Ended,
    Event,
    Hangup,
    Ids,
    MediaChanged,
    Received,
    Send,
    SetTimer,
    Start,
    StopTimer,
    TimerFired,
    TransportError,
    response_to,
)
from dialer.sipmessage import SipMessage, SipParseError
from dialer.siptcp import Streams
from dialer.uac import OutboundCall

log = logging.getLogger(__name__)
TIMER_D = 32.0
DROP_LOG_S = 60.0  # at most one summary line of dropped datagrams this often
MediaHandler = Callable[[Any], None]


class DelayedCall(Protocol):
    def active(self) -> bool: ...

    def cancel(self) -> None: ...


class ReactorTime(Protocol):
    """The part of Twisted's IReactorTime we use (the reactor, or task.Clock in tests);
    a Protocol because zope interfaces are opaque to mypy."""

    def seconds(self) -> float: ...

    def callLater(self, delay: float, f: Callable[..., Any], *args: Any,
                  **kwargs: Any) -> DelayedCall: ...


class Timers:
    """Named timers on the reactor clock, set and stopped as a state machine asks; a
    timer that fires is fed back to it as TimerFired."""

    def __init__(self, clock: ReactorTime, fire: Callable[[TimerFired], None]) -> None:
        self.clock = clock
        self.fire = fire
        self._calls: dict[str, DelayedCall] = {}

    def set(self, name: str, seconds: float) -> None:
        self.stop(name)
        self._calls[name] = self.clock.callLater(seconds, self.fire, TimerFired(name))

    def stop(self, name: str) -> None:
        timer = self._calls.pop(name, None)
        if timer is not None and timer.active():
            timer.cancel()

    def stop_all(self) -> None:
        for name in list(self._calls):
            self.stop(name)


@dataclass
class CallResult:
    call_id: str
    outcome: str
    code: int
    reason: str
    by: str
    invited_at: float
    first_response_s: float | None = None
    answered_s: float | None = None
    duration_s: float = 0.0


@dataclass
class CallRunner:
    endpoint: SipEndpoint
    call: OutboundCall
    done: Deferred[CallResult]
    on_answered: MediaHandler | None = None
    on_early_media: MediaHandler | None = None
    on_digit: Callable[[str], None] | None = None  # keys that came as SIP INFO
    on_media_changed: MediaHandler | None = None  # a re-INVITE or UPDATE moved the media
    # the dialog changed (INVITE sent again, answered, CSeq moved on): for writing down
    # what would end it after a crash (`dialer/leftdialog.py`)
    on_dialog: Callable[[OutboundCall], None] | None = None
    started: float = 0.0
    first_response: float | None = None
    answered: float | None = None
    timers: Timers = field(init=False)
    _dialog: tuple[object, ...] = ()

    def __post_init__(self) -> None:
        self.timers = Timers(self.endpoint.clock, self.feed)

    def note_dialog(self) -> None:
        """Tell `on_dialog` when what would end the dialog has changed."""
        call = self.call
        key = (id(call.invite), call.answered, call.remote_tag, call.cseq, call.state)
        if self.on_dialog is not None and key != self._dialog:
            self._dialog = key
            self.on_dialog(call)

    def feed(self, event: Event) -> None:
        now = self.endpoint.clock.seconds()
        actions = self.call.step(event)
        dropped = [a for a in actions if isinstance(a, Dropped)]
        if isinstance(event, Received):
            for drop in dropped:
                self.endpoint.drop(drop.reason, event.source, event.size)
            if not dropped and not event.message.is_request and self.first_response is None:
                self.first_response = now  # the first response that was the call's own
        for action in actions:
            self.run(action)
        self.note_dialog()

    def run(self, action: Action) -> None:
        clock = self.endpoint.clock
        if isinstance(action, Send):
            self.endpoint.send(action.message, action.to, self)
        elif isinstance(action, SetTimer):
            self.timers.set(action.name, action.seconds)
        elif isinstance(action, StopTimer):
            self.timers.stop(action.name)
        elif isinstance(action, EarlyMedia) and self.on_early_media:
            self.on_early_media(action.media)
        elif isinstance(action, MediaChanged):
            log.info("call %s: the peer moved its media to %s:%d", self.call.call_id,
                     action.media.address, action.media.port)
            if self.on_media_changed:
                self.on_media_changed(action.media)
        elif isinstance(action, Digit):
            log.info("call %s: key %s by SIP INFO", self.call.call_id, action.digit)
            if self.on_digit:
                self.on_digit(action.digit)
        elif isinstance(action, Answered):
            self.answered = clock.seconds()
            if self.on_answered:
                self.on_answered(action.media)
        elif isinstance(action, Ended):
            self._finish(action)

    def _finish(self, ended: Ended) -> None:
        self.timers.stop_all()
        # Timer D (RFC 3261 §17.1.1.2): the call stays known for 32 s so that a final
        # response retransmitted because our ACK was lost is ACKed again; then it goes.
        self.endpoint.clock.callLater(TIMER_D, self.endpoint.calls.pop, self.call.call_id,
                                      None)
        now = self.endpoint.clock.seconds()
        result = CallResult(
            self.call.call_id, ended.outcome.value, ended.code, ended.reason, ended.by,
            self.started, None if self.first_response is None
            else round(self.first_response - self.started, 3),
            None if self.answered is None else round(self.answered - self.started, 3),
            round(now - (self.answered or now), 3))
        log.info("call %s ended: %s %s %s (by %s)", result.call_id, result.outcome,
                 result.code, result.reason, result.by)
        if not self.done.called:
            self.done.callback(result)

    def hangup(self, reason: str = "") -> None:
        self.feed(Hangup(reason))


@dataclass
class RegistrationRunner:
    endpoint: SipEndpoint
    registration: Registration
    timers: Timers = field(init=False)

    def __post_init__(self) -> None:
        self.timers = Timers(self.endpoint.clock, self.feed)

    def feed(self, event: object) -> None:
        for action in self.registration.step(event):
            if isinstance(action, Dropped) and isinstance(event, Received):
                self.endpoint.drop(action.reason, event.source, event.size)
            elif isinstance(action, Send):
                self.endpoint.send(action.message, action.to, None)
            elif isinstance(action, SetTimer):
                self.timers.set(action.name, action.seconds)
            elif isinstance(action, StopTimer):
                self.timers.stop(action.name)

    def stop(self) -> None:
        self.feed(Unregister())


class SipEndpoint(DatagramProtocol):
    def __init__(self, clock: ReactorTime, host: str = "127.0.0.1",
                 token: Callable[[int], str] = secrets.token_hex) -> None:
        self.clock = clock
        self.host = host
        self.ids = Ids(token)
        self.calls: dict[str, CallRunner | RegistrationRunner] = {}
        self.dropped: dict[str, int] = {}  # datagrams that changed nothing, by reason
        self.sent = 0
        self._unlogged: dict[str, int] | None = None  # drops since the last log line
        self.streams: Streams | None = None  # TCP and TLS (dialer/siptcp.py), when set
        # hosts whose requests of no call are answered (OPTIONS 200, else 481); None: any
        self.trusted: set[str] | None = None

    @property
    def garbled(self) -> int:
        """Datagrams that were not SIP or were damaged."""
        return self.dropped.get(Drop.DAMAGED, 0)

    def drop(self, reason: str, source: Address, size: int) -> None:
        """Count a datagram that changed nothing. The first after a quiet spell is logged
        at once (reason, source and size: never its bytes), the rest in one summary line
        per DROP_LOG_S seconds."""
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        if self._unlogged is not None:
            self._unlogged[reason] = self._unlogged.get(reason, 0) + 1
            return
        log.warning("dropped a SIP datagram of %d bytes from %s:%d: %s", size, *source,
                    reason)
        self._unlogged = {}
        self.clock.callLater(DROP_LOG_S, self._log_drops)

    def _log_drops(self) -> None:
        unlogged, self._unlogged = self._unlogged or {}, None
        if not unlogged:
            return  # quiet for a whole spell: the next drop is logged at once again
        log.warning("dropped %d more SIP datagrams in %.0f s: %s", sum(unlogged.values()),
                    DROP_LOG_S, ", ".join(f"{n} {why}" for why, n in sorted(unlogged.items())))
        self._unlogged = {}
        self.clock.callLater(DROP_LOG_S, self._log_drops)

    @property
    def port(self) -> int:
        transport: Any = self.transport
        return int(transport.getHost().port)

    def place_call(self, settings: CallSettings, on_answered: MediaHandler | None = None,
                   on_early_media: MediaHandler | None = None, *,
                   on_digit: Callable[[str], None] | None = None,
                   on_media_changed: MediaHandler | None = None,
                   on_dialog: Callable[[OutboundCall], None] | None = None) -> CallRunner:
        """Start a call; `runner.done` fires with its CallResult."""
        call = OutboundCall(settings, self.ids)
        runner = CallRunner(self, call, Deferred(), on_answered, on_early_media, on_digit,
                            on_media_changed, on_dialog, started=self.clock.seconds())
        actions = call.step(Start())
        self.calls[call.call_id] = runner
        if self.trusted is not None:
            self.trusted.add(bare(call.next_hop[0]))
        for action in actions:
            runner.run(action)
        runner.note_dialog()
        return runner

    def adopt(self, call: OutboundCall) -> CallRunner:
        """Drive a call rebuilt from a record (`dialer/leftdialog.py`), to hang it up."""
        runner = CallRunner(self, call, Deferred(), started=self.clock.seconds())
        self.calls[call.call_id] = runner
        return runner

    def register(self, settings: RegistrationSettings) -> RegistrationRunner:
        runner = RegistrationRunner(self, Registration(settings, self.ids))
        runner.feed(Register())
        self.calls[runner.registration.call_id] = runner
        return runner

    def send(self, message: SipMessage, to: tuple[str, int], runner: CallRunner | None) -> None:
        """Over the transport `self.streams` chooses (TCP, TLS), else over UDP."""
        if self.streams is not None:
            def failed(why: str) -> None:
                if runner is not None:
                    self.clock.callLater(0, runner.feed, TransportError(why))

            if self.streams.send(message, to, failed):
                self.sent += 1
                return
        self.send_udp(message, to, runner)

    def send_udp(self, message: SipMessage, to: tuple[str, int],
                 runner: CallRunner | None = None) -> None:
        try:
            transport: Any = self.transport
            transport.write(message.serialize(), to)
            self.sent += 1
        except OSError as exc:
            log.warning("cannot send SIP to %s:%d: %s", to[0], to[1], exc)
            if runner is not None:
                self.clock.callLater(0, runner.feed, TransportError(str(exc)))

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.receive(datagram, (str(addr[0]), int(addr[1])))

    def receive(self, datagram: bytes, source: Address) -> None:
        if not datagram.strip():
            return  # CRLF keep-alive
        try:
            message = SipMessage.parse(datagram)
        except SipParseError:
            self.drop(Drop.DAMAGED, source, len(datagram))
            return
        self.dispatch(message, source, len(datagram))

    def dispatch(self, message: SipMessage, source: Address, size: int) -> None:
        """A datagram's message, or one framed off a TCP/TLS connection (`source`: the
        peer as `dialer/siptcp.py` names it)."""
        runner = self.calls.get(message.call_id)
        if runner is None and message.is_request and self.trusted is not None \
                and source[0] not in self.trusted:
            self.drop(Drop.STRANGER, source, size)
            return
        if message.is_request and message.method == "OPTIONS" and runner is None:
            reply = response_to(message, 200, "OK", to_tag=self.ids.tag())
            reply.add("Allow", ALLOW)
            reply.add("Accept", "application/sdp")
            self.send(reply, source, None)
            return
        if runner is None:
            if message.is_request and message.method != "ACK":
                self.send(response_to(message, 481, "Call/Transaction Does Not Exist"),
                          source, None)
            elif not message.is_request:
                self.drop(Drop.UNKNOWN_CALL, source, size)
            return
        runner.feed(Received(message, source, size))
