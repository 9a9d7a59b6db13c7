"""抽检 in the console (supervisors): the drawn calls, the blind check of one (the recording,
the ticket and the reason's words, the two questions; the machine's answers and the
turns only after the check is stored), and the machine's measured accuracy."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from huifang.spot_checks import recent_accuracy
from huifang.web import reasons
from huifang.web.app import Ctx
from huifang.web.http import Response, day, page_number, redirect, with_query
from huifang.web.labels import refusal
from scoring.accuracy import ANSWER_LABELS, QUESTION_LABELS, machine_accuracy, percent
from scoring.periods import parse_period
from store import corrections, review, spot_check_results, spot_checks
from store.audit import ReasonRequired
from store.enums import RESOLVED_LABELS, SATISFACTION_LABELS, Resolved, Satisfaction

log = logging.getLogger(__name__)
STATES = {"": "全部", "todo": "待抽检", "done": "已抽检"}
# the answers a person can give (unknown is no answer)
RESOLVED_CHOICES = {k: v for k, v in RESOLVED_LABELS.items() if k is not Resolved.UNKNOWN}
SATISFACTION_CHOICES = {k: v for k, v in SATISFACTION_LABELS.items()
                        if k is not Satisfaction.UNKNOWN}


def accuracy_view(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures as the pages print them: rates and intervals in percent."""
    def cell(entry: dict[str, Any]) -> dict[str, Any]:
        interval = entry.get("interval")
        return {"checked": entry["checked"], "agreed": entry["agreed"],
                "rate": percent(entry["rate"]) if entry["rate"] is not None else "—",
                "interval": f"{percent(interval[0])}–{percent(interval[1])}"
                if interval else "—", "below": bool(entry.get("below_floor"))}

    rows = []
    for name in ("both", "resolved", "satisfied"):
        rows.append({"name": QUESTION_LABELS[name], "answer": "合计",
                     **cell(figures[name]), "total": True})
        for answer, entry in figures[name].get("by_answer", {}).items():
            rows.append({"name": QUESTION_LABELS[name], "answer": ANSWER_LABELS[answer],
                         **cell(entry), "total": False})
    return {"rows": rows, "alert": bool(figures.get("alert")),
            "floor": percent(figures.get("floor", 0.0)), "both": cell(figures["both"])}


def answer_seeks(turns: list[review.Turn]) -> list[tuple[str, float]]:
    """Where each answer heard by voice starts in the recording, by question: the checker
    jumps to it without learning what the machine made of it (the check is blind)."""
    return [(QUESTION_LABELS.get(t.question, t.question), t.from_s) for t in turns
            if t.source == "heard:speech" and t.from_s is not None
            and t.question in QUESTION_LABELS]


def _filter(ctx: Ctx) -> spot_checks.SpotFilter:
    a = ctx.info.arg
    return spot_checks.SpotFilter(state=a("state") if a("state") in STATES else "",
                                  since=day(a("since")), until=day(a("until")))


