"""A database that is locked, gone, or on the wrong schema: a clear error, nothing lost."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from store.db import DatabaseUnavailable, SchemaMismatch, check_schema, make_engine, upgrade
from store.importing.runner import ImportOptions, run_import
from store.models import ImportBatch, Ticket
from tests.files import TICKET_HEADER, UNITS, ticket, write_csv
from tests.pgserver import PostgresServer

NOW = datetime(2026, 11, 20, 12)


def tickets_file(tmp_path: Path, n: int) -> Path:
    return write_csv(tmp_path / "t.csv", [TICKET_HEADER] + [ticket(f"GD{i}") for i in range(n)])


def test_locked_sqlite_is_a_clear_error_and_a_rerun_completes(tmp_path: Path,
                                                              sqlite_template: Path) -> None:
    path = tmp_path / "h.db"
    path.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{path}"
    engine = make_engine(url, busy_timeout_ms=200)
    run_import(engine, "units", write_csv(tmp_path / "u.csv", UNITS), now=NOW)
    source = tickets_file(tmp_path, 50)
    blocker = sqlite3.connect(path)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DatabaseUnavailable, match="locked by another process"):
            run_import(engine, "tickets", source, now=NOW, options=ImportOptions(batch_size=10))
    finally:
        blocker.rollback()
        blocker.close()
    result = run_import(engine, "tickets", source, now=NOW)
    assert result.rejected == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Ticket)).scalar_one() == 50


@pytest.mark.postgres
def test_postgres_going_away_mid_import(tmp_path: Path, pg_server: PostgresServer) -> None:
    url = pg_server.create_database("gone", template="huifang_template")
    engine = make_engine(url)
    run_import(engine, "units", write_csv(tmp_path / "u.csv", UNITS), now=NOW)
    source = tickets_file(tmp_path, 100)
    batches = []

    def kill_after_first_batch(done: int, total: int) -> None:
        batches.append(done)
        if len(batches) == 1:
            with make_engine(pg_server.url("postgres")).connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE datname = 'gone' AND pid <> pg_backend_pid()"))
    with pytest.raises(DatabaseUnavailable) as info:
        run_import(engine, "tickets", source, now=NOW, options=ImportOptions(batch_size=20),
                   progress=kill_after_first_batch)
    message = str(info.value)
    assert "cannot be reached" in message or "database error" in message
    assert "Run the same import again" in message and "***" not in message.split(":", maxsplit=1)[0]
    engine.dispose()
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Ticket)).scalar_one() == 20
        statuses = [s for (s,) in conn.execute(select(ImportBatch.status)
                                                .order_by(ImportBatch.id))]
    assert statuses == ["done", "failed"]
    rerun = run_import(engine, "tickets", source, now=NOW)
    assert rerun.counts["unchanged"] == 20 and rerun.counts["inserted"] == 80  # type: ignore[index]


@pytest.mark.postgres
def test_server_not_listening(tmp_path: Path, pg_server: PostgresServer) -> None:
    engine = make_engine("postgresql://nobody:pw@127.0.0.1:1/none")
    with pytest.raises(DatabaseUnavailable, match="cannot be reached") as info:
        check_schema(engine)
    assert "pw" not in str(info.value)


def test_schema_mismatch_names_the_fix(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    with pytest.raises(SchemaMismatch, match="huifang db upgrade"):
        check_schema(engine)
    upgrade(engine)
    check_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaMismatch, match="newer than this code"):
        check_schema(engine)
