"""The PDF report, drawn page by page with matplotlib (tables and charts, CJK font).

What a leader reads first comes first: page 1 opens with the rankings and their cards;
unit names are printed whole (a long name wraps onto a second line of its cell, never
cut), an unranked unit says why; each group's composite and trend charts share a page;
the definitions and the rules used close the report, in Chinese."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from scoring.accuracy import sentence
from scoring.bulletins import cards_sentence, comparison_rows
from scoring.charts import draw_composite, draw_trend, ranked_in, use_cjk_font
from scoring.export_json import reasons_table, unit_dict
from scoring.notes import definition_lines, thin_note
from scoring.report import Report
from scoring.rules import DEFINITION_TERMS, DEFINITIONS_ZH, rules_zh

A4 = (8.27, 11.69)
LINES_PER_PAGE = 46  # table lines (a wrapped cell takes several) under a page's title
LINE = 0.0175  # a table line's height, in figure units
CARDS = {"red": "红牌", "yellow": "黄牌"}
COLOURS = {"red": "#f4b6b6", "yellow": "#fbe8a6"}
HEADERS = ["名次", "单位", "回访数", "响应率", "解决率", "满意率", "综合得分", "牌", "说明"]
# each column's share of the table's width, and how many half-width characters fit
WIDTHS = [0.06, 0.24, 0.07, 0.08, 0.08, 0.08, 0.08, 0.06, 0.25]
FITS = [4, 22, 6, 7, 7, 7, 7, 4, 24]
SMALL_GROUP = 10  # ranked units: a group this small shares its chart page with another


def _pct(value: object) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"  # type: ignore[arg-type]


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def wrap(text: str, fits: int) -> list[str]:
    """`text` in lines of at most `fits` half-width columns (a Chinese character takes
    two), so that a cell shows all of it."""
    lines, line = [], ""
    for char in text:
        if line and _width(line + char) > fits:
            lines.append(line)
            line = ""
        line += char
    return [*lines, line] if line or not lines else lines


def _rows(report: Report, group: str) -> list[tuple[list[str], str]]:
    """A group's table rows (each cell's text) and each row's colour."""
    rows = []
    for u in (unit_dict(u) for u in report.units if u.info.group == group):
        rows.append(([str(u["rank"] or "-"), str(u["unit"]), str(u["evaluated"]),
                      _pct(u["response_rate"]), _pct(u["resolution_rate"]),
                      _pct(u["satisfaction_rate"]),
                      "-" if u["composite"] is None else f"{u['composite']:.2f}",
                      CARDS.get(str(u["card"]), ""), str(u["unranked_reason"] or "")],
                     COLOURS.get(str(u["card"]), "")))
    return rows


def _row_height(cells: list[list[str]]) -> float:
    return LINE * max(len(cell) for cell in cells) + 0.006


def _draw_row(fig: Figure, y: float, cells: list[list[str]], colour: str) -> float:
    """One table row of wrapped cells, from `y` down; the y it ends at."""
    height = _row_height(cells)
    x = 0.04
    for cell, share in zip(cells, WIDTHS, strict=True):
        fig.patches.append(Rectangle((x, y - height), share * 0.92, height,
                                     transform=fig.transFigure, figure=fig,
                                     facecolor=colour or "white", edgecolor="#bbbbbb",
                                     linewidth=0.4))
        fig.text(x + 0.004, y - 0.004, "\n".join(cell), fontsize=7.2, va="top",
                 linespacing=1.25)
        x += share * 0.92
    return y - height


def _cards_line(report: Report, group: str) -> str:
    ranked = ranked_in(report, group)
    red = [u.info.name for u in ranked if u.card == "red"]
    yellow = [u.info.name for u in ranked if u.card == "yellow"]
    unranked = sum(1 for u in report.units if u.info.group == group and u.rank is None)
    parts = [f"已排名 {len(ranked)} 个单位", f"红牌：{'、'.join(red) or '无'}",
             f"黄牌：{'、'.join(yellow) or '无'}"]
    if unranked:
        parts.append(f"未排名 {unranked} 个（原因见“说明”）")
    return "；".join(parts)


BOTTOM = 0.04
HEADER_CELLS = [[h] for h in HEADERS]


