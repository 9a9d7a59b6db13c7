"""Session timers (RFC 4028) in the call state machine, with a fake clock and transport:
what we offer, the 2xx deciding who refreshes, our UPDATE or re-INVITE at half the
interval (and 422, 491, failures), the BYE when the peer's refresh never comes, and the
peer's refreshes restarting the timer."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock

from dialer import sessiontimer as st
from dialer.sipactions import CallSettings
from dialer.sipmessage import NameAddr, SipMessage
from dialer.sipudp import CallResult, CallRunner, SipEndpoint
from tests.test_uac import PEER, SDP, UdpTransport, endpoint, reply

ALLOW_UPDATE = "INVITE, ACK, BYE, CANCEL, UPDATE, OPTIONS"


def settings(expires: int = 1800, min_se: int = 90) -> CallSettings:
    return CallSettings(target="sip:1001@127.0.0.1:5090", local=("127.0.0.1", 5060),
                        media_port=40000, session_expires=expires, min_se=min_se)


def answered(se: str | None, allow: str = ALLOW_UPDATE, **kw: int
             ) -> tuple[SipEndpoint, UdpTransport, Clock, CallRunner, list[CallResult]]:
    ep, transport, clock = endpoint()
    runner = ep.place_call(settings(**kw))
    done: list[CallResult] = []
    runner.done.addCallback(done.append)
    extra = {"Contact": "<sip:callee@127.0.0.1:5090>", "Allow": allow}
    if se is not None:
        extra["Session-Expires"] = se
    reply(ep, transport.sent()[0], 200, "OK", body=SDP, extra=extra)
    assert transport.sent()[-1].method == "ACK"
    return ep, transport, clock, runner, done


def methods(transport: UdpTransport, since: int = 0) -> list[str]:
    return [m.method or str(m.status) for m in transport.sent()[since:]]


def peer_request(ep: SipEndpoint, runner: CallRunner, method: str, number: int,
                 headers: dict[str, str], body: bytes = b"") -> SipMessage:
    invite = runner.call.invite
    assert invite is not None
    request = SipMessage(method=method, uri="sip:huifang@127.0.0.1:5060")
    request.add("Via", f"SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKpeer{method}{number}")
    request.add("From", "<sip:1001@127.0.0.1:5090>;tag=peer")
    request.add("To", str(NameAddr.parse(invite.header("From"))))
    request.add("Call-ID", invite.call_id)
    request.add("CSeq", f"{number} {method}")
    request.add("Contact", "<sip:callee@127.0.0.1:5090>")
    for name, value in headers.items():
        request.add(name, value)
    if body:
        request.add("Content-Type", "application/sdp")
        request.body = body
    ep.datagramReceived(request.serialize(), PEER)
    return request


def test_the_invite_offers_a_timer_and_none_when_switched_off() -> None:
    ep, transport, _ = endpoint()
    ep.place_call(settings())
    invite = transport.sent()[0]
    assert "timer" in invite.values("Supported")
    assert (invite.get("Session-Expires"), invite.get("Min-SE")) == ("1800", "90")
    ep.place_call(settings(expires=0))
    invite = transport.sent()[-1]
    assert invite.get("Session-Expires") is None and invite.get("Supported") is None


def test_we_refresh_with_update_at_half_the_interval() -> None:
    ep, transport, clock, runner, done = answered("90;refresher=uac")
    invite = runner.call.invite
    assert invite is not None
    clock.advance(44.9)
    assert methods(transport)[-1] == "ACK"  # nothing before half the interval
    clock.advance(0.1)
    update = transport.sent()[-1]
    assert update.method == "UPDATE" and update.cseq == (invite.cseq[0] + 1, "UPDATE")
    assert update.get("Session-Expires") == "90;refresher=uac" and not update.body
    assert update.uri == "sip:callee@127.0.0.1:5090" and "timer" in update.values("Supported")
    clock.advance(0.5)
    assert transport.sent()[-1].branch == update.branch  # retransmitted until answered
    reply(ep, update, 200, "OK", tag="peer", extra={"Session-Expires": "120;refresher=uac"})
    sent = len(transport.written)
    clock.advance(59.4)
    assert len(transport.written) == sent  # the 200 set 120 s: next at 60 s from it
    clock.advance(0.6)
    second = transport.sent()[-1]
    assert second.method == "UPDATE" and second.cseq[0] == update.cseq[0] + 1
    assert second.get("Session-Expires") == "120;refresher=uac"
    assert done == [] and runner.call.state == "confirmed"


def test_without_update_in_allow_the_refresh_is_a_reinvite_with_the_same_sdp() -> None:
    ep, transport, clock, runner, done = answered("90;refresher=uac",
                                                  allow="INVITE, ACK, BYE, CANCEL")
    invite = runner.call.invite
    assert invite is not None
    clock.advance(45)
    reinvite = transport.sent()[-1]
    assert reinvite.method == "INVITE" and reinvite.cseq[0] == invite.cseq[0] + 1
    assert reinvite.body == invite.body and reinvite.branch != invite.branch
    assert reinvite.get("Session-Expires") == "90;refresher=uac"
    reply(ep, reinvite, 180, "Ringing")  # a provisional stops the retransmissions
    sent = len(transport.written)
    clock.advance(4)
    assert len(transport.written) == sent
    ok = {"Session-Expires": "90;refresher=uac", "Contact": "<sip:callee@127.0.0.1:5090>"}
    reply(ep, reinvite, 200, "OK", body=SDP, extra=ok)
    ack = transport.sent()[-1]
    assert ack.method == "ACK" and ack.cseq == (reinvite.cseq[0], "ACK")
    assert ack.branch != reinvite.branch
    reply(ep, reinvite, 200, "OK", body=SDP, extra=ok)  # our ACK was lost: the same again
    again = transport.sent()[-1]
    assert again.method == "ACK" and again.branch == ack.branch
    clock.advance(45)
    assert transport.sent()[-1].method == "INVITE"  # and the next refresh
    assert done == [] and ep.dropped == {}


def test_glare_491_waits_then_tries_again() -> None:
    ep, transport, clock, runner, _ = answered("90;refresher=uac", allow="INVITE, BYE")
    clock.advance(45)
    reinvite = transport.sent()[-1]
    # the peer's own re-INVITE while ours is pending: 491 (RFC 3261 §14.2)
    peer_request(ep, runner, "INVITE", 7, {}, body=SDP)
    assert transport.sent()[-1].status == 491
    reply(ep, reinvite, 491, "Request Pending")
    ack = transport.sent()[-1]
    assert ack.method == "ACK" and ack.branch == reinvite.branch  # non-2xx: same branch
    clock.advance(2.0)
    assert transport.sent()[-1].method == "ACK"
    clock.advance(2.1)  # within 2.1-4 s
    retry = transport.sent()[-1]
    assert retry.method == "INVITE" and retry.cseq[0] == reinvite.cseq[0] + 1
    assert runner.call.state == "confirmed"


def test_422_to_a_refresh_asks_again_with_the_bigger_min_se() -> None:
    ep, transport, clock, _, _ = answered("90;refresher=uac")
    clock.advance(45)
    update = transport.sent()[-1]
    reply(ep, update, 422, "Session Interval Too Small", extra={"Min-SE": "300"})
    retry = transport.sent()[-1]
    assert retry.method == "UPDATE" and retry.cseq[0] == update.cseq[0] + 1
    assert (retry.get("Session-Expires"), retry.get("Min-SE")) == ("300;refresher=uac", "300")


def test_an_update_refused_as_not_implemented_falls_back_to_reinvite() -> None:
    ep, transport, clock, _, _ = answered("90;refresher=uac")
    clock.advance(45)
    reply(ep, transport.sent()[-1], 501, "Not Implemented")
    assert transport.sent()[-1].method == "INVITE"


def test_a_refused_refresh_hangs_up_and_the_call_stays_answered() -> None:
    ep, transport, clock, _, done = answered("90;refresher=uac")
    clock.advance(45)
    reply(ep, transport.sent()[-1], 481, "Call/Transaction Does Not Exist")
    bye = transport.sent()[-1]
    assert bye.method == "BYE"
    reply(ep, bye, 200, "OK", tag="peer")
    assert (done[0].outcome, done[0].code, done[0].by) == ("answered", 200, "network")
    assert "refused: 481" in done[0].reason


def test_an_unanswered_refresh_hangs_up() -> None:
    _, transport, clock, _, done = answered("90;refresher=uac")
    clock.advance(45)
    for _ in range(70):
        clock.advance(0.5)
    assert "BYE" in methods(transport)
    clock.advance(40)  # the BYE unanswered too: the call ends anyway
    assert done[0].outcome == "answered" and "unanswered" in done[0].reason


def test_the_peer_refreshes_and_no_refresh_comes_bye_before_expiry() -> None:
    ep, transport, clock, _, done = answered("90;refresher=uas")
    clock.advance(59.9)  # 90 - min(32, 90 / 3) = 60 s
    assert methods(transport)[-1] == "ACK"
    clock.advance(0.1)
    bye = transport.sent()[-1]
    assert bye.method == "BYE"
    reply(ep, bye, 200, "OK", tag="peer")
    assert (done[0].outcome, done[0].code, done[0].by) == ("answered", 200, "network")
    assert done[0].reason == "session expired: no refresh from the peer within 90 s"


def test_long_intervals_give_up_32_s_before_expiry() -> None:
    _, transport, clock, _, _ = answered("1800;refresher=uas")
    clock.advance(1767.9)
    assert "BYE" not in methods(transport)
    clock.advance(0.1)
    assert methods(transport)[-1] == "BYE"


def test_the_peers_update_restarts_the_timer_and_our_200_echoes_it() -> None:
    ep, transport, clock, runner, done = answered("90;refresher=uas")
    clock.advance(50)
    peer_request(ep, runner, "UPDATE", 5, {"Session-Expires": "90;refresher=uac",
                                            "Supported": "timer"})
    ok = transport.sent()[-1]
    assert ok.status == 200 and ok.get("Session-Expires") == "90;refresher=uac"
    assert "timer" in ok.values("Require")
    clock.advance(59.9)  # 60 s from the refresh, not from the answer
    assert "BYE" not in methods(transport)
    peer_request(ep, runner, "INVITE", 6, {"Session-Expires": "90;refresher=uac"}, body=SDP)
    ok = transport.sent()[-1]
    assert ok.status == 200 and ok.body.startswith(b"v=0")
    assert ok.get("Session-Expires") == "90;refresher=uac"
    clock.advance(59.9)
    assert "BYE" not in methods(transport) and done == []
    clock.advance(0.2)
    assert methods(transport)[-1] == "BYE"


def test_a_peer_refresh_below_our_min_se_gets_422() -> None:
    ep, transport, _, runner, _ = answered("90;refresher=uas")
    peer_request(ep, runner, "UPDATE", 5, {"Session-Expires": "30;refresher=uac"})
    answer = transport.sent()[-1]
    assert (answer.status, answer.get("Min-SE")) == (422, "90")


def test_a_peer_refresh_without_a_timer_makes_us_the_refresher() -> None:
    ep, transport, clock, runner, _ = answered("90;refresher=uas")
    clock.advance(10)
    peer_request(ep, runner, "UPDATE", 5, {})
    ok = transport.sent()[-1]
    assert ok.status == 200 and ok.get("Session-Expires") == "90;refresher=uas"
    clock.advance(45)
    assert methods(transport)[-1] == "UPDATE"


def test_a_2xx_without_session_expires_runs_no_timer() -> None:
    _, transport, clock, _, done = answered(None)
    for _ in range(40):
        clock.advance(100)
    assert methods(transport)[-1] == "ACK" and done == []


def test_422_to_the_invite_asks_again_with_its_min_se() -> None:
    ep, transport, _ = endpoint()
    runner = ep.place_call(settings(expires=120))
    invite = transport.sent()[0]
    reply(ep, invite, 422, "Session Interval Too Small", extra={"Min-SE": "600"})
    ack, again = transport.sent()[-2:]
    assert ack.method == "ACK" and ack.branch == invite.branch
    assert again.method == "INVITE" and again.cseq[0] == invite.cseq[0] + 1
    assert (again.get("Session-Expires"), again.get("Min-SE")) == ("600", "600")
    reply(ep, again, 422, "Session Interval Too Small", extra={"Min-SE": "600"})
    assert runner.call.state == "ended"  # not bigger than what we asked: the end


def test_parsing() -> None:
    m = SipMessage(status=200, reason="OK")
    m.add("x", "90 ; refresher = UAS")
    assert st.parse_interval(m) == st.Interval(90, "uas")
    m.set("x", "soon")
    assert st.parse_interval(m) is None
    assert st.expiry_after(90) == 60 and st.expiry_after(4) == 4 - 4 / 3


def results(runner: Any) -> list[CallResult]:
    out: list[CallResult] = []
    runner.done.addCallback(out.append)
    return out
