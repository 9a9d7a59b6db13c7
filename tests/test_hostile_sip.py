"""Malformed and hostile SIP at the endpoint, in the middle of a call: truncated
messages, huge headers, wrong Content-Length, garbage. Each is logged and dropped; the
call goes on and ends as it should, and no call is leaked."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.sipactions import response_to
from dialer.sipmessage import SipMessage
from tests.test_uac import PEER, SDP, endpoint, reply, results
from tests.test_uac import settings as call_settings

HOSTILE = [
    b"",
    b"\r\n",
    b"\x00" * 1500,
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1",  # truncated, no blank line
    b"SIP/2.0 200 OK\r\nVia: x\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@b>\r\n"
    b"To: <sip:c@d>\r\nContent-Length: 9999\r\n\r\nv=0",  # wrong Content-Length
    b"INVITE sip:x SIP/2.0\r\nSubject: " + b"A" * 60000 + b"\r\n\r\n",  # huge header
    b"SIP/2.0 486 Busy\r\n" + b"X-Pad: y\r\n" * 5000 + b"\r\n",  # thousands of headers
    b"BYE sip:huifang@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\n"
    b"Call-ID: not-a-call\r\nCSeq: 1 BYE\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n"
    b"\r\n",  # a BYE for a call that does not exist: 481
    "INVITE sip:用户 SIP/2.0\r\n\r\n".encode(),
    bytes(range(256)) * 100,
]


def test_hostile_datagrams_do_not_disturb_a_call() -> None:
    ep, transport, clock = endpoint()
    runner = ep.place_call(call_settings())
    done = results(runner)
    invite = transport.sent()[0]
    reply(ep, invite, 180, "Ringing")
    for datagram in HOSTILE:
        ep.datagramReceived(datagram, PEER)
    # a response to our INVITE with a forged branch: not ours, ignored
    forged = response_to(invite, 200, "OK", to_tag="evil")
    forged.set("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKforged")
    ep.datagramReceived(forged.serialize(), PEER)
    # 200s with damaged dialog headers (found by hypothesis: To "<" crashed the handler)
    for name, value in (("To", "<"), ("Contact", "<sip:x@127.0.0.1:99999>"),
                        ("Record-Route", "<sip:>")):
        bad = response_to(invite, 200, "OK", to_tag="t")
        bad.set(name, value) if name == "To" else bad.add(name, value)
        ep.datagramReceived(bad.serialize(), PEER)
        assert runner.call.state == "proceeding" and runner.call.remote_tag is None
    reply(ep, invite, 200, "OK", body=SDP)
    runner.hangup()
    bye = transport.sent()[-1]
    reply(ep, bye, 200, "OK", tag=None)
    assert done[0].outcome == "answered"
    clock.advance(32)  # timer D
    assert ep.garbled >= 7 and not ep.calls  # no call leaked
    replies = [m for m in transport.sent() if not m.is_request]
    assert [m.status for m in replies] == [481]  # only the stray BYE got an answer


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_datagram_mid_call(datagram: bytes) -> None:
    ep, _, _ = endpoint()
    runner = ep.place_call(call_settings())
    ep.datagramReceived(datagram, PEER)
    assert runner.call.state in ("calling", "proceeding", "ended")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["Via", "From", "To", "Call-ID", "CSeq", "Content-Length",
                                 "Contact", "Record-Route"]), max_size=6),
       st.text(max_size=80))
def test_mangled_responses_to_our_invite(drop: list[str], junk: str) -> None:
    ep, transport, _ = endpoint()
    runner = ep.place_call(call_settings())
    invite = transport.sent()[0]
    response = response_to(invite, 200, "OK", to_tag="t")
    for name in drop:
        response.set(name, junk)
    response.add("Contact", "<sip:x@127.0.0.1:5090>")
    response.body = SDP
    ep.datagramReceived(response.serialize(), PEER)
    SipMessage.parse(invite.serialize())  # what we sent is always well formed
    assert runner.call.state in ("calling", "proceeding", "confirmed", "terminating", "ended")
