"""Working days (工作日) of mainland China, with public holidays and make-up days (调休).

`chinese-calendar` knows the years the State Council has published when the package was
released. The operator completes it: `set_calendar()` (from `[calendar]` in the
configuration) lists a year's holidays and make-up working days, and a listed day takes
precedence over the package. For a year neither knows, Monday to Friday are taken as
working days and a warning is logged once, so deadlines keep moving instead of failing;
`unknown_years()` says which years ahead are such guesses (`huifang config check` and
`huifang doctor` warn of them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import chinese_calendar

log = logging.getLogger(__name__)
_warned: set[int] = set()
RANGE = ".."


@dataclass(frozen=True)
class Calendar:
    """The operator's days: holidays (放假, no calls) and make-up working days (调休上班)."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    @property
    def years(self) -> frozenset[int]:
        return frozenset(d.year for d in self.holidays | self.workdays)


_calendar = Calendar()


def parse_days(entries: Iterable[str]) -> frozenset[date]:
    """`["2027-01-01", "2027-02-06..2027-02-13"]` -> the days (ranges inclusive);
    ValueError naming the bad entry."""
    days: set[date] = set()
    for entry in entries:
        first, sep, last = entry.strip().partition(RANGE)
        try:
            start = date.fromisoformat(first.strip())
            end = date.fromisoformat(last.strip()) if sep else start
        except ValueError:
            raise ValueError(f"{entry!r}: use YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD") from None
        if end < start or (end - start).days > 366:
            raise ValueError(f"{entry!r}: the range must run forwards, within a year")
        days.update(start + timedelta(days=n) for n in range((end - start).days + 1))
    return frozenset(days)


def set_calendar(calendar: Calendar) -> None:
    """Make `calendar` the operator's days for this process (the configuration's)."""
    global _calendar  # noqa: PLW0603 - one calendar per process, as the package's data
    if calendar.holidays & calendar.workdays:
        both = min(calendar.holidays & calendar.workdays)
        raise ValueError(f"{both} is listed both as a holiday and as a working day")
    _calendar = calendar
    is_workday.cache_clear()


def current_calendar() -> Calendar:
    return _calendar


def package_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def unknown_years(start: date, days: int = 60) -> list[int]:
    """The years from `start` to `days` later that neither the operator's calendar nor
    `chinese-calendar` knows (their working days are a Mon-Fri guess)."""
    years = range(start.year, (start + timedelta(days=days)).year + 1)
    return [y for y in years if y not in _calendar.years and not package_knows(y)]


@lru_cache(maxsize=8192)
def is_workday(day: date) -> bool:
    if day in _calendar.holidays:
        return False
    if day in _calendar.workdays:
        return True
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _warned and day.year not in _calendar.years:
            _warned.add(day.year)
            log.warning("chinese-calendar has no holiday data for %s and [calendar] lists "
                        "none; counting Mon-Fri as working days", day.year)
        return day.weekday() < 5


def is_holiday(day: date) -> bool:
    """A statutory holiday (国庆, 春节 ...), not an ordinary weekend: the operator's
    listed holidays, else the package's (a year neither knows has none)."""
    if day in _calendar.holidays:
        return True
    if day in _calendar.workdays:
        return False
    try:
        holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return False
    return bool(holiday and name is not None)


def add_workdays(start: datetime, days: int) -> datetime:
    """The same wall-clock time `days` working days after `start` (end of that day if
    `start` falls on a day off)."""
    current = start.date()
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_workday(current):
            remaining -= 1
    return datetime.combine(current, start.time())
