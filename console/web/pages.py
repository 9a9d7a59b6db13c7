"""The dashboard, the rankings, ticket search and history, the audit log and the
do-not-call list."""

from __future__ import annotations

import csv
import io
import json
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, select

from console.web.app import ConsoleWeb, Ctx, Handler
from console.web.http import Response, redirect, with_query
from scoring.periods import Period, PeriodError, parse_period
from scoring.report import Report, build_report
from scoring.rules import DEFINITIONS_ZH, ScoringRules
from store import audit, campaign, review
from store.audit import AuditFilter, ReasonRequired
from store.enums import EvaluationSource, Resolved, Satisfaction
from store.history import ticket_history
from store.models import Evaluation, Ticket
from store.phones import mask_phone
from store.search import search_tickets

_charts = threading.Lock()  # matplotlib's pyplot is not thread-safe


# -- dashboard -------------------------------------------------------------------------
def dashboard(ctx: Ctx) -> Response:
    engine, now = ctx.web.engine, ctx.now
    status = campaign.status(engine, now)
    midnight = datetime.combine(now.date(), time(0))
    with engine.connect() as conn:
        answers = conn.execute(
            select(Evaluation.resolved, Evaluation.satisfaction, func.count())
            .where(Evaluation.source == EvaluationSource.AUTO,
                   Evaluation.evaluated_at >= midnight)
            .group_by(Evaluation.resolved, Evaluation.satisfaction)).all()
    resolved = {"yes": 0, "no": 0}
    satisfied = {"happy": 0, "unhappy": 0}
    for r, s, n in answers:
        if r != Resolved.UNKNOWN:
            resolved["yes" if r == Resolved.YES else "no"] += n
        if s != Satisfaction.UNKNOWN:
            satisfied["unhappy" if s == Satisfaction.UNSATISFIED else "happy"] += n

    def rate(good: int, bad: int) -> str:
        return f"{100 * good / (good + bad):.1f}%" if good + bad else "-"

    live = [n for n in status.nodes if (now - n[2]) <= timedelta(minutes=2)]
    in_use = sum(n[3] for n in live)
    channels = ctx.web.settings.trunk.max_channels * max(1, len(live))
    done = sum(v for k, v in status.callbacks.items() if k in ("done", "review", "cancelled"))
    total = sum(status.callbacks.values())
    return ctx.page("dashboard.html.j2", cstatus=status,
                    resolution=rate(resolved["yes"], resolved["no"]),
                    satisfaction=rate(satisfied["happy"], satisfied["unhappy"]),
                    answered=sum(n for _r, _s, n in answers), in_use=in_use,
                    channels=channels, live=live, done=done, total=total,
                    queue=review.queue(engine, review.QueueFilter(), limit=0).total,
                    ok=ctx.info.arg("ok"))


def campaign_switch(paused: bool) -> Handler:
    def handler(ctx: Ctx) -> Response:
        reason = ctx.info.field("reason") or ("暂停" if paused else "恢复")
        with ctx.web.engine.begin() as conn:
            campaign.set_paused_in(conn, paused, ctx.actor, ctx.now)
            audit.record(conn, at=ctx.now, actor=ctx.actor,
                         action="campaign_pause" if paused else "campaign_resume",
                         target="campaign", reason=reason, before={"paused": not paused},
                         after={"paused": paused}, address=ctx.info.address)
        return redirect(with_query("/dashboard", ok="已暂停" if paused else "已恢复"))
    handler.__name__ = "pause" if paused else "resume"
    return handler


# -- rankings --------------------------------------------------------------------------
def _period(ctx: Ctx) -> Period:
    text = ctx.info.arg("period")
    try:
        return parse_period(text) if text else parse_period(f"{ctx.now:%Y-%m}")
    except PeriodError:
        return parse_period(f"{ctx.now:%Y-%m}")


def report_of(ctx: Ctx, period: Period, *, full: bool = False) -> tuple[Report, datetime]:
    """The period's report; `full` with the trends the downloads chart (the page shows
    none, and they are six of the report's eight period queries)."""
    return ctx.web.cached(*report_job(ctx.web, period, full))


def report_job(web: ConsoleWeb, period: Period, full: bool = False
               ) -> tuple[tuple[str, str], Callable[[], Report]]:
    rules = ScoringRules(**web.settings.scoring.model_dump())
    return (("report-full" if full else "report", period.label),
            lambda: build_report(web.engine, period, rules=rules, now=web.clock(),
                                 with_trends=full))


def _recent_months(now: datetime, count: int = 12) -> list[str]:
    year, month, labels = now.year, now.month, []
    for _ in range(count):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return labels


def rankings(ctx: Ctx) -> Response:
    period = _period(ctx)
    report, at = report_of(ctx, period)
    return ctx.page("rankings.html.j2", report=report, computed_at=at, period=period,
                    periods=_recent_months(ctx.now), definitions=DEFINITIONS_ZH)


