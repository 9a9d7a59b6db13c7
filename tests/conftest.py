"""Shared fixtures: stores on SQLite and on a real PostgreSQL server.

Components that cannot be installed here are skipped with the reason; under CI
(CI=true) a skip fails the run, so a missing install step cannot hide.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from store.db import make_engine, upgrade
from tests.pgserver import PostgresServer, find_binaries

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_skipped: list[str] = []


def need(condition: bool, reason: str) -> None:
    """Skip (or, on CI, fail) when a component is missing."""
    if condition:
        return
    if ON_CI:
        pytest.fail(f"missing component on CI: {reason}")
    pytest.skip(reason)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if ON_CI and _skipped and exitstatus == 0:
        session.exitstatus = 1
        print(f"\nCI: {len(_skipped)} tests were skipped; nothing may be skipped on CI")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    bindir = find_binaries()
    need(bindir is not None, "PostgreSQL server binaries not installed (apt-get install "
         "postgresql, or run `make test` as root)")
    assert bindir is not None
    if os.geteuid() == 0:
        need(shutil.which("runuser") is not None, "runuser missing (util-linux)")
    server = PostgresServer(bindir)
    server.start()
    template = server.create_database("huifang_template")
    engine = make_engine(template)
    upgrade(engine)
    engine.dispose()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


_counter = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A freshly migrated, empty store on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.create_database(f"t{next(_counter)}", template="huifang_template")


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """A freshly migrated, empty SQLite store only: for tests about something else than
    the store (the call engine's media, a campaign under attack)."""
    path = tmp_path / "store.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()
