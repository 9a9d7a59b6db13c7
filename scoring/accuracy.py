"""The machine's measured accuracy (智能回访抽检一致率): of the spot checks of a period's
automatic calls, how often the person who listened blind gave the machine's answer.

Per question (resolved, satisfied), per the machine's answer, and for both answers of a
call at once ("both": the call agrees when both do): checks made, agreements, the rate
and its Wilson 95 % interval. The period is the calls' (the attempt's start in
[start, end)), so a month's figure speaks of the month's calls whenever they were checked.
Strata are drawn at different shares (不满意/未解决 more often), so the whole-question
rate leans towards the negative answers' accuracy; `by_answer` gives each stratum alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, Engine, select

from scoring.rates import wilson
from store.enums import Resolved, Satisfaction
from store.spot_checks import SpotCheck

QUESTIONS = ("resolved", "satisfied")
ANSWERS = {"resolved": tuple(str(r) for r in Resolved if r is not Resolved.UNKNOWN),
           "satisfied": tuple(str(s) for s in Satisfaction if s is not Satisfaction.UNKNOWN)}
ANSWER_LABELS = {"yes": "已解决", "no": "未解决", "satisfied": "满意", "basic": "基本满意",
                 "unsatisfied": "不满意"}
QUESTION_LABELS = {"resolved": "解决情况", "satisfied": "满意度", "both": "两项答复"}


@dataclass(frozen=True)
class Check:
    """One checked call: the machine's answers and whether the person agreed with each."""

    machine_resolved: str
    machine_satisfaction: str
    agreed_resolved: bool
    agreed_satisfaction: bool


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def figure(checked: int, agreed: int) -> dict[str, Any]:
    """{"checked", "agreed", "rate", "interval"}: the rate and its Wilson 95 % interval,
    None when nothing was checked."""
    interval = wilson(agreed, checked)
    return {"checked": checked, "agreed": agreed,
            "rate": _round(agreed / checked) if checked else None,
            "interval": None if interval is None else [_round(v) for v in interval]}


def accuracy(checks: Iterable[Check], floor: float | None = None) -> dict[str, Any]:
    """The figures of these checks (pure). With a floor, each question says whether its
    interval's upper bound fell below it (`below_floor`) and `alert` whether any did."""
    counts = {q: {a: [0, 0] for a in ANSWERS[q]} for q in QUESTIONS}
    both = [0, 0]
    for c in checks:
        for question, answer, agreed in (
                ("resolved", c.machine_resolved, c.agreed_resolved),
                ("satisfied", c.machine_satisfaction, c.agreed_satisfaction)):
            cell = counts[question].setdefault(answer, [0, 0])
            cell[0] += 1
            cell[1] += int(agreed)
        both[0] += 1
        both[1] += int(c.agreed_resolved and c.agreed_satisfaction)
    result: dict[str, Any] = {}
    for question in QUESTIONS:
        cells = counts[question]
        entry = figure(sum(n for n, _ in cells.values()), sum(k for _, k in cells.values()))
        entry["by_answer"] = {a: figure(n, k) for a, (n, k) in cells.items()}
        result[question] = entry
    result["both"] = figure(both[0], both[1])
    if floor is not None:
        result["floor"] = floor
        for name in (*QUESTIONS, "both"):
            result[name]["below_floor"] = below_floor(result[name], floor)
        result["alert"] = any(result[n]["below_floor"] for n in (*QUESTIONS, "both"))
    return result


def below_floor(entry: dict[str, Any], floor: float) -> bool:
    """The interval's upper bound is below the floor: the machine is measurably worse."""
    interval = entry.get("interval")
    return interval is not None and interval[1] < floor


def _moment(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time(0))


def checks_between(conn: Connection, start: date | datetime, end: date | datetime
                   ) -> list[Check]:
    rows = conn.execute(select(SpotCheck.machine_resolved, SpotCheck.machine_satisfaction,
                               SpotCheck.agreed_resolved, SpotCheck.agreed_satisfaction)
                        .where(SpotCheck.call_at >= _moment(start),
                               SpotCheck.call_at < _moment(end),
                               SpotCheck.checked_at.is_not(None))).all()
    return [Check(str(r[0]), str(r[1]), bool(r[2]), bool(r[3])) for r in rows]


def machine_accuracy(engine_or_conn: Engine | Connection, start: date | datetime,
                     end: date | datetime, *, floor: float | None = None) -> dict[str, Any]:
    """The spot checks' figures for the automatic calls made in [start, end):
    {"resolved": {"checked", "agreed", "rate", "interval", "by_answer": {answer: {...}}},
     "satisfied": {...}, "both": {...}, "start", "end"} (+ "floor", "alert" with a floor)."""
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.connect() as conn:
            checks = checks_between(conn, start, end)
    else:
        checks = checks_between(engine_or_conn, start, end)
    result = accuracy(checks, floor)
    result["start"] = _moment(start).isoformat(sep=" ")
    result["end"] = _moment(end).isoformat(sep=" ")
    return result


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def sentence(result: dict[str, Any]) -> str:
    """智能回访抽检 n 通，一致率 r（95% 区间 lo–hi）: for leaders, of both answers at once,
    with each question's agreements after it."""
    both = result["both"]
    if not both["checked"]:
        return "智能回访本期未抽检，尚无一致率。"
    lo, hi = both["interval"]
    parts = "，".join(f"{QUESTION_LABELS[q]} {result[q]['agreed']}/{result[q]['checked']} 一致"
                     for q in QUESTIONS)
    return (f"智能回访抽检 {both['checked']} 通，一致率 {percent(both['rate'])}"
            f"（95% 区间 {percent(lo)}–{percent(hi)}）；{parts}。")
