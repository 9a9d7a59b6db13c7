"""Report benchmark (issue 3): the monthly report over 1M tickets in SQLite and 10M in
PostgreSQL. The stores are synthesised in SQL (importing 10M rows would take half an
hour), with the same shape the importer writes: tickets over 12 months, 90 % closed,
85 % of closures called back, answers spread over the enum values.

Prints the wall time and peak RSS of: the ranking query alone (the period's per-unit
aggregates), the full report (previous period, six-period trends, exclusions,
categories), and writing the XLSX and the PDF; and the query plans of the two aggregates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, text

from store.db import make_engine, upgrade
from store.importing.runner import run_import
from tests.pgserver import PostgresServer, find_binaries

OUT = Path(__file__).parent / "out"
START = "2025-11-01 08:00:00"  # 12 months ending 2026-10-31

# Per dialect: the integers 1..n as column i.
SERIES = {
    "sqlite": "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
              "SELECT i FROM s",
    "postgresql": "SELECT i FROM generate_series(1, :n) AS i",
}
# Timestamp plus minutes, written as SQLAlchemy writes timestamps on each dialect.
ADD_MINUTES = {
    "sqlite": "(datetime({base}, '+' || CAST({minutes} AS INTEGER) || ' minutes') || '.000000')",
    "postgresql": "({base}::timestamp + make_interval(mins => CAST({minutes} AS INTEGER)))",
}


def synthesise(engine: Engine, n: int, units_csv: Path) -> None:
    """One INSERT ... SELECT per table; spreads are pseudo-random functions of the series
    number (64-bit arithmetic), so the same n gives the same store on both dialects."""
    dialect = engine.dialect.name
    add = ADD_MINUTES[dialect]
    run_import(engine, "units", units_csv, now=datetime(2026, 11, 20))
    spread1 = "((CAST(i AS BIGINT) * 7919) % 1000) / 1000.0"
    spread2 = "((CAST(i AS BIGINT) * 104729) % 1000) / 1000.0"
    received = add.format(base=f"'{START}'", minutes=f"(i * 525600.0 / {n})")
    with engine.begin() as conn:
        units = [r[0] for r in conn.execute(text("SELECT id FROM units ORDER BY id"))]
        unit_case = "CASE " + " ".join(f"WHEN i % {len(units)} = {k} THEN {u}"
                                       for k, u in enumerate(units)) + " END"
        lifecycle = f"""
            SELECT d.*, CASE WHEN signed_at IS NOT NULL AND i % 10 <> 1 THEN
                            {add.format(base="signed_at", minutes=f"600 + {spread2} * 10000")}
                        END AS closed_at
            FROM (SELECT c.*, CASE WHEN i % 20 <> 0 THEN
                                  {add.format(base="dispatched_at",
                                              minutes=f"60 + {spread1} * 2400")}
                              END AS signed_at
                  FROM (SELECT b.*, {add.format(base="received_at", minutes="30")}
                                    AS dispatched_at
                        FROM (SELECT i, {received} AS received_at
                              FROM ({SERIES[dialect]}) AS a) AS b) AS c) AS d"""
        conn.execute(text(f"""
            INSERT INTO tickets (id, ticket_no, unit_id, type, category, phone, phone_kind,
                received_at, dispatched_at, signed_at, closed_at, deadline_at, status,
                closure_count, created_at, updated_at)
            SELECT i, 'S' || i, {unit_case}, 'complaint',
                   CASE WHEN i % 7 = 0 THEN '城建/电梯' ELSE '其他/咨询' END,
                   '+86145' || (i % 100000000), 'mobile', received_at, dispatched_at,
                   signed_at, closed_at,
                   {add.format(base="received_at", minutes="10080")},
                   CASE WHEN closed_at IS NOT NULL THEN 'closed'
                        WHEN signed_at IS NOT NULL THEN 'signed' ELSE 'dispatched' END,
                   CASE WHEN closed_at IS NOT NULL THEN 1 ELSE 0 END,
                   received_at, received_at
            FROM ({lifecycle}) AS t"""), {"n": n})
        conn.execute(text("""
            INSERT INTO closures (ticket_id, seq, closed_at, reopened, created_at)
            SELECT id, 1, closed_at, false, created_at FROM tickets WHERE closed_at IS NOT NULL"""))
        conn.execute(text("""
            INSERT INTO evaluations (closure_id, ticket_id, resolved, satisfaction, source,
                                     evaluated_at, created_at)
            SELECT c.id, c.ticket_id,
                   CASE WHEN c.ticket_id % 6 = 0 THEN 'no' ELSE 'yes' END,
                   CASE c.ticket_id % 9 WHEN 0 THEN 'unsatisfied' WHEN 1 THEN 'basic'
                        ELSE 'satisfied' END, 'agent', c.closed_at, c.created_at
            FROM closures c WHERE c.ticket_id % 20 < 17"""))
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def measure(url: str, period: str) -> dict[str, object]:
    """Run in a child process so that the peak RSS is the report's own."""
    proc = subprocess.run([sys.executable, "-m", "bench.report_one", url, period],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    OUT.mkdir(exist_ok=True)
    sizes = {"sqlite": int(os.environ.get("HUIFANG_BENCH_SQLITE", "1000000")),
             "postgresql": int(os.environ.get("HUIFANG_BENCH_PG", "10000000"))}
    units_csv = OUT / "report-units.csv"
    import random

    from store.sample import UNIT_HEADERS, make_units
    from store.tablefiles import TableWriter

    with TableWriter(units_csv, UNIT_HEADERS) as out:
        for unit in make_units(random.Random(1)):
            out.write([unit.name, unit.parent, unit.group, unit.kind])
    results = []
    db = OUT / "report-bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    targets = [("sqlite", f"sqlite:///{db}")]
    server = None
    bindir = find_binaries()
    if bindir is not None:
        server = PostgresServer(bindir)
        server.start()
        targets.append(("postgresql", server.create_database("reportbench")))
    try:
        for store, url in targets:
            engine = make_engine(url)
            upgrade(engine)
            start = time.perf_counter()
            synthesise(engine, sizes[store], units_csv)
            build = time.perf_counter() - start
            engine.dispose()
            figures = measure(url, "2026-10")
            row = {"store": store, "tickets": sizes[store], "synthesis_s": round(build, 1),
                   **figures}
            results.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    finally:
        if server is not None:
            server.cleanup()
        Path(db).unlink(missing_ok=True)
    (OUT / "report-results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