def list_page(ctx: Ctx) -> Response:
    f = _filter(ctx)
    size = ctx.web.settings.console.page_size
    page = page_number(ctx.info.arg("page"))
    items, total = spot_checks.listing(ctx.web.engine, f, limit=size, offset=(page - 1) * size)
    section = ctx.web.settings.spot_checks
    period, error = None, ""
    if ctx.info.arg("period"):
        try:
            period = parse_period(ctx.info.arg("period")[:20])
        except ValueError:
            error = "统计期格式不对，应为 2026-11、2026-W48 或 2026-11-27。"
    if period is None:
        figures = recent_accuracy(ctx.web.engine, section, ctx.now)
        span = f"近 {section.alert_days} 天"
    else:
        figures = machine_accuracy(ctx.web.engine, period.start, period.end,
                                   floor=section.alert_below)
        span = period.label
    filters = {k: ctx.info.arg(k) for k in ("state", "since", "until", "period")
               if ctx.info.arg(k)}
    return ctx.page("spot_checks.html.j2", items=items, total=total, f=f, states=STATES,
                    page=page, pages=max(1, -(-total // size)), filters=filters,
                    accuracy=accuracy_view(figures), days=section.alert_days, span=span,
                    period=period.label if period else "", error=error,
                    ok=ctx.info.arg("ok"))


def check_page(ctx: Ctx, spot_id: int, error: str = "", status: int = 200) -> Response:
    engine = ctx.web.engine
    spot = spot_checks.get(engine, spot_id)
    if spot is None:
        return ctx.page("error.html.j2", 404, title="未找到", message="没有这条抽检。")
    detail = review.call_detail(engine, spot.callback_id)
    if detail is None:
        return ctx.page("error.html.j2", 404, title="未找到", message="没有这条回访任务。")
    attempt = next((a for a in detail.attempts if a.id == spot.attempt_id), None)
    checked = spot.checked_at is not None
    said = reasons.of_call(ctx, detail).get(spot.attempt_id)
    values: dict[str, Any] = {
        "spot": spot, "ticket": detail.ticket, "attempt": attempt, "checked": checked,
        "reason": said, "error": error, "ok": ctx.info.arg("ok"),
        "form": ctx.info.form if error else {},
        "resolved_choices": RESOLVED_CHOICES, "satisfaction_choices": SATISFACTION_CHOICES,
        "next_id": spot_checks.next_todo(engine, spot_id),
        "seeks": answer_seeks(attempt.turns) if attempt is not None else []}
    if checked:  # only now: the machine's answers, the call's turns, the evaluation now
        from huifang.web.review import turn_rows  # noqa: PLC0415 - the call page's own rows

        values.update(resolved_labels=RESOLVED_LABELS, satisfaction_labels=SATISFACTION_LABELS,
                      evaluation=detail.evaluation,
                      rows=turn_rows(attempt.turns) if attempt is not None else [])
    return ctx.page("spot_check.html.j2", status, **values)


def submit(ctx: Ctx, spot_id: int) -> Response:
    """Store the blind check; a checked call only again with 再次处理 and a reason."""
    engine = ctx.web.engine
    spot = spot_checks.get(engine, spot_id)
    if spot is None:
        return ctx.page("error.html.j2", 404, title="未找到", message="没有这条抽检。")
    again = ctx.info.field("again") == "1"
    if spot.checked_at is not None and not again:
        return check_page(ctx, spot_id, status=409, error=(
            f"该条已由 {spot.checked_by} 于 {spot.checked_at:%Y-%m-%d %H:%M} 抽检。如需再次"
            f"抽检，请点开“再次抽检”并填写原因。"))
    try:
        resolved = Resolved(ctx.info.field("resolved"))
        satisfaction = Satisfaction(ctx.info.field("satisfaction"))
        if resolved is Resolved.UNKNOWN or satisfaction is Satisfaction.UNKNOWN:
            raise ValueError("an answer is needed")
    except ValueError:
        return check_page(ctx, spot_id, status=400,
                          error="请对两个问题都作出选择：是否解决、是否满意。")
    note = ctx.info.field("reason")[:500]
    who = corrections.Who(ctx.actor, note, ctx.now, ctx.info.address)
    try:
        result = spot_check_results.check(engine, spot_id, resolved, satisfaction, who,
                                          again=again)
    except spot_check_results.AlreadyChecked as exc:
        return check_page(ctx, spot_id, status=409, error=(
            f"该条已由 {exc.by} 于 {exc.at:%Y-%m-%d %H:%M} 抽检。如需再次抽检，请点开"
            f"“再次抽检”并填写原因。"))
    except ValueError as exc:
        message = "请填写再次抽检的原因。" if isinstance(exc, ReasonRequired) \
            else refusal(str(exc))
        return check_page(ctx, spot_id, status=400, error=message)
    if result.corrected:
        ctx.web.changed()  # the reports count the corrected answer
    log.info("%s: spot check %s (%s)", ctx.actor, spot_id,
             "corrected" if result.corrected else "no change")
    code = "spot_corrected" if result.corrected else (
        "spot_agreed" if result.agreed_resolved and result.agreed_satisfaction
        else "spot_checked")
    return redirect(with_query(f"/spot-checks/{spot_id}", ok=code))


def dashboard_figures(ctx: Ctx) -> dict[str, Any]:
    """The dashboard's card: the last alert_days days, with the alert."""
    section = ctx.web.settings.spot_checks
    view = accuracy_view(recent_accuracy(ctx.web.engine, section, ctx.now))
    view["days"] = section.alert_days
    view["since"] = ctx.now.date() - timedelta(days=section.alert_days - 1)
    return view
