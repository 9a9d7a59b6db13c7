"""A system install (deploy/): the systemd units pass `systemd-analyze verify` and its
security review while keeping the network SIP and RTP need; every path the example
configuration writes lies in the directories the sandbox leaves writable; huifang-admin
runs a command with the service's configuration and secrets; `huifang db upgrade
--backup-to` and `huifang db backup` make a copy that restores, on SQLite and PostgreSQL.

(The sandbox itself is not started here: that needs systemd as PID 1. The drain on
SIGTERM, which `systemctl stop` sends, is tested with `huifang run` in
tests/test_service.py.)"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select, text

from huifang.cli import cli
from huifang.config import load_settings
from store.db import current_revision, head_revision, make_engine, upgrade
from store.models import Ticket, Unit
from tests.conftest import need
from tests.pgserver import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = ("huifang.service", "huifang-console.service")
HUIFANG = Path(sys.executable).with_name("huifang")
AT = datetime(2026, 11, 1, 9, 0)
WRITABLE = ("/var/lib/huifang", "/var/cache/huifang")  # StateDirectory, CacheDirectory


def _options(unit: str) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for line in (DEPLOY / unit).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            options.setdefault(key.strip(), []).append(value.strip())
    return options


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    need(found is not None, "systemd-analyze is not installed (apt-get install systemd)")
    assert found is not None
    return found


@pytest.mark.parametrize("unit", UNITS)
def test_the_units_verify(unit: str, tmp_path: Path) -> None:
    analyze = _analyze()
    # the unit as installed, with ExecStart pointing at this checkout's huifang
    copy = tmp_path / unit
    copy.write_text((DEPLOY / unit).read_text(encoding="utf-8").replace(
        "/opt/huifang/venv/bin/huifang", str(HUIFANG)), encoding="utf-8")
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True,
                          timeout=60, check=False)
    complaints = [line for line in (done.stdout + done.stderr).splitlines() if unit in line]
    assert done.returncode == 0 and not complaints, done.stdout + done.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_the_units_are_hardened_but_keep_the_network(unit: str) -> None:
    analyze = _analyze()
    done = subprocess.run([analyze, "security", "--offline=yes", str(DEPLOY / unit)],
                          capture_output=True, text=True, timeout=60, check=False)
    level = re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)
    assert level is not None, done.stdout + done.stderr
    assert float(level.group(1)) <= 2.5, done.stdout  # systemd's "OK" band
    o = _options(unit)
    assert o["User"] == ["huifang"] and o["ProtectSystem"] == ["strict"]
    assert o["EnvironmentFile"] == ["-/etc/huifang/huifang.env"]
    assert "PrivateNetwork" not in o and "IPAddressDeny" not in o
    families = o["RestrictAddressFamilies"][0].split()
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(families)
    assert o["Restart"] == ["on-failure"] and o["KillMode"] == ["mixed"]
    if unit == "huifang.service":
        # two sockets per call at the most channels the configuration allows
        assert int(o["LimitNOFILE"][0]) >= 4 * 2000
        assert o["TimeoutStopSec"] == ["10min"]  # the calls in progress finish first
        assert o["ExecStart"] == ["/opt/huifang/venv/bin/huifang run"]


def test_the_example_configuration_writes_only_where_the_sandbox_lets_it() -> None:
    settings = load_settings(str(DEPLOY / "huifang.toml"), {})
    database = Path(settings.database.url.removeprefix("sqlite:///"))
    written = [database.parent, Path(settings.campaign.recordings_dir),
               Path(settings.recognition.models_dir), Path(settings.prompts.cache_dir),
               Path(settings.recognition.whisper_cache)]
    for path in written:
        assert path.is_absolute() and str(path).startswith(WRITABLE), path
    assert settings.campaign.recordings_keep_days == 180
    assert settings.console.secure_cookies


def test_huifang_admin_runs_as_the_service_does(tmp_path: Path) -> None:
    secrets = tmp_path / "huifang.env"
    db = tmp_path / "state" / "huifang.db"
    secrets.write_text(f"HUIFANG_DB=sqlite:///{db}\nHUIFANG_SIP_PASSWORD=s3cret\n",
                       encoding="utf-8")
    config = tmp_path / "huifang.toml"
    config.write_text('[console]\nbind = "127.0.0.1:8399"\n', encoding="utf-8")
    (tmp_path / "state").mkdir()
    env = {"PATH": os.environ["PATH"], "HUIFANG_VENV": str(HUIFANG.parent.parent),
           "HUIFANG_ENV_FILE": str(secrets), "HUIFANG_CONFIG": str(config),
           "HUIFANG_STATE": str(tmp_path / "state"),
           "HUIFANG_USER": subprocess.run(["id", "-un"], capture_output=True, text=True,
                                          check=True).stdout.strip()}
    run = [str(DEPLOY / "huifang-admin")]
    done = subprocess.run([*run, "db", "upgrade"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert db.exists() and head_revision() in done.stdout  # HUIFANG_DB from the env file
    shown = subprocess.run([*run, "config", "check", "--json"], env=env, capture_output=True,
                           text=True, timeout=120, check=False)
    assert '"127.0.0.1:8399"' in shown.stdout  # HUIFANG_CONFIG
    secrets.chmod(0)
    if os.geteuid() != 0:  # root reads anything
        refused = subprocess.run([*run, "db", "status"], env=env, capture_output=True,
                                 text=True, timeout=60, check=False)
        assert refused.returncode == 1 and "cannot read" in refused.stderr


def _old_store(url: str) -> None:
    """A store at schema 0007 with one ticket: what an operator upgrades."""
    engine = make_engine(url)
    upgrade(engine, "0007")
    with engine.begin() as conn:
        conn.execute(insert(Unit).values(id=1, name="青石街道", kind="street", created_at=AT,
                                         updated_at=AT))
        conn.execute(insert(Ticket).values(
            id=1, ticket_no="OLD1", unit_id=1, type="complaint", summary="小区加装电梯",
            phone="+8613812345678", phone_kind="mobile", received_at=AT, status="closed",
            closure_count=1, created_at=AT, updated_at=AT))
    engine.dispose()


def _cli(url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env={"HUIFANG_DB": url, "HUIFANG_CONFIG": ""})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _upgrade_with_backup(url: str, backups: Path) -> Path:
    _old_store(url)
    output = _cli(url, "db", "upgrade", "--backup-to", str(backups))
    assert "已备份 backed up" in output and "at schema 0007" in output
    assert f"is at {head_revision()} (was 0007)" in output
    (copy,) = list(backups.iterdir())
    assert copy.name.startswith("huifang-0007-") and "to restore:" in output
    engine = make_engine(url)
    assert current_revision(engine) == head_revision()
    engine.dispose()
    # nothing to upgrade: no second backup
    assert "(already)" in _cli(url, "db", "upgrade", "--backup-to", str(backups))
    assert len(list(backups.iterdir())) == 1
    return copy


def test_upgrade_with_a_backup_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'huifang.db'}"
    copy = _upgrade_with_backup(url, tmp_path / "backups")
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0007",)
        assert conn.execute("SELECT ticket_no, summary FROM tickets").fetchall() == [
            ("OLD1", "小区加装电梯")]
    # the backup of the upgraded store, while it is open for writing elsewhere
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE tickets SET summary = '路灯不亮'"))
    writer = engine.connect()
    writer.begin()
    writer.execute(text("UPDATE tickets SET summary = 'uncommitted'"))
    try:
        output = _cli(url, "db", "backup", "--out", str(tmp_path / "nightly"))
    finally:
        writer.rollback()
        writer.close()
        engine.dispose()
    (nightly,) = list((tmp_path / "nightly").iterdir())
    assert f"at schema {head_revision()}" in output and nightly.suffix == ".db"
    restored = make_engine(f"sqlite:///{nightly}")
    with restored.connect() as conn:
        assert conn.execute(select(Ticket.summary)).scalar() == "路灯不亮"  # committed only
    assert current_revision(restored) == head_revision()
    restored.dispose()


@pytest.mark.postgres
def test_upgrade_with_a_backup_postgresql(pg_server: PostgresServer, tmp_path: Path) -> None:
    need(shutil.which("pg_restore") is not None, "pg_restore is not installed")
    url = pg_server.create_database("upgrade_backup")
    copy = _upgrade_with_backup(url, tmp_path / "backups")
    assert copy.suffix == ".dump"
    target = pg_server.create_database("restored")
    dsn = target.replace("postgresql+psycopg://", "postgresql://")
    done = subprocess.run([shutil.which("pg_restore") or "pg_restore", "--no-owner",
                           "-d", dsn, str(copy)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    engine = make_engine(target)
    assert current_revision(engine) == "0007"
    with engine.connect() as conn:
        assert conn.execute(select(Ticket.ticket_no)).scalars().all() == ["OLD1"]
    engine.dispose()


def test_a_backup_that_cannot_be_made_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'huifang.db'}"
    _old_store(url)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a directory", encoding="utf-8")
    result = CliRunner().invoke(cli, ["db", "upgrade", "--backup-to", str(blocked)],
                                env={"HUIFANG_DB": url, "HUIFANG_CONFIG": ""})
    assert result.exit_code != 0
    engine = make_engine(url)
    assert current_revision(engine) == "0007"  # not upgraded without its backup
    engine.dispose()
