"""Calls a dead process left up: the record written with the attempt, the call rebuilt
from it and hung up (CANCEL while ringing, BYE once answered), the RTP port held back
meanwhile, dead processes on this host known by pid and start time, and the store's side
(records saved and found, claims recovered with the attempt given back)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from dialer.leftdialog import DialogRecord, DialogRecordError, record_of, resumed
from dialer.media import PortRange
from dialer.processes import alive, start_of
from dialer.sipmessage import NameAddr
from store.campaign import Process, node_seen
from store.campaign_models import CallAttempt, Callback, DialerNode
from store.db import make_engine, upgrade
from store.dialogs import dead_nodes, left_dialogs, save_dialog
from store.enums import AttemptStatus, CallbackStatus
from tests.test_uac import PEER, SDP, endpoint, reply, results, settings

NOW = datetime(2026, 12, 2, 10, 0)


def ringing() -> tuple[DialogRecord, bytes]:
    ep, transport, _ = endpoint()
    seen: list[DialogRecord | None] = []
    ep.place_call(settings(), on_dialog=lambda c: seen.append(record_of(c, 40000)))
    invite = transport.sent()[0]
    reply(ep, invite, 180, "Ringing")
    record = seen[-1]
    assert record is not None and not record.answered  # written as the INVITE went out
    return record, transport.written[0][0]


def answered() -> DialogRecord:
    ep, transport, _ = endpoint()
    seen: list[DialogRecord | None] = []
    ep.place_call(settings(), on_dialog=lambda c: seen.append(record_of(c, 40000)))
    invite = transport.sent()[0]
    reply(ep, invite, 200, "OK", body=SDP, extra={
        "Contact": "<sip:callee@127.0.0.1:5099>", "Record-Route": "<sip:127.0.0.1:5070;lr>"})
    record = seen[-1]
    assert record is not None and record.answered
    return record


def test_the_record_follows_the_call_and_reads_back() -> None:
    record, invite = ringing()
    assert record.invite == invite and record.next_hop == PEER and record.media_port == 40000
    assert DialogRecord.from_json(record.to_json()) == record
    confirmed = answered()
    assert confirmed.remote_tag == "peer" and confirmed.remote_target == \
        "sip:callee@127.0.0.1:5099" and confirmed.route_set == ("<sip:127.0.0.1:5070;lr>",)
    assert DialogRecord.from_json(confirmed.to_json()) == confirmed


@pytest.mark.parametrize("text, says", [
    ("not json", "unreadable"), ('{"invite": "x"}', "unreadable"),
    ('{"invite": "BYE sip:a@b SIP/2.0\\r\\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\\r\\n'
     'From: <sip:h@h>;tag=1\\r\\nTo: <sip:a@b>\\r\\nCall-ID: c\\r\\nCSeq: 2 BYE\\r\\n'
     '\\r\\n", "next_hop": ["h", 1], "media_port": 2, "answered": false}', "not an INVITE"),
])
def test_a_damaged_record_is_a_clear_error(text: str, says: str) -> None:
    with pytest.raises(DialogRecordError, match=says):
        DialogRecord.from_json(text)


def test_a_ringing_call_is_cancelled_with_its_invites_transaction() -> None:
    record, _ = ringing()
    ep, transport, _ = endpoint()  # the process started again: a new endpoint
    call = resumed(record, settings(), ep.ids)
    runner = ep.adopt(call)
    done = results(runner)
    runner.hangup()
    cancel, invite = transport.sent()[-1], record.invite_message()
    assert cancel.method == "CANCEL" and cancel.branch == invite.branch
    assert cancel.call_id == invite.call_id and cancel.cseq == (invite.cseq[0], "CANCEL")
    assert cancel.header("From") == invite.header("From")
    assert transport.written[-1][1] == PEER
    reply(ep, cancel, 200, "OK")
    reply(ep, invite, 487, "Request Terminated")
    assert transport.sent()[-1].method == "ACK"
    assert done and done[0].code == 487


def test_an_answered_call_gets_a_bye_along_its_route_and_is_retransmitted() -> None:
    record = answered()
    ep, transport, clock = endpoint()
    runner = ep.adopt(resumed(record, settings(), ep.ids))
    done = results(runner)
    runner.hangup()
    bye = transport.sent()[-1]
    assert bye.method == "BYE" and bye.uri == "sip:callee@127.0.0.1:5099"
    assert bye.cseq == (record.cseq + 1, "BYE") and bye.call_id == record.call_id
    assert NameAddr.parse(bye.header("To")).tag == "peer"
    assert bye.values("Route") == ["<sip:127.0.0.1:5070;lr>"]
    assert transport.written[-1][1] == ("127.0.0.1", 5070)
    clock.advance(0.5)
    assert transport.sent()[-1].method == "BYE" and len(transport.written) == 2  # timer E
    ep.datagramReceived(b"SIP/2.0 200 OK\r\n" + b"\r\n".join(
        f"{n}: {v}".encode() for n, v in bye.headers if n in ("Via", "From", "To", "Call-ID",
                                                               "CSeq")) + b"\r\n\r\n",
                        ("127.0.0.1", 5070))
    assert done and done[0].outcome == "answered" and done[0].reason == "OK"


def test_a_held_port_is_handed_to_no_call_until_its_time() -> None:
    ports = PortRange(41000, 41003)

    class Reactor:
        def listenUDP(self, port: int, protocol: object, interface: str) -> int:
            return port

    ports.quarantine(41000, 100.0)
    assert {ports.listen(Reactor(), object(), "127.0.0.1", now=50.0)  # type: ignore[arg-type]
            for _ in range(4)} == {41002}
    assert 41000 in {ports.listen(Reactor(), object(), "127.0.0.1", now=100.0)  # type: ignore[arg-type]
                     for _ in range(2)}


def test_a_process_is_known_by_pid_and_start_time(tmp_path: Path) -> None:
    me = os.getpid()
    assert alive(me, start_of(me)) and start_of(me) is not None
    proc = tmp_path / "proc"
    (proc / "4242").mkdir(parents=True)
    (proc / "4242" / "stat").write_text("4242 (a name) with) S " + " ".join(
        str(i) for i in range(4, 30)), encoding="ascii")
    assert start_of(4242, proc) == "22"  # field 22 after the command's last parenthesis
    assert alive(4242, "22", proc) and not alive(4242, "23", proc)  # the pid was reused
    assert not alive(4243, "22", proc)  # gone


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    from tests.test_service import load
    e = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    upgrade(e)
    load(e, tmp_path, ["13800001111", "13800002222"])
    return e


def test_the_store_finds_left_calls_and_dead_nodes(engine) -> None:  # type: ignore[no-untyped-def]
    from store.attempts import start_attempts
    from store.callbacks import claim, plan_callbacks, recover
    from store.caps import Caps

    plan_callbacks(engine, NOW, lambda closed: NOW - timedelta(hours=1), 60)
    groups = claim(engine, "old", NOW, limit=5, lease=timedelta(minutes=5), caps=Caps())
    assert len(groups) == 2
    ids = [start_attempts(engine, g, f"call-{i}@h", "old", NOW)[0]
           for i, g in enumerate(groups)]
    record = answered().to_json()
    save_dialog(engine, [ids[0]], record)  # the second call had sent nothing yet
    node_seen(engine, "old", NOW, 2, started=True, process=Process("h1", 4242, "22"))
    node_seen(engine, "other-host", NOW, 0, started=True, process=Process("h2", 4242, "9"))
    assert left_dialogs(engine, NOW, []) == []  # the lease holds and no node is dead
    gone = dead_nodes(engine, "h1", "new", NOW, lambda pid, start: False)
    assert gone == ["old"]  # the other host's node is not judged from here
    with engine.connect() as conn:
        states = dict(conn.execute(select(DialerNode.node, DialerNode.state)).all())
    assert states == {"old": "dead", "other-host": "running"}
    left = left_dialogs(engine, NOW, gone)
    assert [(d.call_id, d.attempt_ids, d.record) for d in left] == [("call-0@h", (ids[0],),
                                                                      record)]
    with engine.connect() as conn:
        before = dict(conn.execute(select(Callback.id, Callback.attempts)).all())
    recovered = recover(engine, NOW, "new", gone)
    assert recovered.interrupted == 2
    with engine.connect() as conn:
        after = dict(conn.execute(select(Callback.id, Callback.attempts)).all())
        statuses = set(conn.execute(select(Callback.status)).scalars())
        interrupted = set(conn.execute(select(CallAttempt.status)).scalars())
    assert statuses == {CallbackStatus.PENDING} and interrupted == {AttemptStatus.INTERRUPTED}
    assert all(after[i] == before[i] - 1 for i in before)  # the crash was ours
    assert left_dialogs(engine, NOW, gone) == []  # closed: nothing to hang up twice
    with engine.begin() as conn:  # a record cleared once the call ended
        conn.execute(update(CallAttempt).values(status=AttemptStatus.IN_PROGRESS))
    save_dialog(engine, [ids[0]], None)
    assert left_dialogs(engine, NOW + timedelta(hours=1), []) == []
