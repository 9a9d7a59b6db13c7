"""`huifang reasons transcribe` (the background job's work, now) and `huifang reasons
categorize` (sort every stored transcript again after the category table changed)."""

from __future__ import annotations

from collections import Counter

import click
from rich.progress import Progress

from huifang.cli.app import App, fail, out, pass_app
from huifang.reasons import BatchResult, run_batch, transcriber_from
from huifang.service import local_now
from ivr.recognition import RecognitionError
from scoring.reasons import categorize
from store import reasons as store
from store.enums import ReasonStatus
from store.reasons import STATUS_LABELS

BATCH = 20


@click.group()
def reasons() -> None:
    """The citizen's reasons in words: transcribe them now, sort them into categories."""


@reasons.command("transcribe")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=1000, show_default=True,
              help="Transcribe at most this many reasons.")
@click.option("--again", is_flag=True,
              help="Also the failed reasons that used up their tries ([reasons] max_tries).")
@pass_app
def transcribe(app: App, limit: int, again: bool) -> None:
    """Transcribe the reasons that wait for a transcript now (the service does it in the
    background every [reasons] every_s)."""
    settings = app.settings
    engine = app.engine()
    if again:
        out.print(f"{store.try_again(engine)} 条转写失败的原因将重新尝试 failed reasons "
                  "tried again", highlight=False, soft_wrap=True)
    waiting = min(limit, store.backlog(engine, settings.reasons.max_tries))
    if not waiting:
        out.print("没有待转写的原因 nothing to transcribe", highlight=False, soft_wrap=True)
        return
    try:
        transcriber = transcriber_from(settings)
    except RecognitionError as exc:
        fail(f"转写引擎不可用 no engine: {exc}")
    results: list[BatchResult] = []
    try:
        with Progress(console=out, transient=True) as bar:
            task = bar.add_task("转写原因 transcribing", total=waiting)

            def each(r: BatchResult) -> None:
                results.append(r)
                bar.update(task, advance=1, description=f"转写原因 attempt {r.todo.attempt_id}"
                           f" {STATUS_LABELS[r.result.status]}")

            while len(results) < limit:
                got = run_batch(engine, transcriber, settings, local_now,
                                min(BATCH, limit - len(results)), each)
                if not got:
                    break
    finally:
        transcriber.close()
    if not results:
        out.print(f"现在没有可转写的原因 nothing to transcribe now: {waiting} 条转写失败的原因"
                  f"将在重试间隔（{settings.reasons.retry_minutes:g} 分钟）后再试，或用 --again",
                  highlight=False, soft_wrap=True)
        return
    _summary(results)


def _summary(results: list[BatchResult]) -> None:
    statuses = Counter(r.result.status for r in results)
    out.print(f"转写 transcribed {len(results)}: " + "，".join(
        f"{STATUS_LABELS[s]} {statuses[s]}" for s in ReasonStatus if statuses[s]),
        highlight=False, soft_wrap=True)
    categories = Counter(r.result.category for r in results
                         if r.result.status is ReasonStatus.DONE)
    if categories:
        out.print("分类 categories: " + "，".join(
            f"{c} {n}" for c, n in categories.most_common()), highlight=False, soft_wrap=True)
    for r in results:
        if r.result.status is not ReasonStatus.DONE:
            word = "转写失败" if r.result.status is ReasonStatus.FAILED else "未听清"
            out.print(f"  attempt {r.todo.attempt_id} (call {r.todo.call_id}): {word}："
                      f"{r.result.error}", highlight=False, markup=False, soft_wrap=True)


@reasons.command("categorize")
@pass_app
def categorize_command(app: App) -> None:
    """Sort every stored transcript into the categories of [reasons] categories again."""
    table = app.settings.reasons.categories
    engine = app.engine()
    counts: Counter[str] = Counter()
    changed = 0
    for batch in store.transcripts(engine):
        new = {attempt_id: categorize(text, table) for attempt_id, text, _ in batch}
        counts.update(new.values())
        changed += store.set_categories(engine, new)
    out.print(f"已重新分类 {sum(counts.values())} 条原因，其中 {changed} 条类别改变 "
              f"re-sorted, {changed} changed", highlight=False, soft_wrap=True)
    for category, n in counts.most_common():
        out.print(f"  {category} {n}", highlight=False, soft_wrap=True)
