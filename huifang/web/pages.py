"""The dashboard, the rankings, ticket search and history, the audit log and the
do-not-call list."""

from __future__ import annotations

import csv
import io
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from dialer.processes import alive
from huifang.web import spotchecks
from huifang.web.app import PHONE_SEARCHES, ConsoleWeb, Ctx, Handler
from huifang.web.http import (
    FIRST_YEAR,
    LAST_YEAR,
    BadInput,
    Response,
    day,
    moment,
    page_number,
    redirect,
    small_int,
    with_query,
)
from huifang.web.labels import actor, change, label
from scoring.charts import ranked_in
from scoring.exports import write_report
from scoring.notes import definition_lines, thin_note
from scoring.periods import Period, PeriodError, parse_period
from scoring.report import Report, build_report
from scoring.rules import DEFINITION_TERMS, DEFINITIONS_ZH, ScoringRules
from store import audit, campaign, review
from store.audit import AuditFilter, ReasonRequired
from store.campaign_models import CallTurn, DialerNode
from store.console_models import AuditEntry
from store.enums import EvaluationSource, Resolved, Satisfaction
from store.history import ticket_history
from store.models import Evaluation, Exclusion, ImportBatch, Ticket, TicketEvent
from store.phones import mask_phone
from store.search import phone_query, search_tickets
from store.tablefiles import inert
from store.workdays import unknown_years

_charts = threading.Lock()  # matplotlib's pyplot is not thread-safe


# -- dashboard -------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    """A dialer process as the dashboard shows it."""

    name: str
    host: str
    calls: int
    seen_at: datetime
    alive: bool
    state: str  # in Chinese: 运行中, 失联, 已停止, 进程已退出


def nodes(ctx: Ctx) -> list[Node]:
    """The dialer processes of the last day. Alive: marked running, its heartbeat
    fresh (every lease/3 seconds), and, on this host, its process still there."""
    heartbeat = max(1.0, ctx.web.settings.campaign.lease_s / 3)
    fresh = max(timedelta(minutes=2), timedelta(seconds=2.5 * heartbeat))
    here = socket.gethostname()
    with ctx.web.engine.connect() as conn:
        rows = conn.execute(select(DialerNode).where(
            DialerNode.seen_at >= ctx.now - timedelta(days=1)).order_by(DialerNode.node)).all()
    out = []
    for r in rows:
        gone = r.host == here and r.pid is not None and not alive(int(r.pid), r.process_start)
        if r.state != "running":
            state = "已停止" if r.state == "stopped" else "进程已退出"
        elif gone:
            state = "进程已退出"
        elif ctx.now - r.seen_at > fresh:
            state = f"失联（{int((ctx.now - r.seen_at).total_seconds() // 60)} 分钟无心跳）"
        else:
            state = "运行中"
        out.append(Node(r.node, r.host or "", r.calls_in_progress, r.seen_at,
                        state == "运行中", state))
    return out


def calendar_notice(today: date, days: int = 60) -> str:
    """A warning while the coming `days` reach a year whose holidays nobody knows."""
    years = unknown_years(today, days)
    if not years:
        return ""
    listed = "、".join(str(y) for y in years)
    return (f"节假日安排未知：未来 {days} 天涉及 {listed} 年，chinese-calendar 和配置的 "
            "[calendar] 都没有该年的放假安排，工作日暂按周一至周五计算"
            "（截止时间和呼叫日可能不准）。"
            f"请在 huifang.toml 的 [calendar] 中填写 {years[0]} 年的放假与调休安排，或升级 "
            "chinese-calendar。")


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

    dialers = nodes(ctx)
    live = [n for n in dialers if n.alive]
    in_use = sum(n.calls for n in live)
    channels = ctx.web.settings.trunk.max_channels * len(live)
    done = sum(v for k, v in status.callbacks.items() if k in ("done", "review", "cancelled"))
    total = sum(status.callbacks.values())
    queue = review.queue(engine, review.QueueFilter(), limit=0)
    return ctx.page("dashboard.html.j2", cstatus=status,
                    resolution=rate(resolved["yes"], resolved["no"]),
                    satisfaction=rate(satisfied["happy"], satisfied["unhappy"]),
                    answered=sum(n for _r, _s, n in answers), in_use=in_use,
                    channels=channels, live=live, dialers=dialers, done=done, total=total,
                    queue=queue.total, by_kind=queue.by_kind, kinds=review.KIND_LABELS,
                    calendar=calendar_notice(now.date()), ok=ctx.info.arg("ok"),
                    accuracy=spotchecks.dashboard_figures(ctx))


