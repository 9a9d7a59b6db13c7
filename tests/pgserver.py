"""Start a throwaway PostgreSQL server on 127.0.0.1 for tests and benchmarks.

The server runs from Debian's binaries on a temporary data directory. PostgreSQL will
not run as root, so when we are root it runs as the `postgres` system user.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def find_binaries() -> Path | None:
    """The directory holding initdb and postgres, or None if PostgreSQL is not installed."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for directory in candidates:
        if (Path(directory) / "initdb").exists() and (Path(directory) / "postgres").exists():
            return Path(directory)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self, bindir: Path, port: int | None = None) -> None:
        self.bindir = bindir
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="huifang-pg-"))
        self.datadir = self.root / "data"
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.root / "server.log"

    def _run_as(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            os.chmod(self.root, 0o755)
        subprocess.run(
            [*self._run_as(), str(self.bindir / "initdb"), "-D", str(self.datadir), "-U",
             self.user, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"],
            check=True, capture_output=True)

    def start(self) -> None:
        if not self.datadir.exists():
            self.init()
        atexit.register(self.cleanup)  # an interrupted run leaves no server behind
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            [*self._run_as(), str(self.bindir / "postgres"), "-D", str(self.datadir),
             "-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.root),
             "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=50"],
            stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log.read_text()[-2000:]}")
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(0.1)  # notices an exit at once; else poll again
        raise RuntimeError("postgres did not accept connections within 60 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: smart shutdown
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def stop_fast(self) -> None:
        """Fast shutdown, as when the database server restarts: clients are cut off."""
        subprocess.run([*self._run_as(), str(self.bindir / "pg_ctl"), "stop", "-D",
                        str(self.datadir), "-m", "fast", "-w"], check=True,
                       capture_output=True, timeout=60)
        if self.process is not None:
            self.process.wait(30)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            clause = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{clause}')
        return self.url(name)
