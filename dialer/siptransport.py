"""Which transport a SIP message leaves on (RFC 3261 §18, RFC 3263 §4.1), and what the
transport writes into it. Pure: the decision and the rewrite, no socket.

A request goes, in this order of precedence:
1. where its transaction already went: a CANCEL, the ACK of a non-2xx and every
   retransmission take the INVITE's transport (§9.1, §17.1.1.3), by Via branch;
2. as the next hop's URI says: `sips:` is TLS, `;transport=tcp|tls|udp` that transport
   (the next hop is the top Route, else the request URI when no outbound proxy stands
   between);
3. as configured (`trunk.transport`);
4. over UDP, unless the message is larger than 1300 bytes: §18.1.1 (the path MTU is
   unknown) sends it over TCP instead, and back over UDP if TCP is refused.
A response goes back on the transport its request came on, which its top Via names
(§18.2.2). On a stream, the transport layer puts its name in the top Via (§18.1.1) and,
when the stream is the configured transport, `;transport=` in our Contact so that the
peer's requests come back over it. A reliable transport carries a request once: the
transaction layer's retransmissions (timers A and E, kept for UDP) are absorbed (§17.1.1.2,
§17.1.2.2), except the ACK of a 2xx, which answers every retransmitted 200.
"""

from __future__ import annotations

import enum
import re
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from dialer.sipactions import Address, target_address
from dialer.sipmessage import NameAddr, SipMessage, SipParseError

MTU_RULE = 1300  # bytes: a larger request goes over TCP (RFC 3261 §18.1.1, MTU unknown)
REMEMBERED = 4096  # transactions whose transport is remembered (a few minutes of calls)


class Transport(enum.StrEnum):
    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"

    @property
    def reliable(self) -> bool:
        return self is not Transport.UDP


@dataclass(frozen=True)
class Route:
    transport: Transport
    absorb: bool = False  # a retransmission the reliable transport already carried
    sized: bool = False  # on TCP only for its size: UDP again if TCP is refused


_VIA = re.compile(r"^\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)", re.IGNORECASE)
_SENT_BY = re.compile(r"\s*SIP\s*/\s*2\.0\s*/\s*[A-Za-z]+\s+(?:\[[^\]]*\]|[^\s:;\[]+)"
                      r"(?:\s*:\s*(\d{1,5}))?\s*(?:;|$)", re.IGNORECASE)


def uri_transport(uri: str) -> Transport | None:
    """The transport a SIP URI asks for: `sips:` TLS, else its `transport` parameter."""
    text = uri.strip()
    if text.lower().startswith("sips:"):
        return Transport.TLS
    for part in text.partition(">")[0].split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "transport":
            try:
                return Transport(value.strip().lower())
            except ValueError:
                return None  # sctp, ws: not ours; the configured one is used
    return None


def via_transport(message: SipMessage) -> Transport:
    """The transport the top Via names (UDP when it names nothing we speak)."""
    vias = message.values("Via")
    found = _VIA.match(vias[0]) if vias else None
    try:
        return Transport(found.group(1).lower()) if found else Transport.UDP
    except ValueError:
        return Transport.UDP


def sent_by_port(message: SipMessage, transport: Transport) -> int | None:
    """The port the top Via's sent-by names (5060, or 5061 for TLS, when it names none;
    RFC 3261 §18.2.1), or None when the Via cannot be read."""
    vias = message.values("Via")
    found = _SENT_BY.match(vias[0]) if vias else None
    if found is None:
        return None
    if found.group(1) is None:
        return 5061 if transport is Transport.TLS else 5060
    port = int(found.group(1))
    return port if 0 < port < 65536 else None


def next_hop_transport(request: SipMessage, to: Address) -> Transport | None:
    """What the next hop's URI asks for: the top Route's, else the request URI's when
    the request goes to the URI's own host (no outbound proxy between)."""
    routes = request.values("Route")
    if routes:
        return uri_transport(NameAddr.parse(routes[0]).uri)
    try:
        direct = target_address(request.uri) == to
    except SipParseError:
        return None
    return uri_transport(request.uri) if direct else None


@dataclass
class Router:
    """The transport of each message out, remembering where each transaction went."""

    configured: Transport = Transport.UDP
    mtu_rule: int = MTU_RULE
    _branches: OrderedDict[str, tuple[Transport, set[str]]] = field(
        default_factory=OrderedDict)

    def route(self, message: SipMessage, to: Address, size: int) -> Route:
        if not message.is_request:
            return Route(via_transport(message))
        branch, method = message.branch, message.method
        known = self._branches.get(branch) if branch else None
        if known is not None:
            transport, methods = known
            again = method in methods and method != "ACK"
            methods.add(method)
            return Route(transport, absorb=again and transport.reliable)
        transport = next_hop_transport(message, to) or self.configured
        sized = transport is Transport.UDP and size > self.mtu_rule
        if sized:
            transport = Transport.TCP
        if branch:
            self._branches[branch] = (transport, {method})
            while len(self._branches) > REMEMBERED:
                self._branches.popitem(last=False)
        return Route(transport, sized=sized)

    def fall_back(self, message: SipMessage) -> None:
        """TCP was refused for a request sent there for its size: its transaction (and its
        retransmissions) goes over UDP from now on."""
        known = self._branches.get(message.branch)
        if known is not None:
            self._branches[message.branch] = (Transport.UDP, known[1])


def for_stream(request: SipMessage, transport: Transport, contact: bool) -> SipMessage:
    """A copy of the request as it leaves on a stream: its transport in the top Via and,
    if `contact`, `;transport=` in our Contact. The caller's message is not changed
    (a state machine keeps its INVITE to build the CANCEL and ACK from)."""
    headers = list(request.headers)
    token = f"SIP/2.0/{transport.value.upper()}"
    for i, (name, value) in enumerate(headers):
        if name.strip().lower() in ("via", "v"):
            headers[i] = (name, _VIA.sub(token, value, count=1))
            break
    if contact:
        for i, (name, value) in enumerate(headers):
            inside = value.partition("<")[2].partition(">")[0]
            if name.strip().lower() in ("contact", "m") and inside \
                    and "transport=" not in inside.lower():
                uri, close, rest = value.partition(">")
                headers[i] = (name, f"{uri};transport={transport.value}{close}{rest}")
    return replace(request, headers=headers)
