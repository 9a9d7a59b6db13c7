"""Debian's sipvicious against the dialer's SIP port, from loopback addresses: from a host
that is not the trunk's, its OPTIONS scan finds no SIP device; from the trunk's host
(`trunk.accept_from`) it finds us, since a trunk's keep-alive must be answered."""

from __future__ import annotations

import shutil
import subprocess

from dialer.trunk import Dialer, TrunkConfig
from tests.conftest import need
from tests.peers import on_reactor, reactor


def svmap(port: int, source: str) -> str:
    done = subprocess.run(["svmap", "-p", str(port), "-b", source, "127.0.0.1"],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout + done.stderr


def test_a_stranger_scanning_the_sip_port_finds_nothing() -> None:
    need(shutil.which("svmap") is not None, "sipvicious (svmap) is not installed")
    dialer = Dialer(reactor, TrunkConfig(accept_from=("127.0.0.3",)))
    _, port = on_reactor(dialer.listen)
    try:
        stranger = svmap(port, "127.0.0.2")
        assert "found nothing" in stranger and f"127.0.0.1:{port}" not in stranger
        assert on_reactor(lambda: dict(dialer.endpoint.dropped)).get("stranger", 0) >= 1
        trunk = svmap(port, "127.0.0.3")
        assert f"127.0.0.1:{port}" in trunk and "found nothing" not in trunk
    finally:
        on_reactor(dialer.stop)
