"""Outbound calls against sipp callees on 127.0.0.1: every outcome, the ring timeout's
CANCEL, a 407 challenge, early media, and hang-ups both ways. The sipp process's exit
status says whether it saw the messages its scenario expects (our ACKs, CANCEL, BYE)."""

from __future__ import annotations

from typing import Any

import pytest

from dialer.sipudp import CallResult, SipEndpoint
from dialer.uac import CallSettings, Credentials
from tests.peers import free_udp_port, on_reactor, reactor, sipp


def place(port: int, ring_timeout: float = 5.0, credentials: Credentials | None = None,
          hangup_after: float | None = None) -> tuple[CallResult, list[Any], SipEndpoint]:
    media: list[Any] = []

    def go() -> Any:
        endpoint = SipEndpoint(reactor)
        listening = reactor.listenUDP(0, endpoint, interface="127.0.0.1")
        settings = CallSettings(target=f"sip:1001@127.0.0.1:{port}",
                                local=("127.0.0.1", listening.getHost().port),
                                media_port=free_udp_port(), ring_timeout=ring_timeout,
                                credentials=credentials)

        def answered(description: Any) -> None:
            media.append(("answered", description))
            if hangup_after is not None:
                reactor.callLater(hangup_after, runner.hangup)

        runner = endpoint.place_call(settings, on_answered=answered,
                                     on_early_media=lambda d: media.append(("early", d)))

        def stop(result: CallResult) -> Any:
            reactor.callLater(0.3, listening.stopListening)  # absorb retransmissions
            return result, media, endpoint

        return runner.done.addCallback(stop)

    return on_reactor(go)  # type: ignore[no-any-return]


def finished(process: Any) -> None:
    code = process.wait(30)
    assert code == 0, f"sipp scenario did not complete (exit {code}): {process.stderr.read()}"


@pytest.mark.parametrize(("scenario", "outcome", "code"), [
    ("busy", "busy", 486), ("reject", "rejected", 603), ("notfound", "invalid_number", 404),
    ("unavailable", "congestion", 503)])
def test_failures_are_classified_and_acked(scenario: str, outcome: str, code: int) -> None:
    with sipp(scenario) as (port, process):
        result, media, _ = place(port)
        finished(process)  # sipp saw our ACK
    assert (result.outcome, result.code, result.by) == (outcome, code, "remote")
    assert media == [] and result.first_response_s is not None


def test_ringing_for_ever_is_cancelled_at_the_ring_timeout() -> None:
    with sipp("ringforever") as (port, process):
        result, _, _ = place(port, ring_timeout=1.5)
        finished(process)  # CANCEL, then our ACK of the 487
    assert (result.outcome, result.code) == ("no_answer", 487)


def test_answered_and_we_hang_up() -> None:
    with sipp("we_hang_up") as (port, process):
        result, media, _ = place(port, hangup_after=0.5)
        finished(process)  # ACK to the 200 reached it, and our BYE
    assert (result.outcome, result.by) == ("answered", "local")
    assert media[0][0] == "answered" and media[0][1].codec_name == "PCMU"
    assert media[0][1].telephone_event == 101 and result.answered_s is not None


@pytest.mark.timeout(60)
def test_the_callee_hangs_up() -> None:
    with sipp("callee_hangs_up", "-d", "800") as (port, process):
        result, _, _ = place(port)
        finished(process)  # our 200 to its BYE
    assert (result.outcome, result.by) == ("answered", "remote")
    assert result.duration_s >= 0.5


def test_a_401_challenge_is_answered_with_digest() -> None:
    """sipp's verifyauth checks Authorization (not Proxy-Authorization): the 407 case is
    tested against kamailio."""
    with sipp("auth401") as (port, process):
        result, _, _ = place(port, credentials=Credentials("huifang", "s3cret"),
                             hangup_after=0.3)
        finished(process)
    assert (result.outcome, result.code) == ("answered", 200)


def test_a_401_with_the_wrong_password_fails() -> None:
    with sipp("auth401") as (port, process):
        result, _, _ = place(port, credentials=Credentials("huifang", "wrong"))
        finished(process)
    assert (result.outcome, result.code) == ("failed", 403)


def test_a_challenge_without_credentials_is_an_auth_failure() -> None:
    with sipp("auth401") as (port, process):
        result, _, _ = place(port)
        process.kill()
    assert (result.outcome, result.code) == ("auth_failure", 401)


def test_early_media_then_480() -> None:
    with sipp("early183", "-d", "300") as (port, process):
        result, media, _ = place(port)
        finished(process)
    assert (result.outcome, result.code) == ("no_answer", 480)
    assert [kind for kind, _ in media] == ["early"] and media[0][1].codec_name == "PCMU"
