"""SIP over TCP and TLS against peers no one here wrote, on 127.0.0.1: a sipp callee that
listens on TCP only (`-t t1`), kamailio as an outbound proxy over TCP (registration and a
call with digest on one connection), kamailio as a TLS proxy that verifies our client
certificate while we verify its server certificate, and the size rule: on a UDP trunk a
request over 1300 bytes reaches a TCP-only callee (RFC 3261 §18.1.1).

sipp here is built without TLS ("To use a TLS transport you must compile SIPp with
OpenSSL"), so TLS is tested against kamailio's tls module."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from twisted.internet.task import deferLater

from dialer.sipactions import Credentials
from dialer.sipconnect import TlsSettings
from dialer.siptransport import Transport
from dialer.sipudp import CallResult
from dialer.trunk import Dialer, TrunkConfig
from huifang.speech import to_8k
from prompts.audio import read_wav, ulaw_encode, write_wav
from tests.conftest import need
from tests.peers import SCENARIOS, free_udp_port, on_reactor, reactor, sipp
from tests.test_cli import huifang
from tests.test_kamailio import CONFIG, PASSWORD, modules, ready
from tests.test_sip_calls import REAL, finished


def tcp_listening(port: int, deadline_s: float = 15.0) -> bool:
    """Whether something listens on TCP 127.0.0.1:port, from /proc (no probe connection,
    which sipp would take for a call); waits for it a bounded time."""
    import time

    end = time.monotonic() + deadline_s
    wanted = f"0100007F:{port:04X}"
    while time.monotonic() < end:
        for table in ("/proc/net/tcp",):
            rows = Path(table).read_text(encoding="ascii").splitlines()[1:]
            if any(r.split()[1] == wanted and r.split()[3] == "0A" for r in rows):
                return True
        time.sleep(0.05)  # polling for readiness, not waiting before an assertion
    return False


@dataclasses.dataclass
class Placed:
    result: CallResult
    connections: int  # our stream connections open when the call ended
    inbound: int  # connections the peer had opened to our listener
    registered: str = ""


def place(config: TrunkConfig, target: str, hangup_after: float | None = 0.5,
          register_first: bool = False, **changes: Any) -> Placed:
    """One call through a Dialer of `config` on the test reactor; `changes` alter the
    call's settings (a long user_agent makes a large INVITE)."""
    def go() -> Any:
        dialer = Dialer(reactor, config)
        dialer.listen()
        settings = dataclasses.replace(dialer.call_settings(target, free_udp_port()),
                                       **changes)

        def answered(_: Any) -> None:
            if hangup_after is not None:
                reactor.callLater(hangup_after, runner.hangup)

        runner = dialer.endpoint.place_call(settings, on_answered=answered)

        def ended(result: CallResult) -> Any:
            streams = dialer.endpoint.streams
            open_now = [s.inbound for s in streams.pool.open.values()] if streams else []
            registered = (str(dialer.registration.registration.state)
                          if dialer.registration else "")
            return deferLater(reactor, 0.3, dialer.stop).addCallback(
                lambda _: Placed(result, open_now.count(False), open_now.count(True),
                                 registered))

        return runner.done.addCallback(ended)

    return on_reactor(go)  # type: ignore[no-any-return]


# -- sipp over TCP ---------------------------------------------------------------------
@pytest.mark.timeout(90)
def test_huifang_call_over_tcp_to_a_sipp_callee_with_media(tmp_path: Path) -> None:
    """`huifang call --transport tcp` ([trunk] transport): sipp (TCP only) answers,
    sends recorded Mandarin and the digit 1 over RTP, and takes our BYE."""
    samples, info = read_wav(REAL / "firered_IT0011W0001.wav")
    clip = np.frombuffer(to_8k(samples, info.rate), "<i2")
    (tmp_path / "callee.ulaw").write_bytes(ulaw_encode(np.tile(clip, 3)))
    scenario = (SCENARIOS / "answer_audio_dtmf.xml.in").read_text(encoding="utf-8")
    (tmp_path / "answer.xml").write_text(
        scenario.replace("@AUDIO@", str(tmp_path / "callee.ulaw")), encoding="utf-8")
    prompt = tmp_path / "prompt.wav"
    write_wav(prompt, (np.sin(np.arange(8000 * 3) / 3) * 6000).astype(np.int16))
    with sipp(str(tmp_path / "answer"), "-t", "t1") as (port, process):
        assert tcp_listening(port), process.stderr.read() if process.poll() else "no TCP"
        done = huifang("call", f"sip:1001@127.0.0.1:{port}", "--transport", "tcp",
                       "--play", str(prompt),
                       "--rtp-ports", f"{free_udp_port(span=2)}-65000", "--json",
                       cwd=tmp_path, db=f"sqlite:///{tmp_path / 'x.db'}")
        finished(process)  # it saw our ACK and BYE, over TCP: it listens on nothing else
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["outcome"], report["code"], report["by"]) == ("answered", 200, "local")
    assert report["digits"] == "1"
    assert report["rtp_sent"] >= 100 and report["rtp_received"] >= 100


