"""SIP over UDP on Twisted's reactor: one socket, every call's state machine behind it.

The protocol writes only to its transport; timers come from the injected reactor clock
(tests pass `task.Clock`). Damaged datagrams are counted and logged with their source,
never allowed to disturb a call. OPTIONS is answered so that trunks that keep-alive see
us alive; requests for calls we do not know get 481.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.protocol import DatagramProtocol

from dialer.register import Register, Registration, RegistrationSettings, Unregister
from dialer.sipmessage import SipMessage, SipParseError
from dialer.uac import (
    Action,
    Answered,
    CallSettings,
    EarlyMedia,
    Ended,
    Event,
    Hangup,
    Ids,
    OutboundCall,
    Received,
    Send,
    SetTimer,
    Start,
    StopTimer,
    TimerFired,
    TransportError,
    response_to,
)

log = logging.getLogger(__name__)
TIMER_D = 32.0
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
    started: float = 0.0
    first_response: float | None = None
    answered: float | None = None
    timers: Timers = field(init=False)

    def __post_init__(self) -> None:
        self.timers = Timers(self.endpoint.clock, self.feed)

    def feed(self, event: Event) -> None:
        now = self.endpoint.clock.seconds()
        if isinstance(event, Received) and not event.message.is_request \
                and self.first_response is None:
            self.first_response = now
        for action in self.call.step(event):
            self.run(action)

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

    def hangup(self) -> None:
        self.feed(Hangup())


@dataclass
class RegistrationRunner:
    endpoint: SipEndpoint
    registration: Registration
    timers: Timers = field(init=False)

    def __post_init__(self) -> None:
        self.timers = Timers(self.endpoint.clock, self.feed)

    def feed(self, event: object) -> None:
        for action in self.registration.step(event):
            if isinstance(action, Send):
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
        self.garbled = 0
        self.sent = 0

    @property
    def port(self) -> int:
        transport: Any = self.transport
        return int(transport.getHost().port)

    def place_call(self, settings: CallSettings, on_answered: MediaHandler | None = None,
                   on_early_media: MediaHandler | None = None) -> CallRunner:
        """Start a call; `runner.done` fires with its CallResult."""
        call = OutboundCall(settings, self.ids)
        runner = CallRunner(self, call, Deferred(), on_answered, on_early_media,
                            started=self.clock.seconds())
        actions = call.step(Start())
        self.calls[call.call_id] = runner
        for action in actions:
            runner.run(action)
        return runner

    def register(self, settings: RegistrationSettings) -> RegistrationRunner:
        runner = RegistrationRunner(self, Registration(settings, self.ids))
        runner.feed(Register())
        self.calls[runner.registration.call_id] = runner
        return runner

    def send(self, message: SipMessage, to: tuple[str, int], runner: CallRunner | None) -> None:
        try:
            transport: Any = self.transport
            transport.write(message.serialize(), to)
            self.sent += 1
        except OSError as exc:
            log.warning("cannot send SIP to %s:%d: %s", to[0], to[1], exc)
            if runner is not None:
                self.clock.callLater(0, runner.feed, TransportError(str(exc)))

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        if not datagram.strip():
            return  # CRLF keep-alive
        source = (str(addr[0]), int(addr[1]))
        try:
            message = SipMessage.parse(datagram)
        except SipParseError as exc:
            self.garbled += 1
            log.warning("dropped a damaged SIP datagram from %s:%d: %s", *source, exc)
            return
        runner = self.calls.get(message.call_id)
        if message.is_request and message.method == "OPTIONS" and runner is None:
            reply = response_to(message, 200, "OK", to_tag=self.ids.tag())
            reply.add("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")
            reply.add("Accept", "application/sdp")
            self.send(reply, source, None)
            return
        if runner is None:
            if message.is_request and message.method != "ACK":
                self.send(response_to(message, 481, "Call/Transaction Does Not Exist"),
                          source, None)
            return
        runner.feed(Received(message, source))

