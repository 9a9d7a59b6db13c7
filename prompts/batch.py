"""Rendering many per-ticket prompts ahead of dialling, in the background.

Each thread owns one TTS worker process (run at a lower CPU priority, so live calls keep
the processor); threads only wait on their worker's pipe, the cache is shared and its
writes are atomic. A prompt that fails is reported with its id, the others go on.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from prompts.catalog import PromptError
from prompts.render import PromptRenderer, RenderedPrompt

Job = tuple[str, str, Mapping[str, object]]  # (job id, prompt id, fields)


@dataclass
class BatchResult:
    rendered: dict[str, RenderedPrompt] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def render_many(make_renderer: Callable[[], PromptRenderer], jobs: Iterable[Job],
                workers: int = 2) -> BatchResult:
    todo: queue.Queue[Job | None] = queue.Queue()
    for job in jobs:
        todo.put(job)
    result, lock = BatchResult(), threading.Lock()

    def run() -> None:
        renderer = make_renderer()
        try:
            while True:
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                if job is None:
                    return
                job_id, prompt_id, fields = job
                try:
                    rendered = renderer.render(prompt_id, fields)
                except PromptError as exc:
                    with lock:
                        result.failed[job_id] = str(exc)
                    continue
                with lock:
                    result.rendered[job_id] = rendered
        finally:
            renderer.worker.close()

    with ThreadPoolExecutor(workers, thread_name_prefix="prompt-render") as pool:
        for done in [pool.submit(run) for _ in range(workers)]:
            done.result()  # a renderer that failed to start is said, not swallowed
    return result
