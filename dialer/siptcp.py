"""SIP over TCP and TLS on Twisted: one connection per next hop, shared by every call and
the registration, opened when the first message needs it and again after a loss.

Messages framed off a connection (`dialer/sipframing.py`) go to the same dispatch as UDP
datagrams (`SipEndpoint.dispatch`), their source the connection's peer: the address we
dialled for our own connections (so that a call's peer check sees the proxy it sent to);
on a connection the peer opened to our listener, its address (proved by the TCP
handshake) with the port its Via says it listens on (the connection's own port is an
ephemeral one that says nothing: a proxy's BYE must still match the proxy). A response
goes back on the connection its request came on while it is open (RFC 3261 §18.2.2),
else over a new one to the request's source. A stream that loses its framing is
closed, counted and logged with the reason; its bytes never reach the log. Protocols
write only to their transport; connecting goes through an injected `Connector` (the
reactor's connectTCP/connectSSL, a fake in tests).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import ClientFactory, ServerFactory, connectionDone
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from dialer.dialog import Drop
from dialer.sipframing import FramingError, StreamFramer
from dialer.sipmessage import SipMessage, SipParseError
from dialer.siptransport import Route, Router, Transport, for_stream, sent_by_port

log = logging.getLogger(__name__)
Address = tuple[str, int]
CONNECT_TIMEOUT_S = 10.0
MAX_INBOUND = 256  # connections peers may hold open to our listener
REMEMBERED = 1024  # requests whose connection is remembered, for their responses
REFUSED = "stream_refused"  # drop reason: an inbound connection over MAX_INBOUND
Deliver = Callable[[bytes, "SipStream"], None]
Dispatch = Callable[[SipMessage, Address, int], None]
Dropper = Callable[[str, Address, int], None]
Failed = Callable[[str], None] | None


class Connector(Protocol):
    def __call__(self, transport: Transport, to: Address, factory: ClientFactory) -> None: ...


@implementer(IHandshakeListener)
class SipStream(TwistedProtocol):
    """One TCP or TLS connection carrying SIP both ways. Our own TLS connection counts
    as up once its handshake verified the server (a refused certificate fails the
    messages waiting for it at once, not at the transaction's timeout)."""

    def __init__(self, pool: StreamPool, transport_kind: Transport,
                 peer: Address | None = None) -> None:
        self.pool, self.kind, self.peer = pool, transport_kind, peer
        self.inbound = peer is None
        self.framer = StreamFramer()
        self.closed = self.ready = self.heard = False
        # until the peer first speaks, who wrote on it: a connection closed before a word
        # (TLS 1.3 refusing our certificate after the handshake) fails their messages
        self.unanswered: list[Callable[[str], None]] = []

    def connectionMade(self) -> None:
        if self.peer is None:
            remote = self.wire.getPeer()
            self.peer = (str(remote.host), int(remote.port))
        if self.inbound or self.kind is not Transport.TLS:
            self.handshakeCompleted()

    def handshakeCompleted(self) -> None:
        if not self.ready:
            self.ready = True
            self.pool.up(self)

    def dataReceived(self, data: bytes) -> None:
        if self.closed:
            return
        self.heard = True
        self.unanswered.clear()
        assert self.peer is not None
        try:
            messages = self.framer.feed(data)
        except FramingError as exc:
            self.closed = True
            self.pool.garbled(self, exc, len(data))
            self.wire.loseConnection()
            return
        for message in messages:
            self.pool.deliver(message, self)

    @property
    def wire(self) -> Any:
        """The transport (zope interfaces are opaque to mypy)."""
        return self.transport

    def write(self, data: bytes, failed: Failed = None) -> None:
        self.wire.write(data)
        if failed is not None and not self.heard and len(self.unanswered) < 64:
            self.unanswered.append(failed)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.closed = True
        self.pool.lost(self, reason)


class _Dial(ClientFactory):
    def __init__(self, pool: StreamPool, kind: Transport, to: Address) -> None:
        self.pool, self.kind, self.to = pool, kind, to

    def buildProtocol(self, addr: Any) -> SipStream:
        return SipStream(self.pool, self.kind, self.to)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.pool.failed(self.kind, self.to, reason)


class Listener(ServerFactory):
    """The factory of our TCP or TLS listening port: the peer's own connections."""

    def __init__(self, pool: StreamPool, kind: Transport) -> None:
        self.pool, self.kind = pool, kind

    def buildProtocol(self, addr: Any) -> SipStream | None:
        if self.pool.inbound >= MAX_INBOUND:
            self.pool.drop(REFUSED, (str(addr.host), int(addr.port)), 0)
            return None  # Twisted closes the connection
        return SipStream(self.pool, self.kind)


@dataclass
class _Waiting:
    data: bytes
    failed: Failed
    fallback: Callable[[], None] | None  # UDP instead, for a request sent here for its size


@dataclass
class StreamPool:
    """Connections by (transport, peer); messages for one being opened wait in order."""

    deliver: Deliver
    drop: Dropper
    connect: Connector
    open: dict[tuple[Transport, Address], SipStream] = field(default_factory=dict)
    _opening: dict[tuple[Transport, Address], list[_Waiting]] = field(default_factory=dict)

    @property
    def inbound(self) -> int:
        return sum(1 for s in self.open.values() if s.inbound)

    def find(self, to: Address) -> SipStream | None:
        """A live connection with that peer, of any transport (for a response)."""
        return next((s for (_, peer), s in self.open.items() if peer == to), None)

    def write(self, kind: Transport, to: Address, data: bytes, failed: Failed,
              fallback: Callable[[], None] | None = None) -> None:
        stream = self.open.get((kind, to))
        if stream is not None:
            stream.write(data, failed)
            return
        key = (kind, to)
        waiting = self._opening.get(key)
        self._opening.setdefault(key, []).append(_Waiting(data, failed, fallback))
        if waiting is None:
            log.info("SIP over %s: connecting to %s:%d", kind.value.upper(), *to)
            self.connect(kind, to, _Dial(self, kind, to))

    def up(self, stream: SipStream) -> None:
        assert stream.peer is not None
        key = (stream.kind, stream.peer)
        previous = self.open.get(key)
        if previous is not None and previous is not stream:
            previous.wire.loseConnection()
        self.open[key] = stream
        log.info("SIP over %s: connected %s %s:%d", stream.kind.value.upper(),
                 "from" if stream.inbound else "to", *stream.peer)
        for item in self._opening.pop(key, []):
            stream.write(item.data, item.failed)

    def failed(self, kind: Transport, to: Address, reason: Failure) -> None:
        why = f"{kind.value.upper()} connection to {to[0]}:{to[1]} failed: " \
              f"{reason.getErrorMessage()}"
        log.warning("SIP over %s", why)
        for item in self._opening.pop((kind, to), []):
            if item.fallback is not None:
                item.fallback()
            elif item.failed is not None:
                item.failed(why)

    def lost(self, stream: SipStream, reason: Failure) -> None:
        if stream.peer is None:
            return
        key = (stream.kind, stream.peer)
        if not stream.ready:  # it never came up (a TLS handshake that failed)
            if not stream.inbound:
                self.failed(stream.kind, stream.peer, reason)
            return
        if self.open.get(key) is stream:
            del self.open[key]
            log.info("SIP over %s: connection %s %s:%d closed (%s); the next message "
                     "reconnects", stream.kind.value.upper(),
                     "from" if stream.inbound else "to", *stream.peer,
                     reason.getErrorMessage())
        if stream.unanswered:
            why = f"{stream.kind.value.upper()} connection to {key[1][0]}:{key[1][1]} " \
                  f"closed before an answer: {reason.getErrorMessage()}"
            for failed in stream.unanswered:
                failed(why)
            stream.unanswered.clear()

    def garbled(self, stream: SipStream, error: FramingError, size: int) -> None:
        assert stream.peer is not None
        log.warning("SIP over %s: closing the connection %s %s:%d: %s",
                    stream.kind.value.upper(), "from" if stream.inbound else "to",
                    *stream.peer, error)
        self.drop(error.reason, stream.peer, size)

    def close(self) -> None:
        for stream in list(self.open.values()):
            stream.wire.loseConnection()


class Streams:
    """The endpoint's stream side: `send` returns False for what goes over UDP; what the
    connections bring goes to `dispatch`."""

    def __init__(self, router: Router, connect: Connector, dispatch: Dispatch,
                 drop: Dropper, udp: Callable[[SipMessage, Address], None]) -> None:
        self.router, self.dispatch, self.udp = router, dispatch, udp
        self.pool = StreamPool(self.received, drop, connect)
        self._came_on: OrderedDict[str, SipStream] = OrderedDict()  # request branch ->

    def received(self, data: bytes, stream: SipStream) -> None:
        assert stream.peer is not None
        try:
            message = SipMessage.parse(data)
        except SipParseError:
            self.pool.drop(Drop.DAMAGED, stream.peer, len(data))
            return
        source = stream.peer
        if message.is_request:
            self._came_on[message.branch] = stream
            while len(self._came_on) > REMEMBERED:
                self._came_on.popitem(last=False)
            if stream.inbound:
                source = (source[0], sent_by_port(message, stream.kind) or source[1])
        self.dispatch(message, source, len(data))

    def send(self, message: SipMessage, to: Address, failed: Failed) -> bool:
        data = message.serialize()
        route = self.router.route(message, to, len(data))
        if not route.transport.reliable:
            return False
        if route.absorb:
            return True
        if not message.is_request:
            self._respond(message, to, route, failed)
            return True
        configured = route.transport is self.router.configured
        wire = for_stream(message, route.transport, contact=configured).serialize()
        fallback = None
        if route.sized:
            def fallback() -> None:
                log.info("SIP: TCP refused at %s:%d; the large request goes over UDP", *to)
                self.router.fall_back(message)
                self.udp(message, to)
        self.pool.write(route.transport, to, wire, failed, fallback)
        return True

    def _respond(self, message: SipMessage, to: Address, route: Route, failed: Failed
                 ) -> None:
        stream = self._came_on.get(message.branch)
        if stream is None or stream.closed:
            stream = self.pool.find(to)
        if stream is not None:
            stream.write(message.serialize())
        else:  # the connection went: to the request's source, over its transport
            self.pool.write(route.transport, to, message.serialize(), failed)
