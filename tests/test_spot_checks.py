"""Spot checks (抽检): the draw rule (deterministic, stratified, at least N a day), the
day's candidates, the blind check with its audit entry and correction, and the machine's
accuracy with Wilson intervals worked out by hand, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Connection, Engine, insert, select, update

from scoring.accuracy import machine_accuracy, sentence
from scoring.export_html import write_html
from scoring.export_json import report_dict
from scoring.export_pdf import write_pdf
from scoring.export_xlsx import write_xlsx
from scoring.periods import parse_period
from scoring.report import build_report
from store.audit import ReasonRequired
from store.campaign_models import CallAttempt, Callback, CallTurn
from store.console_models import AuditEntry
from store.corrections import Who
from store.enums import (
    AttemptOutcome,
    AttemptStatus,
    CallbackStatus,
    EvaluationSource,
    PhoneKind,
    Resolved,
    ReviewKind,
    Satisfaction,
    TicketStatus,
    TicketType,
)
from store.models import Closure, Evaluation, Ticket, Unit
from store.spot_check_results import AlreadyChecked, check
from store.spot_checks import SpotCheck, draw_day, heard_both
from store.spot_rule import Candidate, DrawRules, draw, draw_number
from tests.conftest import need

NOV = datetime(2026, 11, 10, 10, 0)
INTENT = {"yes": "resolved", "no": "unresolved", "satisfied": "satisfied",
          "basic": "basic_satisfied", "unsatisfied": "unsatisfied"}


# -- the rule ---------------------------------------------------------------------------
def test_the_draw_number_is_a_hash_of_the_attempt_id_alone() -> None:
    digest = hashlib.sha256(b"huifang spot check 42").digest()
    assert draw_number(42) == int.from_bytes(digest[:8], "big") / 2.0 ** 64
    assert draw_number(42) == draw_number(42) != draw_number(43)
    assert 0 <= draw_number(7) < 1


def test_the_draw_is_deterministic_and_stratified() -> None:
    rules = DrawRules(share=0.05, min_per_day=0, weights={"no": 3.0, "unsatisfied": 3.0})
    positives = [Candidate(i, "yes", "satisfied") for i in range(1, 20_001)]
    negatives = [Candidate(i, "no", "basic") for i in range(20_001, 40_001)]
    first = draw(positives + negatives, rules)
    assert first == draw(list(reversed(positives + negatives)), rules)  # order is no matter
    drawn = {d.attempt_id for d in first}
    share_pos = len(drawn & {c.attempt_id for c in positives}) / len(positives)
    share_neg = len(drawn & {c.attempt_id for c in negatives}) / len(negatives)
    # the hash is fixed, so these shares are fixed numbers: about 5 % and 15 %
    assert 0.045 < share_pos < 0.055 and 0.14 < share_neg < 0.16
    assert all(d.by == "share" and d.number / d.weight < 0.05 for d in first)
    assert {d.weight for d in first} == {1.0, 3.0}


def test_at_least_min_per_day_smallest_keys_first_counting_those_drawn_before() -> None:
    rules = DrawRules(share=0.0, min_per_day=5)
    calls = [Candidate(i, "yes", "satisfied") for i in range(1, 11)]
    chosen = draw(calls, rules)
    assert len(chosen) == 5 and {d.by for d in chosen} == {"minimum"}
    by_key = sorted(range(1, 11), key=draw_number)
    assert [d.attempt_id for d in chosen] == by_key[:5]
    # two drawn before count toward the five; they are never drawn twice
    again = draw(calls, rules, already=by_key[:2])
    assert [d.attempt_id for d in again] == by_key[2:5]
    assert draw(calls, rules, already=by_key[:5]) == []


def test_both_answers_must_come_from_the_call() -> None:
    turns = [("resolved", "unclear"), ("resolved", "resolved"), ("satisfied", "satisfied")]
    assert heard_both(turns, "yes", "satisfied")
    assert not heard_both(turns[:2], "yes", "satisfied")  # satisfaction from another call
    assert not heard_both(turns, "no", "satisfied")
    assert heard_both([("resolved", "unresolved"), ("resolved", "resolved"),
                       ("satisfied", "unsatisfied")], "yes", "unsatisfied")  # the last


# -- a store with calls -----------------------------------------------------------------
def _unit(conn: Connection) -> int:
    found = conn.execute(select(Unit.id)).scalar()
    if found is not None:
        return int(found)
    return int(conn.execute(insert(Unit).values(name="青石街道", created_at=NOV,
                                                updated_at=NOV).returning(Unit.id)).scalar_one())


def make_call(engine: Engine, n: int, resolved: str, satisfaction: str, at: datetime = NOV,
              *, turns: bool = True, outcome: AttemptOutcome = AttemptOutcome.COMPLETED,
              review_kind: ReviewKind | None = None) -> int:
    """One automatic call with both answers heard; the attempt id."""
    with engine.begin() as conn:
        unit = _unit(conn)
        phone = f"1380000{n:04d}"
        ticket = conn.execute(insert(Ticket).values(
            ticket_no=f"T{n:04d}", unit_id=unit, type=TicketType.COMPLAINT, phone=phone,
            phone_kind=PhoneKind.MOBILE, received_at=at - timedelta(days=5),
            closed_at=at - timedelta(days=1), status=TicketStatus.CLOSED, closure_count=1,
            created_at=at, updated_at=at).returning(Ticket.id)).scalar_one()
        closure = conn.execute(insert(Closure).values(
            ticket_id=ticket, seq=1, closed_at=at - timedelta(days=1), created_at=at
        ).returning(Closure.id)).scalar_one()
        callback = conn.execute(insert(Callback).values(
            closure_id=closure, ticket_id=ticket, phone=phone, status=CallbackStatus.DONE,
            due_at=at, deadline_at=at + timedelta(days=5), attempts=1, created_at=at,
            updated_at=at, review_kind=review_kind).returning(Callback.id)).scalar_one()
        attempt = conn.execute(insert(CallAttempt).values(
            callback_id=callback, ticket_id=ticket, call_id=f"c{n}", node="t", phone=phone,
            status=AttemptStatus.FINISHED, started_at=at, ended_at=at, outcome=outcome
        ).returning(CallAttempt.id)).scalar_one()
        if turns:
            for question, answer in (("resolved", resolved), ("satisfied", satisfaction)):
                conn.execute(insert(CallTurn).values(
                    attempt_id=attempt, question=question, intent=INTENT[answer],
                    confidence=0.9, source="speech", heard=answer, at=at))
        conn.execute(insert(Evaluation).values(
            closure_id=closure, ticket_id=ticket, resolved=resolved, satisfaction=satisfaction,
            source=EvaluationSource.AUTO, evaluated_at=at, evaluated_by="huifang",
            note=f"attempt {attempt}", created_at=at))
    return int(attempt)


def _spot(engine: Engine, attempt: int) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(SpotCheck.id).where(SpotCheck.attempt_id == attempt)
                                ).scalar_one())


def test_the_days_candidates_and_a_draw_that_never_changes(engine: Engine) -> None:
    good = [make_call(engine, i, "yes", "satisfied") for i in range(1, 9)]
    negative = make_call(engine, 9, "no", "unsatisfied", review_kind=ReviewKind.NEGATIVE)
    make_call(engine, 10, "yes", "satisfied", turns=False)  # answers not from this call
    make_call(engine, 11, "yes", "satisfied", outcome=AttemptOutcome.UNCLEAR)
    make_call(engine, 12, "yes", "satisfied", review_kind=ReviewKind.UNCLEAR)
    corrected = make_call(engine, 13, "yes", "satisfied")
    with engine.begin() as conn:
        conn.execute(update(Evaluation).where(Evaluation.note == f"attempt {corrected}")
                     .values(source=EvaluationSource.SUPERVISOR))
    make_call(engine, 14, "yes", "satisfied", at=NOV + timedelta(days=1))  # another day
    rules = DrawRules(share=0.0, min_per_day=3)
    first = draw_day(engine, NOV.date(), rules, NOV)
    assert (first.candidates, first.drawn_before, first.drawn_now) == (9, 0, 3)
    with engine.connect() as conn:
        drawn = set(conn.execute(select(SpotCheck.attempt_id)).scalars())
    expected = sorted([*good, negative], key=lambda a: draw_number(a) / (
        3.0 if a == negative else 1.0))[:3]
    assert drawn == set(expected)
    again = draw_day(engine, NOV.date(), rules, NOV + timedelta(hours=5))
    assert (again.drawn_before, again.drawn_now) == (3, 0)
    with engine.connect() as conn:
        assert set(conn.execute(select(SpotCheck.attempt_id)).scalars()) == drawn
    everything = draw_day(engine, NOV.date(), DrawRules(share=1.0, min_per_day=0), NOV)
    assert everything.drawn_now == 6  # the rest of the nine; nothing not a candidate


def test_a_disagreement_corrects_the_evaluation_with_its_audit(engine: Engine) -> None:
    attempt = make_call(engine, 1, "no", "unsatisfied")
    agreeing = make_call(engine, 2, "yes", "satisfied")
    draw_day(engine, NOV.date(), DrawRules(share=1.0), NOV)
    at = NOV + timedelta(days=1)
    result = check(engine, _spot(engine, attempt), Resolved.YES, Satisfaction.BASIC,
                   Who("zhijian", "市民说已经修好了", at, "127.0.0.1"))
    assert (result.agreed_resolved, result.agreed_satisfaction, result.corrected) == (
        False, False, True)
    kept = check(engine, _spot(engine, agreeing), Resolved.YES, Satisfaction.SATISFIED,
                 Who("zhijian", "", at))
    assert kept.agreed_resolved and kept.agreed_satisfaction and not kept.corrected
    with engine.connect() as conn:
        ev = conn.execute(select(Evaluation).where(Evaluation.note.like("抽检%"))).one()
        assert (ev.resolved, ev.satisfaction, ev.source, ev.evaluated_by) == (
            Resolved.YES, Satisfaction.BASIC, EvaluationSource.SUPERVISOR, "zhijian")
        untouched = conn.execute(select(Evaluation.source).where(
            Evaluation.note == f"attempt {agreeing}")).scalar_one()
        assert untouched == EvaluationSource.AUTO
        entries = conn.execute(select(AuditEntry).order_by(AuditEntry.id)).all()
        spot = conn.execute(select(SpotCheck).where(SpotCheck.attempt_id == attempt)).one()
    assert [e.action for e in entries] == ["spot_check", "correct_answer", "spot_check"]
    correction = json.loads(entries[1].after)
    assert correction["from"] == "spot_check" and correction["spot_check"] == spot.id
    assert json.loads(entries[1].before)["source"] == "auto"
    assert entries[1].reason.startswith("抽检不一致") and "市民说已经修好了" in entries[1].reason
    assert entries[2].reason == "抽检一致"
    assert (spot.checked_by, spot.checked_at, spot.checks) == ("zhijian", at, 1)
    assert (spot.machine_resolved, spot.checked_resolved) == (Resolved.NO, Resolved.YES)
    with pytest.raises(AlreadyChecked):
        check(engine, spot.id, Resolved.NO, Satisfaction.UNSATISFIED, Who("admin", "", at))
    with pytest.raises(ReasonRequired):
        check(engine, spot.id, Resolved.NO, Satisfaction.UNSATISFIED, Who("admin", " ", at),
              again=True)
    check(engine, spot.id, Resolved.NO, Satisfaction.UNSATISFIED,
          Who("admin", "重听后确认市民未解决", at), again=True)
    with engine.connect() as conn:
        last = conn.execute(select(AuditEntry).where(AuditEntry.action == "spot_check")
                            .order_by(AuditEntry.id.desc())).first()
        ev = conn.execute(select(Evaluation.resolved).where(
            Evaluation.ticket_id == spot.ticket_id)).scalar_one()
    assert last is not None and last.reason.startswith("再次抽检（此前由 zhijian")
    assert json.loads(last.before)["checked_by"] == "zhijian"
    assert ev == Resolved.NO  # the second check agreed with the machine: corrected back


# -- the accuracy, by hand ---------------------------------------------------------------
# (machine's answers, the person's): ten checked calls in November 2026
CHECKS = [*[(("yes", "satisfied"), ("yes", "satisfied"))] * 6,  # calls 1-6: both agree
          (("yes", "satisfied"), ("yes", "basic")),  # 7: satisfaction differs
          (("yes", "basic"), ("no", "basic")),  # 8: resolved differs
          (("no", "unsatisfied"), ("no", "unsatisfied")),  # 9: both agree
          (("no", "unsatisfied"), ("yes", "satisfied"))]  # 10: both differ


def test_machine_accuracy_by_hand(engine: Engine) -> None:
    attempts = [make_call(engine, i, m[0], m[1]) for i, (m, _) in enumerate(CHECKS, 1)]
    unchecked = make_call(engine, 11, "yes", "satisfied")  # drawn, never checked
    december = make_call(engine, 12, "no", "basic", at=datetime(2026, 12, 1, 9, 0))
    draw_day(engine, NOV.date(), DrawRules(share=1.0), NOV)
    draw_day(engine, date(2026, 12, 1), DrawRules(share=1.0), NOV)
    at = datetime(2026, 12, 2, 9, 0)
    for attempt, (_, (r, s)) in zip(attempts, CHECKS, strict=True):
        check(engine, _spot(engine, attempt), Resolved(r), Satisfaction(s), Who("zj", "", at))
    check(engine, _spot(engine, december), Resolved.YES, Satisfaction.BASIC, Who("zj", "", at))
    assert _spot(engine, unchecked)
    result = machine_accuracy(engine, date(2026, 11, 1), date(2026, 12, 1), floor=0.97)
    approx = pytest.approx

    # Wilson 95 %, z = 1.96, z² = 3.8415: low/high = (p + z²/2n ∓ z·√(p(1-p)/n + z²/4n²))
    # / (1 + z²/n).
    # resolved: agreed in calls 1-7 and 9 = 8 of 10. p = 0.8: centre 0.8 + 0.19207 =
    # 0.99207, spread 1.96·√(0.016 + 0.0096037) = 0.31362, scale 1.38415 ->
    # (0.67846 / 1.38415, 1.30569 / 1.38415) = (0.49016, 0.94331)
    r = result["resolved"]
    assert (r["checked"], r["agreed"], r["rate"]) == (10, 8, 0.8)
    assert r["interval"] == approx([0.49016, 0.94331], abs=1e-4)
    # the machine said 已解决 in calls 1-8, the person too in 1-7: 7 of 8. p = 0.875:
    # centre 0.875 + 0.24009 = 1.11509, spread 1.96·√(0.013672 + 0.015006) = 0.33192,
    # scale 1.48018 -> (0.78317 / 1.48018, 1.44701 / 1.48018) = (0.52911, 0.97759)
    yes = r["by_answer"]["yes"]
    assert (yes["checked"], yes["agreed"], yes["rate"]) == (8, 7, 0.875)
    assert yes["interval"] == approx([0.52911, 0.97759], abs=1e-4)
    # 未解决 in calls 9-10, agreed in 9: 1 of 2. centre 0.5 + 0.96037 = 1.46037, spread
    # 1.96·√(0.125 + 0.24009) = 1.18427, scale 2.92073 -> (0.09453, 0.90547)
    no = r["by_answer"]["no"]
    assert (no["checked"], no["agreed"]) == (2, 1)
    assert no["interval"] == approx([0.09453, 0.90547], abs=1e-4)
    # satisfied: agreed in calls 1-6, 8, 9 = 8 of 10: the same interval as resolved's
    s = result["satisfied"]
    assert (s["checked"], s["agreed"], s["rate"]) == (10, 8, 0.8)
    assert s["interval"] == approx([0.49016, 0.94331], abs=1e-4)
    # 满意 in calls 1-7, agreed in 1-6: 6 of 7. p = 0.857143: centre 0.857143 + 0.274393
    # = 1.131536, spread 1.96·√(0.017493 + 0.019599) = 0.377477, scale 1.548786 ->
    # (0.754059 / 1.548786, 1.509013 / 1.548786) = (0.48687, 0.97432)
    sat = s["by_answer"]["satisfied"]
    assert (sat["checked"], sat["agreed"]) == (7, 6)
    assert sat["interval"] == approx([0.48687, 0.97432], abs=1e-4)
    # 基本满意 in call 8, agreed: 1 of 1. centre 1 + 1.92073, spread 1.96·√(0.96037) =
    # 1.92073, scale 4.8415 -> (1 / 4.8415, 1) = (0.20655, 1)
    basic = s["by_answer"]["basic"]
    assert (basic["checked"], basic["agreed"], basic["rate"]) == (1, 1, 1.0)
    assert basic["interval"] == approx([0.20655, 1.0], abs=1e-4)
    unsat = s["by_answer"]["unsatisfied"]  # calls 9-10, agreed in 9: 1 of 2, as 未解决
    assert (unsat["checked"], unsat["agreed"]) == (2, 1)
    assert unsat["interval"] == approx([0.09453, 0.90547], abs=1e-4)
    # both answers at once: calls 1-6 and 9 = 7 of 10. p = 0.7: centre 0.89207, spread
    # 1.96·√(0.021 + 0.0096037) = 0.34288 -> (0.54920 / 1.38415, 1.23495 / 1.38415) =
    # (0.39678, 0.89221)
    both = result["both"]
    assert (both["checked"], both["agreed"], both["rate"]) == (10, 7, 0.7)
    assert both["interval"] == approx([0.39678, 0.89221], abs=1e-4)
    # the floor 97 %: every upper bound (0.943, 0.943, 0.892) is below it
    assert result["alert"] and r["below_floor"] and s["below_floor"]
    assert sentence(result) == ("智能回访抽检 10 通，一致率 70.0%（95% 区间 39.7%–89.2%）；"
                                "解决情况 8/10 一致，满意度 8/10 一致。")
    # at 90 % only "both" (0.892) is below; at 80 % nothing
    assert machine_accuracy(engine, date(2026, 11, 1), date(2026, 12, 1), floor=0.9)["alert"]
    calm = machine_accuracy(engine, date(2026, 11, 1), date(2026, 12, 1), floor=0.8)
    assert not calm["alert"] and not calm["resolved"]["below_floor"]
    # December: the one check of the call on the 1st, which agreed on satisfaction only
    dec = machine_accuracy(engine, date(2026, 12, 1), date(2027, 1, 1))
    assert (dec["resolved"]["checked"], dec["resolved"]["agreed"]) == (1, 0)
    assert (dec["satisfied"]["checked"], dec["satisfied"]["agreed"]) == (1, 1)
    with engine.connect() as conn:  # a connection does as well as an engine
        assert machine_accuracy(conn, date(2026, 11, 1), date(2026, 12, 1),
                                floor=0.97)["both"] == both


def test_the_reports_carry_the_accuracy(engine: Engine, tmp_path: Path) -> None:
    attempts = [make_call(engine, i, m[0], m[1]) for i, (m, _) in enumerate(CHECKS, 1)]
    draw_day(engine, NOV.date(), DrawRules(share=1.0), NOV)
    at = datetime(2026, 12, 2, 9, 0)
    for attempt, (_, (r, s)) in zip(attempts, CHECKS, strict=True):
        check(engine, _spot(engine, attempt), Resolved(r), Satisfaction(s), Who("zj", "", at))
    report = build_report(engine, parse_period("2026-11"), now=at)
    said = "智能回访抽检 10 通，一致率 70.0%（95% 区间 39.7%–89.2%）"
    data = report_dict(report)["machine_accuracy"]
    assert data["resolved"]["checked"] == 10 and data["resolved"]["agreed"] == 8
    assert data["satisfied"]["by_answer"]["satisfied"]["agreed"] == 6
    write_xlsx(report, tmp_path / "r.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx")["指标说明"]
    assert any(str(c.value or "").startswith(said) for row in sheet.iter_rows() for c in row)
    write_html(report, tmp_path / "r.html")
    assert said in (tmp_path / "r.html").read_text(encoding="utf-8")
    write_pdf(report, tmp_path / "r.pdf")
    need(shutil.which("pdftotext") is not None, "pdftotext missing (poppler-utils)")
    text = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "智能回访抽检 10 通" in text and "39.7%–89.2%" in text
    # December has no checks: the sentence says so
    empty = build_report(engine, parse_period("2026-12"), now=at, with_trends=False)
    assert sentence(empty.machine_accuracy) == "智能回访本期未抽检，尚无一致率。"


def test_the_service_job_draws_yesterday_off_the_reactor_and_exports_the_alert(
        sqlite_engine: Engine) -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from twisted.internet import defer, task

    from huifang.spot_check_settings import SpotChecksSection
    from huifang.spot_checks import AccuracyCollector, SpotCheckJob

    attempts = [make_call(sqlite_engine, i, "yes", "satisfied") for i in range(1, 4)]
    clock, ran = task.Clock(), []

    def in_store(fn: object, *args: object) -> defer.Deferred[object]:
        ran.append(getattr(fn, "__name__", ""))
        return defer.maybeDeferred(fn, *args)  # type: ignore[arg-type]

    section = SpotChecksSection(min_per_day=2, share=0.0, every_s=60)
    now = NOV + timedelta(days=1, hours=8)
    job = SpotCheckJob(sqlite_engine, section, lambda: now, clock, in_store)
    registry = CollectorRegistry()
    registry.register(AccuracyCollector(lambda: job.accuracy))
    assert b"huifang_spot_check_alert" not in generate_latest(registry)  # nothing yet
    job.start()
    assert ran == ["draw_days", "recent_accuracy"] and job.runs == 1
    with sqlite_engine.connect() as conn:
        drawn = list(conn.execute(select(SpotCheck.attempt_id)).scalars())
    assert len(drawn) == 2 and set(drawn) <= set(attempts)
    check(sqlite_engine, _spot(sqlite_engine, drawn[0]), Resolved.NO, Satisfaction.SATISFIED,
          Who("zj", "", now))
    clock.advance(60)
    assert job.runs == 2 and job.accuracy is not None
    metrics = generate_latest(registry).decode()
    assert 'huifang_spot_check_checked{question="resolved"} 1.0' in metrics
    assert 'huifang_spot_check_agreement{question="resolved"} 0.0' in metrics
    assert "huifang_spot_check_alert 1.0" in metrics
    job.stop()
    clock.advance(600)
    assert job.runs == 2


def test_weights_name_answers() -> None:
    from pydantic import ValidationError

    from huifang.spot_check_settings import SpotChecksSection

    with pytest.raises(ValidationError, match="'bad' is not an answer"):
        SpotChecksSection(weights={"bad": 2.0})
    with pytest.raises(ValidationError, match="above 0"):
        SpotChecksSection(weights={"no": 0.0})
    assert SpotChecksSection().rules().weight("yes", "unsatisfied") == 3.0
