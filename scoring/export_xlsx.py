"""The XLSX report, as hotline offices work with it: Chinese headers, frozen header rows,
percentages formatted as percentages. Text that came from imports or people (unit names,
categories, exclusion reasons) is written inert: never a formula (`store.tablefiles`)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from scoring.accuracy import sentence
from scoring.bulletins import cards_sentence, comparison_rows
from scoring.export_json import reasons_table, unit_dict
from scoring.notes import definition_lines
from scoring.report import Report
from scoring.rules import DEFINITION_TERMS, DEFINITIONS_ZH, rules_zh
from store.tablefiles import inert

PCT = "0.0%"
RANK_COLUMNS = [("名次", "rank", None), ("单位", "unit", None), ("回访数", "evaluated", None),
                ("响应率", "response_rate", PCT), ("解决率", "resolution_rate", PCT),
                ("满意率", "satisfaction_rate", PCT), ("按时办结率", "on_time_closure_rate", PCT),
                ("综合得分", "composite", "0.00"), ("工单得分", "score_total", "0.0"),
                ("牌", "card", None), ("不排名原因", "unranked_reason", None)]
DETAIL_COLUMNS = [
    ("单位", "unit", None), ("考核分组", "group", None), ("上级单位", "parent", None),
    ("派单数", "dispatched", None), ("到期应签收", "response_due", None),
    ("按时签收", "signed_in_time", None), ("响应率", "response_rate", PCT),
    ("已解决", "resolved", None), ("未解决", "unresolved", None),
    ("解决率", "resolution_rate", PCT), ("满意", "satisfied", None),
    ("基本满意", "basic_satisfied", None), ("不满意", "unsatisfied", None),
    ("满意率", "satisfaction_rate", PCT), ("办结数", "closed", None),
    ("按时办结", "closed_on_time", None), ("按时办结率", "on_time_closure_rate", PCT),
    ("已回访", "evaluated", None), ("回访率", "callback_rate", PCT),
    ("双满意", "both_positive", None), ("单否", "one_negative", None),
    ("双否", "both_negative", None), ("工单得分", "score_total", "0.0"),
    ("综合得分", "composite", "0.00"), ("名次", "rank", None), ("牌", "card", None),
    ("不排名原因", "unranked_reason", None),
    ("响应率95%区间", "interval_response_rate", None),
    ("解决率95%区间", "interval_resolution_rate", None),
    ("满意率95%区间", "interval_satisfaction_rate", None)]
CATEGORY_COLUMNS = [("诉求分类", "category", None), ("不满意或未解决", "negative", None),
                    ("不满意", "unsatisfied", None), ("未解决", "unresolved", None)]
REASON_COLUMNS = [("单位", "unit", None), ("原因分类", "category", None), ("条数", "count", None),
                  ("占已转写", "share", PCT), ("示例（号码已遮盖）", "said", None)]
PP = '+0.0"pt";-0.0"pt"'  # a change of a rate, in percentage points
COMPARISON_COLUMNS = [
    ("单位", "unit", None), ("考核分组", "group", None), ("指标", "rate", None),
    ("本月", "value", PCT), ("上月", "previous", PCT), ("较上月", "previous_change_pt", PP),
    ("较上月判断", "previous_verdict", None), ("去年同期", "last_year", PCT),
    ("较去年同期", "last_year_change_pt", PP), ("较去年同期判断", "last_year_verdict", None)]
CARDS = {"red": "红牌", "yellow": "黄牌"}
HEADER = Font(bold=True)
FILLS = {"red": PatternFill("solid", fgColor="F4B6B6"), "yellow": PatternFill("solid",
                                                                             fgColor="FBE8A6")}


def _sheet(book: Workbook, title: str, columns: Sequence[tuple[str, str, str | None]],
           rows: list[dict[str, object]]) -> None:
    sheet = book.create_sheet(title[:31])
    sheet.append([c[0] for c in columns])
    for cell in sheet[1]:
        cell.font = HEADER
    for row in rows:
        sheet.append([inert(CARDS.get(str(row[key]), row[key]) if key == "card" else row[key])
                      for _, key, _ in columns])
        fill = FILLS.get(str(row.get("card")))
        if fill is not None:
            for cell in sheet[sheet.max_row]:
                cell.fill = fill
    for index, (_, _, fmt) in enumerate(columns, start=1):
        letter = get_column_letter(index)
        if fmt:
            for cell in sheet[letter][1:]:
                cell.number_format = fmt
    fit_columns(sheet)
    sheet.freeze_panes = "A2"


def text_width(value: object) -> int:
    """How many columns of a spreadsheet a value needs: a Chinese character takes two."""
    if value is None:
        return 0
    if isinstance(value, float):
        value = f"{value:.4g}"
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in str(value))


def fit_columns(sheet: Worksheet, least: int = 6, most: int = 60) -> None:
    """Every column as wide as its widest cell (header included), within bounds: a long
    unit name is read whole, a column of small numbers takes little room."""
    for column in sheet.iter_cols():
        widest = max((text_width(c.value) for c in column), default=0)
        letter = get_column_letter(column[0].column)
        sheet.column_dimensions[letter].width = max(least, min(most, widest + 2))


def _with_intervals(unit: dict[str, object]) -> dict[str, object]:
    intervals: dict[str, list[float] | None] = unit["intervals"]  # type: ignore[assignment]
    for name in ("response_rate", "resolution_rate", "satisfaction_rate"):
        pair = intervals[name]
        unit[f"interval_{name}"] = "-" if pair is None else \
            f"{100 * pair[0]:.1f}%–{100 * pair[1]:.1f}%"
    return unit


def write_xlsx(report: Report, path: Path) -> None:
    book = Workbook()
    book.remove(book.active)
    units = [_with_intervals(unit_dict(u)) for u in report.units]
    for group in report.groups():
        _sheet(book, f"{group}排名", RANK_COLUMNS, [u for u in units if u["group"] == group])
    _sheet(book, "单位明细", DETAIL_COLUMNS, units)
    if report.comparison:
        _comparison(book, report)
    _sheet(book, "不满意高频分类", CATEGORY_COLUMNS, list(report.top_categories))
    _sheet(book, "不满意原因", REASON_COLUMNS,
           [{**r, "said": examples_text(r["examples"])} for r in reasons_table(report)])
    _sheet(book, "剔除工单", [("工单编号", "ticket_no", None), ("承办单位", "unit", None),
                          ("剔除原因", "reason", None), ("审批人", "approved_by", None),
                          ("审批时间", "approved_at", None)], list(report.excluded))
    _definitions(book, report)
    book.save(path)


def _points(value: object) -> float | None:
    return None if value is None else round(100 * float(value), 2)  # type: ignore[arg-type]


def _comparison(book: Workbook, report: Report) -> None:
    """The monthly analysis: each unit's rates against last month and last year's same
    month, the change in percentage points and whether it is beyond the intervals; the
    carded units in the last line."""
    a = report.comparison
    rows = [{**r, "previous_change_pt": _points(r["previous_change"]),
             "last_year_change_pt": _points(r["last_year_change"])} for r in comparison_rows(a)]
    _sheet(book, "月度对比", COMPARISON_COLUMNS, rows)
    sheet = book["月度对比"]
    sheet.append([])
    sheet.append([f"对比：本月 {a['period']}，上月 {a['previous_month']}，去年同期 "
                  f"{a['last_year']}；判断以两期 Wilson 95% 区间是否重叠为准"])
    sheet.append([inert(cards_sentence(a))])


def examples_text(examples: object) -> str:
    """A row's example transcripts in one cell: each in 「」, one after another."""
    return "；".join(f"「{e}」" for e in examples) if isinstance(examples, list) else ""


