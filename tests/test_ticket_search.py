"""Ticket search on its indexes (migration 0009, store/search_index.py) on SQLite and
PostgreSQL: the same answers as the scan for words of two, three and more characters,
last digits and whole numbers; the plan the database runs reads the index, not the
table; the index follows imports, updates and deletes; a database without it falls back
to the scan and says so once; an upgrade fills it from the tickets already there."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, text

from store import search_index
from store.db import make_engine, upgrade
from store.importing.runner import ImportOptions, run_import
from store.models import Ticket, Unit
from store.search import search_tickets
from tests.files import TICKET_HEADER, UNITS, ticket, write_csv
from tests.pgserver import PostgresServer

AT = datetime(2026, 11, 2, 9, 0)
# a small alphabet, so that pairs and triples recur across tickets; a quote, a LIKE
# wildcard, Latin letters in both cases and a space among them
ALPHABET = "小区加装电梯噪音扰民漏水停车路灯坏了物业不管\"%_ Ab"
WHOLE = ["小区加装电梯", "楼道灯坏了", "WiFi信号差", "电梯", "梯", "噪音扰民严重"]


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    search_index.forget()
    yield
    search_index.forget()


def _tickets(engine: Engine, summaries: list[str | None], first: int = 1) -> None:
    with engine.begin() as conn:
        unit = conn.execute(text("SELECT id FROM units")).scalar()
        if unit is None:
            unit = conn.execute(insert(Unit).values(name="青石街道", kind="street",
                                                    created_at=AT, updated_at=AT)
                                .returning(Unit.id)).scalar_one()
        conn.execute(insert(Ticket), [{
            "id": first + i, "ticket_no": f"T{first + i:05d}", "unit_id": unit,
            "type": "complaint", "summary": s,
            "phone": f"+86145073{(first + i) * 7919 % 100000:05d}", "phone_kind": "mobile",
            "received_at": AT, "status": "closed", "closure_count": 1, "created_at": AT,
            "updated_at": AT} for i, s in enumerate(summaries)])


def _corpus(engine: Engine) -> list[str]:
    rng = random.Random(19)
    summaries = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 14)))
                 for _ in range(300)]
    _tickets(engine, [*summaries, *WHOLE, None])
    return summaries


def _found(engine: Engine, q: str, *, indexed: bool = True) -> set[str]:
    return {h.ticket_no for h in search_tickets(engine, q, limit=10_000, indexed=indexed)}


def test_the_index_answers_as_the_scan(engine: Engine) -> None:
    summaries = _corpus(engine)
    rng = random.Random(7)
    queries = {"电梯", "梯坏", "小区加", "加装电梯", "Ab", "ab", "aB ", '""', '"%', "%_",
               "不管不", "WiFi", "wifi", "信号差", "灯坏了", "楼道灯坏了"}
    for s in rng.sample(summaries, 120):
        if len(s) >= 2:
            start = rng.randrange(len(s) - 1)
            queries.add(s[start:start + rng.randint(2, 5)])
    tried = 0
    for q in sorted(queries):
        expected = _found(engine, q, indexed=False)
        assert _found(engine, q) == expected, q
        tried += bool(expected)
    assert tried > 60  # most queries found something: the comparison means something
    assert _found(engine, "电梯") >= {"T00301", "T00304"}  # whole, and at the very end
    assert _found(engine, "楼道灯坏了") == {"T00302"}
    # numbers: a ticket number's prefix, a whole number, its last digits
    phone = "+8614507307919"  # ticket 1
    assert "T00001" in _found(engine, "T0000")
    assert _found(engine, "14507307919") == _found(engine, "14507307919", indexed=False)
    assert "T00001" in _found(engine, "14507307919")
    for digits in ("7919", "07919", "307919", "0000"):
        expected = {h for h in _found(engine, digits, indexed=False) if h.startswith("T")}
        assert _found(engine, digits) == expected, digits
    assert "T00001" in _found(engine, phone[-4:])


def _plans(engine: Engine, queries: list[str]) -> list[str]:
    """The database's plan for every statement a search runs."""
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any,
             _many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        for q in queries:
            search_tickets(engine, q)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    plans = []
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            cursor.execute("SET enable_seqscan = off")  # a small table: as if it were large
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT") or "sqlite_master" in \
                    statement or "pg_" in statement:
                continue
            explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
            cursor.execute(explain + statement, parameters)
            plans.append(" | ".join(str(r[-1]) for r in cursor.fetchall()))
    return plans


