"""`huifang doctor` against kamailio as the trunk and registrar (every check OK or WARN,
exit 0), against a stopped trunk and a registrar refusing the password (FAIL, exit 1),
and each check's own verdicts, on loopback only."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dialer.probe import options_ping
from huifang import doctor
from huifang.cli import cli
from huifang.config import Settings
from store.db import make_engine, upgrade
from tests.conftest import need
from tests.peers import free_udp_port
from tests.speech import MODEL
from tests.test_kamailio import PASSWORD, proxy

__all__ = ["proxy"]  # the kamailio fixture


def node(tmp_path: Path, trunk: str) -> Path:
    """A node's configuration: a current SQLite store, the shared model, free RTP ports."""
    db = tmp_path / "h.db"
    upgrade(make_engine(f"sqlite:///{db}"))
    low = free_udp_port(10)
    path = tmp_path / "huifang.toml"
    path.write_text(f"""[database]
url = "sqlite:///{db}"
[trunk]
{trunk}
rtp_ports = "{low}-{low + 9}"
max_channels = 4
[recognition]
model = "{MODEL}"
[prompts]
cache_dir = "{tmp_path / 'cache'}"
[campaign]
recordings_dir = "{tmp_path / 'recordings'}"
[calendar]
holidays = ["2027-01-01..2027-01-03", "2027-02-06..2027-02-13"]
workdays = ["2027-02-14", "2027-02-20"]
""", encoding="utf-8")
    return path


def run(path: Path, password: str = PASSWORD) -> tuple[int, dict[str, dict[str, str]]]:
    result = CliRunner(env={"HUIFANG_SIP_PASSWORD": password}).invoke(
        cli, ["--config", str(path), "doctor", "--json", "--timeout", "1"])
    start = result.output.index("[")
    checks = json.loads(result.output[start:result.output.rindex("]") + 1])
    return result.exit_code, {c["name"].split()[-1]: c for c in checks}


def test_a_node_with_kamailio_as_its_trunk_is_ready(proxy: tuple[int, int],
                                                    tmp_path: Path) -> None:
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    need(MODEL.exists(), f"shared Mandarin model missing at {MODEL}")
    port, _ = proxy
    path = node(tmp_path, f'proxy = "127.0.0.1:{port}"\nregistrar = "127.0.0.1:{port}"\n'
                          'username = "huifang"')
    code, checks = run(path)
    statuses = {name: c["status"] for name, c in checks.items()}
    assert code == 0, checks
    assert statuses["trunk"] == "OK" and "200 OK" in checks["trunk"]["detail"]
    assert statuses["registration"] == "OK" and "200" in checks["registration"]["detail"]
    for name in ("configuration", "database", "ports", "model", "TTS", "disk", "calendar"):
        assert statuses[name] == "OK", checks[name]
    assert statuses["zone"] in ("OK", "WARN")
    # the same registrar refusing the password
    code, checks = run(path, password="wrong")
    assert code == 1 and checks["registration"]["status"] == "FAIL"
    assert "401" in checks["registration"]["detail"]
    assert "HUIFANG_SIP_PASSWORD" in checks["registration"]["fix"]
    assert checks["trunk"]["status"] == "OK"


def test_a_stopped_trunk_fails_with_its_fix(tmp_path: Path) -> None:
    stopped = free_udp_port()
    settings = Settings.model_validate({"trunk": {"target": f"sip:{{number}}@127.0.0.1:"
                                                            f"{stopped}"}})
    (check,) = doctor.trunk(settings, 1.0)
    assert check.status is doctor.Status.FAIL and f"127.0.0.1:{stopped}" in check.detail
    assert "trunk.target" in check.fix and "refused" in check.detail
    path = node(tmp_path, f'proxy = "127.0.0.1:{stopped}"')
    path.write_text(path.read_text(encoding="utf-8").replace(f'model = "{MODEL}"',
                                                             'model = "not-installed"'),
                    encoding="utf-8")
    code, checks = run(path)
    assert code == 1 and checks["trunk"]["status"] == "FAIL"
    assert checks["model"]["status"] == "FAIL"
    assert "'not-installed'" in checks["model"]["detail"]
    assert "huifang models install" in checks["model"]["fix"]


