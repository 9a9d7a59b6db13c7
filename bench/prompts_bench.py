"""Prompt benchmark (issue 4): render time per prompt cold and cached, and the time to
prepare the prompts of N scheduled callbacks (default 10,000) with two background
workers at nice 10, while a 20 ms periodic loop (an RTP sender's pacing) measures how
late its ticks run, idle and during the preparation.
HUIFANG_BENCH_CALLBACKS=1000 runs a smaller set.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import statistics
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from prompts.batch import render_many
from prompts.cache import PromptCache
from prompts.catalog import load_catalog
from prompts.render import PromptRenderer
from prompts.tts import EspeakWorker, Voice
from store.sample import TOPICS

OUT = Path(__file__).parent / "out"


def pacing_probe(seconds: float, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    """Tick every 20 ms against absolute deadlines; report lateness in ms."""
    late, start = [], time.monotonic()
    tick = start
    while tick - start < seconds:
        tick += 0.02
        delay = tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        late.append((time.monotonic() - tick) * 1000)
    late.sort()
    queue.put({"median_ms": round(statistics.median(late), 2),
               "p99_ms": round(late[int(len(late) * 0.99)], 2), "max_ms": round(late[-1], 2)})


def probe(seconds: float) -> tuple[mp.Process, mp.Queue]:  # type: ignore[type-arg]
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    p = mp.Process(target=pacing_probe, args=(seconds, q))
    p.start()
    return p, q


def renderer_factory(cache: Path, nice: int = 0):  # type: ignore[no-untyped-def]
    def make() -> PromptRenderer:
        return PromptRenderer(load_catalog(), PromptCache(cache), EspeakWorker(nice=nice),
                              Voice(), hotline="12345政务服务便民热线", city="示例市")
    return make


def main() -> None:
    OUT.mkdir(exist_ok=True)
    cache = OUT / "prompt-cache"
    shutil.rmtree(cache, ignore_errors=True)
    results: dict[str, object] = {}
    renderer = renderer_factory(cache)()
    renderer.render("thanks")  # start the worker
    fixed = [pid for pid, p in renderer.catalog.prompts.items() if p.fixed]
    cold, warm = [], []
    for pid in fixed:
        start = time.perf_counter()
        renderer.render(pid)
        cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        renderer.render(pid)
        warm.append(time.perf_counter() - start)
    renderer.worker.close()
    results["fixed_prompt_cold_ms_median"] = round(1000 * statistics.median(cold), 1)
    results["fixed_prompt_cached_ms_median"] = round(1000 * statistics.median(warm), 2)

    n = int(os.environ.get("HUIFANG_BENCH_CALLBACKS", "10000"))
    today, base = date(2026, 11, 22), datetime(2026, 11, 1, 9)
    make = renderer_factory(cache, nice=10)()
    jobs = []
    for i in range(n):
        category, summaries = TOPICS[i % len(TOPICS)]
        fields = make.ticket_fields(received_at=base + timedelta(hours=i % 500), today=today,
                                    summary=f"{summaries[i % len(summaries)]}，第{i}号",
                                    category=category)
        jobs.append((f"cb{i}", "greeting", fields))
    make.worker.close()
    idle_proc, idle_q = probe(10)
    idle_proc.join()
    results["pacing_idle"] = idle_q.get()
    busy_proc, busy_q = probe(10)
    start = time.perf_counter()
    batch = render_many(renderer_factory(cache, nice=10), jobs, workers=2)
    seconds = time.perf_counter() - start
    busy_proc.join()
    results["pacing_during_preparation"] = busy_q.get()
    results["callbacks"] = n
    results["prepare_s"] = round(seconds, 1)
    results["prepare_per_callback_ms"] = round(1000 * seconds / n, 1)
    results["failed"] = len(batch.failed)
    results["projected_10000_min"] = round(seconds / n * 10000 / 60, 1)
    print(json.dumps(results, ensure_ascii=False, indent=2))
    (OUT / "prompts-results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
