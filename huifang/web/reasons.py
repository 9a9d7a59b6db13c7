"""The citizen's reasons in words on the console: beside the reason's audio on the call
page, a snippet in the review queue, and `/reasons` (原因检索) to search the transcripts.

The words are the recording's content, so they are for those who may hear it
(supervisors and admins); a viewer sees a reason's status and category only. Every
transcript shown is masked (a number the citizen said becomes 138****5678), and a search
may not look for digits: a masked number must not be recoverable by searching for it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from huifang.web.app import Ctx
from huifang.web.http import Response, page_number, small_int
from scoring.reasons import UNSORTED, shown, snippet
from store import reasons, review
from store.enums import ReasonStatus
from store.reasons import MAX_QUERY, STATUS_LABELS, Reason

DIGITS = re.compile(r"[0-9０-９]")


@dataclass(frozen=True)
class ReasonView:
    """A reason as a template shows it: words masked, the failure in words."""

    status: str  # a ReasonStatus value, for the CSS class
    label: str  # 已转写, 未听清, 转写失败, 待转写
    text: str  # masked; empty unless DONE
    snippet: str
    note: str  # "转写失败：…" / "未听清：…" / "" ...
    category: str
    tries: int
    at: datetime | None
    engine: str
    span: tuple[float, float]


def view(r: Reason, snippet_chars: int = 30) -> ReasonView:
    note = ""
    if r.status is ReasonStatus.FAILED:
        note = f"转写失败：{r.error or '原因不明'}"
    elif r.status is ReasonStatus.EMPTY:
        note = f"未听清：{r.error}" if r.error else "未听清"
    elif r.status is ReasonStatus.PENDING and r.tries:
        note = "转写中或等待重试"
    text = shown(r.text) if r.status is ReasonStatus.DONE else ""
    short = snippet(r.text, snippet_chars) if r.status is ReasonStatus.DONE else note
    return ReasonView(str(r.status), STATUS_LABELS[r.status], text, short, note,
                      r.category or "", r.tries, r.at, r.engine or "", r.span)


def of_call(ctx: Ctx, detail: review.CallDetail) -> dict[int, ReasonView]:
    """The call page's reasons, by attempt id."""
    chars = ctx.web.settings.reasons.snippet_chars
    found = reasons.of_attempts(ctx.web.engine, [a.id for a in detail.attempts])
    return {i: view(r, chars) for i, r in found.items()}


def of_queue(ctx: Ctx, callback_ids: list[int]) -> dict[int, ReasonView]:
    """The queue page's snippets, by callback id: only for those who may hear them."""
    if not ctx.can("supervisor"):
        return {}
    chars = ctx.web.settings.reasons.snippet_chars
    found = reasons.latest_of_callbacks(ctx.web.engine, callback_ids)
    return {i: view(r, chars) for i, r in found.items()}


def reasons_page(ctx: Ctx) -> Response:
    """原因检索: transcripts by words, category, status and unit, latest first."""
    a = ctx.info.arg
    q = a("q").strip()
    category = a("category")[:24]
    status = a("status") if a("status") in {s.value for s in ReasonStatus} else ""
    unit = small_int(a("unit"))
    size = ctx.web.settings.console.page_size
    page = page_number(a("page"))
    error, code = "", 200
    if len(q) > MAX_QUERY:
        error, q = f"检索词最多 {MAX_QUERY} 个字，已截断。", q[:MAX_QUERY]
    if DIGITS.search(q):
        error, code, q = "原因检索不能按数字查询（号码不可检索），请输入文字。", 400, ""
    hits, total = reasons.search(ctx.web.engine, q, category=category,
                                 status=ReasonStatus(status) if status else None,
                                 unit_id=unit, limit=size, offset=(page - 1) * size)
    chars = ctx.web.settings.reasons.snippet_chars * 2
    rows = [(h, view(h.reason, chars)) for h in hits]
    filters = {k: v for k, v in (("q", q), ("category", category), ("status", status),
                                 ("unit", str(unit) if unit is not None else ""))
               if v}
    categories = [*ctx.web.settings.reasons.categories, UNSORTED]
    month = ctx.now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    counts = reasons.category_counts(ctx.web.engine, month, ctx.now + timedelta(days=1))
    return ctx.page("reasons.html.j2", code, rows=rows, total=total, q=q,
                    month_counts=list(counts.items()),
                    category=category, wanted=status, unit=unit, error=error,
                    categories=categories, statuses=STATUS_LABELS, units=ctx.web.units(),
                    filters=filters, page=page, pages=max(1, -(-total // size)))
