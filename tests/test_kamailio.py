"""kamailio as registrar and proxy with digest authentication (qop=auth), routing 9xxx
numbers to a sipp "trunk": REGISTER with a 401 challenge, and a call through the proxy
with a 407 challenge, record-routed both ways."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dialer.register import RegistrationSettings, RegState
from dialer.sipactions import CallSettings, Credentials
from dialer.sipudp import SipEndpoint
from tests.conftest import need
from tests.peers import free_udp_port, on_reactor, reactor, sipp
from tests.test_sip_calls import finished

CONFIG = Path(__file__).parent / "kamailio.cfg.in"
PASSWORD = "s3cret"


def modules() -> str:
    """Debian puts kamailio's modules under the machine's multiarch directory."""
    found = sorted(Path("/usr/lib").glob("*/kamailio/modules")) + sorted(
        Path("/usr/lib").glob("kamailio/modules"))
    return f"{found[0]}/" if found else "/usr/lib/kamailio/modules/"


def ready(port: int, deadline_s: float = 15.0) -> bool:
    """Ask kamailio OPTIONS until it answers (a bounded wait, not a sleep)."""
    options = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;"
               "branch=z9hG4bKready\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>"
               "\r\nCall-ID: ready\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
               "Content-Length: 0\r\n\r\n").encode()
    end = time.monotonic() + deadline_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.2)
        while time.monotonic() < end:
            s.sendto(options, ("127.0.0.1", port))
            try:
                if s.recvfrom(4096)[0].startswith(b"SIP/2.0 200"):
                    return True
            except TimeoutError:
                continue
    return False


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[int, int]]:
    need(shutil.which("kamailio") is not None, "kamailio not installed")
    port, trunk = free_udp_port(), free_udp_port()
    config = tmp_path / "kamailio.cfg"
    config.write_text(CONFIG.read_text(encoding="utf-8").replace("@PORT@", str(port))
                      .replace("@TRUNK@", str(trunk)).replace("@PASSWORD@", PASSWORD)
                      .replace("@MPATH@", modules()),
                      encoding="utf-8")
    process = subprocess.Popen(["kamailio", "-f", str(config), "-DD", "-E", "-m", "32",
                                "-M", "8", "-Y", str(tmp_path), "-P", str(tmp_path / "k.pid")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert ready(port), process.stderr.read() if process.poll() is not None else "no reply"
        yield port, trunk
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:  # a loaded machine: its children linger
            process.kill()
            process.wait(20)


def register(port: int, password: str) -> Any:
    def go() -> Any:
        endpoint = SipEndpoint(reactor)
        listening = reactor.listenUDP(0, endpoint, interface="127.0.0.1")
        runner = endpoint.register(RegistrationSettings(
            registrar=("127.0.0.1", port), aor="sip:huifang@127.0.0.1",
            local=("127.0.0.1", listening.getHost().port), expires=60,
            credentials=Credentials("huifang", password)))
        from twisted.internet.task import deferLater

        def check() -> Any:
            registration = runner.registration
            state = (registration.state, registration.granted, registration.last_status)
            runner.stop()
            return deferLater(reactor, 0.3, lambda: (listening.stopListening(), state)[1])

        return deferLater(reactor, 1.0, check)

    return on_reactor(go)


def test_register_with_a_401_challenge(proxy: tuple[int, int]) -> None:
    port, _ = proxy
    state, granted, status = register(port, PASSWORD)
    assert (state, status) == (RegState.REGISTERED, 200) and 0 < granted <= 60
    state, _, status = register(port, "wrong")
    assert (state, status) == (RegState.FAILED, 401)


def call_through(port: int, trunk_port: int, password: str) -> Any:
    def go() -> Any:
        endpoint = SipEndpoint(reactor)
        listening = reactor.listenUDP(0, endpoint, interface="127.0.0.1")
        settings = CallSettings(target=f"sip:91001@127.0.0.1:{port}",
                                local=("127.0.0.1", listening.getHost().port),
                                media_port=free_udp_port(), proxy=("127.0.0.1", port),
                                ring_timeout=10, credentials=Credentials("huifang", password))
        runner = endpoint.place_call(
            settings, on_answered=lambda _: reactor.callLater(0.5, runner.hangup))
        return runner.done.addCallback(
            lambda r: (reactor.callLater(0.3, listening.stopListening), r)[1])

    return on_reactor(go)


def test_call_through_the_proxy_with_a_407_challenge(proxy: tuple[int, int]) -> None:
    port, trunk = proxy
    with sipp("we_hang_up", port=trunk) as (_, process):
        result = call_through(port, trunk, PASSWORD)
        finished(process)  # the trunk got the INVITE, our ACK and BYE through kamailio
    assert (result.outcome, result.code, result.by) == ("answered", 200, "local")


def test_a_wrong_password_at_the_proxy_is_an_auth_failure(proxy: tuple[int, int]) -> None:
    port, trunk = proxy
    result = call_through(port, trunk, "wrong")
    assert (result.outcome, result.code) == ("auth_failure", 407)


def test_the_service_registers_with_the_trunk(proxy: tuple[int, int], tmp_path: Path) -> None:
    """`huifang run` keeps a registration when [trunk] names a registrar."""
    from huifang.config import Settings
    from huifang.service import build_service
    from store.db import make_engine, upgrade

    port, _ = proxy
    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    upgrade(engine)
    settings = Settings(trunk={"registrar": f"127.0.0.1:{port}", "username": "huifang",
                               "sip_port": 0},
                        campaign={"http": "", "recordings_dir": str(tmp_path / "r")},
                        console={"bind": ""})

    def go() -> Any:
        from twisted.internet.task import deferLater

        service = build_service(settings, reactor, engine, password=PASSWORD, keys_only=True)
        started = service.start()

        def check(_: Any) -> Any:
            assert service.dialer.registration is not None
            r = service.dialer.registration.registration
            state = (r.state, r.last_status)
            return service.stop().addCallback(lambda _: state)

        return started.addCallback(lambda _: deferLater(reactor, 1.0, lambda: None)) \
            .addCallback(check)

    assert on_reactor(go) == (RegState.REGISTERED, 200)
