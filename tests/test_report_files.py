"""The report files as leadership gets them: JSON, XLSX, HTML and a PDF that renders."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import matplotlib.image
import openpyxl
import pytest
from sqlalchemy import Engine

from scoring.charts import CJK_FONTS
from scoring.export_html import write_html
from scoring.export_json import report_dict, write_json
from scoring.export_pdf import write_pdf
from scoring.export_xlsx import text_width, write_xlsx
from scoring.periods import parse_period
from scoring.report import Report, build_report
from scoring.rules import ScoringRules
from store.db import make_engine
from store.importing.runner import run_import
from store.sample import generate
from tests.conftest import need
from tests.pgserver import PostgresServer
from tests.scoring_fixture import write_fixture

NOW = datetime(2026, 11, 20, 12)
UNIT_KEYS = {"unit", "group", "dispatched", "signed_in_time", "response_rate", "resolved",
             "unresolved", "resolution_rate", "satisfied", "basic_satisfied", "unsatisfied",
             "satisfaction_rate", "closed", "closed_on_time", "on_time_closure_rate",
             "evaluated", "callback_rate", "score_total", "composite", "rank", "card",
             "unranked_reason", "intervals"}


@pytest.fixture
def report(sqlite_template: Path, tmp_path: Path) -> Report:
    db = tmp_path / "h.db"
    shutil.copy(sqlite_template, db)
    engine = make_engine(f"sqlite:///{db}")
    for kind, path in write_fixture(tmp_path):
        run_import(engine, kind, path, now=NOW)
    return build_report(engine, parse_period("2026-10"), rules=ScoringRules(min_sample=3),
                        now=NOW)


def test_json_structure(report: Report, tmp_path: Path) -> None:
    write_json(report, str(tmp_path / "r.json"))
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert {"period", "generated_at", "definitions", "units", "excluded"} <= set(data)
    assert data["period"]["label"] == "2026-10"
    for unit in data["units"]:
        assert set(unit) >= UNIT_KEYS
        for name in ("response_rate", "resolution_rate", "satisfaction_rate"):
            assert unit[name] is None or 0 <= unit[name] <= 1


def test_xlsx_sheets_headers_and_formats(report: Report, tmp_path: Path) -> None:
    write_xlsx(report, tmp_path / "r.xlsx")
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert book.sheetnames == ["区县排名", "部门排名", "单位明细", "不满意高频分类", "不满意原因",
                               "剔除工单", "指标说明"]
    ranking = book["区县排名"]
    assert ranking.freeze_panes == "A2"
    assert [c.value for c in ranking[1]][:6] == ["名次", "单位", "回访数", "响应率", "解决率",
                                                 "满意率"]
    rows = {r[1]: r for r in ranking.iter_rows(min_row=2, values_only=True)}
    assert rows["庚区"][0] == 3 and rows["庚区"][9] == "红牌" and rows["甲区"][9] == "黄牌"
    assert ranking.cell(row=2, column=5).number_format == "0.0%"
    assert book["剔除工单"]["A2"].value == "C5"
    detail = list(book["单位明细"].iter_rows(values_only=True))
    column = detail[0].index("解决率95%区间")
    yi = next(r for r in detail if r[0] == "乙区")
    assert yi[column] == "37.6%–96.4%"  # Wilson for 4 of 5, worked by hand in test_scoring
    sheet = book["指标说明"]
    assert [c.value for c in sheet[1]] == ["项目", "说明", "配置项"]  # Chinese heads (issue 17)
    definitions = [r[0] for r in sheet.iter_rows(values_only=True)]
    assert "响应率" in definitions and "参与排名的最少回访数" in definitions
    assert "response_rate" not in definitions and "min_sample" not in definitions
    # columns fit their content: the unit column holds the longest name whole
    for name in ("区县排名", "单位明细"):
        names = [r[0 if name == "单位明细" else 1] for r in
                 book[name].iter_rows(min_row=2, values_only=True)]
        need_width = max(text_width(n) for n in names)
        column = "A" if name == "单位明细" else "B"
        assert book[name].column_dimensions[column].width >= need_width, name
    assert ranking.column_dimensions["A"].width < 12  # 名次 needs little room


def test_html_has_tables_charts_and_definitions(report: Report, tmp_path: Path) -> None:
    need(any(Path(f).exists() for f in CJK_FONTS), "no CJK font (apt-get install "
         "fonts-wqy-microhei)")
    write_html(report, tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 4  # two charts per group
    assert "区县 排名" in html and "庚区" in html and "红牌" in html and "不合理诉求" in html
    assert "在时限内签收的工单" in html and "参与排名的最少回访数" in html
    assert "min_sample" not in html and "too few" not in html


def test_pdf_renders_to_pages_with_ink(report: Report, tmp_path: Path) -> None:
    need(any(Path(f).exists() for f in CJK_FONTS), "no CJK font (apt-get install "
         "fonts-wqy-microhei)")
    need(shutil.which("pdftoppm") is not None, "pdftoppm missing (apt-get install poppler-utils)")
    write_pdf(report, tmp_path / "r.pdf")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(tmp_path / "r.pdf"),
                    str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3  # rankings, each group's two charts, definitions
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "r.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout.split("\f")
    first, last = text[0], [t for t in text if t.strip()][-1]
    # page 1 opens with the rankings and their cards (issue 17), not the parameters
    assert "区县 排名" in first and "红牌：" in first and "庚区" in first
    assert "min_sample" not in "".join(text) and "response_rate" not in "".join(text)
    assert "指标说明" in last and "参与排名的最少回访数" in last
    for page in pages:
        pixels = matplotlib.image.imread(page)
        assert pixels.std() > 0.01, f"{page.name} is blank"
    fonts = subprocess.run(["pdffonts", str(tmp_path / "r.pdf")], capture_output=True,
                           text=True, check=True).stdout
    assert "WenQuanYi" in fonts or "Noto" in fonts  # Chinese text drawn in a CJK font


@pytest.mark.postgres
def test_sqlite_and_postgres_agree_on_a_generated_hotline(
        tmp_path: Path, sqlite_template: Path, pg_server: PostgresServer) -> None:
    sample = generate(tmp_path / "s", tickets=1500, seed=11, end=NOW, months=4)
    db = tmp_path / "h.db"
    shutil.copy(sqlite_template, db)
    engines: list[Engine] = [make_engine(f"sqlite:///{db}"),
                             make_engine(pg_server.create_database("agree", "huifang_template"))]
    reports = []
    for engine in engines:
        for kind, path in sample.files():
            assert run_import(engine, kind, path, now=NOW).rejected == 0
        data = report_dict(build_report(engine, parse_period("2026-10"), now=NOW))
        data.pop("generated_at")
        reports.append(data)
    assert reports[0] == reports[1]
    assert any(u["rank"] for u in reports[0]["units"])


LONG = "临江县经济技术开发区管理委员会社会事务局城市管理综合执法大队"


def test_a_long_unit_name_is_whole_in_the_xlsx_and_the_pdf(report: Report,
                                                            tmp_path: Path) -> None:
    """The unit column is as wide as the longest name (it was 12 characters), and the
    PDF wraps a name onto a second line of its cell instead of cutting it (issue 17)."""
    need(shutil.which("pdftotext") is not None, "pdftotext missing (apt-get install "
         "poppler-utils)")
    target = next(u for u in report.units if u.info.name == "庚区")
    target.info = replace(target.info, name=LONG)
    write_xlsx(report, tmp_path / "r.xlsx")
    ranking = openpyxl.load_workbook(tmp_path / "r.xlsx")["区县排名"]
    assert ranking.column_dimensions["B"].width >= text_width(LONG)
    write_pdf(report, tmp_path / "r.pdf")
    first = subprocess.run(["pdftotext", "-l", "1", str(tmp_path / "r.pdf"), "-"],
                           capture_output=True, text=True, check=True).stdout
    assert LONG in "".join(first.split())  # every character, over two lines of the cell