def test_a_trunk_that_never_answers_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        result = options_ping(silent.getsockname(), local_host="127.0.0.1", timeout_s=0.3)
        assert silent.recv(4096).startswith(b"OPTIONS sip:127.0.0.1:")
    assert result.status is None and "no answer within 0.3 s" in result.reason


@pytest.mark.parametrize(("trunk", "address"), [
    ({"target": "sip:{number}@gw.example:5070;transport=udp"}, (("gw.example", 5070),
                                                                "trunk.target")),
    ({"target": "sips:{number}@gw.example"}, (("gw.example", 5061), "trunk.target")),
    ({"target": "sip:{number}@[::1]:5080"}, (("::1", 5080), "trunk.target")),
    ({"registrar": "reg.example:5062"}, (("reg.example", 5062), "trunk.registrar")),
    ({"proxy": "10.0.0.1:5060", "registrar": "reg.example:5062"},
     (("10.0.0.1", 5060), "trunk.proxy"))])
def test_where_the_trunk_is_asked(trunk: dict[str, Any], address: Any) -> None:
    assert doctor.trunk_address(Settings.model_validate({"trunk": trunk})) == address


def test_ports_in_use_and_a_missing_schema(tmp_path: Path) -> None:
    low = free_udp_port(6)
    settings = Settings.model_validate({"trunk": {"rtp_ports": f"{low}-{low + 5}",
                                                  "max_channels": 2}})
    low += low % 2  # the first even port, the first sampled
    assert doctor.rtp_ports(settings).status is doctor.Status.OK
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", low))
        check = doctor.rtp_ports(settings)
    assert check.status is doctor.Status.WARN and str(low) in check.detail
    empty = tmp_path / "empty.db"
    empty.touch()
    check = doctor.database(Settings.model_validate({"database": {"url": f"sqlite:///{empty}"}}))
    assert check.status is doctor.Status.FAIL and "huifang db upgrade" in check.fix
    missing = doctor.database(Settings.model_validate(
        {"database": {"url": f"sqlite:///{tmp_path / 'none.db'}"}}))
    assert missing.status is doctor.Status.FAIL and not (tmp_path / "none.db").exists()


def test_the_clock_and_a_bad_configuration(tmp_path: Path) -> None:
    assert doctor.clock(Settings(), ntp=lambda: "no").status is doctor.Status.WARN
    bad = tmp_path / "bad.toml"
    bad.write_text("[trunk]\nrtp_port = 1\n", encoding="utf-8")
    code, checks = run(bad)
    assert code == 1 and checks["configuration"]["status"] == "FAIL"
    assert "unknown key 'trunk.rtp_port'" in checks["configuration"]["detail"]


def test_an_installed_model_is_verified_and_loaded(tmp_path: Path) -> None:
    from huifang.models import install

    need(MODEL.exists(), f"shared Mandarin model missing at {MODEL}")
    settings = Settings.model_validate({"recognition": {"models_dir": str(tmp_path)}})
    root, _ = install(MODEL.parent, settings.recognition)
    check = doctor.model(settings)
    assert check.status is doctor.Status.OK and "8000 Hz" in check.detail, check
    (root / "model" / "lm" / "zh_CN" / "mandarin_notone.dic").write_text("", encoding="utf-8")
    check = doctor.model(settings)
    assert check.status is doctor.Status.FAIL and "damaged" in check.detail
    assert "--force" in check.fix
    vosk = Settings.model_validate({"recognition": {"models_dir": str(tmp_path),
                                                    "engine": "vosk"}})
    install(MODEL.parent, vosk.recognition, force=True)
    assert "is a pocketsphinx model" in doctor.model(vosk).detail
