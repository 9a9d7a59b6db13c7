"""Report periods: a month (2026-10), an ISO week (2026-W44), a day (2026-10-31) or a
range of days (2026-10-01..2026-10-15). A period is [start, end) in local time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    label: str
    kind: str  # month, week, day, range
    start: datetime
    end: datetime  # exclusive

    def previous(self) -> Period:
        if self.kind == "month":
            year, month = self.start.year, self.start.month - 1
            if month == 0:
                year, month = year - 1, 12
            return parse_period(f"{year:04d}-{month:02d}")
        if self.kind == "week":
            return parse_period((self.start - timedelta(days=7)).strftime("%G-W%V"))
        length = self.end - self.start
        start = self.start - length
        if self.kind == "day":
            return parse_period(start.strftime("%Y-%m-%d"))
        last = (self.start - timedelta(days=1)).date()
        return parse_period(f"{start.date()}..{last}")

    def history(self, count: int) -> list[Period]:
        """This period and the ones before it, oldest first."""
        periods = [self]
        while len(periods) < count:
            periods.append(periods[-1].previous())
        return periods[::-1]


_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$", re.IGNORECASE)
_DAY = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")


def _day(text: str) -> date:
    try:
        return date.fromisoformat("-".join(p.zfill(2) for p in text.split("-")))
    except ValueError as exc:
        raise PeriodError(f"not a date: {text!r}") from exc


def parse_period(text: str) -> Period:
    text = text.strip()
    if m := _MONTH.match(text):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"no month {month} in {text!r}")
        start = datetime(year, month, 1)
        end = datetime(year + (month == 12), month % 12 + 1, 1)
        return Period(f"{year:04d}-{month:02d}", "month", start, end)
    if m := _WEEK.match(text):
        try:
            monday = date.fromisocalendar(int(m[1]), int(m[2]), 1)
        except ValueError as exc:
            raise PeriodError(f"no ISO week {text!r}") from exc
        start = datetime.combine(monday, datetime.min.time())
        return Period(f"{int(m[1]):04d}-W{int(m[2]):02d}", "week", start,
                      start + timedelta(days=7))
    if _DAY.match(text):
        day = _day(text)
        start = datetime.combine(day, datetime.min.time())
        return Period(day.isoformat(), "day", start, start + timedelta(days=1))
    if ".." in text:
        first, last = (_day(part.strip()) for part in text.split("..", 1))
        if last < first:
            raise PeriodError(f"range {text!r} ends before it starts")
        start = datetime.combine(first, datetime.min.time())
        end = datetime.combine(last + timedelta(days=1), datetime.min.time())
        return Period(f"{first}..{last}", "range", start, end)
    raise PeriodError(f"unknown period {text!r}: use 2026-10, 2026-W44, 2026-10-31 or "
                      "2026-10-01..2026-10-15")
