"""The call state machine and the SIP endpoint with a fake clock and transport: timers,
retransmissions, CANCEL rules, re-ACKs, and what the endpoint does with damaged or
unexpected datagrams."""

from __future__ import annotations

import itertools
from typing import Any

from twisted.internet.task import Clock

from dialer.sipactions import CallSettings, response_to
from dialer.sipmessage import NameAddr, SipMessage
from dialer.sipudp import CallResult, SipEndpoint

PEER = ("127.0.0.1", 5090)


class UdpTransport:
    """What a DatagramProtocol writes to: records datagrams instead of sending them."""

    def __init__(self) -> None:
        self.written: list[tuple[bytes, tuple[str, int]]] = []

    def write(self, data: bytes, addr: tuple[str, int]) -> None:
        self.written.append((data, addr))

    def getHost(self) -> Any:
        return type("Host", (), {"port": 5060})()

    def sent(self) -> list[SipMessage]:
        return [SipMessage.parse(d) for d, _ in self.written]


def endpoint() -> tuple[SipEndpoint, UdpTransport, Clock]:
    clock = Clock()
    counter = itertools.count()
    ep = SipEndpoint(clock, token=lambda n: f"{next(counter):0{2 * n}x}")  # type: ignore[arg-type]
    transport = UdpTransport()
    ep.makeConnection(transport)  # type: ignore[arg-type]
    return ep, transport, clock


def settings(ring: float = 30.0) -> CallSettings:
    return CallSettings(target="sip:1001@127.0.0.1:5090", local=("127.0.0.1", 5060),
                        media_port=40000, ring_timeout=ring)


def results(runner: Any) -> list[CallResult]:
    out: list[CallResult] = []
    runner.done.addCallback(out.append)
    return out


def reply(ep: SipEndpoint, request: SipMessage, status: int, reason: str,
          tag: str | None = "peer", body: bytes = b"", extra: dict[str, str] | None = None
          ) -> None:
    r = response_to(request, status, reason, to_tag=tag)
    for name, value in (extra or {}).items():
        r.add(name, value)
    if body:
        r.add("Content-Type", "application/sdp")
        r.body = body
    ep.datagramReceived(r.serialize(), PEER)


def test_invite_retransmits_on_timer_a_then_times_out_on_b() -> None:
    ep, transport, clock = endpoint()
    done = results(ep.place_call(settings(ring=120)))
    times = []
    for _ in range(70):
        clock.advance(0.5)
        times.append(len(transport.written))
    invites = [m for m in transport.sent() if m.method == "INVITE"]
    assert len(invites) == 7  # 0, .5, 1.5, 3.5, 7.5, 15.5, 31.5 s
    assert len({m.branch for m in invites}) == 1  # retransmissions, not new requests
    assert done[0].outcome == "timeout" and done[0].code == 0
    clock.advance(32)  # timer D: the finished call is forgotten
    assert not ep.calls


def test_provisional_stops_retransmission_and_cancel_waits_for_it() -> None:
    ep, transport, clock = endpoint()
    runner = ep.place_call(settings(ring=2))
    done = results(runner)
    invite = transport.sent()[0]
    clock.advance(2.0)  # ring timeout with no provisional: no CANCEL yet (RFC 3261 §9.1)
    assert [m.method for m in transport.sent()].count("CANCEL") == 0
    reply(ep, invite, 180, "Ringing")
    cancel = transport.sent()[-1]
    assert cancel.method == "CANCEL" and cancel.branch == invite.branch
    assert cancel.cseq == (invite.cseq[0], "CANCEL")
    sent = len(transport.written)
    clock.advance(10)
    assert len(transport.written) > sent  # CANCEL retransmitted on timer E until answered
    reply(ep, cancel, 200, "OK")
    reply(ep, invite, 487, "Request Terminated")
    ack = transport.sent()[-1]
    assert ack.method == "ACK" and ack.branch == invite.branch  # non-2xx ACK: same branch
    assert to_tag(ack) == "peer"
    assert (done[0].outcome, done[0].code) == ("no_answer", 487)


def to_tag(m: SipMessage) -> str | None:
    return NameAddr.parse(m.header("To")).tag


