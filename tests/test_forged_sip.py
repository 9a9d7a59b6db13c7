"""Forged and stray SIP aimed at a live call (issue 21), on the pure call machine behind
the endpoint with a fake clock and transport: each message below reproduced a fault
alone during a campaign; none may end, move or disturb the call now."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from twisted.internet.task import Clock

from dialer.dialog import Drop, accept_address, info_digit
from dialer.sipactions import CallSettings, response_to
from dialer.sipmessage import NameAddr, SipMessage
from dialer.sipudp import DROP_LOG_S, SipEndpoint
from tests.test_uac import PEER, SDP, UdpTransport, endpoint, reply, results, settings, to_tag

ELSEWHERE = ("127.0.0.1", 5999)  # the attacker's second socket
MOVED = b"v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0 101\r\n" \
        b"a=rtpmap:101 telephone-event/8000\r\n"


class Call:
    """An answered call and what it told its handlers."""

    def __init__(self, call_settings: CallSettings | None = None) -> None:
        self.ep, self.transport, self.clock = endpoint()
        self.answered: list[Any] = []
        self.moved: list[Any] = []
        self.digits: list[str] = []
        self.runner = self.ep.place_call(call_settings or settings(),
                                         on_answered=self.answered.append,
                                         on_digit=self.digits.append,
                                         on_media_changed=self.moved.append)
        self.done = results(self.runner)
        self.invite = self.transport.sent()[0]
        reply(self.ep, self.invite, 180, "Ringing")
        reply(self.ep, self.invite, 200, "OK", body=SDP,
              extra={"Contact": "<sip:callee@127.0.0.1:5090>"})
        assert self.runner.call.state == "confirmed"
        self.mark = len(self.transport.written)

    def since(self) -> list[tuple[SipMessage, tuple[str, int]]]:
        return [(SipMessage.parse(d), to) for d, to in self.transport.written[self.mark:]]

    def request(self, method: str, cseq: int, *, tag: str = "peer", ours: str | None = None,
                branch: str = "", body: bytes = b"", content_type: str = "") -> SipMessage:
        m = SipMessage(method=method, uri="sip:huifang@127.0.0.1:5060")
        m.add("Via", f"SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK{branch or method}{cseq}")
        m.add("From", f"<sip:1001@127.0.0.1:5090>;tag={tag}")
        us = NameAddr(NameAddr.parse(self.invite.header("From")).uri)
        m.add("To", str(us.with_tag(ours) if ours else us))
        m.add("Call-ID", self.invite.call_id)
        m.add("CSeq", f"{cseq} {method}")
        if body:
            m.add("Content-Type", content_type or "application/sdp")
            m.body = body
        return m

    def send(self, message: SipMessage, source: tuple[str, int] = PEER) -> None:
        self.ep.datagramReceived(message.serialize(), source)

    def hang_up_cleanly(self) -> None:
        """Our BYE goes to the real callee, once, and its 200 ends the call as ours."""
        self.mark = len(self.transport.written)
        self.runner.hangup()
        byes = [(m, to) for m, to in self.since() if m.method == "BYE"]
        assert len(byes) == 1 and byes[0][1] == PEER and to_tag(byes[0][0]) == "peer"
        reply(self.ep, byes[0][0], 200, "OK", tag=None)
        assert (self.done[0].outcome, self.done[0].by) == ("answered", "local")


def test_a_bye_from_another_port_with_random_tags_is_dropped_unanswered() -> None:
    call = Call()
    call.send(call.request("BYE", 2, tag="random", ours="alsorandom"), ELSEWHERE)
    call.send(call.request("BYE", 3, ours=call.runner.call.local_tag), ELSEWHERE)  # right tags
    assert call.runner.call.state == "confirmed" and not call.done and call.since() == []
    assert call.ep.dropped == {Drop.FOREIGN_SOURCE: 2}
    call.hang_up_cleanly()


def test_a_bye_from_the_peer_with_wrong_tags_gets_481_and_ends_nothing() -> None:
    call = Call()
    call.send(call.request("BYE", 2, tag="random", ours=call.runner.call.local_tag))
    call.send(call.request("BYE", 3, ours="notours"))
    assert [m.status for m, _ in call.since()] == [481, 481]
    assert call.runner.call.state == "confirmed"
    call.hang_up_cleanly()


def test_a_486_with_the_invite_branch_after_the_answer_ends_nothing() -> None:
    call = Call()
    for source in (PEER, ELSEWHERE):
        reply(call.ep, call.invite, 486, "Busy Here", tag="peer")
        call.ep.datagramReceived(response_to(call.invite, 486, "Busy Here", "peer").serialize(),
                                 source)
    assert call.runner.call.state == "confirmed" and not call.done and call.since() == []
    assert call.ep.dropped == {Drop.LATE_FINAL: 3, Drop.FOREIGN_SOURCE: 1}
    call.hang_up_cleanly()


def test_a_200_with_another_to_tag_is_a_fork_acked_and_byed_once() -> None:
    call = Call()
    for _ in range(20):  # from the attacker: nothing at all
        reply_from(call, ELSEWHERE, tag="evil")
    assert call.since() == []
    for _ in range(20):  # from the trunk: a second dialog, ACKed and BYEd once
        reply_from(call, PEER, tag="fork2")
    sent = call.since()
    assert [m.method for m, _ in sent] == ["ACK", "BYE"]
    assert {to_tag(m) for m, _ in sent} == {"fork2"}  # never our dialog's tag
    assert all(to == PEER for _, to in sent)
    call.ep.datagramReceived(response_to(sent[1][0], 200, "OK").serialize(), PEER)
    assert call.runner.call.state == "confirmed" and call.answered[1:] == []
    assert call.ep.dropped == {Drop.FOREIGN_SOURCE: 20, Drop.FORK: 19}
    call.hang_up_cleanly()


def reply_from(call: Call, source: tuple[str, int], tag: str, body: bytes = SDP,
               cseq: str | None = None) -> None:
    r = response_to(call.invite, 200, "OK", to_tag=tag)
    r.add("Contact", "<sip:callee@127.0.0.1:5090>")
    if cseq:
        r.set("CSeq", cseq)
    r.add("Content-Type", "application/sdp")
    r.body = body
    call.ep.datagramReceived(r.serialize(), source)


def test_retransmitted_200s_are_reacked_as_the_first_and_never_reapply_sdp() -> None:
    call = Call()
    first_ack = next(m for m in call.transport.sent() if m.method == "ACK")
    reply_from(call, PEER, tag="peer", body=b"garbage, not SDP")
    reply_from(call, PEER, tag="peer", body=MOVED)
    acks = [m for m, _ in call.since()]
    assert [m.serialize() for m in acks] == [first_ack.serialize()] * 2  # the same ACK
    assert len(call.answered) == 1 and call.moved == []
    for _ in range(40):  # more than any callee retransmits: bounded
        reply_from(call, PEER, tag="peer")
    assert len(call.since()) == 16 and call.ep.dropped[Drop.REACK_LIMIT] == 26


def test_responses_of_no_open_transaction_are_dropped() -> None:
    call = Call()
    reply_from(call, PEER, tag="peer", cseq="7 INVITE")  # bad CSeq
    reply_from(call, PEER, tag="peer", cseq=f"{call.invite.cseq[0]} BYE")  # a BYE never sent
    reply(call.ep, call.invite, 180, "Ringing")  # after the answer
    assert call.since() == [] and call.runner.call.state == "confirmed"
    assert call.ep.dropped == {Drop.NO_TRANSACTION: 2, Drop.LATE_PROVISIONAL: 1}
    call.hang_up_cleanly()


def test_in_dialog_requests_from_a_wrong_address_are_dropped() -> None:
    call = Call()
    ours = call.runner.call.local_tag
    call.send(call.request("OPTIONS", 2, ours=ours), ELSEWHERE)
    call.send(call.request("INFO", 3, ours=ours, body=b"Signal=1\r\n",
                           content_type="application/dtmf-relay"), ELSEWHERE)
    call.send(call.request("INVITE", 4, tag="x", ours="y", body=MOVED.replace(b"7000", b"9")),
              ELSEWHERE)
    assert call.since() == [] and call.digits == [] and call.moved == []
    call.hang_up_cleanly()


def test_a_reinvite_moves_media_only_from_the_peer_and_with_a_valid_offer() -> None:
    call = Call()
    ours = call.runner.call.local_tag
    call.send(call.request("INVITE", 2, tag="other", ours=ours, body=MOVED))  # wrong tag
    call.send(call.request("INVITE", 3, ours=ours, body=b"m=garbage"))
    call.send(call.request("INVITE", 4, ours=ours,
                           body=MOVED.replace(b"RTP/AVP 0 101", b"RTP/AVP 18")))  # no codec
    assert [m.status for m, _ in call.since()] == [481, 488, 488] and call.moved == []
    call.send(call.request("INVITE", 5, ours=ours, body=MOVED))
    ok = call.since()[-1][0]
    assert ok.status == 200 and ok.body.startswith(b"v=0") and ok.get("Contact")
    assert [(d.address, d.port) for d in call.moved] == [("127.0.0.1", 7000)]
    call.send(call.request("INVITE", 5, ours=ours, body=MOVED))  # retransmitted: same 200
    assert call.since()[-1][0].serialize() == ok.serialize() and len(call.moved) == 1
    call.send(call.request("ACK", 5, ours=ours))
    call.hang_up_cleanly()


def test_update_with_and_without_sdp_is_answered() -> None:
    call = Call()
    ours = call.runner.call.local_tag
    call.send(call.request("UPDATE", 2, ours=ours))  # a session-timer refresh (RFC 4028)
    refresh = call.since()[-1][0]
    assert (refresh.status, refresh.body) == (200, b"")
    call.send(call.request("UPDATE", 3, ours=ours, body=MOVED))
    answer = call.since()[-1][0]
    assert answer.status == 200 and answer.body.startswith(b"v=0")
    assert [d.port for d in call.moved] == [7000]
    call.hang_up_cleanly()


def test_info_key_presses_and_other_in_dialog_requests() -> None:
    call = Call()
    ours = call.runner.call.local_tag
    relay = call.request("INFO", 2, ours=ours, body=b"Signal=1\r\nDuration=160\r\n",
                         content_type="application/dtmf-relay")
    call.send(relay)
    call.send(relay)  # retransmitted: answered again, the key is not pressed twice
    call.send(call.request("INFO", 3, ours=ours, body=b"5", content_type="application/dtmf"))
    call.send(call.request("INFO", 4, ours=ours, body=b"<xml/>", content_type="text/xml"))
    call.send(call.request("OPTIONS", 5, ours=ours))
    call.send(call.request("NOTIFY", 6, ours=ours))
    call.send(call.request("INFO", 6, ours=ours, branch="again"))  # CSeq not above the last
    assert call.digits == ["1", "5"]
    assert [m.status for m, _ in call.since()] == [200, 200, 200, 415, 200, 501, 500]
    assert "UPDATE" in (call.since()[4][0].get("Allow") or "")
    call.hang_up_cleanly()


@pytest.mark.parametrize(("content_type", "body", "digit"), [
    ("application/dtmf-relay", b"Signal=1\r\nDuration=160\r\n", "1"),
    ("application/dtmf-relay", b"Signal= #\r\nDuration= 100\r\n", "#"),
    ("Application/DTMF-Relay; charset=x", b"signal=10\r\n", "*"),
    ("application/dtmf-relay", b"Duration=160\r\n", None),
    ("application/dtmf-relay", b"Signal=12\r\n", None),
    ("application/dtmf", b"9", "9"),
    ("application/dtmf", b"\xff", None),
    ("text/plain", b"Signal=1", None),
])
def test_info_digit(content_type: str, body: bytes, digit: str | None) -> None:
    assert info_digit(content_type, body) == digit


def test_accept_from_takes_the_trunk_s_other_addresses() -> None:
    sbc = ("127.0.0.2", 5077)  # the carrier's SBC answers from another address and port
    call_settings = settings()
    call_settings.accept_from = (accept_address("127.0.0.2"),)
    ep, transport, _ = endpoint()
    runner = ep.place_call(call_settings)
    invite = transport.sent()[0]
    ep.datagramReceived(response_to(invite, 200, "OK", "peer").serialize(), ELSEWHERE)
    assert runner.call.state == "calling" and ep.dropped == {Drop.FOREIGN_SOURCE: 1}
    reply(ep, invite, 100, "Trying")  # where the INVITE went is always the trunk's
    assert runner.call.state == "proceeding"
    ok = response_to(invite, 200, "OK", "peer")
    ok.add("Content-Type", "application/sdp")
    ok.body = SDP
    ep.datagramReceived(ok.serialize(), sbc)
    assert runner.call.state == "confirmed"
    assert accept_address("[::1]:5060") == ("::1", 5060)
    for bad in ("", "a b", "host:99999", "::1"):
        with pytest.raises(ValueError, match=r"host|addr"):
            accept_address(bad)


def test_a_flood_of_drops_is_counted_and_logged_as_summaries(
        caplog: pytest.LogCaptureFixture) -> None:
    call = Call()
    garbage = b"INVITE 13812345678 nonsense\r\n\r\n"  # damaged, and holds a number
    with caplog.at_level(logging.WARNING, logger="dialer"):
        for i in range(3000):
            call.ep.datagramReceived(garbage, PEER)
            call.send(call.request("BYE", 10 + i, tag="r", ours="r"), ELSEWHERE)
            if i % 100 == 0:
                call.clock.advance(1)
        call.clock.advance(DROP_LOG_S)
        call.clock.advance(DROP_LOG_S)  # a quiet minute: nothing more to say
    # warnings only: another test may have left the root logger at INFO
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) <= 3, lines  # 30 s of flood: a first line and one summary a minute
    assert "5999 more" in lines[-1] or "more SIP datagrams" in lines[-1]
    assert "13812345678" not in "\n".join(lines) and "nonsense" not in "\n".join(lines)
    assert call.ep.dropped == {Drop.DAMAGED: 3000, Drop.FOREIGN_SOURCE: 3000}
    assert call.runner.call.state == "confirmed"
    call.hang_up_cleanly()


def test_damaged_datagram_errors_carry_no_content() -> None:
    from dialer.sipmessage import SipMessage as M
    from dialer.sipmessage import SipParseError

    for data in (b"INVITE 13812345678\r\n\r\n",
                 b"INVITE sip:1@h SIP/2.0\r\nX 13812345678\r\n\r\n",
                 b"SIP/2.0 200 OK\r\nVia: x\r\nCall-ID: c\r\nCSeq: 13812345678x INVITE\r\n"
                 b"From: <sip:a@b>\r\nTo: <sip:c@d>\r\n\r\n"):
        with pytest.raises(SipParseError) as info:
            M.parse(data)
        assert "13812345678" not in str(info.value)
    with pytest.raises(SipParseError) as info:
        NameAddr.parse("<sip:13812345678@h")
    assert "13812345678" not in str(info.value)


def test_digest_stale_is_retried_once_with_the_new_nonce() -> None:
    from dialer.sipactions import Credentials

    clock = Clock()
    ep = SipEndpoint(clock, token=lambda n: "0" * 2 * n)
    transport = UdpTransport()
    ep.makeConnection(transport)  # type: ignore[arg-type]
    call_settings = settings()
    call_settings.credentials = Credentials("huifang", "s3cret")
    done = results(ep.place_call(call_settings))
    challenge = 'Digest realm="r", nonce="{}", qop="auth", algorithm=SHA-256{}'
    for nonce, stale in (("n1", ""), ("n2", ", stale=true"), ("n3", ", stale=true")):
        invite = [m for m in transport.sent() if m.method == "INVITE"][-1]
        reply(ep, invite, 401, "Unauthorized",
              extra={"WWW-Authenticate": challenge.format(nonce, stale)})
    invites = [m for m in transport.sent() if m.method == "INVITE"]
    assert len(invites) == 3  # the first, its answer, one more for the stale nonce
    assert 'nonce="n2"' in (invites[2].get("Authorization") or "")
    assert "algorithm=SHA-256" in (invites[2].get("Authorization") or "")
    assert (done[0].outcome, done[0].code) == ("auth_failure", 401)  # a second stale


def test_a_second_plain_challenge_is_an_auth_failure() -> None:
    from dialer.sipactions import Credentials

    ep, transport, _ = endpoint()
    call_settings = settings()
    call_settings.credentials = Credentials("huifang", "wrong")
    done = results(ep.place_call(call_settings))
    for nonce in ("n1", "n2"):
        invite = [m for m in transport.sent() if m.method == "INVITE"][-1]
        reply(ep, invite, 401, "Unauthorized",
              extra={"WWW-Authenticate": f'Digest realm="r", nonce="{nonce}"'})
    assert len([m for m in transport.sent() if m.method == "INVITE"]) == 2
    assert (done[0].outcome, done[0].code) == ("auth_failure", 401)


def test_drops_are_exported_as_a_prometheus_counter_by_reason() -> None:
    from prometheus_client import generate_latest

    from dialer.metrics import Metrics

    call = Call()
    metrics = Metrics()
    metrics.watch_sip_drops(lambda: call.ep.dropped)
    call.ep.datagramReceived(b"garbage\r\n\r\n", PEER)
    call.send(call.request("BYE", 2), ELSEWHERE)
    call.send(call.request("BYE", 3), ELSEWHERE)
    text = generate_latest(metrics.registry).decode()
    assert 'huifang_sip_dropped_total{reason="damaged"} 1.0' in text
    assert 'huifang_sip_dropped_total{reason="foreign_source"} 2.0' in text


def test_registration_retries_a_stale_nonce_once_and_hears_only_the_registrar() -> None:
    from dialer.register import RegistrationSettings, RegState
    from dialer.sipactions import Credentials

    ep, transport, _ = endpoint()
    runner = ep.register(RegistrationSettings(registrar=PEER, aor="sip:huifang@trunk",
                                              local=("127.0.0.1", 5060),
                                              credentials=Credentials("huifang", "pw")))
    for nonce, stale in (("n1", ""), ("n2", ", stale=true")):
        challenge = response_to(transport.sent()[-1], 401, "Unauthorized", to_tag="r")
        challenge.add("WWW-Authenticate", f'Digest realm="trunk", nonce="{nonce}"{stale}')
        ep.datagramReceived(challenge.serialize(), PEER)
    last = transport.sent()[-1]
    assert last.method == "REGISTER" and 'nonce="n2"' in last.header("Authorization")
    forged = response_to(last, 200, "OK", to_tag="r")
    ep.datagramReceived(forged.serialize(), ELSEWHERE)
    assert runner.registration.state is RegState.REGISTERING
    assert ep.dropped == {Drop.FOREIGN_SOURCE: 1}
    again = response_to(last, 401, "Unauthorized", to_tag="r")
    again.add("WWW-Authenticate", 'Digest realm="trunk", nonce="n3", stale=true')
    ep.datagramReceived(again.serialize(), PEER)  # a second stale: refused, retried later
    assert (runner.registration.state, runner.registration.last_status) == (RegState.FAILED,
                                                                              401)


def test_a_forged_response_does_not_set_the_time_to_first_response() -> None:
    ep, transport, clock = endpoint()
    runner = ep.place_call(settings())
    done = results(runner)
    invite = transport.sent()[0]
    clock.advance(0.1)
    ep.datagramReceived(response_to(invite, 100, "Trying").serialize(), ELSEWHERE)
    clock.advance(0.9)
    reply(ep, invite, 486, "Busy Here")
    assert (done[0].outcome, done[0].first_response_s) == ("busy", 1.0)
