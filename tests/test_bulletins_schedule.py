"""The bulletins' schedule as a pure rule: which (kind, period) are due at a given time,
the first working day after a holiday, missed runs caught up within catch_up_days."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from scoring.bulletins import Due, Schedule, due, due_at, first_workday, period_of
from store.bulletins import BulletinKind
from store.workdays import Calendar, is_workday, parse_days, set_calendar

D, W, M = BulletinKind.DAILY, BulletinKind.WEEKLY, BulletinKind.MONTHLY
SCHEDULE = Schedule(daily_at=time(7, 30), weekly_at=time(8, 0), monthly_at=time(8, 30),
                    catch_up_days=7)


def weekdays(day: date) -> bool:
    return day.weekday() < 5


def labels(items: list[Due]) -> list[tuple[str, str]]:
    return [(str(d.kind), d.period) for d in items]


def test_before_the_morning_nothing_of_today_is_due() -> None:
    # Tuesday 2026-11-24 07:29, looking back one day: yesterday's 日报 is not due yet;
    # the day before's (due Monday 07:30) and last week's 周报 (Monday 08:00) are
    tight = Schedule(catch_up_days=1)
    assert labels(due(datetime(2026, 11, 24, 7, 29), tight, weekdays)) == [
        ("daily", "2026-11-22"), ("weekly", "2026-W47")]
    assert labels(due(datetime(2026, 11, 24, 7, 30), tight, weekdays)) == [
        ("weekly", "2026-W47"), ("daily", "2026-11-23")]  # 22 Nov's fell out of the day


def test_monday_morning_brings_the_daily_and_the_weekly() -> None:
    monday = datetime(2026, 11, 30, 8, 0)  # ISO week 49 begins; week 48 is due
    items = due(monday, Schedule(catch_up_days=1), weekdays)
    assert labels(items) == [("daily", "2026-11-29"), ("weekly", "2026-W48")]
    assert items[1].at == datetime(2026, 11, 30, 8, 0)
    assert labels(due(monday - timedelta(minutes=1), Schedule(catch_up_days=1),
                      weekdays)) == [("daily", "2026-11-29")]


def test_the_monthly_is_due_on_the_first_working_day() -> None:
    # 2026-11-01 is a Sunday: October's 月报 is due Monday 2 November at 08:30
    assert first_workday(2026, 11, is_workday) == date(2026, 11, 2)
    assert due_at(M, period_of(M, "2026-10"), SCHEDULE, is_workday) == \
        datetime(2026, 11, 2, 8, 30)
    sunday = due(datetime(2026, 11, 1, 23, 0), Schedule(catch_up_days=1), is_workday)
    assert ("monthly", "2026-10") not in labels(sunday)
    monday = due(datetime(2026, 11, 2, 8, 30), Schedule(catch_up_days=1), is_workday)
    assert ("monthly", "2026-10") in labels(monday)


def test_the_first_working_day_after_the_national_day_holiday() -> None:
    # 国庆 2026: 1-7 October off (chinese-calendar); September's 月报 on Thursday 8 October
    assert first_workday(2026, 10, is_workday) == date(2026, 10, 8)
    for day in range(1, 8):
        at = datetime(2026, 10, day, 23, 59)
        assert ("monthly", "2026-09") not in labels(due(at, SCHEDULE, is_workday)), day
    items = due(datetime(2026, 10, 8, 9, 0), SCHEDULE, is_workday)
    (monthly,) = [d for d in items if d.kind is M]
    assert monthly == Due(M, "2026-09", datetime(2026, 10, 8, 8, 30))
    # by weekdays alone it would have been Thursday 1 October
    assert first_workday(2026, 10, weekdays) == date(2026, 10, 1)


def test_the_operators_calendar_decides_a_year_the_package_does_not_know() -> None:
    """[calendar] for 2027 (example days): 1-3 January off, so December's 月报 is due
    Monday 4 January; without it, Friday 1 January (a Mon-Fri guess)."""
    try:
        set_calendar(Calendar(parse_days(["2027-01-01..2027-01-03"]), frozenset()))
        assert first_workday(2027, 1, is_workday) == date(2027, 1, 4)
        items = due(datetime(2027, 1, 4, 8, 30), SCHEDULE, is_workday)
        assert Due(M, "2026-12", datetime(2027, 1, 4, 8, 30)) in items
        set_calendar(Calendar(frozenset(), parse_days(["2027-02-20"])))  # a 调休 Saturday
        assert is_workday(date(2027, 2, 20))
    finally:
        set_calendar(Calendar())
    assert first_workday(2027, 1, is_workday) == date(2027, 1, 1)


def test_missed_runs_are_due_when_the_service_is_back() -> None:
    """Back on Wednesday 2 December 10:00 after a week down: every bulletin due in the
    last 7 days, week 48's 周报 (Monday) and November's 月报 (Tuesday 1 December, the
    first working day) among them, oldest first."""
    back = datetime(2026, 12, 2, 10, 0)
    items = due(back, SCHEDULE, is_workday)
    assert labels(items) == [
        ("daily", "2026-11-25"), ("daily", "2026-11-26"), ("daily", "2026-11-27"),
        ("daily", "2026-11-28"), ("daily", "2026-11-29"), ("weekly", "2026-W48"),
        ("daily", "2026-11-30"), ("monthly", "2026-11"), ("daily", "2026-12-01")]
    assert [d.at for d in items] == sorted(d.at for d in items)
    # the 日报 of 24 November was due 25 November 07:30, more than 7 days before: left to
    # `huifang report`
    assert ("daily", "2026-11-24") not in labels(items)


def test_every_period_is_due_exactly_once_over_a_year() -> None:
    """Walking a year hour by hour with a window of one hour: each day, ISO week and
    month appears once, at its time."""
    step = Schedule(catch_up_days=1)
    seen: dict[tuple[str, str], datetime] = {}
    at = datetime(2026, 1, 1)
    while at < datetime(2027, 1, 1):
        for d in due(at, step, is_workday):
            if d.at > at - timedelta(hours=1):
                assert (str(d.kind), d.period) not in seen, d
                seen[(str(d.kind), d.period)] = d.at
        at += timedelta(hours=1)
    kinds = [k for k, _ in seen]
    assert kinds.count("daily") == 365 and kinds.count("monthly") == 12
    assert kinds.count("weekly") == 52
    for (kind, period), when in seen.items():
        if kind == "weekly":
            assert when.weekday() == 0 and when.time() == time(8, 0), period
        if kind == "monthly":
            assert is_workday(when.date()) and when.day <= 10, period


def test_only_the_configured_kinds() -> None:
    only = Schedule(kinds=(M,))
    assert {d.kind for d in due(datetime(2026, 12, 2, 10, 0), only, is_workday)} == {M}


def test_a_label_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="not a week"):
        period_of(W, "2026-11")
    assert period_of(D, "2026-11-27").kind == "day"


def test_a_change_beyond_both_intervals_is_named_a_real_rise_or_fall() -> None:
    """The monthly analysis's verdicts, by hand: intervals apart is a real change (显著),
    overlapping is noise (波动范围内), a missing month is said (无可比数据)."""
    from types import SimpleNamespace

    from scoring.bulletins import cards_sentence, comparison, comparison_rows

    def unit(name: str, value: float | None, low: float, high: float,
             card: str | None = None) -> SimpleNamespace:
        rates = SimpleNamespace(response_rate=None, resolution_rate=None,
                                satisfaction_rate=value, intervals={
                                    "satisfaction_rate": None if value is None else (low, high)})
        return SimpleNamespace(info=SimpleNamespace(name=name, group="街道"), rank=1, card=card,
                               rates=rates)

    def report(label: str, *units: SimpleNamespace) -> SimpleNamespace:
        return SimpleNamespace(period=SimpleNamespace(label=label), units=list(units))

    now = report("2026-10", unit("甲", 0.90, 0.85, 0.94), unit("乙", 0.50, 0.40, 0.60, "red"))
    before = report("2026-09", unit("甲", 0.70, 0.60, 0.78), unit("乙", 0.80, 0.70, 0.88))
    year = report("2025-10", unit("甲", 0.88, 0.80, 0.93))
    analysis = comparison(now, before, year)  # type: ignore[arg-type]
    rows = {r["unit"]: r for r in comparison_rows(analysis) if r["rate"] == "满意率"}
    assert (rows["甲"]["previous_change"], rows["甲"]["previous_verdict"]) == (0.2, "显著上升")
    assert (rows["甲"]["last_year_change"], rows["甲"]["last_year_verdict"]) == (0.02, "波动范围内")
    assert (rows["乙"]["previous_change"], rows["乙"]["previous_verdict"]) == (-0.3, "显著下降")
    assert rows["乙"]["last_year_verdict"] == "无可比数据"
    assert cards_sentence(analysis) == "本月红牌：乙（街道）；黄牌：无。"
