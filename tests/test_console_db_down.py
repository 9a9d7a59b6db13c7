"""The console when its PostgreSQL database goes away and comes back: a clear 503, no
traceback, nothing half-written, and pages work again once the server is back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from store.console_models import AuditEntry
from store.db import make_engine
from tests.console_support import PASSWORDS, Client, ConsoleProcess, add_users, seed
from tests.pgserver import PostgresServer


@pytest.mark.postgres
def test_database_going_away_and_coming_back(tmp_path: Path, pg_server: PostgresServer
                                             ) -> None:
    url = pg_server.create_database("consoledown", template="huifang_template")
    engine = make_engine(url)
    seeded = seed(engine, tmp_path, tmp_path / "recordings")
    engine.dispose()
    add_users(url, tmp_path)
    config = tmp_path / "huifang.toml"
    config.write_text(f'[campaign]\nrecordings_dir = "{tmp_path / "recordings"}"\n',
                      encoding="utf-8")
    console = ConsoleProcess(url, tmp_path, config)
    try:
        supervisor = Client(console.port)
        assert supervisor.login("zhijian", PASSWORDS["zhijian"]).status == 303
        page = f"/calls/{seeded.negative}"
        token = supervisor.csrf(page)
        pg_server.stop_fast()
        try:
            down = supervisor.get("/queue")
            assert down.status == 503 and "数据库暂时不可用" in down.text
            assert down.headers["retry-after"] == "5" and "Traceback" not in down.text
            assert "password" not in down.text.lower() or "***" in down.text
            tried = supervisor.request("POST", f"{page}/correct", form={
                "csrf": token, "resolved": "yes", "satisfaction": "satisfied",
                "reason": "听录音"})
            assert tried.status == 503
        finally:
            pg_server.start()
        assert supervisor.get("/queue").status == 200  # the same session, back again
        engine = make_engine(url)
        with engine.connect() as conn:
            entries = conn.execute(select(func.count()).select_from(AuditEntry)
                                   .where(AuditEntry.action == "correct_answer")).scalar()
        engine.dispose()
        assert entries == 0  # the correction tried while it was down was not made
        done = supervisor.post(f"{page}/correct", {"resolved": "yes",
                                                   "satisfaction": "satisfied",
                                                   "reason": "听录音"}, page=page)
        assert done.status == 303
    finally:
        console.stop()
    assert "Traceback" not in (tmp_path / "console.log").read_text()
