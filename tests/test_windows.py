"""Calling windows, due times and retries: never outside a window, holidays skipped,
limits per closure and per number."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.windows import (
    DEFAULT_DELAYS,
    RETRIED,
    CallingWindows,
    RetryPolicy,
    first_due,
    is_statutory_holiday,
    next_attempt,
)
from store.caps import Caps, Counts, eligibility
from store.enums import AttemptOutcome as O

W = CallingWindows()
DEADLINE = datetime(2026, 12, 31)


def test_windows_and_earliest() -> None:
    monday = datetime(2026, 11, 23, 8, 0)
    assert not W.allows(monday) and W.earliest(monday) == datetime(2026, 11, 23, 9, 0)
    assert W.earliest(datetime(2026, 11, 23, 10, 0)) == datetime(2026, 11, 23, 10, 0)
    assert W.earliest(datetime(2026, 11, 23, 12, 0)) == datetime(2026, 11, 23, 14, 0)
    assert W.earliest(datetime(2026, 11, 23, 20, 30)) == datetime(2026, 11, 24, 9, 0)
    assert W.allows(datetime(2026, 11, 23, 20, 29)) and not W.allows(datetime(2026, 11, 23,
                                                                           20, 30))


def test_statutory_holidays_are_skipped_weekends_are_not() -> None:
    assert is_statutory_holiday(date(2026, 10, 1)) and not is_statutory_holiday(
        date(2026, 11, 22))
    assert W.earliest(datetime(2026, 10, 1, 10, 0)) >= datetime(2026, 10, 8)  # 国庆
    assert CallingWindows(skip_holidays=False).allows(datetime(2026, 10, 1, 10, 0))
    assert W.allows(datetime(2026, 11, 22, 10, 0))  # a Sunday with the default windows
    weekdays_only = CallingWindows(by_weekday={d: ((time(9), time(17)),) for d in range(5)})
    assert weekdays_only.earliest(datetime(2026, 11, 21, 10)) == datetime(2026, 11, 23, 9)
    assert CallingWindows(by_weekday={}).earliest(datetime(2026, 11, 21)) is None


def test_first_due_is_the_next_days_first_window() -> None:
    assert first_due(datetime(2026, 11, 23, 16, 5), W) == datetime(2026, 11, 24, 9, 0)
    assert first_due(datetime(2026, 9, 30, 16, 0), W) >= datetime(2026, 10, 8, 9, 0)


@pytest.mark.parametrize(("outcome", "delay"), [
    (O.BUSY, timedelta(minutes=10)), (O.NO_ANSWER, timedelta(hours=2)),
    (O.CONGESTION, timedelta(minutes=5)), (O.ANNOUNCEMENT, timedelta(days=1)),
    (O.CALL_LATER, timedelta(hours=2))])
def test_retry_delays(outcome: O, delay: timedelta) -> None:
    now = datetime(2026, 11, 23, 10, 0)
    decision = next_attempt(outcome, now, attempts=1, calls_today=1, deadline=DEADLINE,
                            windows=W)
    assert decision.at == W.earliest(now + delay) and not decision.review


def test_limits_and_review() -> None:
    now = datetime(2026, 11, 23, 19, 0)
    third = next_attempt(O.BUSY, now, attempts=3, calls_today=1, deadline=DEADLINE,
                         windows=W)
    assert third.at is None and third.review and "unreachable" in third.why
    twice_today = next_attempt(O.BUSY, datetime(2026, 11, 23, 10), attempts=2,
                               calls_today=2, deadline=DEADLINE, windows=W)
    assert twice_today.at == datetime(2026, 11, 24, 9, 0)  # not a third call today
    late = next_attempt(O.NO_ANSWER, now, attempts=1, calls_today=1,
                        deadline=datetime(2026, 11, 23, 20, 0), windows=W)
    assert late.at is None and late.review
    for outcome, review in ((O.INVALID_NUMBER, True), (O.WRONG_PERSON, True),
                            (O.UNCLEAR, True), (O.COMPLETED, False)):
        d = next_attempt(outcome, now, 1, 1, DEADLINE, W)
        assert d.at is None and d.review is review
    assert RetryPolicy().max_attempts == 3


def test_every_retried_outcome_has_a_delay() -> None:
    """The outcomes a delay can be configured for are exactly those with a default."""
    assert set(DEFAULT_DELAYS) == set(RETRIED)
    assert O.COMPLETED not in RETRIED and O.INTERRUPTED not in RETRIED


def test_the_caps_rule() -> None:
    now, caps = datetime(2026, 11, 23, 10), Caps(3, 2)
    assert eligibility(Counts(2, 1), now, caps).at == now
    out = eligibility(Counts(3, 0), now, caps)
    assert out.at is None and out.why == "3 attempts made"
    assert eligibility(Counts(0, 2), now, caps).at == datetime(2026, 11, 24)


@given(st.integers(0, 5), st.integers(0, 4), st.integers(1, 4), st.integers(1, 3))
def test_the_planner_keeps_to_the_caps_the_claim_applies(attempts: int, calls_today: int,
                                                         max_attempts: int,
                                                         max_calls: int) -> None:
    """One rule: the retry planner never plans a call the claim would refuse."""
    now = datetime(2026, 11, 23, 10)
    policy = RetryPolicy(max_attempts=max_attempts, max_calls_per_number_per_day=max_calls)
    decision = next_attempt(O.BUSY, now, attempts, calls_today, DEADLINE, W, policy)
    allowed = eligibility(Counts(attempts, calls_today), now, policy.caps)
    assert (decision.at is None) == (allowed.at is None)
    if decision.at is not None and allowed.at is not None:
        assert decision.at >= allowed.at


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 20)),
       st.sampled_from(RETRIED), st.integers(0, 2), st.integers(0, 3))
def test_never_outside_a_window(now: datetime, outcome: O, attempts: int,
                                calls_today: int) -> None:
    decision = next_attempt(outcome, now, attempts, calls_today, DEADLINE, W)
    if decision.at is not None:
        assert W.allows(decision.at) and decision.at > now and decision.at <= DEADLINE
