"""When calls may be placed (呼叫时段), when a closure's callback falls due, and when a
failed attempt is tried again. Pure functions of local (Asia/Shanghai, naive) time.

- Calling windows per weekday (default 09:00-12:00 and 14:00-20:30 every day);
  statutory holidays (国庆, 春节 ...) can be skipped, from `chinese-calendar` completed
  by the operator's `[calendar]` (store.workdays); weekends follow their own weekday's
  windows.
- A closure's callback is due from the next day's first window, to be made within
  `within_days` days.
- Retries: a delay per outcome (busy 10 min, no answer 2 h, congestion 5 min, carrier
  announcement 1 day), within the caps of `store.caps` (at most 3 attempts per closure
  and 2 calls per number a day, the rule the claim applies too); every time is moved
  into a window, never outside one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from store.caps import Caps, Counts, Decision, eligibility
from store.enums import AttemptOutcome
from store.workdays import is_holiday

log = logging.getLogger(__name__)
DEFAULT_WINDOWS = ((time(9), time(12)), (time(14), time(20, 30)))


def is_statutory_holiday(day: date) -> bool:
    """The operator's listed holidays, else chinese-calendar's (none for a year neither
    knows)."""
    return is_holiday(day)


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


DEFAULT_DELAYS: dict[AttemptOutcome, timedelta] = {
    AttemptOutcome.BUSY: timedelta(minutes=10),
    AttemptOutcome.NO_ANSWER: timedelta(hours=2),
    AttemptOutcome.REJECTED: timedelta(hours=2),
    AttemptOutcome.CONGESTION: timedelta(minutes=5),
    AttemptOutcome.ANNOUNCEMENT: timedelta(days=1),
    AttemptOutcome.CALL_LATER: timedelta(hours=2),
    AttemptOutcome.CANCELLED: timedelta(minutes=5),
    AttemptOutcome.FAILED: timedelta(hours=2),
    AttemptOutcome.MEDIA_FAILURE: timedelta(minutes=30),
    AttemptOutcome.HUNG_UP_EARLY: timedelta(hours=2),
    AttemptOutcome.TIMEOUT: timedelta(minutes=5),
    AttemptOutcome.TRANSPORT_FAILURE: timedelta(minutes=5),
    AttemptOutcome.AUTH_FAILURE: timedelta(minutes=5),
}
UNLISTED_DELAY = timedelta(hours=2)
# not called again: done, or to review when the outcome says why on its own
NO_RETRY_REVIEW = frozenset({AttemptOutcome.INVALID_NUMBER, AttemptOutcome.WRONG_PERSON,
                             AttemptOutcome.UNCLEAR})
NO_RETRY = NO_RETRY_REVIEW | {AttemptOutcome.COMPLETED}
# what a delay can be set for: every outcome called again after a delay (an interrupted
# attempt's callback is due again at once, when the claims are recovered)
RETRIED = tuple(o for o in AttemptOutcome
                if o not in NO_RETRY and o is not AttemptOutcome.INTERRUPTED)


@dataclass(frozen=True)
class RetryPolicy:
    delays: Mapping[AttemptOutcome, timedelta] = field(
        default_factory=lambda: dict(DEFAULT_DELAYS))
    max_attempts: int = 3
    max_calls_per_number_per_day: int = 2
    no_retry: frozenset[AttemptOutcome] = NO_RETRY

    @property
    def caps(self) -> Caps:
        return Caps(self.max_attempts, self.max_calls_per_number_per_day)


# The trunk failed, not the citizen: such attempts do not count towards max_attempts.
TRUNK_FAILURES = frozenset({AttemptOutcome.TIMEOUT, AttemptOutcome.TRANSPORT_FAILURE,
                            AttemptOutcome.AUTH_FAILURE})


def first_due(closed_at: datetime, windows: CallingWindows, delay_days: int = 1
              ) -> datetime | None:
    """A closure's callback: from the first window of the day after closure."""
    day = (closed_at + timedelta(days=delay_days)).date()
    return windows.earliest(datetime.combine(day, time(0)))


def next_attempt(outcome: AttemptOutcome, now: datetime, attempts: int, calls_today: int,
                 deadline: datetime, windows: CallingWindows,
                 policy: RetryPolicy = RetryPolicy()) -> Decision:
    """What to do after an attempt ended with `outcome` (`attempts` counted so far for
    this closure, `calls_today` to this number today, both including this one)."""
    if outcome in policy.no_retry:
        return Decision(None, outcome in NO_RETRY_REVIEW, f"{outcome}: not called again")
    allowed = eligibility(Counts(attempts, calls_today), now, policy.caps)
    if allowed.at is None:
        return Decision(None, True, f"{allowed.why}: unreachable, to review")
    at = windows.earliest(max(now + policy.delays.get(outcome, UNLISTED_DELAY), allowed.at))
    if at is None or at > deadline:
        return Decision(None, True, "no calling window before the deadline: to review")
    return Decision(at, False, f"{outcome}: again at {at:%Y-%m-%d %H:%M}")
