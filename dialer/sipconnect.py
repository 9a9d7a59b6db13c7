"""Where SIP's streams meet the reactor: connecting over TCP or TLS, the TLS options (the
configured CA, our client certificate, the server's name verified), and the listening
ports of the configured stream transport. `attach` gives a `SipEndpoint` its stream side.

TLS (RFC 3261 §26.3.1): the server's certificate must chain to `trunk.tls_ca` (else the
system's trust store) and name the next hop (`trunk.tls_server_name` when the trunk is
dialled by address but its certificate carries a DNS name). `tls_cert` and `tls_key`, if
given, are our client certificate for trunks that ask for one, and our server
certificate for the peer's own TLS connections to us; without them nothing listens for
TLS and the peer's requests come over the connection we opened (as sipp and kamailio do).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet import ssl
from twisted.internet.protocol import ClientFactory

from dialer.siptcp import CONNECT_TIMEOUT_S, Connector, Listener, Streams
from dialer.siptransport import Router, Transport
from dialer.sipudp import SipEndpoint

log = logging.getLogger(__name__)
_ssl: Any = ssl  # twisted.internet.ssl carries no annotations


@dataclass(frozen=True)
class TlsSettings:
    ca: str = ""  # PEM file of the CA(s) the trunk's certificate must chain to
    cert: str = ""  # PEM file of our certificate ...
    key: str = ""  # ... and its private key
    server_name: str = ""  # the name the trunk's certificate must carry; empty: its host

    def _ours(self) -> Any:
        if not (self.cert and self.key):
            return None
        pem = Path(self.cert).read_bytes() + b"\n" + Path(self.key).read_bytes()
        return _ssl.PrivateCertificate.loadPEM(pem)

    def client(self, host: str) -> Any:
        """Options for a TLS connection to `host` (OSError or ssl errors if a file is
        missing or bad)."""
        trust = (_ssl.Certificate.loadPEM(Path(self.ca).read_bytes()) if self.ca
                 else _ssl.platformTrust())
        ours = self._ours()
        return _ssl.optionsForClientTLS(self.server_name or host, trustRoot=trust,
                                       clientCertificate=ours)

    def server(self) -> Any:
        """Options for our TLS listener, or None without a certificate of ours."""
        ours = self._ours()
        return ours.options() if ours is not None else None


def connector(reactor: Any, tls: TlsSettings) -> Connector:
    def connect(transport: Transport, to: tuple[str, int], factory: ClientFactory) -> None:
        host, port = to
        if transport is Transport.TLS:
            reactor.connectSSL(host, port, factory, tls.client(host),
                               timeout=CONNECT_TIMEOUT_S)
        else:
            reactor.connectTCP(host, port, factory, timeout=CONNECT_TIMEOUT_S)

    return connect


def attach(reactor: Any, endpoint: SipEndpoint, transport: Transport, tls: TlsSettings,
           bind: str, port: int) -> list[Any]:
    """Give the endpoint its stream side (always: a large request goes over TCP even on
    a UDP trunk) and, for a TCP or TLS trunk, listen on `port` for the peer's own
    connections. Returns the listening ports (CannotListenError if the port is taken)."""
    if transport is Transport.TLS:
        tls.client("localhost")  # a missing or bad file fails now, not at the first call
    streams = Streams(Router(transport), connector(reactor, tls), endpoint.dispatch,
                      endpoint.drop, endpoint.send_udp)
    endpoint.streams = streams
    pool = streams.pool
    listening: list[Any] = []
    if transport is Transport.TCP:
        listening.append(reactor.listenTCP(port, Listener(pool, transport), interface=bind))
    elif transport is Transport.TLS and (options := tls.server()) is not None:
        listening.append(reactor.listenSSL(port, Listener(pool, transport), options,
                                           interface=bind))
    for item in listening:
        log.info("SIP listening on %s %s:%d", transport.value.upper(), bind,
                 item.getHost().port)
    return listening
