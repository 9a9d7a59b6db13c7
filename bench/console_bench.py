"""Console benchmark (issue 8): the review queue, call detail, rankings and other pages
over a 1,000,000-ticket SQLite store, and the API's sustained rate of closure events.

The store is the report benchmark's synthesis (12 months of tickets, 85 % of closures
evaluated by agents) plus, for the other 15 %, callbacks with one attempt each: a third
sent to review (unreachable, unclear, wrong person, announcement), a third heard
不满意 with a recorded reason, a third settled. `huifang console` serves it in its own
process; each page's server time is read from its Server-Timing header (sent to admins
only, so the benchmark logs in as one).

HUIFANG_BENCH_CONSOLE_TICKETS sets the size (default 1,000,000).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from bench.report_bench import OUT, synthesise
from huifang.web.auth import hash_password, new_token, token_hash
from store import accounts
from store.db import make_engine, upgrade
from store.enums import Role
from tests.console_support import Client, ConsoleProcess

NOW = datetime(2026, 11, 20, 10, 0)


def add_callbacks(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO callbacks (closure_id, ticket_id, phone, status, due_at, deadline_at,
                                   attempts, last_outcome, review_kind, created_at, updated_at)
            SELECT c.id, c.ticket_id, t.phone,
                   CASE c.ticket_id % 20 WHEN 17 THEN 'review' ELSE 'done' END,
                   c.closed_at, c.closed_at, 1,
                   CASE c.ticket_id % 20
                        WHEN 17 THEN CASE c.ticket_id % 4 WHEN 0 THEN 'no_answer'
                             WHEN 1 THEN 'unclear' WHEN 2 THEN 'wrong_person'
                             ELSE 'announcement' END
                        ELSE 'completed' END,
                   CASE c.ticket_id % 20
                        WHEN 17 THEN CASE c.ticket_id % 4 WHEN 0 THEN 'unreachable'
                             WHEN 1 THEN 'unclear' WHEN 2 THEN 'wrong_person'
                             ELSE 'announcement' END
                        WHEN 18 THEN 'negative' END,
                   c.closed_at, c.closed_at
            FROM closures c JOIN tickets t ON t.id = c.ticket_id
            WHERE c.ticket_id % 20 >= 17"""))
        conn.execute(text("""
            INSERT INTO call_attempts (callback_id, ticket_id, call_id, node, phone, status,
                started_at, answered_at, ended_at, outcome, sip_code, reason_from_s,
                reason_to_s, recording)
            SELECT id, ticket_id, 'bench-' || id, 'bench', phone, 'finished', due_at, due_at,
                   due_at, last_outcome, 200,
                   CASE WHEN ticket_id % 20 = 18 THEN 12.0 END,
                   CASE WHEN ticket_id % 20 = 18 THEN 18.5 END,
                   'var/recordings/bench-' || id || '.wav'
            FROM callbacks"""))
        conn.execute(text("""
            INSERT INTO call_turns (attempt_id, question, intent, confidence, source, heard, at)
            SELECT a.id, q.question, q.intent, 0.8, 'speech', q.heard, a.started_at
            FROM call_attempts a
            JOIN (SELECT 'resolved' AS question, 'resolved' AS intent, '解决了' AS heard
                  UNION ALL SELECT 'satisfied', 'unsatisfied', '不满意') AS q ON 1 = 1
            WHERE a.outcome = 'completed'"""))
        conn.execute(text("""
            INSERT INTO evaluations (closure_id, ticket_id, resolved, satisfaction, source,
                                     evaluated_at, evaluated_by, created_at)
            SELECT closure_id, ticket_id, 'yes',
                   CASE WHEN ticket_id % 20 = 18 THEN 'unsatisfied' ELSE 'satisfied' END,
                   'auto', due_at, 'huifang', due_at
            FROM callbacks WHERE status = 'done'"""))
        conn.execute(text("ANALYZE"))


def timed(client: Client, path: str) -> float:
    reply = client.get(path)
    assert reply.status == 200, (path, reply.status, reply.text[:300])
    return float(reply.headers["server-timing"].split("dur=")[1])


def figures(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[max(0, int(0.95 * len(ordered)) - 1)], 1),
            "max_ms": round(ordered[-1], 1)}


