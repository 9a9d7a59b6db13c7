"""`huifang explain`: the tickets behind each of a unit's numbers.

It prints the same fact rows that the aggregates sum (scoring.facts), so every count in
a report can be traced to tickets, and every ticket left out says why.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select

from scoring.aggregate import descendants, load_units
from scoring.calendar import build_calendar
from scoring.facts import closure_facts, response_facts
from scoring.periods import Period
from scoring.report import build_report
from scoring.rules import ScoringRules
from store.enums import RESOLVED_LABELS, SATISFACTION_LABELS, Resolved, Satisfaction

Section = tuple[str, list[str], list[list[object]]]


def _score(row: object, rules: ScoringRules) -> float | None:
    if getattr(row, "both_positive", 0):
        return rules.score_both_positive
    if getattr(row, "one_negative", 0):
        return rules.score_one_negative
    if getattr(row, "both_negative", 0):
        return rules.score_both_negative
    return None


def explain_rows(engine: Engine, period: Period, unit: str, *, rules: ScoringRules,
                 now: datetime) -> list[Section]:
    report = build_report(engine, period, rules=rules, now=now, unit=unit, with_trends=False)
    target = next(u for u in report.units if u.info.name == unit)
    with engine.connect() as conn:
        build_calendar(conn, rules, max(now.date(), period.end.date()))
        units = load_units(conn)
        unit_id = next(u.id for u in units.values() if u.name == unit)
        scope = descendants(units, unit_id)
        names = {u.id: u.name for u in units.values()}
        r = response_facts(period, now.date()).subquery()
        response = conn.execute(select(r).where(r.c.unit_id.in_(scope))
                                .order_by(r.c.dispatched_at)).all()
        c = closure_facts(period).subquery()
        closures = conn.execute(select(c).where(c.c.unit_id.in_(scope))
                                .order_by(c.c.closed_at)).all()
    c_ = target.counts
    summary: Section = ("汇总 summary", ["项目", "数值", "说明"], [
        ["名次 rank", target.rank or "-", target.unranked_reason or target.card or ""],
        ["响应率", f"{c_.signed_in_time}/{c_.response_due}", "按时签收/已到时限 (下表)"],
        ["解决率", f"{c_.resolved}/{c_.resolved + c_.unresolved}", "已解决/(已解决+未解决)"],
        ["满意率", f"{c_.satisfied}+{c_.basic_satisfied}×{rules.basic_weight:g}/"
                   f"{c_.satisfied + c_.basic_satisfied + c_.unsatisfied}",
         "(满意+基本满意×权重)/(满意+基本满意+不满意)"],
        ["按时办结率", f"{c_.closed_on_time}/{c_.closed}", ""],
        ["回访率", f"{c_.evaluated}/{c_.closed}", ""],
        ["得分", f"{target.rates.score_total:g}", "双满意+1 单否-0.5 双否-1"],
    ])
    response_rows = []
    for row in response:
        if row.excluded_reason:
            counted = f"已剔除：{row.excluded_reason}"
        elif not row.due:
            counted = "未到签收时限，不计"
        elif row.in_time:
            counted = "按时签收"
        else:
            counted = "超时签收" if row.signed_at else "超时未签收"
        response_rows.append([row.ticket_no, names[row.unit_id], row.dispatched_at,
                              row.signed_at, row.response_deadline, counted])
    closure_rows = []
    for row in closures:
        resolved = RESOLVED_LABELS[Resolved(row.resolved)] if row.resolved else "未回访"
        satisfaction = (SATISFACTION_LABELS[Satisfaction(row.satisfaction)]
                        if row.satisfaction else "未回访")
        score = _score(row, rules)
        closure_rows.append([
            row.ticket_no, names[row.unit_id], row.closure_seq, row.closed_at,
            row.deadline_at or row.closure_deadline, "是" if row.on_time else "否",
            resolved, satisfaction, "-" if score is None else f"{score:g}",
            f"已剔除：{row.excluded_reason}" if row.excluded_reason else "计入"])
    return [
        summary,
        (f"响应 response: 派单于 {period.label}", ["工单编号", "单位", "派单时间", "签收时间",
                                                  "签收时限(当日止)", "计入方式"], response_rows),
        (f"办结与回访 closures: 最近一次办结于 {period.label}",
         ["工单编号", "单位", "办结次序", "办结时间", "时限", "按时", "是否解决", "满意度",
          "得分", "计入方式"], closure_rows),
    ]
