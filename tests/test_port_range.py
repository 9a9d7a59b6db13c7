"""RTP ports: a port another process holds is skipped, and a call that cannot get any
port is closed at once as not placed, without using up the citizen's attempt."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from twisted.internet.error import CannotListenError

from dialer.media import PortRange
from huifang.demo.simulator import Citizen
from store.campaign_models import CallAttempt, Callback
from store.enums import AttemptStatus, CallbackStatus
from tests.campaign_support import NOW, Clock, start_campaign, wait_until
from tests.peers import free_udp_port
from tests.test_callsession import key
from tests.test_campaign import load


class Reactor:
    """listenUDP as twisted's: CannotListenError (not an OSError) for a port in use."""

    def __init__(self, taken: set[int]) -> None:
        self.taken = taken

    def listenUDP(self, port: int, protocol: Any, interface: str = "") -> int:
        if port in self.taken:
            raise CannotListenError(interface, port, OSError(98, "Address already in use"))
        return port


def test_ports_in_use_are_skipped() -> None:
    ports = PortRange(20000, 20008)
    assert ports.listen(Reactor({20000, 20002}), None, "127.0.0.1") == 20004  # type: ignore[arg-type]
    assert ports.listen(Reactor(set(range(20000, 20009))), None, "127.0.0.1") is None  # type: ignore[arg-type]


def test_a_call_with_no_free_rtp_port_is_closed_not_stranded(engine: Engine,
                                                             tmp_path: Path) -> None:
    load(engine, tmp_path, ["13800000001"])
    low = free_udp_port(4)
    low += low % 2
    held = []
    for port in (low, low + 2):  # another process holds the whole range
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", port))
        held.append(s)
    running = start_campaign(engine, {"13800000001": Citizen(turns=(key("1"), key("1")))},
                             tmp_path, Clock(NOW), rtp_ports=(low, low + 2))
    try:
        def closed() -> bool:
            with engine.connect() as conn:
                return conn.execute(select(CallAttempt.status)).scalar() \
                    == AttemptStatus.FINISHED
        wait_until(closed, 60, "the attempt closed")
    finally:
        running.stop()
        for s in held:
            s.close()
    with engine.connect() as conn:
        attempt = conn.execute(select(CallAttempt)).one()
        callback = conn.execute(select(Callback)).one()
    assert attempt.outcome == "transport_failure"
    assert callback.status == CallbackStatus.PENDING and callback.attempts == 0