SDP = b"v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"


def test_answer_ack_retransmitted_200_and_bye() -> None:
    ep, transport, _ = endpoint()
    answered: list[Any] = []
    runner = ep.place_call(settings(), on_answered=answered.append)
    done = results(runner)
    invite = transport.sent()[0]
    contact = {"Contact": "<sip:callee@127.0.0.1:5099>",
               "Record-Route": "<sip:127.0.0.1:5070;lr>"}
    reply(ep, invite, 200, "OK", body=SDP, extra=contact)
    ack = transport.sent()[-1]
    assert ack.method == "ACK" and ack.uri == "sip:callee@127.0.0.1:5099"
    assert ack.branch != invite.branch and ack.values("Route") == ["<sip:127.0.0.1:5070;lr>"]
    assert transport.written[-1][1] == ("127.0.0.1", 5070)  # via the recorded route
    assert answered[0].port == 6000
    reply(ep, invite, 200, "OK", body=SDP, extra=contact)  # the 200 again: ACK again
    assert transport.sent()[-1].method == "ACK"
    runner.hangup()
    bye = transport.sent()[-1]
    assert bye.method == "BYE" and bye.cseq == (invite.cseq[0] + 1, "BYE")
    reply(ep, bye, 200, "OK", tag=None)
    assert (done[0].outcome, done[0].by) == ("answered", "local")


