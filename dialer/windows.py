"""When calls may be placed (呼叫时段), when a closure's callback falls due, and when a
failed attempt is tried again. Pure functions of local (Asia/Shanghai, naive) time.

- Calling windows per weekday (default 09:00-12:00 and 14:00-20:30 every day);
  statutory holidays (国庆, 春节 ...) can be skipped, from `chinese-calendar`; weekends
  follow their own weekday's windows.
- A closure's callback is due from the next day's first window, to be made within
  `within_days` days.
- Retries: a delay per outcome (busy 10 min, no answer 2 h, congestion 5 min, carrier
  announcement 1 day), at most 3 attempts per closure and 2 calls per number a day;
  every time is moved into a window, never outside one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import chinese_calendar

log = logging.getLogger(__name__)
DEFAULT_WINDOWS = ((time(9), time(12)), (time(14), time(20, 30)))


def is_statutory_holiday(day: date) -> bool:
    try:
        holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:  # a year the package does not know yet: no holidays
        return False
    return bool(holiday and name is not None)


@dataclass(frozen=True)
class CallingWindows:
    by_weekday: Mapping[int, tuple[tuple[time, time], ...]] = field(
        default_factory=lambda: dict.fromkeys(range(7), DEFAULT_WINDOWS))
    skip_holidays: bool = True

    def windows_on(self, day: date) -> tuple[tuple[time, time], ...]:
        if self.skip_holidays and is_statutory_holiday(day):
            return ()
        return tuple(sorted(self.by_weekday.get(day.weekday(), ())))

    def allows(self, moment: datetime) -> bool:
        return any(start <= moment.time() < end for start, end in self.windows_on(
            moment.date()))

    def earliest(self, moment: datetime, horizon_days: int = 60) -> datetime | None:
        """`moment` if it is inside a window, else the start of the next window (None if
        none within the horizon: every day closed)."""
        for offset in range(horizon_days + 1):
            day = moment.date() + timedelta(days=offset)
            for start, end in self.windows_on(day):
                opens, closes = datetime.combine(day, start), datetime.combine(day, end)
                if moment < closes:
                    return max(moment, opens)
        return None


@dataclass(frozen=True)
class RetryPolicy:
    delays: Mapping[str, timedelta] = field(default_factory=lambda: {
        "busy": timedelta(minutes=10), "no_answer": timedelta(hours=2),
        "rejected": timedelta(hours=2),
        "congestion": timedelta(minutes=5), "announcement": timedelta(days=1),
        "call_later": timedelta(hours=2), "cancelled": timedelta(minutes=5),
        "failed": timedelta(hours=2), "media_failure": timedelta(minutes=30),
        "hung_up_early": timedelta(hours=2), "interrupted": timedelta(minutes=30),
        "timeout": timedelta(minutes=5), "transport_failure": timedelta(minutes=5),
        "auth_failure": timedelta(minutes=5)})
    max_attempts: int = 3
    max_calls_per_number_per_day: int = 2
    no_retry: frozenset[str] = frozenset({"invalid_number", "wrong_person", "completed",
                                          "unclear"})


# The trunk failed, not the citizen: such attempts do not count towards max_attempts.
TRUNK_FAILURES = frozenset({"timeout", "transport_failure", "auth_failure"})


@dataclass(frozen=True)
class Decision:
    at: datetime | None  # when to call again; None: no more attempts
    review: bool  # to the supervisors' review queue
    why: str


def first_due(closed_at: datetime, windows: CallingWindows, delay_days: int = 1
              ) -> datetime | None:
    """A closure's callback: from the first window of the day after closure."""
    day = (closed_at + timedelta(days=delay_days)).date()
    return windows.earliest(datetime.combine(day, time(0)))


def next_attempt(outcome: str, now: datetime, attempts: int, calls_today: int,
                 deadline: datetime, windows: CallingWindows,
                 policy: RetryPolicy = RetryPolicy()) -> Decision:
    """What to do after an attempt ended with `outcome` (`attempts` made so far for this
    closure, `calls_today` to this number today, including this one)."""
    if outcome in policy.no_retry:
        return Decision(None, outcome in ("invalid_number", "unclear", "wrong_person"),
                        f"{outcome}: not called again")
    if attempts >= policy.max_attempts:
        return Decision(None, True, f"{attempts} attempts made: unreachable, to review")
    delay = policy.delays.get(outcome, timedelta(hours=2))
    candidate = now + delay
    if calls_today >= policy.max_calls_per_number_per_day:
        tomorrow = datetime.combine(now.date() + timedelta(days=1), time(0))
        candidate = max(candidate, tomorrow)
    at = windows.earliest(candidate)
    if at is None or at > deadline:
        return Decision(None, True, "no calling window before the deadline: to review")
    return Decision(at, False, f"{outcome}: again at {at:%Y-%m-%d %H:%M}")


def priority(deadline: datetime, attempts: int) -> tuple[datetime, int]:
    """Sort key: nearest deadline first, then fewest attempts."""
    return deadline, attempts
