"""`huifang report` and `huifang explain`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from huifang.cli.app import App, fail, out, pass_app
from scoring.explain import explain_rows
from scoring.exports import write_report
from scoring.periods import Period, PeriodError, parse_period
from scoring.report import Report, build_report
from scoring.rules import ScoringRules
from store.models import HOTLINE_TZ

CARD_LABELS = {"red": "[bold white on red] 红牌 [/]", "yellow": "[black on yellow] 黄牌 [/]"}


def hotline_now() -> datetime:
    """China time, naive, as the store keeps it (the report's 生成时间 too)."""
    return datetime.now(HOTLINE_TZ).replace(tzinfo=None, microsecond=0)


def rules_of(app: App) -> ScoringRules:
    return ScoringRules(**app.settings.scoring.model_dump())


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def print_ranking(console: Console, report: Report) -> None:
    for group in report.groups():
        table = Table(title=f"{report.period.label} {group} 排名 ranking")
        for header in ("名次", "单位", "回访数", "响应率", "解决率", "满意率", "综合得分",
                       "得分", "牌", "说明"):
            table.add_column(header, justify="right" if header not in ("单位", "说明") else
                             "left")
        for u in report.units:
            if u.info.group != group:
                continue
            r = u.rates
            table.add_row(str(u.rank or "-"), u.info.name, str(u.counts.evaluated),
                          pct(r.response_rate), pct(r.resolution_rate),
                          pct(r.satisfaction_rate),
                          "-" if r.composite is None else f"{r.composite:.2f}",
                          f"{r.score_total:g}", CARD_LABELS.get(u.card or "", ""),
                          u.unranked_reason or "")
        console.print(table)


def write_outputs(report: Report, paths: tuple[Path, ...]) -> None:
    for path in paths:
        try:
            write_report(report, path)
        except ValueError as exc:
            fail(str(exc))
        out.print(f"wrote {path}", highlight=False)


def period_option(text: str) -> Period:
    try:
        return parse_period(text)
    except PeriodError as exc:
        fail(str(exc))


@click.command("report")
@click.option("--period", "period_text", required=True,
              help="2026-10 (month), 2026-W44 (ISO week), 2026-10-31 (day) or a range "
                   "2026-10-01..2026-10-15.")
@click.option("--out", "outputs", multiple=True, type=click.Path(path_type=Path),
              help="Write the report: report.json, .xlsx, .html or .pdf (repeatable).")
@click.option("--group", help="Only this ranking group.")
@click.option("--unit", help="Only this unit and the units below it.")
@pass_app
def report_command(app: App, period_text: str, outputs: tuple[Path, ...], group: str | None,
                   unit: str | None) -> None:
    """Rates, rankings and cards for a period, in the terminal and as files."""
    period = period_option(period_text)
    try:
        report = build_report(app.engine(), period, rules=rules_of(app),
                              now=hotline_now(), group=group,
                              unit=unit)
    except KeyError as exc:
        fail(str(exc.args[0]))
    print_ranking(out, report)
    write_outputs(report, outputs)


@click.command("explain")
@click.option("--unit", required=True, help="The unit (its descendants' tickets included).")
@click.option("--period", "period_text", required=True)
@pass_app
def explain_command(app: App, unit: str, period_text: str) -> None:
    """List the tickets behind each of a unit's numbers: which count where, and why not."""
    period = period_option(period_text)
    rules = rules_of(app)
    try:
        sections = explain_rows(app.engine(), period, unit, rules=rules,
                                now=hotline_now())
    except KeyError as exc:
        fail(str(exc.args[0]))
    for title, headers, rows in sections:
        table = Table(title=title)
        for header in headers:
            table.add_column(header)
        for row in rows:
            table.add_row(*(("" if v is None else str(v)) for v in row))
        out.print(table)