def _ranking_pages(report: Report) -> list[Figure]:
    """Every group's ranking, one after the other, flowing over as many pages as they
    need (a group continued on the next page says so and repeats the header)."""
    fig = plt.figure(figsize=A4)
    pages, y = [fig], _title(fig, report)
    note = thin_note(report)
    if note:
        fig.text(0.04, y, note, fontsize=10, va="top", color="#a4161a")
        y -= 0.035
    if not report.groups():
        fig.text(0.04, y, "本期没有可排名的单位（没有设置考核分组的单位）。", fontsize=11,
                 va="top")
    for group in report.groups():
        rows = [([wrap(t, n) for t, n in zip(cells, FITS, strict=True)], colour)
                for cells, colour in _rows(report, group)]
        first = _row_height(rows[0][0]) if rows else 0.0
        if y - 0.045 - _row_height(HEADER_CELLS) - first < BOTTOM:
            fig = plt.figure(figsize=A4)
            pages.append(fig)
            y = 0.96
        fig.text(0.04, y, f"{group} 排名", fontsize=13, va="top")
        fig.text(0.04, y - 0.025, _cards_line(report, group), fontsize=8.5, va="top",
                 color="#333333")
        y = _draw_row(fig, y - 0.045, HEADER_CELLS, "#eef2f7")
        for cells, colour in rows:
            if y - _row_height(cells) < BOTTOM:
                fig = plt.figure(figsize=A4)
                pages.append(fig)
                fig.text(0.04, 0.96, f"{group} 排名（续）", fontsize=13, va="top")
                y = _draw_row(fig, 0.93, HEADER_CELLS, "#eef2f7")
            y = _draw_row(fig, y, cells, colour)
        y -= 0.03
    return pages


def _title(fig: Figure, report: Report) -> float:
    """Page 1's heading: the report, its period and when it was made; where the
    tables start."""
    p = report.period
    fig.text(0.04, 0.965, f"12345热线回访考核报告 {p.label}", fontsize=16, va="top")
    fig.text(0.04, 0.935, f"统计期间 {p.start:%Y-%m-%d} 至 {p.end:%Y-%m-%d} 前；生成于 "
             f"{report.generated_at:%Y-%m-%d %H:%M}（北京时间）；剔除工单 "
             f"{len(report.excluded)} 件；定义与参数见末页。", fontsize=8.5, va="top",
             color="#333333")
    if report.machine_accuracy:
        fig.text(0.04, 0.915, sentence(report.machine_accuracy), fontsize=8.5, va="top",
                 color="#333333")
        return 0.89
    return 0.905


def _chart_pages(report: Report) -> list[Figure]:
    """Each group's composite and trend charts; two small groups share a page."""
    pages: list[Figure] = []
    groups = report.groups()
    small = [g for g in groups if len(ranked_in(report, g)) <= SMALL_GROUP]
    chunks = [[g] for g in groups if g not in small]
    chunks += [small[i:i + 2] for i in range(0, len(small), 2)]
    for chunk in sorted(chunks, key=lambda c: groups.index(c[0])):
        fig, axes = plt.subplots(2 * len(chunk), 1, figsize=A4,
                                 gridspec_kw={"height_ratios": [3, 2] * len(chunk)})
        for index, group in enumerate(chunk):
            draw_composite(axes[2 * index], report, group)
            draw_trend(axes[2 * index + 1], report, group)
        fig.tight_layout(pad=2.0)
        pages.append(fig)
    return pages


def _plain(fig: Figure, x: float, y: float, text: str, **style: object) -> None:
    """Text as written, at the top of its line: never read as mathtext (a citizen's words
    or a unit's name may hold two $ signs)."""
    fig.text(x, y, text, va="top", parse_math=False, **style)  # type: ignore[arg-type]


