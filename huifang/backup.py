"""`huifang db backup`: a consistent copy of the store before an upgrade (or any night).

- SQLite: SQLite's online backup (`sqlite3.Connection.backup`), safe while the service
  writes (WAL), into `huifang-<schema>-<time>.db`, then checked (`PRAGMA
  quick_check`) and its schema version read back.
- PostgreSQL: `pg_dump --format=custom` into `huifang-<schema>-<time>.dump` (restore with
  `pg_restore --clean --if-exists --no-owner -d URL FILE`); the password goes to pg_dump
  in its environment (PGPASSWORD), never on its command line.

The file is written beside its final name and renamed when complete, so a failed
backup leaves no file that looks like one."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, make_url


class BackupError(RuntimeError):
    """The backup was not made; the message says why and what to do."""


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    revision: str | None
    restore: str  # the command that puts it back


def backup(engine: Engine, directory: Path, revision: str | None, now: datetime) -> Backup:
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"huifang-{revision or 'empty'}-{now:%Y%m%d-%H%M%S}"
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return _sqlite(Path(url.database or ""), directory / f"{stem}.db", revision)
    return _postgresql(url.render_as_string(hide_password=False),
                       directory / f"{stem}.dump", revision)


def _sqlite(source: Path, target: Path, revision: str | None) -> Backup:
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    partial = target.with_name(target.name + ".partial")
    try:
        with sqlite3.connect(source) as src, \
                sqlite3.connect(partial) as dst:
            src.backup(dst)
            check = dst.execute("PRAGMA quick_check").fetchone()[0]
            copied = _sqlite_revision(dst)
        dst.close()
        src.close()
        if check != "ok":
            raise BackupError(f"the copy of {source} fails its check: {check}")
        if copied != revision:
            raise BackupError(f"the copy is at schema {copied}, the database at {revision}")
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {source}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return Backup(target, target.stat().st_size, revision,
                  f"stop huifang, then: cp {target} {source} && rm -f {source}-wal {source}-shm")


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


def _postgresql(url: str, target: Path, revision: str | None) -> Backup:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed: apt-get install postgresql-client "
                          "(the server's major version or newer)")
    parsed = make_url(url)
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    dsn = parsed.set(drivername="postgresql", password=None).render_as_string(
        hide_password=False)
    partial = target.with_name(target.name + ".partial")
    try:
        done = subprocess.run([pg_dump, "--format=custom", "--no-password",
                               f"--file={partial}", f"--dbname={dsn}"],
                              env=env, capture_output=True, text=True, timeout=6 * 3600,
                              check=False)
        if done.returncode != 0:
            detail = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise BackupError(f"pg_dump failed: {detail}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    masked = parsed.set(drivername="postgresql").render_as_string(hide_password=True)
    return Backup(target, target.stat().st_size, revision,
                  f"pg_restore --clean --if-exists --no-owner -d '{masked}' {target}")