def chart(ctx: Ctx) -> Response:
    from scoring.charts import composite_chart, png_bytes  # noqa: PLC0415

    report, _ = report_of(ctx, _period(ctx))
    group = ctx.info.arg("group")
    if group not in report.groups():
        return Response(404, b"no such group", "text/plain")
    with _charts:
        body = png_bytes(composite_chart(report, group))
    return Response(200, body, "image/png")


def download(kind: str) -> Handler:
    def handler(ctx: Ctx) -> Response:
        from console.reportcmd import write_outputs  # noqa: PLC0415

        report, _ = report_of(ctx, _period(ctx), full=True)
        with tempfile.TemporaryDirectory() as tmp, _charts:
            path = Path(tmp) / f"report-{report.period.label}.{kind}"
            write_outputs(report, (path,))
            body = path.read_bytes()
        types = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                 "pdf": "application/pdf"}
        return Response(200, body, types[kind], headers=[(
            "Content-Disposition", f'attachment; filename="{path.name}"')])
    handler.__name__ = f"download_{kind}"
    return handler


# -- tickets ---------------------------------------------------------------------------
def tickets(ctx: Ctx) -> Response:
    q = ctx.info.arg("q")
    hits = search_tickets(ctx.web.engine, q, ctx.web.settings.phone.default_area_code)
    return ctx.page("tickets.html.j2", q=q, hits=hits)


def ticket_page(ctx: Ctx, ticket_no: str) -> Response:
    engine = ctx.web.engine
    with engine.connect() as conn:
        t = conn.execute(select(Ticket).where(Ticket.ticket_no == ticket_no)).one_or_none()
        if t is None:
            return ctx.page("error.html.j2", 404, title="未找到", message="没有这张工单。")
        history = ticket_history(conn, ticket_no)
        trail = audit.for_ticket(conn, t.id)
    return ctx.page("ticket.html.j2", t=t, history=history, trail=trail,
                    callbacks=review.callbacks_of_ticket(engine, ticket_no))


# -- audit -----------------------------------------------------------------------------
def _audit_filter(ctx: Ctx) -> AuditFilter:
    a = ctx.info.arg

    def day(text: str, plus: int = 0) -> datetime | None:
        try:
            return datetime.fromisoformat(text) + timedelta(days=plus) if text else None
        except ValueError:
            return None
    return AuditFilter(actor=a("actor")[:100], action=a("action")[:40],
                       target=a("target")[:200], since=day(a("since")),
                       until=day(a("until"), 1))


def audit_page(ctx: Ctx) -> Response:
    f = _audit_filter(ctx)
    size = ctx.web.settings.console.page_size
    page = int(ctx.info.arg("page")) if ctx.info.arg("page").isdigit() else 1
    rows, total = audit.entries(ctx.web.engine, f, limit=size, offset=(page - 1) * size)
    args = {k: ctx.info.arg(k) for k in ("actor", "action", "target", "since", "until")}
    return ctx.page("audit.html.j2", rows=rows, total=total, f=f, args=args, page=page,
                    pages=max(1, -(-total // size)), actions=audit.actions(ctx.web.engine))


def audit_csv(ctx: Ctx) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["编号", "时间", "操作人", "操作", "对象", "工单编号", "修改前", "修改后",
                     "原因", "来源地址"])
    for r in audit.stream(ctx.web.engine, _audit_filter(ctx)):
        writer.writerow([r.id, f"{r.at:%Y-%m-%d %H:%M:%S}", r.actor, r.action, r.target,
                         r.ticket_no or "",
                         json.dumps(r.before, ensure_ascii=False) if r.before else "",
                         json.dumps(r.after, ensure_ascii=False) if r.after else "",
                         r.reason, r.address or ""])
    body = ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel reads it as UTF-8
    return Response(200, body, "text/csv; charset=utf-8", headers=[(
        "Content-Disposition", f'attachment; filename="audit-{ctx.now:%Y%m%d}.csv"')])


# -- do-not-call -----------------------------------------------------------------------
def dnc_page(ctx: Ctx, error: str = "", status: int = 200) -> Response:
    rows = [(entry_id, mask_phone(p), reason, by, at)
            for entry_id, p, reason, by, at in campaign.do_not_call_entries(ctx.web.engine)]
    return ctx.page("dnc.html.j2", status, rows=rows, error=error, ok=ctx.info.arg("ok"))


class _NotListed(Exception):
    pass


def dnc_remove(ctx: Ctx) -> Response:
    entry, reason = ctx.info.field("entry"), ctx.info.field("reason")
    try:
        with ctx.web.engine.begin() as conn:
            phone = campaign.remove_do_not_call_entry(conn, int(entry)) \
                if entry.isdigit() else None
            if phone is None:
                raise _NotListed
            audit.record(conn, at=ctx.now, actor=ctx.actor, action="do_not_call_remove",
                         target=mask_phone(phone), reason=reason,
                         before={"do_not_call": True}, after={"do_not_call": False},
                         address=ctx.info.address)
    except ReasonRequired:
        return dnc_page(ctx, "请填写原因。", 400)
    except _NotListed:
        return dnc_page(ctx, "该号码不在免打扰名单中。", 400)
    return redirect(with_query("/dnc", ok=f"已移除 {mask_phone(phone)}"))
