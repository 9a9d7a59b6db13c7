"""Time one monthly report on one store; print JSON (see bench/report_bench.py)."""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from scoring.aggregate import own_counts
from scoring.calendar import build_calendar
from scoring.export_pdf import write_pdf
from scoring.export_xlsx import write_xlsx
from scoring.facts import closure_facts, response_facts
from scoring.periods import parse_period
from scoring.report import build_report
from scoring.rules import ScoringRules
from store.db import make_engine


def main() -> None:
    url, label = sys.argv[1], sys.argv[2]
    engine = make_engine(url)
    period = parse_period(label)
    now = datetime(2026, 11, 20, 12)
    figures: dict[str, object] = {}
    with engine.connect() as conn:
        build_calendar(conn, ScoringRules(), now.date())
        start = time.perf_counter()
        counts = own_counts(conn, period, now.date())
        figures["ranking_query_s"] = round(time.perf_counter() - start, 3)
        figures["units_counted"] = len(counts)
        explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
        plans = {}
        for name, query in (("closures", closure_facts(period)),
                            ("response", response_facts(period, now.date()))):
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            plans[name] = [" ".join(str(c) for c in row) for row in
                           conn.exec_driver_sql(explain + str(compiled))]
        figures["plans"] = plans
    start = time.perf_counter()
    report = build_report(engine, period, now=now)
    figures["full_report_s"] = round(time.perf_counter() - start, 3)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_xlsx(report, Path(tmp) / "r.xlsx")
        figures["xlsx_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        write_pdf(report, Path(tmp) / "r.pdf")
        figures["pdf_s"] = round(time.perf_counter() - start, 3)
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