def _definitions(book: Workbook, report: Report) -> None:
    """The sheet 指标说明: the period, each definition, then the rules used, all in
    Chinese (the configuration key beside each rule, for the operator)."""
    sheet = book.create_sheet("指标说明")
    sheet.append(["项目", "说明", "配置项"])
    sheet.append(["统计期间", f"{report.period.label}（{report.period.start:%Y-%m-%d} 至 "
                  f"{report.period.end:%Y-%m-%d} 前）", None])
    sheet.append(["生成时间", f"{report.generated_at:%Y-%m-%d %H:%M:%S}（北京时间）", None])
    if report.machine_accuracy:
        sheet.append(["智能回访抽检", sentence(report.machine_accuracy), "[spot_checks]"])
    for term, text in definition_lines(DEFINITION_TERMS, DEFINITIONS_ZH):
        sheet.append([term, inert(text), None])
    sheet.append([])
    sheet.append(["计算参数", "取值", "配置项"])
    for cell in sheet[sheet.max_row]:
        cell.font = HEADER
    for (name, value), key in zip(rules_zh(report.rules), report.rules.as_definitions(),
                                  strict=True):
        sheet.append([name, value, f"[scoring] {key}"])
    for cell in sheet[1]:
        cell.font = HEADER
    fit_columns(sheet, most=40)
    sheet.column_dimensions["B"].width = 80
    for cell in sheet["B"]:
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
