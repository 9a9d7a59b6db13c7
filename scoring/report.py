"""A period's report: every unit's counts, rates, intervals, rank and card, with the
definitions used, the excluded tickets, the previous period's changes and group trends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, select

from scoring.accuracy import machine_accuracy
from scoring.aggregate import UnitInfo, descendants, excluded, load_units, own_counts, roll_up
from scoring.calendar import build_calendar
from scoring.facts import closure_facts
from scoring.periods import Period
from scoring.rates import Counts, Rates, competition_ranks, rank_key, rates
from scoring.reasons import reason_counts
from scoring.rules import DEFINITIONS_EN, DEFINITIONS_ZH, ScoringRules

RATE_NAMES = ("response_rate", "resolution_rate", "satisfaction_rate", "on_time_closure_rate",
              "callback_rate")
RED, YELLOW = "red", "yellow"
RATE_LABELS = {"response_rate": "响应率", "resolution_rate": "解决率",
               "satisfaction_rate": "满意率", "on_time_closure_rate": "按时办结率",
               "callback_rate": "回访率"}


@dataclass
class UnitReport:
    info: UnitInfo
    parent: str | None
    counts: Counts
    rates: Rates
    rank: int | None = None
    card: str | None = None
    unranked_reason: str | None = None
    change: dict[str, float | None] = field(default_factory=dict)
    # the citizens' reasons for 不满意/未解决 in the period, by category (scoring.reasons)
    reasons: dict[str, object] = field(default_factory=dict)


@dataclass
class Report:
    period: Period
    generated_at: datetime
    rules: ScoringRules
    units: list[UnitReport]
    excluded: list[dict[str, object]]
    top_categories: list[dict[str, object]]
    trends: dict[str, list[dict[str, object]]]
    scope: dict[str, str | None]
    # the spot checks of the period's automatic calls (scoring.accuracy), all units
    machine_accuracy: dict[str, Any] = field(default_factory=dict)
    # the monthly analysis (月报) only: against the previous month and last year's same
    # month (scoring.bulletins.comparison); empty in every other report
    comparison: dict[str, Any] = field(default_factory=dict)

    def groups(self) -> list[str]:
        return sorted({u.info.group for u in self.units if u.info.group})


def _unit_reports(units: dict[int, UnitInfo], totals: dict[int, Counts],
                  rules: ScoringRules) -> dict[int, UnitReport]:
    reports = {
        uid: UnitReport(info=info, parent=units[info.parent_id].name if info.parent_id else None,
                        counts=totals.get(uid, Counts()),
                        rates=rates(totals.get(uid, Counts()), rules))
        for uid, info in units.items()
    }
    by_group: dict[str, list[UnitReport]] = {}
    for report in reports.values():
        if report.info.group is None:
            report.unranked_reason = "不参与排名（无考核分组）"
            continue
        if report.counts.evaluated < rules.min_sample:
            report.unranked_reason = (f"回访样本不足（{report.counts.evaluated} < "
                                      f"{rules.min_sample}），不参与排名")
            continue
        if report.rates.composite is None:
            missing = [n for n in ("response_rate", "resolution_rate", "satisfaction_rate")
                       if getattr(report.rates, n) is None]
            names = "、".join(RATE_LABELS[n] for n in missing)
            report.unranked_reason = f"缺少{names}数据，不参与排名"
            continue
        by_group.setdefault(report.info.group, []).append(report)
    for members in by_group.values():
        members.sort(key=lambda r: -rank_key(r.rates.composite or 0.0))
        ranks = competition_ranks([rank_key(r.rates.composite or 0.0) for r in members])
        for member, rank in zip(members, ranks, strict=True):
            member.rank = rank
        worst = max(ranks)
        for member in members:
            # the bottom of a ranking, when there is a bottom: a group all tied has none
            if worst > min(ranks) and member.rank == worst:
                member.card = RED
            elif (member.rates.satisfaction_rate is not None
                  and member.rates.satisfaction_rate < rules.yellow_satisfaction_below):
                member.card = YELLOW
    return reports


def _group_counts(units: dict[int, UnitInfo], totals: dict[int, Counts]) -> dict[str, Counts]:
    groups: dict[str, Counts] = {}
    for uid, info in units.items():
        if info.group:
            groups[info.group] = groups.get(info.group, Counts()) + totals.get(uid, Counts())
    return groups


def top_categories(conn: Connection, period: Period, unit_ids: set[int] | None,
                   limit: int = 10) -> list[dict[str, object]]:
    """Categories with the most 不满意 or 未解决 answers among the period's counted tickets."""
    c = closure_facts(period).subquery()
    negative = func.count()  # rows are filtered to those with a negative answer
    query = (select(c.c.category, negative.label("negative"),
                    func.sum(c.c.is_unsatisfied).label("unsatisfied"),
                    func.sum(c.c.is_unresolved).label("unresolved"),
                    func.sum(c.c.evaluated).label("evaluated"))
             .where(c.c.excluded_reason.is_(None))
             .where(or_(c.c.is_unsatisfied == 1, c.c.is_unresolved == 1))
             .group_by(c.c.category).order_by(negative.desc(), c.c.category).limit(limit))
    if unit_ids is not None:
        query = query.where(c.c.unit_id.in_(unit_ids))
    return [{"category": r.category or "(未分类)", "negative": int(r.negative),
             "unsatisfied": int(r.unsatisfied), "unresolved": int(r.unresolved)}
            for r in conn.execute(query)]


