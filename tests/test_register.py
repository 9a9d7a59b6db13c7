"""REGISTER with refresh, with a fake clock: challenge, refresh before expiry, retry
after a failure, and unregister on stop."""

from __future__ import annotations

from dialer.register import RegistrationSettings, RegState
from dialer.sipactions import Credentials, response_to
from tests.test_uac import PEER, endpoint


def test_register_challenge_refresh_and_stop() -> None:
    ep, transport, clock = endpoint()
    runner = ep.register(RegistrationSettings(registrar=PEER, aor="sip:huifang@trunk",
                                              local=("127.0.0.1", 5060), expires=120,
                                              credentials=Credentials("huifang", "pw")))
    first = transport.sent()[-1]
    assert first.method == "REGISTER" and first.header("Expires") == "120"
    challenge = response_to(first, 401, "Unauthorized", to_tag="r")
    challenge.add("WWW-Authenticate", 'Digest realm="trunk", nonce="n1", qop="auth"')
    ep.datagramReceived(challenge.serialize(), PEER)
    second = transport.sent()[-1]
    assert second.cseq[0] == first.cseq[0] + 1 and "qop=auth" in second.header("Authorization")
    ok = response_to(second, 200, "OK", to_tag="r")
    ok.add("Contact", "<sip:huifang@127.0.0.1:5060>;expires=100")
    ep.datagramReceived(ok.serialize(), PEER)
    reg = runner.registration
    assert (reg.state, reg.granted) == (RegState.REGISTERED, 100)
    sent = len(transport.written)
    clock.advance(79)
    assert len(transport.written) == sent
    clock.advance(1)  # refreshed at 80 % of what was granted
    assert transport.sent()[-1].method == "REGISTER" and len(transport.written) == sent + 1
    runner.stop()
    assert transport.sent()[-1].header("Expires") == "0"


def test_refused_registration_is_retried() -> None:
    ep, transport, clock = endpoint()
    runner = ep.register(RegistrationSettings(registrar=PEER, aor="sip:huifang@trunk",
                                              local=("127.0.0.1", 5060)))
    first = transport.sent()[-1]
    ep.datagramReceived(response_to(first, 403, "Forbidden", to_tag="r").serialize(), PEER)
    assert (runner.registration.state, runner.registration.last_status) == (RegState.FAILED,
                                                                              403)
    clock.advance(30)
    assert transport.sent()[-1].method == "REGISTER" and transport.sent()[-1] is not first


def test_no_answer_from_the_registrar() -> None:
    ep, transport, clock = endpoint()
    runner = ep.register(RegistrationSettings(registrar=PEER, aor="sip:huifang@trunk",
                                              local=("127.0.0.1", 5060)))
    for _ in range(64):  # 32 s in steps (Clock runs a timer set during advance() after it)
        clock.advance(0.5)
    assert (runner.registration.state, runner.registration.last_status) == (RegState.FAILED,
                                                                              408)
    assert len(transport.written) == 11  # timer E: .5, 1, 2, then every 4 s (T2)
