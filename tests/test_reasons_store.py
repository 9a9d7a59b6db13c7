"""The reasons' store side on SQLite and PostgreSQL: which reasons are taken and when, one
try at a time however many processes ask, results written only by their try, retries
bounded, the console's reads and search, and the report's counts per unit and category."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from scoring.export_json import report_dict
from scoring.periods import parse_period
from scoring.report import build_report
from store import reasons
from store.campaign_models import CallAttempt
from store.enums import ReasonStatus
from store.reasons import ReasonResult
from tests.console_support import NOW, PERIOD, Seeded, seed
from tests.reason_support import reason_attempt

RETRY = timedelta(minutes=30)


@pytest.fixture
def seeded(engine: Engine, tmp_path: Path) -> Seeded:
    return seed(engine, tmp_path, tmp_path / "rec")


def take(engine: Engine, at: timedelta = timedelta(0), limit: int = 10,
         max_tries: int = 3) -> list[reasons.ReasonTodo]:
    return reasons.take(engine, NOW + at, limit=limit, max_tries=max_tries, retry_after=RETRY)


def done(text: str, category: str = "上门") -> ReasonResult:
    return ReasonResult(ReasonStatus.DONE, text=text, category=category, engine="whisper base")


def test_a_reason_is_taken_once_then_retried_after_its_delay(engine: Engine, seeded: Seeded
                                                             ) -> None:
    (first,) = take(engine)  # the seed's 不满意 call, with its reason at 1.5-4.0 s
    assert (first.call_id, first.from_s, first.to_s, first.tries) == ("call-q010", 1.5, 4.0, 1)
    assert first.recording == str(seeded.recording)
    assert take(engine) == []  # taken: another process does not get it too
    assert take(engine, RETRY - timedelta(seconds=1)) == []
    (again,) = take(engine, RETRY)  # the process that took it died: taken again
    assert again.tries == 2
    assert not reasons.save_result(engine, first, done("过时的"), NOW)  # not its try any more
    assert reasons.save_result(engine, again, done("一直没人来"), NOW + RETRY)
    assert take(engine, 10 * RETRY) == []  # done is done
    (r,) = reasons.of_attempts(engine, [again.attempt_id]).values()
    assert (r.status, r.text, r.category, r.tries, r.engine, r.at) == (
        ReasonStatus.DONE, "一直没人来", "上门", 2, "whisper base", NOW + RETRY)


def test_failures_are_retried_a_bounded_number_of_times(engine: Engine, seeded: Seeded) -> None:
    failed = ReasonResult(ReasonStatus.FAILED, error="录音文件不存在：x.wav", engine="whisper")
    for n in range(3):
        (todo,) = take(engine, n * RETRY)
        assert todo.tries == n + 1
        assert reasons.save_result(engine, todo, failed, NOW + n * RETRY)
        assert reasons.backlog(engine, 3) == (1 if n < 2 else 0)
    assert take(engine, 10 * RETRY) == []  # given up; the error stays
    (r,) = reasons.of_attempts(engine, [todo.attempt_id]).values()
    assert (r.status, r.error, r.label) == (ReasonStatus.FAILED, "录音文件不存在：x.wav",
                                            "转写失败")
    assert reasons.try_again(engine) == 1
    assert take(engine, 10 * RETRY)[0].tries == 1


def test_empty_is_final_and_untried_reasons_are_given_back(engine: Engine, seeded: Seeded
                                                           ) -> None:
    (todo,) = take(engine)
    assert reasons.give_back(engine, [todo]) == 1
    (todo,) = take(engine)  # at once, and the try not counted
    assert todo.tries == 1
    assert reasons.save_result(engine, todo, ReasonResult(
        ReasonStatus.EMPTY, error="原因录音中没有声音", engine="whisper"), NOW)
    assert take(engine, 10 * RETRY) == []
    with pytest.raises(ValueError, match="done, empty or failed"):
        reasons.save_result(engine, todo, ReasonResult(ReasonStatus.PENDING), NOW)


def test_only_attempts_with_a_reason_are_taken_oldest_first(engine: Engine, seeded: Seeded,
                                                           tmp_path: Path) -> None:
    later = reason_attempt(engine, "Q001", tmp_path / "a.wav", (2.0, 5.0))
    reason_attempt(engine, "Q002", tmp_path / "b.wav", None)  # no reason: never taken
    got = take(engine, limit=1)
    assert [t.call_id for t in got] == ["call-q010"]
    assert [t.attempt_id for t in take(engine)] == [later]
    assert reasons.backlog(engine, 3) == 2


def test_the_console_reads_and_searches_reasons(engine: Engine, seeded: Seeded,
                                               tmp_path: Path) -> None:
    second = reason_attempt(engine, "Q002", tmp_path / "b.wav", (2.0, 5.0),
                            at=NOW + timedelta(hours=1))
    todos = {t.attempt_id: t for t in take(engine)}
    first = next(i for i in todos if i != second)
    reasons.save_result(engine, todos[first], done("一直没人来，100%不满意"), NOW)
    reasons.save_result(engine, todos[second], done("态度_很差", "态度"), NOW)
    hits, total = reasons.search(engine, "没人来")
    assert total == 1 and hits[0].ticket_no == "Q010" and hits[0].unit == "青石街道"
    assert reasons.search(engine, "100%")[1] == 1  # the wildcard is a character
    assert reasons.search(engine, "%")[1] == 1
    assert reasons.search(engine, "态度_")[1] == 1 and reasons.search(engine, "度__")[1] == 0
    assert reasons.search(engine, "'; DROP TABLE call_attempts; --")[1] == 0
    assert [h.ticket_no for h in reasons.search(engine)[0]] == ["Q002", "Q010"]  # latest first
    assert reasons.search(engine, category="态度")[1] == 1
    assert reasons.search(engine, status=ReasonStatus.PENDING)[1] == 0
    assert reasons.search(engine, "没" * 60)[1] == 0  # cut to MAX_QUERY, still searched
    latest = reasons.latest_of_callbacks(engine, [seeded.negative])
    assert latest[seeded.negative].text == "一直没人来，100%不满意"
    assert reasons.of_attempts(engine, []) == {}


def test_new_categories_are_stored_and_only_changes_counted(engine: Engine, seeded: Seeded
                                                            ) -> None:
    (todo,) = take(engine)
    reasons.save_result(engine, todo, done("一直没人来", "未分类"), NOW)
    (batch,) = list(reasons.transcripts(engine))
    assert batch == [(todo.attempt_id, "一直没人来", "未分类")]
    assert reasons.set_categories(engine, {todo.attempt_id: "上门"}) == 1
    assert reasons.set_categories(engine, {todo.attempt_id: "上门"}) == 0


def test_the_report_counts_reasons_per_unit_and_category(engine: Engine, seeded: Seeded,
                                                        tmp_path: Path) -> None:
    other = reason_attempt(engine, "Q003", tmp_path / "c.wav", (1.0, 2.0))
    reason_attempt(engine, "Q004", tmp_path / "d.wav", (1.0, 2.0))  # still pending
    todos = {t.attempt_id: t for t in take(engine)}
    seeded_attempt = min(todos)
    reasons.save_result(engine, todos[seeded_attempt], done("一直没人来"), NOW)
    reasons.save_result(engine, todos[other], ReasonResult(
        ReasonStatus.EMPTY, error="未听清", engine="whisper"), NOW)
    with engine.begin() as conn:  # the fourth, taken and not finished: pending
        conn.execute(update(CallAttempt).where(CallAttempt.id == max(todos)).values(
            reason_status=None))
    report = report_dict(build_report(engine, parse_period(PERIOD), now=NOW))
    units = {u["unit"]: u["reasons"] for u in report["units"]}
    assert units["青石街道"] == {"reasons": 3, "transcribed": 1, "categories": {"上门": 1},
                                 "examples": {"上门": ["一直没人来"]},
                                 "unheard": 1, "failed": 0, "pending": 1}
    assert units["东湖区"] == units["青石街道"]  # rolled up to the district
    assert units["白沙街道"]["reasons"] == 0
    assert "phone" not in str(units) and "1450731" not in str(report)
    with engine.connect() as conn:
        assert conn.execute(select(CallAttempt.reason_text).where(
            CallAttempt.id == seeded_attempt)).scalar_one() == "一直没人来"


def test_the_reports_show_the_reasons_with_masked_examples(engine: Engine, seeded: Seeded,
                                                          tmp_path: Path) -> None:
    """XLSX, HTML and PDF list, per unit and category, the count, the share of the
    transcribed reasons and the newest examples, a number the citizen said masked; 未听清
    and 未转写 rows keep every reason of the period counted."""
    import subprocess

    from openpyxl import load_workbook

    from scoring.export_html import render_html
    from scoring.export_pdf import write_pdf
    from scoring.export_xlsx import write_xlsx

    second = reason_attempt(engine, "Q003", tmp_path / "c.wav", (1.0, 2.0))
    third = reason_attempt(engine, "Q004", tmp_path / "d.wav", (1.0, 2.0))
    todos = {t.attempt_id: t for t in take(engine)}
    first = min(todos)
    reasons.save_result(engine, todos[first], done("一直没人来，打我电话13812345678"), NOW)
    rude = done("态度很差<script>alert(1)</script>", "态度")  # untrusted words: escaped in HTML
    reasons.save_result(engine, todos[second], rude, NOW)
    with engine.begin() as conn:  # the third, taken and not finished: 未转写
        conn.execute(update(CallAttempt).where(CallAttempt.id == third).values(
            reason_status=None))
    report = build_report(engine, parse_period(PERIOD), now=NOW)
    write_xlsx(report, tmp_path / "r.xlsx")
    rows = [[c.value for c in row] for row in load_workbook(tmp_path / "r.xlsx")["不满意原因"]]
    assert rows[0] == ["单位", "原因分类", "条数", "占已转写", "示例（号码已遮盖）"]
    street = [r for r in rows if r[0] == "青石街道"]
    assert street == [["青石街道", "上门", 1, 0.5, "「一直没人来，打我电话138****5678」"],
                      ["青石街道", "态度", 1, 0.5, "「态度很差<script>alert(1)</script>」"],
                      ["青石街道", "未转写", 1, None, None]]  # an empty cell
    assert [r[1:3] for r in rows if r[0] == "东湖区"] == [[r[1], r[2]] for r in street]
    html = render_html(report)
    assert "「一直没人来，打我电话138****5678」" in html and "13812345678" not in html
    assert html.index('id="reasons"') < html.index("剔除工单")
    assert "<script>" not in html and "态度很差&lt;script&gt;alert(1)&lt;/script&gt;" in html
    write_pdf(report, tmp_path / "r.pdf")
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "r.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "不满意原因" in text and "138****5678" in text and "13812345678" not in text
