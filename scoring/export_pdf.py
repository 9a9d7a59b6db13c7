"""The PDF report, drawn page by page with matplotlib (tables and charts, CJK font)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from scoring.charts import composite_chart, trend_chart, use_cjk_font
from scoring.export_json import unit_dict
from scoring.report import Report
from scoring.rules import DEFINITIONS_ZH

A4 = (8.27, 11.69)
ROWS_PER_PAGE = 32


def _pct(value: object) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"  # type: ignore[arg-type]


def _text_page(title: str, lines: list[str]) -> Figure:
    fig = plt.figure(figsize=A4)
    fig.text(0.08, 0.95, title, fontsize=16, va="top")
    y = 0.9
    for line in lines:
        for part in textwrap.wrap(line, 46) or [""]:
            fig.text(0.08, y, part, fontsize=9.5, va="top")
            y -= 0.022
    return fig


def _table_page(title: str, headers: list[str], rows: list[list[str]],
                colours: list[str]) -> Figure:
    fig = plt.figure(figsize=A4)
    fig.text(0.05, 0.96, title, fontsize=14, va="top")
    ax = fig.add_axes((0.03, 0.05, 0.94, 0.87))
    ax.axis("off")
    table = ax.table(cellText=rows or [["-"] * len(headers)], colLabels=headers,
                     loc="upper center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(7.5)
    table.scale(1, 1.35)
    for (row, _), cell in table.get_celld().items():
        if row == 0:
            cell.set_facecolor("#eef2f7")
        elif row - 1 < len(colours) and colours[row - 1]:
            cell.set_facecolor(colours[row - 1])
    return fig


def write_pdf(report: Report, path: Path) -> None:
    use_cjk_font()
    units = [unit_dict(u) for u in report.units]
    with PdfPages(path) as pdf:
        pdf.infodict()["Title"] = f"回访考核报告 {report.period.label}"
        summary = [f"统计期间：{report.period.label}（{report.period.start:%Y-%m-%d} 至 "
                   f"{report.period.end:%Y-%m-%d} 前）", f"生成时间：{report.generated_at}",
                   f"剔除工单：{len(report.excluded)} 件", "", "指标说明："]
        summary += [f"· {text}" for text in DEFINITIONS_ZH.values()]
        summary += ["", "参数："] + [f"· {k} = {v}" for k, v in
                                    report.rules.as_definitions().items()]
        for fig in [_text_page("12345热线回访考核报告", summary)]:
            pdf.savefig(fig)
            plt.close(fig)
        headers = ["名次", "单位", "回访数", "响应率", "解决率", "满意率", "综合得分", "牌"]
        colour = {"red": "#f4b6b6", "yellow": "#fbe8a6"}
        for group in report.groups():
            members = [u for u in units if u["group"] == group]
            for start in range(0, max(len(members), 1), ROWS_PER_PAGE):
                chunk = members[start:start + ROWS_PER_PAGE]
                rows = [[str(u["rank"] or "-"), str(u["unit"]), str(u["evaluated"]),
                         _pct(u["response_rate"]), _pct(u["resolution_rate"]),
                         _pct(u["satisfaction_rate"]),
                         "-" if u["composite"] is None else f"{u['composite']:.2f}",
                         {"red": "红牌", "yellow": "黄牌"}.get(str(u["card"]), "")]
                        for u in chunk]
                fig = _table_page(f"{report.period.label} {group} 排名", headers, rows,
                                  [colour.get(str(u["card"]), "") for u in chunk])
                pdf.savefig(fig)
                plt.close(fig)
            for chart in (composite_chart(report, group), trend_chart(report, group)):
                pdf.savefig(chart)
                plt.close(chart)
        rows = [[str(c["category"]), str(c["negative"]), str(c["unsatisfied"]),
                 str(c["unresolved"])] for c in report.top_categories]
        fig = _table_page("不满意或未解决高频分类", ["诉求分类", "合计", "不满意", "未解决"],
                          rows, [])
        pdf.savefig(fig)
        plt.close(fig)
