"""A live call against a real sipp callee on 127.0.0.1 while a second socket fires a
bounded burst of forged and hostile SIP at it (issue 21): the right Call-ID with wrong
tags, branches, CSeqs or source; responses to requests never sent; re-INVITEs moving the
media to port 9; damaged datagrams holding a phone number. The call must end exactly as
scripted: answered, hung up by us after the scripted time, and the callee must have got
one ACK and one BYE from us and nothing else (sipp's own message trace says so)."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dialer.dialog import Drop
from dialer.sipactions import CallSettings
from dialer.sipudp import CallResult, SipEndpoint
from tests.peers import free_udp_port, on_reactor, reactor, sipp

CALL_S = 3.0  # we hang up this long after the answer
BURST = 3000  # forged datagrams, sent over about a second and a half
PHONE = "13812345678"


def forged(call_id: str, ours: str, theirs: str, branch: str, invite_cseq: int,
           us: tuple[str, int], i: int) -> bytes:
    """One of the hostile datagrams the campaign's attacker sent, chosen by `i`."""
    host, port = us
    via = f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKevil{i}"
    our_via = f"Via: SIP/2.0/UDP {host}:{port};branch={branch};rport"
    caller = f"From: <sip:huifang@127.0.0.1>;tag={ours}"
    callee = f"To: <sip:1001@127.0.0.1>;tag={theirs}"
    moved = "v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
    kind = i % 12
    if kind == 0:  # BYE with random tags
        lines = [f"BYE sip:huifang@{host}:{port} SIP/2.0", via,
                 f"From: <sip:1001@127.0.0.1>;tag=r{i}", f"To: <sip:huifang@127.0.0.1>;tag=x{i}",
                 f"CSeq: {i + 10} BYE"]
    elif kind == 1:  # BYE with the right tags, from the wrong address
        lines = [f"BYE sip:huifang@{host}:{port} SIP/2.0", via,
                 f"From: <sip:1001@127.0.0.1>;tag={theirs}",
                 f"To: <sip:huifang@127.0.0.1>;tag={ours}", f"CSeq: {i + 10} BYE"]
    elif kind == 2:  # 200 OK with another To tag
        lines = ["SIP/2.0 200 OK", our_via, caller, f"To: <sip:1001@127.0.0.1>;tag=fork{i}",
                 f"CSeq: {invite_cseq} INVITE", "Contact: <sip:evil@127.0.0.1:5999>"]
    elif kind == 3:  # 200 OK retransmission with a bad CSeq
        lines = ["SIP/2.0 200 OK", our_via, caller, callee, f"CSeq: {invite_cseq + 7} INVITE"]
    elif kind == 4:  # 200 OK to a BYE never sent
        lines = ["SIP/2.0 200 OK", our_via, caller, callee, f"CSeq: {invite_cseq + 1} BYE"]
    elif kind == 5:  # 180 after the answer
        lines = ["SIP/2.0 180 Ringing", our_via, caller, callee, f"CSeq: {invite_cseq} INVITE"]
    elif kind == 6:  # 486 with the INVITE's branch after the answer
        lines = ["SIP/2.0 486 Busy Here", our_via, caller, callee,
                 f"CSeq: {invite_cseq} INVITE"]
    elif kind == 7:  # a 200 with the right tags and garbage SDP
        lines = ["SIP/2.0 200 OK", our_via, caller, callee, f"CSeq: {invite_cseq} INVITE",
                 "Content-Type: application/sdp"]
        return _join(lines, call_id, "garbage, not SDP\r\n")
    elif kind in (8, 9):  # in-dialog OPTIONS and INFO from a wrong address
        method = "OPTIONS" if kind == 8 else "INFO"
        lines = [f"{method} sip:huifang@{host}:{port} SIP/2.0", via,
                 f"From: <sip:1001@127.0.0.1>;tag={theirs}",
                 f"To: <sip:huifang@127.0.0.1>;tag={ours}", f"CSeq: {i + 10} {method}"]
    elif kind == 10:  # a re-INVITE from a wrong address with wrong tags, media to port 9
        lines = [f"INVITE sip:huifang@{host}:{port} SIP/2.0", via,
                 f"From: <sip:1001@127.0.0.1>;tag=w{i}", f"To: <sip:huifang@127.0.0.1>;tag={ours}",
                 f"CSeq: {i + 10} INVITE", "Content-Type: application/sdp"]
        return _join(lines, call_id, moved)
    else:  # damaged, and holding a citizen's number
        return f"INVITE sip:{PHONE}@x SIP/2.0\r\nVia {PHONE}\r\n\r\n".encode()
    return _join(lines, call_id, "")


