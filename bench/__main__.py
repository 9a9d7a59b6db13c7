"""`make bench`: import throughput and memory (issue 2).

Generates 100k and 1M ticket samples once (cached under bench/out/), then imports each
into a fresh SQLite file and into a fresh database on a throwaway PostgreSQL server,
every import in its own process so its peak RSS is its own.
Set HUIFANG_BENCH_SIZES=100000 to run a smaller set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from store.db import make_engine, upgrade
from store.sample import generate
from tests.pgserver import PostgresServer, find_binaries

OUT = Path(__file__).parent / "out"
END = datetime(2026, 11, 20, 18)


def sample(size: int) -> Path:
    directory = OUT / f"sample-{size}"
    if not (directory / "tickets-1.csv").exists():
        start = time.perf_counter()
        generate(directory, tickets=size, seed=2026, end=END, months=12)
        print(f"generated {size} tickets in {time.perf_counter() - start:.1f} s", flush=True)
    return directory


def run_one(url: str, directory: Path) -> dict[str, float]:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    proc = subprocess.run([sys.executable, "-m", "bench.import_one", url,
                           str(directory / "units.csv"), str(directory / "tickets-1.csv")],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    OUT.mkdir(exist_ok=True)
    sizes = [int(s) for s in os.environ.get("HUIFANG_BENCH_SIZES", "100000,1000000").split(",")]
    results: list[dict[str, object]] = []
    bindir = find_binaries()
    server = None
    if bindir is not None:
        server = PostgresServer(bindir)
        server.start()
    try:
        for size in sizes:
            directory = sample(size)
            db = OUT / f"bench-{size}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            stores = [("sqlite", f"sqlite:///{db}")]
            if server is not None:
                stores.append(("postgresql", server.create_database(f"bench{size}")))
            for store, url in stores:
                figures = run_one(url, directory)
                row = {"store": store, "tickets": size, **figures}
                results.append(row)
                print(json.dumps(row), flush=True)
            db.unlink(missing_ok=True)
    finally:
        if server is not None:
            server.cleanup()
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print("\nstore       tickets   rows/s   seconds   peak RSS MB")
    for r in results:
        print(f"{r['store']:<11} {r['tickets']:>8} {r['rows_per_s']:>8} {r['seconds']:>9} "
              f"{r['peak_rss_mb']:>12}")
    if server is None:
        print("PostgreSQL not installed: only SQLite was measured")


if __name__ == "__main__":
    main()