def build_report(engine: Engine, period: Period, *, rules: ScoringRules | None = None,
                 now: datetime, group: str | None = None, unit: str | None = None,
                 with_trends: bool = True) -> Report:
    rules = rules or ScoringRules()
    today = now.date()
    with engine.connect() as conn:
        build_calendar(conn, rules, max(today, period.end.date()))
        units = load_units(conn)
        totals = roll_up(units, own_counts(conn, period, today))
        previous_period = period.previous()
        previous = roll_up(units, own_counts(conn, previous_period, today))
        reports = _unit_reports(units, totals, rules)
        before = _unit_reports(units, previous, rules)
        for uid, report in reports.items():
            for name in RATE_NAMES:
                now_value = getattr(report.rates, name)
                old_value = getattr(before[uid].rates, name)
                report.change[name] = (None if now_value is None or old_value is None
                                       else now_value - old_value)
        scope_ids = _scope(units, group, unit)
        trends: dict[str, list[dict[str, object]]] = {}
        if with_trends:
            for past in period.history(rules.trend_periods):
                counts = previous if past == previous_period else totals if past == period \
                    else roll_up(units, own_counts(conn, past, today))
                for name, total in _group_counts(units, counts).items():
                    r = rates(total, rules)
                    trends.setdefault(name, []).append({
                        "period": past.label, "resolution_rate": r.resolution_rate,
                        "satisfaction_rate": r.satisfaction_rate, "composite": r.composite})
        exclusions = [e for e in excluded(conn, period)
                      if scope_ids is None or e["unit_id"] in scope_ids]
        for e in exclusions:
            e["unit"] = units[e.pop("unit_id")].name  # type: ignore[index]
        categories = top_categories(conn, period, scope_ids)
        said = reason_counts(conn, period.start, period.end,
                             {uid: info.parent_id for uid, info in units.items()})
        for uid, report in reports.items():
            report.reasons = said[uid]
        accuracy = machine_accuracy(conn, period.start, period.end)
    listed = [r for uid, r in reports.items() if scope_ids is None or uid in scope_ids]
    if group is not None:
        listed = [r for r in listed if r.info.group == group]
    listed.sort(key=_order)
    return Report(period=period, generated_at=now, rules=rules, units=listed,
                  excluded=exclusions, top_categories=categories,
                  trends={g: t for g, t in trends.items() if group in (None, g)},
                  scope={"group": group, "unit": unit}, machine_accuracy=accuracy)


def _scope(units: dict[int, UnitInfo], group: str | None, unit: str | None) -> set[int] | None:
    if unit is not None:
        match = [u.id for u in units.values() if u.name == unit]
        if not match:
            raise KeyError(f"unknown unit {unit!r}")
        return descendants(units, match[0]) if group is None else {match[0]}
    if group is not None:
        ids = {u.id for u in units.values() if u.group == group}
        if not ids:
            raise KeyError(f"unknown ranking group {group!r}")
        return set().union(*(descendants(units, uid) for uid in ids))
    return None


def _order(report: UnitReport) -> tuple[object, ...]:
    return (report.info.group is None, report.info.group or "", report.rank is None,
            report.rank or 0, report.info.name)


def definitions(rules: ScoringRules) -> dict[str, object]:
    return {"rules": rules.as_definitions(), "zh": DEFINITIONS_ZH, "en": DEFINITIONS_EN}


