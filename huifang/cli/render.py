"""Terminal rendering with rich: tables in Chinese with English hints."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from store.enums import (
    RESOLVED_LABELS,
    SATISFACTION_LABELS,
    SOURCE_LABELS,
    TICKET_TYPE_LABELS,
    EvaluationSource,
    Resolved,
    Satisfaction,
    TicketType,
)
from store.importing.base import Outcome
from store.importing.runner import ImportResult
from store.summary import StoreSummary

STATUS_LABELS = {"received": "已受理", "dispatched": "已派单", "signed": "已签收",
                 "closed": "已办结", "reopened": "退回重办"}
OUTCOME_LABELS = {Outcome.INSERTED: "新增 inserted", Outcome.UPDATED: "更新 updated",
                  Outcome.UNCHANGED: "未变 unchanged", Outcome.STALE: "旧数据 stale",
                  Outcome.REJECTED: "拒收 rejected"}


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def print_summary(console: Console, s: StoreSummary) -> None:
    table = Table(title="工单库概况 store summary", show_header=False)
    table.add_column("项目")
    table.add_column("数量", justify="right")
    for group, n in sorted(s.units_by_group.items()):
        table.add_row(f"承办单位·{group}", str(n))
    table.add_row("工单 tickets", str(s.tickets))
    for status, label in STATUS_LABELS.items():
        table.add_row(f"  {label}", str(s.tickets_by_status.get(status, 0)))
    for kind in TicketType:
        if kind.value in s.tickets_by_type:
            table.add_row(f"  {TICKET_TYPE_LABELS[kind]}", str(s.tickets_by_type[kind.value]))
    table.add_row("办结次数 closures", str(s.closures))
    table.add_row("  其中退回重办 reopened", str(s.reopened_closures))
    table.add_row("来电人 callers", str(s.callers))
    table.add_row("  多次来电 repeat callers", str(s.repeat_callers))
    evaluations = sum(s.evaluations_by_source.values())
    share = _pct(evaluations, s.closures)
    table.add_row("回访结果 evaluations", f"{evaluations} ({share} of closures)")
    for source, n in s.evaluations_by_source.items():
        table.add_row(f"  {SOURCE_LABELS.get(EvaluationSource(source), source)}", str(n))
    for answer in Resolved:
        n = s.resolved.get(answer.value, 0)
        table.add_row(f"  {RESOLVED_LABELS[answer]}", f"{n} ({_pct(n, evaluations)})")
    for level in Satisfaction:
        n = s.satisfaction.get(level.value, 0)
        table.add_row(f"  {SATISFACTION_LABELS[level]}", f"{n} ({_pct(n, evaluations)})")
    table.add_row("剔除 exclusions", str(s.exclusions))
    console.print(table)
    if s.imports:
        imports = Table(title="最近导入 recent imports")
        for header in ("#", "类型", "文件", "状态", "写入", "拒收"):
            imports.add_column(header)
        for row in s.imports:
            imports.add_row(*(str(v) for v in row))
        console.print(imports)


def print_import_result(console: Console, result: ImportResult, shown: int) -> None:
    title = f"导入 {result.kind}: {result.source.name} (import #{result.import_id})"
    table = Table(title=title, show_header=False)
    table.add_column("结果")
    table.add_column("行数", justify="right")
    for outcome, label in OUTCOME_LABELS.items():
        if result.counts[outcome] or outcome in (Outcome.INSERTED, Outcome.REJECTED):
            table.add_row(label, str(result.counts[outcome]))
    console.print(table)
    if result.rows_read == 0:
        console.print("[yellow]the file has a header but no data rows[/]")
    if result.encoding:
        console.print(f"encoding: {result.encoding}", highlight=False)
    if result.ignored_headers:
        console.print(f"ignored columns: {', '.join(result.ignored_headers)}", highlight=False)
    for error in result.errors[:shown]:
        console.print(f"  [red]✗[/] {error}", highlight=False)
    if result.warned:
        console.print(f"[yellow]{result.warned} rows imported with warnings:[/]")
    for warning in result.warnings[:shown]:
        console.print(f"  [yellow]![/] {warning}", highlight=False)
    if result.warned > shown:
        console.print(f"  … {result.warned - shown} more", highlight=False)
    if result.rejected > shown:
        console.print(f"  … {result.rejected - shown} more rejected rows", highlight=False)
    if result.rejects_path:
        console.print(f"rejected rows written to {result.rejects_path}", highlight=False)
    if result.status == "rejected":
        console.print("[bold red]--strict: nothing was written because some rows are bad[/]")


def import_line(result: ImportResult) -> str:
    """One line per import, for the demo."""
    counts = ", ".join(f"{OUTCOME_LABELS[o].split()[1]} {n}" for o, n in result.counts.items()
                       if n)
    line = f"  {result.kind:<12} {result.source.name:<20} {counts or 'no rows'}"
    if result.rejects_path:
        line += f"  → {result.rejects_path}"
    return line
