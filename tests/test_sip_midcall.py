"""In-dialog requests and session timers (RFC 3311, RFC 4028, SIP INFO) against sipp
callees on 127.0.0.1: sipp sending UPDATE, INFO (application/dtmf-relay) and a re-INVITE
mid-call; a session timer we refresh with UPDATE (through a 422) and with re-INVITE
(after a 422 to the INVITE); one the callee should refresh and never does. Intervals of
a few seconds: the RFC's 90 s floor is the configuration's, not the call machine's.
sipp's exit status says whether it got every answer and request its scenario expects
(and nothing else)."""

from __future__ import annotations

from typing import Any

import pytest

from dialer.sdp import MediaDescription
from dialer.sipactions import CallSettings
from dialer.sipudp import CallResult
from tests.peers import free_udp_port, on_reactor, reactor, sipp
from tests.test_sip_calls import finished


def place(port: int, *, session_expires: int = 0, min_se: int = 1
          ) -> tuple[CallResult, list[tuple[str, Any]]]:
    """A call to a sipp callee, left to the callee (or the session timer) to end; the
    result and what the call reported on the way (answer, keys, media moves)."""
    seen: list[tuple[str, Any]] = []

    def go() -> Any:
        from dialer.sipudp import SipEndpoint

        endpoint = SipEndpoint(reactor)
        listening = reactor.listenUDP(0, endpoint, interface="127.0.0.1")
        settings = CallSettings(target=f"sip:1001@127.0.0.1:{port}",
                                local=("127.0.0.1", listening.getHost().port),
                                media_port=free_udp_port(), ring_timeout=10,
                                session_expires=session_expires, min_se=min_se)
        runner = endpoint.place_call(
            settings, on_answered=lambda d: seen.append(("answered", d)),
            on_digit=lambda k: seen.append(("digit", k)),
            on_media_changed=lambda d: seen.append(("moved", d)))

        def stop(result: CallResult) -> Any:
            reactor.callLater(0.3, listening.stopListening)  # absorb retransmissions
            return result, seen

        return runner.done.addCallback(stop)

    return on_reactor(go)  # type: ignore[no-any-return]


@pytest.mark.timeout(60)
def test_update_info_and_reinvite_from_sipp_mid_call() -> None:
    with sipp("mid_call_requests") as (port, process):
        result, seen = place(port)
        finished(process)  # a 200 to each, SDP in the re-INVITE's, Session-Expires echoed
    assert (result.outcome, result.by) == ("answered", "remote")
    kinds = [kind for kind, _ in seen]
    assert kinds == ["answered", "digit", "moved"]
    answered: MediaDescription = seen[0][1]
    moved: MediaDescription = seen[2][1]
    assert seen[1][1] == "5"  # the INFO's Signal=5, as a key press
    assert moved.port == answered.port + 2 and moved.codec_name == "PCMU"


@pytest.mark.timeout(60)
def test_we_refresh_with_update_through_a_422() -> None:
    with sipp("timer_update") as (port, process):
        result, _ = place(port, session_expires=4, min_se=2)
        finished(process)  # UPDATE at 4 s, again at 6 s after the 422, then the next
    assert (result.outcome, result.by) == ("answered", "remote")


@pytest.mark.timeout(60)
def test_a_422_to_the_invite_then_we_refresh_with_reinvite() -> None:
    with sipp("timer_reinvite") as (port, process):
        result, seen = place(port, session_expires=3, min_se=2)
        finished(process)  # the INVITE again with Min-SE 4, a re-INVITE refresh, ACKed
    assert (result.outcome, result.by) == ("answered", "remote")
    assert [kind for kind, _ in seen] == ["answered"]  # the same media: nothing moved


@pytest.mark.timeout(60)
def test_the_callee_never_refreshes_and_we_hang_up_before_expiry() -> None:
    with sipp("timer_uas_silent") as (port, process):
        result, _ = place(port, session_expires=6, min_se=2)
        finished(process)  # our BYE, and no refresh of ours
    assert (result.outcome, result.code, result.by) == ("answered", 200, "network")
    assert result.reason == "session expired: no refresh from the peer within 6 s"