def campaign_switch(paused: bool) -> Handler:
    def handler(ctx: Ctx) -> Response:
        reason = ctx.info.field("reason") or ("暂停" if paused else "恢复")
        with ctx.web.engine.begin() as conn:
            campaign.set_paused_in(conn, paused, ctx.actor, ctx.now)
            audit.record(conn, at=ctx.now, actor=ctx.actor,
                         action="campaign_pause" if paused else "campaign_resume",
                         target="campaign", reason=reason, before={"paused": not paused},
                         after={"paused": paused}, address=ctx.info.address)
        return redirect(with_query("/dashboard", ok="paused" if paused else "resumed"))
    handler.__name__ = "pause" if paused else "resume"
    return handler


# -- rankings --------------------------------------------------------------------------
PERIOD_FORMS = ("期间的写法：月 2026-11，周 2026-W45，日 2026-11-03，"
                "或起止日期 2026-11-01..2026-11-15")


def _period(ctx: Ctx) -> Period:
    """The period asked for (this month when none); one that cannot be read, or lies
    outside the years a filter may name, is a 400 that says what forms are accepted."""
    text = ctx.info.arg("period")
    if not text:
        return parse_period(f"{ctx.now:%Y-%m}")
    try:
        period = parse_period(text)
    except PeriodError as exc:
        raise BadInput(f"无法识别的期间。{PERIOD_FORMS}。") from exc
    except (ValueError, OverflowError) as exc:  # 9999-12 ends in year 10000
        raise BadInput(f"期间超出范围。{PERIOD_FORMS}。") from exc
    if not (period.start.year >= FIRST_YEAR and period.end.year <= LAST_YEAR + 1):
        raise BadInput(f"期间应在 {FIRST_YEAR} 至 {LAST_YEAR} 年之间。{PERIOD_FORMS}。")
    return period


def report_of(ctx: Ctx, period: Period, *, full: bool = False) -> tuple[Report, datetime]:
    """The period's report; `full` with the trends the downloads chart (the page shows
    none, and they are six of the report's eight period queries)."""
    return ctx.web.cached(*report_job(ctx.web, period, full))


def report_job(web: ConsoleWeb, period: Period, full: bool = False
               ) -> tuple[tuple[str, str], Callable[[], Report], Callable[[], object]]:
    rules = ScoringRules(**web.settings.scoring.model_dump())
    return (("report-full" if full else "report", period.label),
            lambda: build_report(web.engine, period, rules=rules, now=web.clock(),
                                 with_trends=full),
            lambda: store_version(web.engine))


VERSIONED = (TicketEvent, CallTurn, ImportBatch, AuditEntry, Exclusion, Evaluation)


def store_version(engine: Engine) -> tuple[object, ...]:
    """A cheap reading of everything a report counts: the newest row of each table that
    every change writes to (an import's batch, a dialer's turn, an event, a person's
    audit entry). A computed page whose reading differs is computed again at once: a
    report computed before an import or a night of calls is never shown as current."""
    with engine.connect() as conn:
        return tuple(conn.execute(select(*(
            select(func.max(model.id)).scalar_subquery() for model in VERSIONED))).one())


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
                    periods=_recent_months(ctx.now), note=thin_note(report),
                    ranked={g: bool(ranked_in(report, g)) for g in report.groups()},
                    definitions=definition_lines(DEFINITION_TERMS, DEFINITIONS_ZH))


