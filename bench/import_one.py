"""Import one tickets file into one store and print rows/s and peak RSS as JSON.

Run in its own process so that its peak RSS is its own.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import datetime
from pathlib import Path

from store.db import make_engine
from store.importing.runner import ImportOptions, run_import


def main() -> None:
    url, units, tickets = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    engine = make_engine(url)
    now = datetime(2030, 1, 1)
    run_import(engine, "units", units, now=now)
    start = time.perf_counter()
    result = run_import(engine, "tickets", tickets, now=now, options=ImportOptions())
    seconds = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": result.rows_read, "rejected": result.rejected,
                      "seconds": round(seconds, 2), "rows_per_s": round(result.rows_read / seconds),
                      "peak_rss_mb": round(rss_mb, 1)}))


if __name__ == "__main__":
    main()