def _join(lines: list[str], call_id: str, body: str) -> bytes:
    head = [*lines, f"Call-ID: {call_id}", "Max-Forwards: 70", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


def received_by_sipp(trace: Path) -> list[str]:
    """The first lines of the messages sipp's trace says it received."""
    text = trace.read_text(encoding="utf-8", errors="replace")
    parts = re.split(r"message received \[\d+\] bytes :\s*\n", text)[1:]
    return [part.strip().splitlines()[0] for part in parts if part.strip()]


@pytest.mark.timeout(120)
def test_a_live_call_survives_a_burst_of_forged_sip(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    trace = tmp_path / "sipp_messages.log"
    answered = threading.Event()
    finished = threading.Event()
    box: dict[str, Any] = {}

    def go() -> None:
        endpoint = SipEndpoint(reactor)
        listening = reactor.listenUDP(0, endpoint, interface="127.0.0.1")
        local = ("127.0.0.1", listening.getHost().port)
        settings = CallSettings(target=f"sip:1001@127.0.0.1:{port}", local=local,
                                media_port=free_udp_port(), ring_timeout=5.0)

        def on_answered(_: Any) -> None:
            reactor.callLater(CALL_S, runner.hangup)
            answered.set()

        def done(result: CallResult) -> None:
            box["result"] = result
            reactor.callLater(0.3, listening.stopListening)
            finished.set()

        runner = endpoint.place_call(settings, on_answered=on_answered)
        runner.done.addCallback(done)
        box.update(endpoint=endpoint, runner=runner, local=local)

    with caplog.at_level(logging.INFO), sipp(
            "answer_then_our_bye", "-trace_msg", "-message_file", str(trace)) as (port, process):
        on_reactor(go)
        assert answered.wait(10), "sipp did not answer"
        call = box["runner"].call
        ids = on_reactor(lambda: (call.call_id, call.local_tag, call.remote_tag, call.branch,
                                  call.invite.cseq[0]))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
            attacker.bind(("127.0.0.1", 0))
            for i in range(BURST):
                attacker.sendto(forged(*ids, box["local"], i), box["local"])
                if i % 100 == 99:
                    time.sleep(0.05)  # about 1.5 s: the burst lands inside the call
        assert finished.wait(CALL_S + 20), "the call did not end"
        code = process.wait(30)
        assert code == 0, f"sipp scenario did not complete (exit {code}): {process.stderr.read()}"
    result: CallResult = box["result"]
    assert (result.outcome, result.code, result.by) == ("answered", 200, "local")
    assert CALL_S - 0.05 <= result.duration_s <= CALL_S + 0.5
    heard = received_by_sipp(trace)
    assert [line.split()[0] for line in heard] == ["INVITE", "ACK", "BYE"], heard
    dropped = on_reactor(lambda: dict(box["endpoint"].dropped))
    assert sum(dropped.values()) >= BURST * 0.9  # loopback may lose a few under the burst
    assert dropped.get(Drop.FOREIGN_SOURCE, 0) >= BURST * 0.8
    assert dropped.get(Drop.DAMAGED, 0) >= BURST / 12 * 0.9
    log = "\n".join(r.getMessage() for r in caplog.records)
    assert PHONE not in log and "138****5678" not in log  # damaged bytes never logged
    drops_logged = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(drops_logged) <= 2, [r.getMessage() for r in drops_logged]
