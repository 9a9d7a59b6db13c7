"""Working days (工作日) of mainland China, with public holidays and make-up days (调休).

`chinese-calendar` knows the years the State Council has published. For a year it does
not know yet, Monday to Friday are taken as working days and a warning is logged once,
so deadlines keep moving instead of failing; upgrade the package when the new year's
schedule is out.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from functools import lru_cache

import chinese_calendar

log = logging.getLogger(__name__)
_warned: set[int] = set()


@lru_cache(maxsize=8192)
def is_workday(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _warned:
            _warned.add(day.year)
            log.warning("chinese-calendar has no holiday data for %s; counting Mon-Fri "
                        "as working days", day.year)
        return day.weekday() < 5


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