def test_answer_without_a_usable_codec_is_hung_up() -> None:
    ep, transport, _ = endpoint()
    answered: list[Any] = []
    runner = ep.place_call(settings(), on_answered=answered.append)
    reply(ep, transport.sent()[0], 200, "OK",
          body=b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 6000 RTP/AVP 18\r\n")
    assert answered == [None] and transport.sent()[-1].method == "BYE"
    assert runner.call.state == "terminating"


def test_answered_while_cancelling_is_acked_and_hung_up() -> None:
    ep, transport, clock = endpoint()
    runner = ep.place_call(settings(ring=1))
    invite = transport.sent()[0]
    reply(ep, invite, 180, "Ringing")
    clock.advance(1)
    assert transport.sent()[-1].method == "CANCEL"
    reply(ep, invite, 200, "OK", body=SDP)
    assert [m.method for m in transport.sent()[-2:]] == ["ACK", "BYE"]
    assert runner.call.state == "terminating"


def test_damaged_unknown_and_options_datagrams() -> None:
    ep, transport, _ = endpoint()
    ep.datagramReceived(b"\r\n\r\n", PEER)  # keep-alive: ignored
    ep.datagramReceived(b"INVITE nonsense\r\n\r\n", PEER)
    ep.datagramReceived(bytes(range(256)), PEER)
    assert ep.garbled == 2 and transport.written == []
    options = (b"OPTIONS sip:huifang@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5090;"
               b"branch=z9hG4bKo1\r\nFrom: <sip:trunk@127.0.0.1>;tag=t\r\nTo: <sip:huifang@"
               b"127.0.0.1>\r\nCall-ID: ka1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    ep.datagramReceived(options, PEER)
    ok = transport.sent()[-1]
    assert ok.status == 200 and "INVITE" in (ok.get("Allow") or "") and ok.call_id == "ka1"
    ep.datagramReceived(options.replace(b"OPTIONS", b"BYE"), PEER)
    assert transport.sent()[-1].status == 481


def test_a_strangers_request_of_no_call_gets_no_answer() -> None:
    """Once the trunk's hosts are known (the dialer's proxy, registrar, accept_from and
    every host called), an OPTIONS scan or a request of no call from any other host is
    dropped unanswered and counted: scanners find nothing, forged sources get nothing."""
    ep, transport, _ = endpoint()
    ep.trusted = {"127.0.0.9"}  # the proxy, say
    options = (b"OPTIONS sip:huifang@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.7:5090;"
               b"branch=z9hG4bKo1\r\nFrom: <sip:scan@127.0.0.7>;tag=t\r\nTo: <sip:huifang@"
               b"127.0.0.1>\r\nCall-ID: scan1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    stranger = ("127.0.0.7", 5090)
    for request in (options, options.replace(b"OPTIONS", b"INVITE"),
                    options.replace(b"OPTIONS", b"REGISTER"), options.replace(b"OPTIONS", b"BYE")):
        ep.datagramReceived(request, stranger)
    assert transport.written == [] and ep.dropped == {"stranger": 4}
    ep.datagramReceived(options, ("127.0.0.9", 5060))  # the trunk's keep-alive
    assert transport.sent()[-1].status == 200
    ep.place_call(settings())  # a call to PEER's host makes it the trunk's too
    assert PEER[0] in ep.trusted
    ep.datagramReceived(options.replace(b"OPTIONS", b"BYE"), PEER)
    assert transport.sent()[-1].status == 481 and ep.dropped == {"stranger": 4}


def test_ids_never_repeat() -> None:
    ep = SipEndpoint(Clock())
    ep.makeConnection(UdpTransport())  # type: ignore[arg-type]
    calls = [ep.place_call(settings()).call for _ in range(200)]
    assert len({c.call_id for c in calls}) == 200 and len({c.local_tag for c in calls}) == 200
    assert len({c.branch for c in calls}) == 200


def test_a_200_retransmitted_after_bye_is_acked_with_the_invite_cseq() -> None:
    ep, transport, _ = endpoint()
    runner = ep.place_call(settings())
    invite = transport.sent()[0]
    reply(ep, invite, 200, "OK", body=SDP)
    runner.hangup()
    reply(ep, invite, 200, "OK", body=SDP)  # the callee never saw our ACK
    ack = transport.sent()[-1]
    assert ack.method == "ACK" and ack.cseq == (invite.cseq[0], "ACK")


class BrokenTransport(UdpTransport):
    def write(self, data: bytes, addr: tuple[str, int]) -> None:
        raise OSError(101, "Network is unreachable")


def test_a_network_that_cannot_send_is_a_transport_failure() -> None:
    clock = Clock()
    ep = SipEndpoint(clock)
    ep.makeConnection(BrokenTransport())  # type: ignore[arg-type]
    done = results(ep.place_call(settings()))
    clock.advance(0)
    assert (done[0].outcome, done[0].by) == ("transport_failure", "network")
    assert "unreachable" in done[0].reason


def test_in_dialog_options_and_reinvite_are_answered() -> None:
    ep, transport, _ = endpoint()
    ep.place_call(settings())
    invite = transport.sent()[0]
    reply(ep, invite, 200, "OK", body=SDP)
    ours = NameAddr.parse(invite.header("From"))
    for number, method in enumerate(("OPTIONS", "INVITE"), start=5):  # CSeq goes up
        request = SipMessage(method=method, uri="sip:huifang@127.0.0.1:5060")
        request.add("Via", "SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKpeer" + method)
        request.add("From", "<sip:1001@127.0.0.1:5090>;tag=peer")
        request.add("To", str(ours))
        request.add("Call-ID", invite.call_id)
        request.add("CSeq", f"{number} {method}")
        ep.datagramReceived(request.serialize(), PEER)
        answer = transport.sent()[-1]
        assert answer.status == 200 and answer.cseq == (number, method)
    assert answer.body.startswith(b"v=0")  # the re-INVITE keeps our media as it was


def test_a_final_response_retransmitted_after_the_end_is_acked_again() -> None:
    ep, transport, clock = endpoint()
    done = results(ep.place_call(settings()))
    invite = transport.sent()[0]
    reply(ep, invite, 486, "Busy Here")
    assert done[0].outcome == "busy" and transport.sent()[-1].method == "ACK"
    clock.advance(10)
    reply(ep, invite, 486, "Busy Here")  # our ACK was lost: the callee sends it again
    acks = [m for m in transport.sent() if m.method == "ACK"]
    assert len(acks) == 2 and acks[1].branch == invite.branch and len(done) == 1
    clock.advance(22)  # timer D over: the call is forgotten, a stray 486 is ignored
    assert not ep.calls
    reply(ep, invite, 486, "Busy Here")
    assert len([m for m in transport.sent() if m.method == "ACK"]) == 2