def chart(ctx: Ctx) -> Response:
    from scoring.charts import composite_chart, png_bytes  # noqa: PLC0415

    report, _ = report_of(ctx, _period(ctx))
    group = ctx.info.arg("group")
    if group not in report.groups() or not ranked_in(report, group):
        return ctx.page("error.html.j2", 404, title="未找到",
                        message="该期间这个考核分组没有已排名的单位，没有图表。")
    with _charts:
        body = png_bytes(composite_chart(report, group))
    return Response(200, body, "image/png")


def download(kind: str) -> Handler:
    def handler(ctx: Ctx) -> Response:
        report, _ = report_of(ctx, _period(ctx), full=True)
        with tempfile.TemporaryDirectory() as tmp, _charts:
            path = Path(tmp) / f"report-{report.period.label}.{kind}"
            write_report(report, path)
            body = path.read_bytes()
        types = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                 "pdf": "application/pdf"}
        return Response(200, body, types[kind], headers=[(
            "Content-Disposition", f'attachment; filename="{path.name}"')])
    handler.__name__ = f"download_{kind}"
    return handler


# -- tickets ---------------------------------------------------------------------------
def tickets(ctx: Ctx) -> Response:
    """Search by ticket number, summary words, or phone. A masked number must not be
    recoverable by searching: a viewer may search a whole number only, a supervisor or
    admin also its last 4-6 digits; every phone search is audited (the number masked,
    the hits counted) and spends one of the account's PHONE_SEARCHES an hour."""
    q = ctx.info.arg("q")
    area = ctx.web.settings.phone.default_area_code
    suffix = ctx.can("supervisor")
    phone = phone_query(q, area, suffix=suffix)
    error, status = "", 200
    if phone is not None:
        key = f"user:{ctx.actor}"
        wait = ctx.web.phone_searches.locked_for(key)
        if wait is not None:
            minutes = max(1, int(wait.total_seconds() // 60) + 1)
            error, status = (f"按号码查询每小时最多 {PHONE_SEARCHES} 次，请 {minutes} 分钟后再试"
                             "（按工单编号、诉求内容仍可查询）。"), 429
            phone = None
        else:
            ctx.web.phone_searches.counted(key)
    hits = search_tickets(ctx.web.engine, q, area, by_phone=phone is not None,
                          by_suffix=suffix)
    if phone is not None:
        with ctx.web.engine.begin() as conn:
            audit.record(conn, at=ctx.now, actor=ctx.actor, action="search_phone",
                         target=phone.masked, reason=phone.how,
                         after={"hits": len(hits)}, address=ctx.info.address)
    return ctx.page("tickets.html.j2", status, q=q, hits=hits, error=error, suffix=suffix)


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
    since, until = day(a("since"), "起始日期"), day(a("until"), "截止日期")
    return AuditFilter(actor=a("actor")[:100], action=a("action")[:40],
                       target=a("target")[:200],
                       since=moment(since) if since else None,
                       until=moment(until) + timedelta(days=1) if until else None)


def audit_page(ctx: Ctx) -> Response:
    f = _audit_filter(ctx)
    size = ctx.web.settings.console.page_size
    page = page_number(ctx.info.arg("page"))
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
        # a reason, a name, a target is people's text: never a formula in Excel
        writer.writerow([inert(v) for v in (
            r.id, f"{r.at:%Y-%m-%d %H:%M:%S}", actor(r.actor), label(r.action), r.target,
            r.ticket_no or "", change(r.before), change(r.after), r.reason, r.address or "")])
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
    entry, reason = small_int(ctx.info.field("entry")), ctx.info.field("reason")
    try:
        with ctx.web.engine.begin() as conn:
            phone = campaign.remove_do_not_call_entry(conn, entry) \
                if entry is not None else None
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
    return redirect(with_query("/dnc", ok="dnc_removed"))
