"""When bulletins are due (pure), and the monthly analysis's comparisons (pure, over
reports).

- 日报 (daily) for day D: on D+1 at `daily_at`, every day;
- 周报 (weekly) for ISO week W (Monday to Sunday): on the Monday after at `weekly_at`;
- 月报 (monthly) for month M: on the first working day of the month after (holidays and
  调休 as the working-day calendar says) at `monthly_at`.

`due(now, ...)` lists every bulletin whose time came in the last `catch_up_days` days up
to `now`: what the service makes if not made yet, so a bulletin missed while the service
was down is made when it is back. Older ones are left to `huifang report`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from scoring.periods import Period, parse_period
from scoring.report import RATE_LABELS, Report, UnitReport
from store.bulletins import BulletinKind

IsWorkday = Callable[[date], bool]
COMPARED = ("response_rate", "resolution_rate", "satisfaction_rate")


@dataclass(frozen=True)
class Schedule:
    daily_at: time = time(7, 30)
    weekly_at: time = time(8, 0)
    monthly_at: time = time(8, 30)
    catch_up_days: int = 7
    kinds: tuple[BulletinKind, ...] = tuple(BulletinKind)


@dataclass(frozen=True)
class Due:
    kind: BulletinKind
    period: str  # the period's label: 2026-11-27, 2026-W48, 2026-11
    at: datetime  # when it was due


def first_workday(year: int, month: int, is_workday: IsWorkday) -> date:
    """The month's first working day (a month has one within its first 20 days: the
    longest holiday, 春节 with its weekends, is 9 days)."""
    day = date(year, month, 1)
    for _ in range(31):
        if is_workday(day):
            return day
        day += timedelta(days=1)
    raise ValueError(f"no working day in {year}-{month:02d}")


def _month_after(day: date) -> tuple[int, int]:
    return (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)


def due_at(kind: BulletinKind, period: Period, schedule: Schedule,
           is_workday: IsWorkday) -> datetime:
    """When the bulletin of `period` is due (the period's kind must be the bulletin's)."""
    end = period.end.date()  # the day after the period
    if kind is BulletinKind.DAILY:
        return datetime.combine(end, schedule.daily_at)
    if kind is BulletinKind.WEEKLY:
        return datetime.combine(end, schedule.weekly_at)  # a week ends on Sunday
    year, month = period.end.year, period.end.month
    return datetime.combine(first_workday(year, month, is_workday), schedule.monthly_at)


def _periods(kind: BulletinKind, since: date, until: date) -> list[Period]:
    """The periods of `kind` that end between `since` and `until` (a little margin)."""
    found: list[Period] = []
    if kind is BulletinKind.DAILY:
        day = since - timedelta(days=1)
        while day <= until:
            found.append(parse_period(day.isoformat()))
            day += timedelta(days=1)
    elif kind is BulletinKind.WEEKLY:
        monday = since - timedelta(days=since.weekday() + 7)
        while monday <= until:
            found.append(parse_period(monday.strftime("%G-W%V")))
            monday += timedelta(days=7)
    else:
        year, month = since.year, since.month - 1
        if month == 0:
            year, month = year - 1, 12
        while date(year, month, 1) <= until:
            found.append(parse_period(f"{year:04d}-{month:02d}"))
            year, month = _month_after(date(year, month, 1))
    return found


def due(now: datetime, schedule: Schedule, is_workday: IsWorkday) -> list[Due]:
    """Every bulletin due in (now - catch_up_days, now], the oldest first."""
    since = now - timedelta(days=schedule.catch_up_days)
    found: list[Due] = []
    for kind in schedule.kinds:
        for period in _periods(kind, since.date() - timedelta(days=1), now.date()):
            at = due_at(kind, period, schedule, is_workday)
            if since < at <= now:
                found.append(Due(kind, period.label, at))
    return sorted(found, key=lambda d: (d.at, d.kind, d.period))


def period_of(kind: BulletinKind, label: str) -> Period:
    period = parse_period(label)
    expected = {BulletinKind.DAILY: "day", BulletinKind.WEEKLY: "week",
                BulletinKind.MONTHLY: "month"}[kind]
    if period.kind != expected:
        raise ValueError(f"{label!r} is not a {expected} ({kind})")
    return period


def same_month_last_year(period: Period) -> Period:
    return parse_period(f"{period.start.year - 1:04d}-{period.start.month:02d}")


# -- the monthly analysis's comparisons -----------------------------------------------
def _beyond(now: UnitReport, then: UnitReport, name: str) -> bool | None:
    """Whether the two periods' Wilson 95 % intervals of a rate do not overlap: a change
    beyond what sampling explains (a real rise or fall), not noise. None without data."""
    a, b = now.rates.intervals.get(name), then.rates.intervals.get(name)
    if a is None or b is None:
        return None
    return a[0] > b[1] or b[0] > a[1]


def _against(unit: UnitReport, other: UnitReport | None, name: str) -> dict[str, object]:
    value = getattr(unit.rates, name)
    old = getattr(other.rates, name) if other is not None else None
    change = None if value is None or old is None else round(value - old, 6)
    beyond = _beyond(unit, other, name) if other is not None and change is not None else None
    verdict = ("无可比数据" if beyond is None else
               ("显著上升" if change and change > 0 else "显著下降") if beyond else "波动范围内")
    return {"value": None if old is None else round(old, 6), "change": change,
            "beyond_interval": beyond, "verdict": verdict}


def comparison(current: Report, previous: Report, last_year: Report) -> dict[str, object]:
    """Per unit and rate: this month, the previous month's and last year's same month's
    value, the change and whether it lies beyond the intervals; and the carded units."""
    before = {u.info.name: u for u in previous.units}
    year_ago = {u.info.name: u for u in last_year.units}
    units = []
    for u in current.units:
        rates: dict[str, object] = {}
        for name in COMPARED:
            value = getattr(u.rates, name)
            rates[name] = {
                "label": RATE_LABELS[name],
                "value": None if value is None else round(value, 6),
                "previous_month": _against(u, before.get(u.info.name), name),
                "last_year": _against(u, year_ago.get(u.info.name), name)}
        units.append({"unit": u.info.name, "group": u.info.group, "rank": u.rank,
                      "card": u.card, "rates": rates})
    cards = {card: [{"unit": u.info.name, "group": u.info.group, "rank": u.rank}
                    for u in current.units if u.card == card] for card in ("red", "yellow")}
    return {"period": current.period.label, "previous_month": previous.period.label,
            "last_year": last_year.period.label, "units": units,
            "red_cards": cards["red"], "yellow_cards": cards["yellow"]}


def cards_sentence(analysis: dict[str, Any]) -> str:
    """The monthly analysis's carded units in one sentence leadership reads."""
    def names(key: str) -> str:
        listed = analysis.get(key) or []
        return "、".join(f"{c['unit']}（{c['group']}）" if c.get("group") else str(c["unit"])
                        for c in listed) or "无"
    return f"本月红牌：{names('red_cards')}；黄牌：{names('yellow_cards')}。"


def comparison_rows(analysis: dict[str, Any]) -> list[dict[str, object]]:
    """One row per unit and compared rate: this month, the previous month and last year's
    same month, each change (percentage points) and whether it is beyond the intervals."""
    rows: list[dict[str, object]] = []
    for unit in analysis.get("units", []):
        for rate in unit["rates"].values():
            before, year = rate["previous_month"], rate["last_year"]
            rows.append({"unit": unit["unit"], "group": unit["group"], "rate": rate["label"],
                         "value": rate["value"], "previous": before["value"],
                         "previous_change": before["change"],
                         "previous_verdict": before["verdict"], "last_year": year["value"],
                         "last_year_change": year["change"],
                         "last_year_verdict": year["verdict"]})
    return rows