@pytest.mark.timeout(60)
def test_a_sipp_callee_hangs_up_over_the_same_connection() -> None:
    config = TrunkConfig(transport=Transport.TCP)
    with sipp("callee_hangs_up", "-t", "t1", "-d", "500") as (port, process):
        assert tcp_listening(port)
        placed = place(config, f"sip:1001@127.0.0.1:{port}", hangup_after=None)
        finished(process)  # our 200 to its BYE reached it
    assert (placed.result.outcome, placed.result.by) == ("answered", "remote")
    assert placed.connections == 1


@pytest.mark.timeout(60)
def test_a_large_invite_on_a_udp_trunk_goes_over_tcp() -> None:
    """The callee listens on TCP only: the call completes only if the 1.5 kB INVITE left
    over TCP (and the ACK and BYE followed the Contact's transport=TCP)."""
    config = TrunkConfig(transport=Transport.UDP)
    with sipp("we_hang_up", "-t", "t1") as (port, process):
        assert tcp_listening(port)
        placed = place(config, f"sip:1001@127.0.0.1:{port}", user_agent="huifang " + "x" * 1300)
        finished(process)
    assert (placed.result.outcome, placed.result.code) == ("answered", 200)
    assert placed.connections == 1


# -- kamailio over TCP and TLS ---------------------------------------------------------
def certificates(folder: Path) -> dict[str, Path]:
    """A CA, kamailio's server certificate (127.0.0.1 and trunk.test) and our client
    certificate, made now with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def make(name: str, issuer: Any, issuer_key: Any, ca: bool,
             sans: list[x509.GeneralName]) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(issuer or subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                                  critical=True))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(issuer_key or key, hashes.SHA256()), key

    ca, ca_key = make("huifang test CA", None, None, True, [])
    server, server_key = make("trunk.test", ca.subject, ca_key, False, [
        x509.DNSName("trunk.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client, client_key = make("huifang", ca.subject, ca_key, False, [x509.DNSName("huifang")])
    out = {}
    for name, cert, key in (("ca", ca, ca_key), ("server", server, server_key),
                            ("client", client, client_key)):
        out[name] = folder / f"{name}.pem"
        out[name].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        out[f"{name}_key"] = folder / f"{name}.key"
        out[f"{name}_key"].write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    return out


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """kamailio listening on UDP (for the readiness probe), TCP and TLS, with the
    registrar and the 9xxx route to a sipp trunk of tests/kamailio.cfg.in."""
    need(shutil.which("kamailio") is not None, "kamailio not installed")
    need(Path(modules(), "tls.so").exists(), "kamailio's tls module (kamailio-tls-modules)")
    port, trunk = free_udp_port(), free_udp_port()
    tcp, tls = free_udp_port(), free_udp_port()
    certs = certificates(tmp_path)
    (tmp_path / "tls.cfg").write_text(
        "[server:default]\nmethod = TLSv1.2+\nverify_certificate = yes\n"
        f"require_certificate = yes\nprivate_key = {certs['server_key']}\n"
        f"certificate = {certs['server']}\nca_list = {certs['ca']}\n\n"
        "[client:default]\nverify_certificate = no\nrequire_certificate = no\n",
        encoding="utf-8")
    text = CONFIG.read_text(encoding="utf-8").replace(
        "listen=udp:127.0.0.1:@PORT@",
        f"listen=udp:127.0.0.1:@PORT@\nlisten=tcp:127.0.0.1:{tcp}\n"
        f"listen=tls:127.0.0.1:{tls}\nenable_tls=yes").replace(
        'loadmodule "kex.so"',
        f'loadmodule "tls.so"\nmodparam("tls", "config", "{tmp_path / "tls.cfg"}")\n'
        'loadmodule "kex.so"')
    config = tmp_path / "kamailio.cfg"
    config.write_text(text.replace("@PORT@", str(port)).replace("@TRUNK@", str(trunk))
                      .replace("@PASSWORD@", PASSWORD).replace("@MPATH@", modules()),
                      encoding="utf-8")
    process = subprocess.Popen(["kamailio", "-f", str(config), "-DD", "-E", "-m", "32",
                                "-M", "8", "-Y", str(tmp_path), "-P", str(tmp_path / "k.pid")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert ready(port), process.stderr.read() if process.poll() is not None else "no reply"
        assert tcp_listening(tcp) and tcp_listening(tls)
        yield {"tcp": tcp, "tls": tls, "trunk": trunk, "certs": certs}
    finally:
        process.terminate()
        process.wait(20)


@pytest.mark.timeout(90)
def test_kamailio_over_tcp_registration_and_a_call_share_one_connection(
        proxy: dict[str, Any]) -> None:
    hop = ("127.0.0.1", proxy["tcp"])
    config = TrunkConfig(transport=Transport.TCP, proxy=hop, registrar=hop,
                         credentials=Credentials("huifang", PASSWORD))
    with sipp("we_hang_up", port=proxy["trunk"]) as (_, process):
        placed = place(config, f"sip:91001@127.0.0.1:{proxy['tcp']}")
        finished(process)  # the trunk (UDP) got our INVITE, ACK and BYE through kamailio
    assert (placed.result.outcome, placed.result.code, placed.result.by) == (
        "answered", 200, "local")
    assert placed.registered == "registered"  # a 401 answered, then 200, over TCP
    assert placed.connections == 1  # the REGISTERs and the call's messages, one connection


@pytest.mark.timeout(60)
def test_the_callee_s_bye_through_kamailio_over_tcp(proxy: dict[str, Any]) -> None:
    """kamailio brings the trunk's BYE on a connection of its own to our TCP listener
    (our Contact says transport=tcp); it is matched to the call and answered there."""
    hop = ("127.0.0.1", proxy["tcp"])
    config = TrunkConfig(transport=Transport.TCP, proxy=hop,
                         credentials=Credentials("huifang", PASSWORD))
    with sipp("callee_hangs_up", "-d", "500", port=proxy["trunk"]) as (_, process):
        placed = place(config, f"sip:91001@127.0.0.1:{proxy['tcp']}", hangup_after=None)
        finished(process)  # our 200 to its BYE came back through kamailio
    assert (placed.result.outcome, placed.result.by) == ("answered", "remote")
    assert (placed.connections, placed.inbound) == (1, 1)


@pytest.mark.timeout(90)
def test_kamailio_over_tls_with_certificates_both_ways(proxy: dict[str, Any]) -> None:
    certs = proxy["certs"]
    hop = ("127.0.0.1", proxy["tls"])
    tls = TlsSettings(ca=str(certs["ca"]), cert=str(certs["client"]),
                      key=str(certs["client_key"]))
    config = TrunkConfig(transport=Transport.TLS, proxy=hop,
                         credentials=Credentials("huifang", PASSWORD), tls=tls)
    with sipp("we_hang_up", port=proxy["trunk"]) as (_, process):
        placed = place(config, f"sip:91001@127.0.0.1:{proxy['tls']}")
        finished(process)
    assert (placed.result.outcome, placed.result.code) == ("answered", 200)
    assert placed.connections == 1
    by_name = dataclasses.replace(tls, server_name="trunk.test")  # a name, not the address
    with sipp("we_hang_up", port=proxy["trunk"]) as (_, process):
        placed = place(dataclasses.replace(config, tls=by_name),
                       f"sip:91001@127.0.0.1:{proxy['tls']}")
        finished(process)
    assert (placed.result.outcome, placed.result.code) == ("answered", 200)


@pytest.mark.timeout(60)
def test_a_tls_server_with_the_wrong_name_is_refused_at_once(proxy: dict[str, Any]) -> None:
    certs = proxy["certs"]
    tls = TlsSettings(ca=str(certs["ca"]), cert=str(certs["client"]),
                      key=str(certs["client_key"]), server_name="elsewhere.test")
    config = TrunkConfig(transport=Transport.TLS, proxy=("127.0.0.1", proxy["tls"]),
                         tls=tls)
    placed = place(config, f"sip:91001@127.0.0.1:{proxy['tls']}")
    assert placed.result.outcome == "transport_failure"
    assert placed.result.first_response_s is None  # nothing was sent to a server unverified


@pytest.mark.timeout(60)
def test_kamailio_refuses_us_without_a_client_certificate(proxy: dict[str, Any]) -> None:
    """What the client certificate is for: this kamailio requires one."""
    config = TrunkConfig(transport=Transport.TLS, proxy=("127.0.0.1", proxy["tls"]),
                         tls=TlsSettings(ca=str(proxy["certs"]["ca"])))
    placed = place(config, f"sip:91001@127.0.0.1:{proxy['tls']}")
    assert placed.result.outcome == "transport_failure"


def test_our_tcp_listener_closes_a_garbled_stream_and_counts_it() -> None:
    """A TCP trunk's listener: OPTIONS on a connection of the peer's is answered on it; a
    stream that is not SIP is closed and counted (huifang_sip_dropped_total)."""
    import socket

    dialer = Dialer(reactor, TrunkConfig(transport=Transport.TCP, accept_from=("127.0.0.1",)))
    _, port = on_reactor(dialer.listen)
    options = (f"OPTIONS sip:huifang@127.0.0.1:{port} SIP/2.0\r\n"
               "Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKlive\r\nFrom: <sip:t@127.0.0.1>;"
               "tag=1\r\nTo: <sip:huifang@127.0.0.1>\r\nCall-ID: live-options\r\n"
               "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(options)
            assert s.recv(4096).startswith(b"SIP/2.0 200 OK\r\n")
            s.sendall(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not SIP")
            assert s.recv(4096) == b""  # closed by us
        assert on_reactor(lambda: dict(dialer.endpoint.dropped)) == {"stream_garbled": 1}
    finally:
        on_reactor(dialer.stop)
