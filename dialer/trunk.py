"""The trunk side of the service: the SIP socket, the RTP port range, the channel pool and
the registration, built from one `TrunkConfig`. The only place this project opens SIP or
RTP sockets; everything else asks the `Dialer`.

A call's `CallSettings` are made for that call (`call_settings`): its request URI, its
media port and its Call-ID, with the trunk's proxy, credentials and ring timeout. There is
no shared placeholder patched per call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import DatagramProtocol

from dialer.channels import ChannelPool
from dialer.defaults import DEFAULT_TARGET
from dialer.dialog import accept_address, bare
from dialer.leftdialog import DialogRecord, resumed
from dialer.media import PortRange
from dialer.register import RegistrationSettings
from dialer.sipactions import T1, Address, CallSettings, Credentials, SetTimer, target_address
from dialer.sipconnect import TlsSettings, attach
from dialer.sipmessage import SipParseError
from dialer.siptransport import Transport
from dialer.sipudp import CallResult, RegistrationRunner, SipEndpoint
from dialer.strays import HeldPort

log = logging.getLogger(__name__)
UNANSWERED = frozenset({"BYE unanswered", "CANCEL unanswered", "no 487 after CANCEL"})


def host_port(text: str) -> Address:
    """'host:port' -> (host, port) (port 0: any free one); ValueError otherwise."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{text!r}: use host:port")
    return host, int(port)


@dataclass(frozen=True)
class TrunkConfig:
    bind: str = "127.0.0.1"  # local address for SIP and RTP
    sip_port: int = 0  # 0: any free port
    rtp_low: int = 20000
    rtp_high: int = 20999
    proxy: Address | None = None  # outbound proxy; else the target's own host and port
    credentials: Credentials | None = None
    ring_timeout: float = 30.0
    max_channels: int = 30
    calls_per_second: float = 5.0
    registrar: Address | None = None
    aor: str = ""  # empty: sip:<username or huifang>@<registrar host>
    register_expires: int = 300
    accept_from: tuple[str, ...] = ()  # the trunk's other host[:port]s, besides the proxy
    rtp_latching: bool = True  # follow the peer's RTP to where it really comes from
    session_expires: int = 1800  # RFC 4028: the interval our INVITE asks; 0: none
    min_se: int = 90  # RFC 4028: the shortest interval we accept
    rtcp: bool = True  # RFC 3550 reports on the odd port (or muxed, RFC 5761), BYE at the end
    transport: Transport = Transport.UDP  # SIP over udp, tcp or tls (dialer/siptransport.py)
    tls: TlsSettings = field(default_factory=TlsSettings)  # CA, our cert and key, server name


class Dialer:
    """SIP endpoint, RTP ports and channels of one trunk. `listen()` binds the SIP
    socket (and registers, when a registrar is configured); `stop()` undoes both."""

    def __init__(self, reactor: Any, config: TrunkConfig, *, clock: Any = None) -> None:
        self.reactor, self.config = reactor, config
        self.clock = clock or reactor
        self.endpoint = SipEndpoint(self.clock, host=config.bind)
        self.ports = PortRange(config.rtp_low, config.rtp_high)
        self.channels = ChannelPool(self.clock, config.max_channels, config.calls_per_second)
        self.registration: RegistrationRunner | None = None
        self._sip: Any = None
        self._streams: list[Any] = []  # TCP or TLS listening ports
        self._accept_from = tuple(accept_address(a) for a in config.accept_from)
        self.endpoint.trusted = {bare(host) for host, _ in (
            *self._accept_from, *(a for a in (config.proxy, config.registrar) if a))}

    def trust(self, uri: str) -> None:
        """Answer requests of no call from the host of `uri` (a target template such as
        sip:{number}@10.1.2.3:5060) as from the trunk's; a URI without a host is skipped."""
        try:
            host = target_address(uri.replace("{number}", "0"))[0]
        except SipParseError:
            return
        if self.endpoint.trusted is not None:
            self.endpoint.trusted.add(bare(host))

    @property
    def local(self) -> Address:
        if self._sip is None:
            raise RuntimeError("the dialer is not listening")
        return self.config.bind, int(self._sip.getHost().port)

    def listen(self) -> Address:
        """Bind the SIP socket (OSError or CannotListenError if the port is taken) and
        start registering if configured. Returns the local SIP address."""
        c = self.config
        self._sip = self.reactor.listenUDP(c.sip_port, self.endpoint, interface=c.bind)
        log.info("SIP listening on %s:%d", *self.local)
        self._streams = attach(self.reactor, self.endpoint, c.transport, c.tls, c.bind,
                               self.local[1])  # TCP and TLS on the same port number
        if c.registrar is not None:
            user = c.credentials.username if c.credentials else "huifang"
            self.registration = self.endpoint.register(RegistrationSettings(
                registrar=c.registrar, aor=c.aor or f"sip:{user}@{c.registrar[0]}",
                local=self.local, expires=c.register_expires, credentials=c.credentials))
        return self.local

    def bind_media(self, protocol: DatagramProtocol) -> Any:
        """An RTP port of the range for one call's media; None when every port is taken."""
        return self.ports.listen(self.reactor, protocol, self.config.bind,
                                 self.clock.seconds())

    def end_left_dialog(self, record: DialogRecord) -> Deferred[CallResult]:
        """End a call a dead process left up, from its record: CANCEL if it was ringing,
        BYE if answered. Its RTP port is held from every new call until it has ended and
        its media has stopped coming (`dialer/strays.py`)."""
        call = resumed(record, self.call_settings(DEFAULT_TARGET, record.media_port),
                       self.endpoint.ids)
        held = HeldPort(self.reactor, self.clock, self.ports, record.media_port,
                        self.config.bind, call.call_id)
        runner = self.endpoint.adopt(call)
        log.warning("call %s: left up by a dead process; %s", call.call_id,
                    "BYE" if record.answered else "CANCEL")
        runner.run(SetTimer("B", 64 * T1))  # a CANCEL whose 487 never comes ends too
        runner.hangup()

        def ended(result: CallResult) -> CallResult:
            held.ended(unanswered=result.reason in UNANSWERED)
            log.info("call %s: left dialog ended (%s %s); port %d held until its media "
                     "stops", call.call_id, result.code, result.reason, record.media_port)
            return result

        return runner.done.addCallback(ended)

    def call_settings(self, target: str, media_port: int, call_id: str = "") -> CallSettings:
        c = self.config
        return CallSettings(target=target, local=self.local, media_port=media_port,
                            proxy=c.proxy, ring_timeout=c.ring_timeout,
                            credentials=c.credentials, call_id=call_id,
                            session_expires=c.session_expires, min_se=c.min_se,
                            accept_from=self._accept_from, rtcp_mux=c.rtcp)

    def new_call_id(self) -> str:
        return self.endpoint.ids.call_id(self.config.bind)

    def unregister(self) -> None:
        if self.registration is not None:
            self.registration.stop()  # REGISTER with Expires: 0
            self.registration = None

    def stop(self) -> Any:
        """Unregister and close the SIP socket (a Deferred, or None if not listening)."""
        self.unregister()
        for port in self._streams:
            port.stopListening()
        self._streams = []
        if self.endpoint.streams is not None:
            self.endpoint.streams.pool.close()
        sip, self._sip = self._sip, None
        return sip.stopListening() if sip is not None else None
