"""The printable HTML report: tables and charts (embedded PNG) in Chinese."""

from __future__ import annotations

import base64
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from scoring.accuracy import sentence
from scoring.bulletins import cards_sentence, comparison_rows
from scoring.charts import composite_chart, png_bytes, ranked_in, trend_chart
from scoring.export_json import reasons_table, report_dict
from scoring.notes import definition_lines, thin_note
from scoring.report import Report
from scoring.rules import DEFINITION_TERMS, DEFINITIONS_ZH, rules_zh

TEMPLATES = Path(__file__).parent / "templates"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _delta(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f}"


def render_html(report: Report, hotline: str = "12345政务服务便民热线") -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES),  # report.html.j2: escaped
                      autoescape=select_autoescape(["html", "j2"]))
    env.filters["pct"] = _pct
    env.filters["delta"] = _delta
    data = report_dict(report)
    charts = {
        group: {"bars": base64.b64encode(png_bytes(composite_chart(report, group))).decode(),
                "trend": base64.b64encode(png_bytes(trend_chart(report, group))).decode()}
        for group in report.groups()
    }
    return env.get_template("report.html.j2").render(
        hotline=hotline, period=report.period, previous=data["period"]["previous"],
        generated_at=data["generated_at"], groups=report.groups(), units=data["units"],
        charts=charts, categories=report.top_categories, excluded=data["excluded"],
        reasons=reasons_table(report), analysis=report.comparison,
        comparison=comparison_rows(report.comparison) if report.comparison else [],
        cards=cards_sentence(report.comparison) if report.comparison else "",
        definitions=definition_lines(DEFINITION_TERMS, DEFINITIONS_ZH),
        rules=rules_zh(report.rules), note=thin_note(report),
        ranked={g: bool(ranked_in(report, g)) for g in report.groups()},
        accuracy=sentence(report.machine_accuracy) if report.machine_accuracy else "")


def write_html(report: Report, path: Path) -> None:
    path.write_text(render_html(report), encoding="utf-8")
