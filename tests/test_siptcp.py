"""SIP over TCP and TLS without a network: the endpoint's stream side on StringTransport
connections and a task.Clock. One connection per next hop shared by calls and the
registration, reconnection after a loss, the size rule of RFC 3261 §18.1.1 (and UDP again
when TCP is refused), responses on the connection their request came on, framing errors
that close a connection and are counted, and a TLS connection that is up only once its
handshake is."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.protocol import ClientFactory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from dialer.register import RegistrationSettings
from dialer.sipactions import CallSettings, response_to
from dialer.sipframing import GARBLED, StreamFramer
from dialer.sipmessage import SipMessage
from dialer.siptcp import Listener, SipStream, Streams
from dialer.siptransport import Router, Transport, for_stream, uri_transport
from dialer.sipudp import SipEndpoint
from tests.test_uac import SDP, UdpTransport, results

TRUNK = ("127.0.0.1", 5090)
Wire: Any = StringTransport  # Twisted's test doubles carry no annotations
Fail: Any = Failure
Refused: Any = ConnectionRefusedError


class Connector:
    """Records connection attempts; the test accepts or refuses them."""

    def __init__(self) -> None:
        self.attempts: list[tuple[Transport, tuple[str, int], ClientFactory]] = []

    def __call__(self, transport: Transport, to: tuple[str, int],
                 factory: ClientFactory) -> None:
        self.attempts.append((transport, to, factory))

    def accept(self, index: int = -1) -> tuple[SipStream, Any]:
        _, to, built = self.attempts[index]
        factory: Any = built
        stream: Any = factory.buildProtocol(IPv4Address("TCP", *to))
        wire = Wire(peerAddress=IPv4Address("TCP", "127.0.0.1", 40001))
        stream.makeConnection(wire)
        return stream, wire

    def refuse(self, index: int = -1) -> None:
        factory: Any = self.attempts[index][2]
        factory.clientConnectionFailed(None, Fail(Refused()))


def endpoint(configured: Transport = Transport.TCP
             ) -> tuple[SipEndpoint, UdpTransport, Connector, Clock]:
    clock = Clock()
    counter = itertools.count()
    ep = SipEndpoint(clock, token=lambda n: f"{next(counter):0{2 * n}x}")  # type: ignore[arg-type]
    udp = UdpTransport()
    ep.makeConnection(udp)  # type: ignore[arg-type]
    connector = Connector()
    ep.streams = Streams(Router(configured), connector, ep.dispatch, ep.drop, ep.send_udp)
    return ep, udp, connector, clock


def settings(user_agent: str = "huifang") -> CallSettings:
    return CallSettings(target=f"sip:1001@{TRUNK[0]}:{TRUNK[1]}", local=("127.0.0.1", 5060),
                        media_port=40000, ring_timeout=30, user_agent=user_agent)


def framed(wire: Any) -> list[SipMessage]:
    return [SipMessage.parse(m) for m in StreamFramer().feed(wire.value())]


def answer(stream: SipStream, request: SipMessage, status: int, reason: str,
           body: bytes = b"") -> None:
    reply = response_to(request, status, reason, to_tag="peer")
    if body:
        reply.add("Contact", f"<sip:1001@{TRUNK[0]}:{TRUNK[1]};transport=tcp>")
        reply.add("Content-Type", "application/sdp")
        reply.body = body
    data = reply.serialize()
    stream.dataReceived(data[:17])  # in two pieces, as a stream may deliver it
    stream.dataReceived(data[17:])


def test_a_tcp_trunk_call_uses_one_connection_and_no_retransmissions() -> None:
    ep, udp, connector, clock = endpoint()
    done = results(ep.place_call(settings()))
    assert [(t, to) for t, to, _ in connector.attempts] == [(Transport.TCP, TRUNK)]
    stream, wire = connector.accept()
    [invite] = framed(wire)
    assert invite.header("Via").startswith("SIP/2.0/TCP 127.0.0.1:5060;")
    assert invite.header("Contact") == "<sip:huifang@127.0.0.1:5060;transport=tcp>"
    clock.advance(0.5)
    clock.advance(1.0)  # timers A: a reliable transport carries the INVITE once
    assert len(framed(wire)) == 1 and udp.written == []
    answer(stream, invite, 200, "OK", SDP)
    ack = framed(wire)[-1]
    assert ack.method == "ACK" and ack.header("Via").startswith("SIP/2.0/TCP")
    second = results(ep.place_call(settings()))  # another call and a registration ...
    ep.register(RegistrationSettings(registrar=TRUNK, aor="sip:huifang@127.0.0.1",
                                     local=("127.0.0.1", 5060)))
    assert len(connector.attempts) == 1  # ... over the same connection
    assert [m.method for m in framed(wire)] == ["INVITE", "ACK", "INVITE", "REGISTER"]
    assert done == [] and second == [] and udp.written == []


def test_the_peer_s_bye_over_the_connection_is_answered_on_it() -> None:
    ep, _, connector, _ = endpoint()
    done = results(ep.place_call(settings()))
    stream, wire = connector.accept()
    invite = framed(wire)[0]
    answer(stream, invite, 200, "OK", SDP)
    bye = SipMessage(method="BYE", uri="sip:huifang@127.0.0.1:5060;transport=tcp")
    bye.add("Via", f"SIP/2.0/TCP {TRUNK[0]}:{TRUNK[1]};branch=z9hG4bKbye")
    bye.add("From", invite.header("To") + ";tag=peer")
    bye.add("To", invite.header("From"))
    bye.add("Call-ID", invite.call_id)
    bye.add("CSeq", "1 BYE")
    stream.dataReceived(b"\r\n\r\n" + bye.serialize())  # after a keep-alive ping
    reply = framed(wire)[-1]
    assert (reply.status, reply.cseq) == (200, (1, "BYE"))
    assert (done[0].outcome, done[0].by) == ("answered", "remote")


def test_a_lost_connection_is_opened_again_by_the_next_message() -> None:
    ep, _, connector, _ = endpoint()
    ep.place_call(settings())
    stream, _ = connector.accept()
    stream.connectionLost(Fail(ConnectionDone()))
    ep.place_call(settings())
    assert len(connector.attempts) == 2
    _, wire = connector.accept()
    assert [m.method for m in framed(wire)] == ["INVITE"]


def test_a_refused_connection_ends_the_call_as_a_transport_failure() -> None:
    ep, _, connector, clock = endpoint()
    done = results(ep.place_call(settings()))
    connector.refuse()
    clock.advance(0)
    assert (done[0].outcome, done[0].by) == ("transport_failure", "network")
    assert "TCP connection to 127.0.0.1:5090 failed" in done[0].reason


def test_a_large_request_on_a_udp_trunk_goes_over_tcp() -> None:
    """RFC 3261 §18.1.1: over 1300 bytes with the MTU unknown; its CANCEL follows it;
    the Contact stays as it was (we still listen on UDP); small calls stay on UDP."""
    ep, udp, connector, _ = endpoint(Transport.UDP)
    runner = ep.place_call(settings(user_agent="x" * 1200))
    small = ep.place_call(settings())
    assert len(connector.attempts) == 1 and len(udp.sent()) == 1  # the small INVITE
    assert udp.sent()[0].call_id == small.call.call_id
    stream, wire = connector.accept()
    [invite] = framed(wire)
    assert len(invite.serialize()) > 1300 and invite.header("Via").startswith("SIP/2.0/TCP")
    assert invite.header("Contact") == "<sip:huifang@127.0.0.1:5060>"
    answer(stream, invite, 180, "Ringing")
    runner.hangup()
    assert [m.method for m in framed(wire)] == ["INVITE", "CANCEL"]
    assert framed(wire)[1].header("Via").startswith("SIP/2.0/TCP")


def test_a_large_request_goes_over_udp_when_tcp_is_refused() -> None:
    ep, udp, connector, clock = endpoint(Transport.UDP)
    done = results(ep.place_call(settings(user_agent="x" * 1200)))
    connector.refuse()
    [invite] = udp.sent()
    assert invite.header("Via").startswith("SIP/2.0/UDP") and len(invite.serialize()) > 1300
    clock.advance(0.5)  # its retransmissions stay on UDP, nothing more is dialled
    assert len(udp.sent()) == 2 and len(connector.attempts) == 1 and done == []


def test_a_garbled_stream_is_closed_counted_and_logged(caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    ep, _, connector, _ = endpoint()
    done = results(ep.place_call(settings()))
    stream, wire = connector.accept()
    with caplog.at_level(logging.WARNING):
        stream.dataReceived(b"HTTP/1.1 400 Bad Request\r\n\r\n13812345678")
    assert wire.disconnecting and ep.dropped == {GARBLED: 1}
    assert any("closing the connection" in r.getMessage() and "neither a request" in
               r.getMessage() for r in caplog.records)
    assert not any("13812345678" in r.getMessage() for r in caplog.records)
    stream.dataReceived(b"SIP/2.0 200 OK\r\n")  # after the close: ignored
    assert done == [] and ep.dropped == {GARBLED: 1}


def test_a_message_that_frames_but_does_not_parse_is_dropped_the_stream_goes_on() -> None:
    ep, _, connector, _ = endpoint()
    results(ep.place_call(settings()))
    stream, wire = connector.accept()
    stream.dataReceived(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")  # no Call-ID
    assert ep.dropped == {"damaged": 1} and not wire.disconnecting


def test_requests_on_the_peer_s_own_connection_are_answered_on_it() -> None:
    ep, udp, _, _ = endpoint()
    assert ep.streams is not None
    listener = Listener(ep.streams.pool, Transport.TCP)
    peer = IPv4Address("TCP", "127.0.0.1", 41000)
    stream: Any = listener.buildProtocol(peer)
    wire = Wire(peerAddress=peer)
    stream.makeConnection(wire)
    options = (b"OPTIONS sip:huifang@127.0.0.1:5060 SIP/2.0\r\n"
               b"Via: SIP/2.0/TCP 127.0.0.1:41000;branch=z9hG4bKo\r\n"
               b"From: <sip:trunk@127.0.0.1>;tag=t\r\nTo: <sip:huifang@127.0.0.1>\r\n"
               b"Call-ID: keepalive-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    stream.dataReceived(options)
    [reply] = framed(wire)
    assert (reply.status, reply.call_id) == (200, "keepalive-1") and udp.written == []
    # the same address over UDP: answered over UDP, as its Via says (RFC 3261 §18.2.2)
    ep.datagramReceived(options.replace(b"/TCP", b"/UDP"), ("127.0.0.1", 41000))
    assert len(udp.sent()) == 1 and len(framed(wire)) == 1


def test_a_tls_connection_is_up_once_its_handshake_is() -> None:
    ep, _, connector, clock = endpoint(Transport.TLS)
    done = results(ep.place_call(settings()))
    assert connector.attempts[0][0] is Transport.TLS
    stream, wire = connector.accept()
    assert wire.value() == b""  # not before the server's certificate is verified
    stream.handshakeCompleted()
    [invite] = framed(wire)
    assert invite.header("Via").startswith("SIP/2.0/TLS")
    assert invite.header("Contact").endswith(";transport=tls>")
    second = results(ep.place_call(settings()))
    failing, _ = connector.accept(0)  # a connection whose handshake fails ...
    failing.connectionLost(Fail(ConnectionDone("certificate verify failed")))
    clock.advance(0)
    assert done == [] and second == []  # ... fails nothing that went over the good one


def test_a_tls_handshake_that_fails_fails_the_waiting_call() -> None:
    ep, _, connector, clock = endpoint(Transport.TLS)
    done = results(ep.place_call(settings()))
    stream, _ = connector.accept()
    stream.connectionLost(Fail(ConnectionDone("certificate verify failed")))
    clock.advance(0)
    assert done[0].outcome == "transport_failure" and "verify failed" in done[0].reason


@pytest.mark.parametrize(("uri", "transport"), [
    ("sip:1001@h:5060;transport=tcp", Transport.TCP),
    ("sip:1001@h;TRANSPORT=TLS;user=phone", Transport.TLS),
    ("sips:1001@h", Transport.TLS), ("<sip:p:5060;lr;transport=udp>", Transport.UDP),
    ("sip:1001@h;transport=sctp", None), ("sip:1001@h", None)])
def test_the_transport_a_uri_asks_for(uri: str, transport: Transport | None) -> None:
    assert uri_transport(uri) == transport


def test_the_next_hop_s_uri_chooses_the_transport_over_the_configuration() -> None:
    router = Router(Transport.UDP)
    invite = SipMessage(method="INVITE", uri="sip:1001@127.0.0.1:5090;transport=tcp")
    invite.add("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1")
    assert router.route(invite, ("127.0.0.1", 5090), 500).transport is Transport.TCP
    via_proxy = SipMessage(method="INVITE", uri="sip:1001@10.0.0.1;transport=tcp")
    via_proxy.add("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK2")
    assert router.route(via_proxy, ("127.0.0.1", 5070), 500).transport is Transport.UDP
    bye = SipMessage(method="BYE", uri="sip:1001@10.0.0.1")
    bye.add("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK3")
    bye.add("Route", "<sip:127.0.0.1:5070;transport=tls;lr>")
    assert router.route(bye, ("127.0.0.1", 5070), 500).transport is Transport.TLS


def test_for_stream_leaves_the_state_machine_s_message_alone() -> None:
    invite = SipMessage(method="INVITE", uri="sip:1001@h")
    invite.add("v", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1")
    invite.add("Contact", "<sip:huifang@127.0.0.1:5060>;expires=60")
    wire = for_stream(invite, Transport.TCP, contact=True)
    assert wire.header("Via") == "SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK1"
    assert wire.header("Contact") == "<sip:huifang@127.0.0.1:5060;transport=tcp>;expires=60"
    assert invite.header("Via").startswith("SIP/2.0/UDP")
    assert invite.header("Contact") == "<sip:huifang@127.0.0.1:5060>;expires=60"


def test_a_connection_closed_before_the_peer_says_a_word_fails_what_went_on_it() -> None:
    """TLS 1.3: the server refuses our certificate after our side finished the handshake;
    the call ends at once instead of at timer B. Once the peer has spoken, a loss fails
    nothing (the next message reconnects)."""
    ep, _, connector, clock = endpoint()
    done = results(ep.place_call(settings()))
    stream, _ = connector.accept()
    stream.connectionLost(Fail(ConnectionDone("certificate required")))
    clock.advance(0)
    assert done[0].outcome == "transport_failure" and "before an answer" in done[0].reason
    answered = results(ep.place_call(settings()))
    stream, wire = connector.accept()
    answer(stream, framed(wire)[0], 180, "Ringing")
    stream.connectionLost(Fail(ConnectionDone()))
    clock.advance(0)
    assert answered == []


def test_a_proxy_s_bye_on_its_own_connection_is_the_proxy_s_and_answered_there() -> None:
    """kamailio sends a callee's BYE over a new connection to our listener, from an
    ephemeral port: the source is its address with its Via's port, which the call knows
    as its proxy; the 200 goes back on that connection, not on ours."""
    ep, _, connector, _ = endpoint()
    call = settings()
    call.proxy = TRUNK
    done = results(ep.place_call(call))
    ours, our_wire = connector.accept()
    invite = framed(our_wire)[0]
    answer(ours, invite, 200, "OK", SDP)
    assert ep.streams is not None
    theirs: Any = Listener(ep.streams.pool, Transport.TCP).buildProtocol(None)
    wire = Wire(peerAddress=IPv4Address("TCP", "127.0.0.1", 45678))
    theirs.makeConnection(wire)
    bye = SipMessage(method="BYE", uri="sip:huifang@127.0.0.1:5060;transport=tcp")
    bye.add("Via", f"SIP/2.0/TCP {TRUNK[0]}:{TRUNK[1]};branch=z9hG4bKproxied")
    bye.add("From", invite.header("To") + ";tag=peer")
    bye.add("To", invite.header("From"))
    bye.add("Call-ID", invite.call_id)
    bye.add("CSeq", "1 BYE")
    theirs.dataReceived(bye.serialize())
    [reply] = framed(wire)
    assert (reply.status, reply.cseq) == (200, (1, "BYE")) and ep.dropped == {}
    assert [m.method for m in framed(our_wire)] == ["INVITE", "ACK"]
    assert (done[0].outcome, done[0].by) == ("answered", "remote")


def test_connections_beyond_the_limit_are_refused_and_counted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import dialer.siptcp

    monkeypatch.setattr(dialer.siptcp, "MAX_INBOUND", 1)
    ep, _, _, _ = endpoint()
    assert ep.streams is not None
    listener = Listener(ep.streams.pool, Transport.TCP)
    first = IPv4Address("TCP", "127.0.0.1", 41001)
    stream: Any = listener.buildProtocol(first)
    stream.makeConnection(Wire(peerAddress=first))
    assert listener.buildProtocol(IPv4Address("TCP", "127.0.0.1", 41002)) is None
    assert ep.dropped == {"stream_refused": 1}