def pages(client: Client, engine: Engine) -> dict[str, Any]:
    rng = random.Random(8)
    with engine.connect() as conn:
        units = [r[0] for r in conn.execute(text("SELECT id FROM units"))]
        callbacks = [r[0] for r in conn.execute(text(
            "SELECT id FROM callbacks WHERE status = 'review' ORDER BY id LIMIT 2000"))]
    queue_paths = ["/queue", "/queue?kind=unclear", "/queue?kind=negative",
                   "/queue?category=%E5%9F%8E%E5%BB%BA", "/queue?page=40",
                   "/queue?since=2026-10-01&until=2026-10-31", "/queue?outcome=no_answer"]
    queue_paths += [f"/queue?unit={u}" for u in units[:13]]
    result: dict[str, Any] = {}
    result["queue"] = figures([timed(client, queue_paths[i % len(queue_paths)])
                               for i in range(200)])
    result["call_detail"] = figures([timed(client, f"/calls/{rng.choice(callbacks)}")
                                     for _ in range(100)])
    cold = timed(client, "/rankings?period=2026-10")
    result["rankings_cold_ms"] = round(cold, 1)
    result["rankings_cached"] = figures([timed(client, "/rankings?period=2026-10")
                                         for _ in range(100)])
    result["dashboard"] = figures([timed(client, "/dashboard") for _ in range(50)])
    result["search"] = figures([timed(client, f"/tickets?q=S{rng.randint(1, 900000)}")
                                for _ in range(50)])
    return result


def api_rate(port: int, token: str, events: int, threads: int) -> float:
    body_of = lambda i: json.dumps({  # noqa: E731
        "ticket_no": f"API{threads}-{i}", "unit": UNIT, "type": "投诉",
        "phone": f"1450731{i % 10000:04d}", "received_at": "2026-11-18 09:00:00",
        "closed_at": "2026-11-19 16:00:00"}, ensure_ascii=False).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    errors: list[int] = []

    def worker(k: int) -> None:
        client = Client(port)
        for i in range(k, events, threads):
            reply = client.request("POST", "/api/v1/closures", body=body_of(i),
                                   headers=headers)
            if reply.status != 201:
                errors.append(reply.status)

    start = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - start
    assert not errors, errors[:5]
    return events / wall


UNIT = ""


def main() -> None:
    global UNIT  # noqa: PLW0603 - set once, read by the API workers
    OUT.mkdir(exist_ok=True)
    n = int(os.environ.get("HUIFANG_BENCH_CONSOLE_TICKETS", "1000000"))
    work = OUT / "console"
    work.mkdir(exist_ok=True)
    db = work / "console-bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    upgrade(engine)
    units_csv = OUT / "report-units.csv"
    if not units_csv.exists():
        from store.sample import UNIT_HEADERS, make_units
        from store.tablefiles import TableWriter

        with TableWriter(units_csv, UNIT_HEADERS) as out:
            for unit in make_units(random.Random(1)):
                out.write([unit.name, unit.parent, unit.group, unit.kind])
    start = time.perf_counter()
    synthesise(engine, n, units_csv)
    add_callbacks(engine)
    build_s = time.perf_counter() - start
    accounts.add_user(engine, "bench", "bench", Role.ADMIN, hash_password("bench-pass"),
                      "bench", NOW)
    token = new_token()
    accounts.add_token(engine, "bench", token_hash(token), "bench", NOW)
    with engine.connect() as conn:
        UNIT = conn.execute(text("SELECT name FROM units ORDER BY id LIMIT 1")).scalar_one()
        queue_size = conn.execute(text(
            "SELECT count(*) FROM callbacks WHERE review_kind IS NOT NULL")).scalar_one()
    config = work / "huifang.toml"
    config.write_text("[console]\nrankings_cache_s = 600\n", encoding="utf-8")
    console = ConsoleProcess(url, work, config)
    try:
        client = Client(console.port)
        assert client.login("bench", "bench-pass").status == 303
        result: dict[str, Any] = {"tickets": n, "queue_items": queue_size,
                                  "synthesis_s": round(build_s, 1), **pages(client, engine)}
        result["api_events_per_s_1_client"] = round(api_rate(console.port, token, 1000, 1), 1)
        result["api_events_per_s_4_clients"] = round(api_rate(console.port, token, 2000, 4),
                                                     1)
    finally:
        console.stop()
        engine.dispose()
    print(json.dumps(result, ensure_ascii=False, indent=1), flush=True)
    (OUT / "console-results.json").write_text(json.dumps(result, indent=2,
                                                         ensure_ascii=False))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
