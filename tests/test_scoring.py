"""October 2026 of the fixture hotline, figured by hand (tests/scoring_fixture.py).

Every expected number below was worked out on paper from the fixture's rows; none is
produced by the code under test. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from scoring.export_json import report_dict
from scoring.periods import parse_period
from scoring.report import build_report
from scoring.rules import ScoringRules
from store.importing.runner import run_import
from tests.files import write_csv
from tests.scoring_fixture import write_fixture

NOW = datetime(2026, 11, 20, 12, 0)
RULES = ScoringRules(min_sample=3)


@pytest.fixture
def october(engine: Engine, tmp_path: Path) -> dict[str, dict[str, object]]:
    for kind, path in write_fixture(tmp_path):
        result = run_import(engine, kind, path, now=NOW)
        assert result.rejected == 0, (kind, result.errors)
    report = report_dict(build_report(engine, parse_period("2026-10"), rules=RULES, now=NOW))
    return {u["unit"]: u for u in report["units"]} | {"_report": report}


def pick(unit: dict[str, object], *keys: str) -> dict[str, object]:
    return {k: unit[k] for k in keys}


COUNTS = ("dispatched", "response_due", "signed_in_time", "closed", "closed_on_time",
          "evaluated", "resolved", "unresolved", "satisfied", "basic_satisfied", "unsatisfied",
          "both_positive", "one_negative", "both_negative")


def test_jia_rolls_up_its_street_and_counts_the_holiday(october: dict) -> None:
    jia = october["甲区"]
    assert pick(jia, *COUNTS) == dict(zip(COUNTS, (5, 5, 5, 5, 5, 5, 4, 1, 3, 1, 1, 4, 0, 1),
                                          strict=True))
    assert (jia["response_rate"], jia["resolution_rate"], jia["satisfaction_rate"],
            jia["on_time_closure_rate"], jia["callback_rate"]) == (1.0, 0.8, 0.8, 1.0, 1.0)
    assert (jia["score_total"], jia["composite"], jia["rank"], jia["card"]) == \
        (3.0, 82.0, 1, "yellow")
    # September had A9 alone: all rates 1.0.
    assert jia["change"] == {"response_rate": 0.0, "resolution_rate": -0.2,
                             "satisfaction_rate": -0.2, "on_time_closure_rate": 0.0,
                             "callback_rate": 0.0}
    street = october["甲区一街道"]
    assert (street["evaluated"], street["basic_satisfied"], street["rank"]) == (1, 1, None)
    assert "无考核分组" in street["unranked_reason"]


def test_yi_ties_jia_and_counts_the_reopened_ticket_once(october: dict) -> None:
    yi = october["乙区"]
    assert pick(yi, *COUNTS) == dict(zip(COUNTS, (5, 5, 5, 5, 4, 5, 4, 1, 4, 0, 1, 3, 2, 0),
                                         strict=True))
    assert (yi["on_time_closure_rate"], yi["resolution_rate"], yi["satisfaction_rate"]) == \
        (0.8, 0.8, 0.8)
    assert (yi["score_total"], yi["composite"], yi["rank"], yi["card"]) == \
        (2.0, 82.0, 1, "yellow")


def test_geng_late_and_never_signed_is_last_and_red(october: dict) -> None:
    geng = october["庚区"]
    assert pick(geng, *COUNTS) == dict(zip(COUNTS, (5, 5, 3, 4, 4, 4, 2, 2, 1, 2, 1, 2, 1, 1),
                                           strict=True))
    assert (geng["response_rate"], geng["resolution_rate"], geng["satisfaction_rate"]) == \
        (0.6, 0.5, 0.75)
    assert (geng["score_total"], geng["composite"], geng["rank"], geng["card"]) == \
        (0.5, 62.25, 3, "red")


def test_bing_excluded_ticket_left_out_everywhere(october: dict) -> None:
    bing = october["丙局"]
    assert pick(bing, *COUNTS) == dict(zip(COUNTS, (5, 5, 5, 5, 5, 4, 4, 0, 3, 1, 0, 4, 0, 0),
                                           strict=True))
    assert (bing["callback_rate"], bing["composite"], bing["rank"], bing["card"]) == \
        (0.8, 100.0, 1, None)
    excluded = october["_report"]["excluded"]
    assert [(e["ticket_no"], e["unit"], e["reason"], e["approved_by"]) for e in excluded] == \
        [("C5", "丙局", "不合理诉求", "质检科-周平")]


def test_ding_small_sample_is_listed_not_ranked(october: dict) -> None:
    ding = october["丁局"]
    assert pick(ding, "dispatched", "signed_in_time", "closed", "evaluated") == \
        {"dispatched": 3, "signed_in_time": 3, "closed": 2, "evaluated": 2}
    assert (ding["composite"], ding["rank"], ding["card"]) == (55.0, None, None)
    assert "样本不足（2 < 3）" in ding["unranked_reason"]


def test_intervals_categories_trends_and_definitions(october: dict) -> None:
    report = october["_report"]
    low, high = october["乙区"]["intervals"]["resolution_rate"]
    # Wilson 95 % for 4 of 5, by hand: (0.8 + 0.3841/5 ± 1.96·sqrt(0.16/5 + 0.9604/25)) / 1.7683
    assert (round(low, 3), round(high, 3)) == (0.376, 0.964)
    assert report["top_unsatisfied_categories"] == [
        {"category": "城建/电梯", "negative": 3, "unsatisfied": 3, "unresolved": 2},
        {"category": "环保/噪音", "negative": 2, "unsatisfied": 0, "unresolved": 2},
        {"category": "市场/退费", "negative": 1, "unsatisfied": 1, "unresolved": 1}]
    district = {p["period"]: p for p in report["trends"]["区县"]}
    assert district["2026-10"]["resolution_rate"] == pytest.approx(10 / 14)
    assert district["2026-10"]["satisfaction_rate"] == pytest.approx(11 / 14)
    assert list(district) == ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    assert report["definitions"]["rules"]["min_sample"] == 3
    assert "响应率" in report["definitions"]["zh"]["response_rate"]


def test_not_yet_due_is_not_counted(engine: Engine, tmp_path: Path) -> None:
    for kind, path in write_fixture(tmp_path):
        run_import(engine, kind, path, now=NOW)
    report = report_dict(build_report(engine, parse_period("2026-11-20"), rules=RULES,
                                      now=NOW, with_trends=False))
    ding = next(u for u in report["units"] if u["unit"] == "丁局")
    assert (ding["dispatched"], ding["response_due"], ding["response_rate"]) == (1, 0, None)


@pytest.mark.parametrize("ticket_no", ["A4", "B5", "G5", "C6", "D3"])
def test_excluding_a_ticket_removes_it_from_every_denominator(
        engine: Engine, tmp_path: Path, october: dict, ticket_no: str) -> None:
    before = {name: u for name, u in october.items() if name != "_report"}
    write_csv(tmp_path / "more.csv", [["工单编号", "剔除原因", "审批人"],
                                      [ticket_no, "测试剔除", "质检"]])
    assert run_import(engine, "exclusions", tmp_path / "more.csv", now=NOW).rejected == 0
    after = {u["unit"]: u for u in report_dict(build_report(
        engine, parse_period("2026-10"), rules=RULES, now=NOW, with_trends=False))["units"]}
    denominators = ("dispatched", "response_due", "closed", "evaluated")
    changed = {name for name in before for key in denominators
               if after[name][key] != before[name][key]}
    unit = {"A": "甲区", "B": "乙区", "G": "庚区", "C": "丙局", "D": "丁局"}[ticket_no[0]]
    assert changed == {unit}  # only the ticket's own unit (甲区 rolls up no one else here)
    for key in denominators:
        assert after[unit][key] in (before[unit][key], before[unit][key] - 1)
    assert after[unit]["dispatched"] == before[unit]["dispatched"] - 1
    excluded = {e["ticket_no"] for e in report_dict(build_report(
        engine, parse_period("2026-10"), rules=RULES, now=NOW,
        with_trends=False))["excluded"]}
    assert excluded == {"C5", ticket_no}