def _listed_pages(title: str, lead: list[str], items: list[str], fits: int) -> list[Figure]:
    """A titled list on as many pages as it takes: the `lead` lines under the title, then
    each item wrapped to `fits` columns, a page continued under "（续）"."""
    fig = plt.figure(figsize=A4)
    pages, y = [fig], 0.96
    _plain(fig, 0.06, y, title, fontsize=13)
    y -= 0.03
    for line in lead:
        _plain(fig, 0.06, y, line, fontsize=8.5)
        y -= 0.019
    y -= 0.01 if lead and items else 0.0
    for item in items:
        lines = wrap(item, fits)
        if y - 0.0155 * len(lines) < 0.04:
            fig = plt.figure(figsize=A4)
            pages.append(fig)
            _plain(fig, 0.06, 0.96, f"{title.partition('（')[0]}（续）", fontsize=13)
            y = 0.93
        _plain(fig, 0.06, y, "\n".join(lines), fontsize=8, linespacing=1.3)
        y -= 0.0155 * len(lines) + 0.004
    return pages


def _comparison_pages(report: Report) -> list[Figure]:
    """The monthly analysis: the carded units, then each unit's rates against last month
    and last year's same month, with the verdict on each change."""
    a = report.comparison
    if not a:
        return []
    rows = [f"· {r['unit']} {r['rate']} {_pct(r['value'])}；较上月 "
            f"{_points(r['previous_change'])}（{r['previous_verdict']}）；较去年同期 "
            f"{_points(r['last_year_change'])}（{r['last_year_verdict']}）"
            for r in comparison_rows(a)]
    return _listed_pages(f"月度对比（较上月 {a['previous_month']}、去年同期 {a['last_year']}）",
                         [*wrap(cards_sentence(a), 100),
                          "变化以百分点计；显著：两期 Wilson 95% 区间不重叠。"], rows, 104)


def _points(change: object) -> str:
    return "-" if change is None else f"{100 * float(change):+.1f} 个百分点"  # type: ignore[arg-type]


def _reason_pages(report: Report) -> list[Figure]:
    """The citizens' reasons by unit and category, with masked examples, on as many pages
    as they take; one line saying there were none otherwise."""
    items = []
    for r in reasons_table(report):
        share = "" if r["share"] is None else f"，占已转写 {_pct(r['share'])}"
        said = "".join(f"「{e}」" for e in r["examples"])  # type: ignore[attr-defined]
        items.append(f"· {r['unit']}　{r['category']}：{r['count']} 条{share}"
                     + (f"　{said}" if said else ""))
    return _listed_pages("不满意原因（按单位、分类；示例中的号码已遮盖）",
                         [] if items else ["本期没有记录到不满意或未解决的原因。"], items, 100)


def _closing_page(report: Report) -> Figure:
    """Top categories, then the definitions and the rules used, in Chinese."""
    fig = plt.figure(figsize=A4)
    y = 0.96
    fig.text(0.06, y, "不满意或未解决高频分类", fontsize=13, va="top")
    y -= 0.03
    if not report.top_categories:
        fig.text(0.06, y, "本期没有不满意或未解决的回访。", fontsize=9, va="top")
        y -= 0.025
    for c in report.top_categories:
        fig.text(0.06, y, f"· {c['category']}：合计 {c['negative']}（不满意 {c['unsatisfied']}，"
                 f"未解决 {c['unresolved']}）", fontsize=8.5, va="top")
        y -= 0.019
    y -= 0.015
    fig.text(0.06, y, "指标说明", fontsize=13, va="top")
    y -= 0.03
    for term, text in definition_lines(DEFINITION_TERMS, DEFINITIONS_ZH):
        lines = wrap(f"{term}：{text}", 100)
        fig.text(0.06, y, "\n".join(lines), fontsize=8, va="top", linespacing=1.3)
        y -= 0.0155 * len(lines) + 0.004
    y -= 0.012
    fig.text(0.06, y, "计算参数", fontsize=13, va="top")
    y -= 0.03
    for name, value in rules_zh(report.rules):
        fig.text(0.06, y, f"· {name}：{value}", fontsize=8, va="top")
        y -= 0.0155
    return fig


def write_pdf(report: Report, path: Path) -> None:
    use_cjk_font()
    with PdfPages(path) as pdf:
        pdf.infodict()["Title"] = f"回访考核报告 {report.period.label}"
        figures = [*_ranking_pages(report), *_comparison_pages(report), *_chart_pages(report),
                   *_reason_pages(report)]
        figures.append(_closing_page(report))
        for fig in figures:
            pdf.savefig(fig)
            plt.close(fig)