def test_the_database_reads_the_indexes(engine: Engine) -> None:
    _corpus(engine)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE tickets"))
    plans = _plans(engine, ["电梯", "加装电梯", "7919"])
    assert plans
    text_of = "\n".join(plans)
    if engine.dialect.name == "sqlite":
        assert "VIRTUAL TABLE INDEX" in text_of  # the FTS5 table
        assert "ix_tickets_phone_reversed" in text_of
        assert "SCAN tickets" not in text_of, text_of
    else:
        assert "ix_tickets_summary_bigrams" in text_of, text_of
        assert "ix_tickets_phone_reversed" in text_of, text_of
        assert "Seq Scan on tickets" not in text_of, text_of


def test_the_index_follows_imports_updates_and_deletes(engine: Engine, tmp_path: Path
                                                        ) -> None:
    opts = ImportOptions()  # type: ignore[call-arg]
    now = datetime(2026, 11, 20, 9, 0)  # after the files' closures
    run_import(engine, "units", write_csv(tmp_path / "u.csv", UNITS), now=now, options=opts)
    rows = [TICKET_HEADER, ticket("I001", summary="路灯不亮三个月"),
            ticket("I002", summary="小区垃圾清运不及时", phone="13812345679")]
    run_import(engine, "tickets", write_csv(tmp_path / "t.csv", rows), now=now, options=opts)
    assert _found(engine, "路灯") == {"I001"} and _found(engine, "清运不及时") == {"I002"}
    assert _found(engine, "5679") == {"I002"}
    # the same ticket imported again with its summary corrected
    rows = [TICKET_HEADER, ticket("I001", summary="路面塌陷")]
    run_import(engine, "tickets", write_csv(tmp_path / "t2.csv", rows), now=now, options=opts)
    assert _found(engine, "路灯") == set() and _found(engine, "塌陷") == {"I001"}
    with engine.begin() as conn:
        conn.execute(text("UPDATE tickets SET summary = NULL WHERE ticket_no = 'I002'"))
    assert _found(engine, "清运") == set()
    with engine.begin() as conn:
        conn.execute(text("UPDATE tickets SET summary = '清运垃圾' WHERE ticket_no = 'I002'"))
    assert _found(engine, "清运") == {"I002"}
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM tickets WHERE ticket_no = 'I002'"))
    assert _found(engine, "清运") == set() and _found(engine, "垃圾") == set()
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:  # the contentless index agrees with the table
            conn.exec_driver_sql("INSERT INTO ticket_search (ticket_search, rank) "
                                 "VALUES ('integrity-check', 0)")


def test_without_the_index_search_scans_and_says_so(engine: Engine,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    _corpus(engine)
    expected = _found(engine, "电梯")
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            search_index.drop_sqlite(conn)
        else:
            search_index.drop_postgresql(conn)
    search_index.forget()
    with caplog.at_level(logging.WARNING, logger="store.search_index"):
        assert _found(engine, "电梯") == expected
        assert _found(engine, "7919") == _found(engine, "7919", indexed=False)
    warnings = [r.getMessage() for r in caplog.records if "reads the whole table" in
                r.getMessage()]
    assert len(warnings) == 1 and "summary words and number endings" in warnings[0]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_triggers_are_there_at_head(engine: Engine) -> None:
    """A later migration that rebuilds `tickets` must make them again."""
    with engine.connect() as conn:
        names = set(conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())
    assert set(search_index.TRIGGERS) <= names


def _upgrade_fills_the_index(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine, "0008")
    _tickets(engine, ["小区加装电梯", "楼道灯坏了"])
    upgrade(engine)
    assert _found(engine, "电梯") == {"T00001"} and _found(engine, "灯坏了") == {"T00002"}
    assert _found(engine, "7919") == {"T00001"}
    _tickets(engine, ["电梯又坏了"], first=3)
    assert _found(engine, "电梯") == {"T00001", "T00003"}
    engine.dispose()


def test_an_upgrade_fills_the_index_sqlite(tmp_path: Path) -> None:
    _upgrade_fills_the_index(f"sqlite:///{tmp_path / 'old.db'}")


@pytest.mark.postgres
def test_an_upgrade_fills_the_index_postgresql(pg_server: PostgresServer) -> None:
    _upgrade_fills_the_index(pg_server.create_database("search_upgrade"))
