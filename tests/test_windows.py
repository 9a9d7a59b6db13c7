"""Calling windows, due times and retries: never outside a window, holidays skipped,
limits per closure and per number."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.windows import (
    CallingWindows,
    RetryPolicy,
    first_due,
    is_statutory_holiday,
    next_attempt,
    priority,
)

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
    ("busy", timedelta(minutes=10)), ("no_answer", timedelta(hours=2)),
    ("congestion", timedelta(minutes=5)), ("announcement", timedelta(days=1))])
def test_retry_delays(outcome: str, delay: timedelta) -> None:
    now = datetime(2026, 11, 23, 10, 0)
    decision = next_attempt(outcome, now, attempts=1, calls_today=1, deadline=DEADLINE,
                            windows=W)
    assert decision.at == W.earliest(now + delay) and not decision.review


def test_limits_and_review() -> None:
    now = datetime(2026, 11, 23, 19, 0)
    third = next_attempt("busy", now, attempts=3, calls_today=1, deadline=DEADLINE,
                         windows=W)
    assert third.at is None and third.review and "unreachable" in third.why
    twice_today = next_attempt("busy", datetime(2026, 11, 23, 10), attempts=2,
                               calls_today=2, deadline=DEADLINE, windows=W)
    assert twice_today.at == datetime(2026, 11, 24, 9, 0)  # not a third call today
    late = next_attempt("no_answer", now, attempts=1, calls_today=1,
                        deadline=datetime(2026, 11, 23, 20, 0), windows=W)
    assert late.at is None and late.review
    for outcome, review in (("invalid_number", True), ("wrong_person", True),
                            ("completed", False)):
        d = next_attempt(outcome, now, 1, 1, DEADLINE, W)
        assert d.at is None and d.review is review
    assert sorted([(datetime(2026, 12, 2), 0), (datetime(2026, 12, 1), 2),
                   (datetime(2026, 12, 1), 1)], key=lambda p: priority(*p)) == [
        (datetime(2026, 12, 1), 1), (datetime(2026, 12, 1), 2), (datetime(2026, 12, 2), 0)]
    assert RetryPolicy().max_attempts == 3


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 20)),
       st.sampled_from(["busy", "no_answer", "congestion", "announcement", "failed"]),
       st.integers(0, 2), st.integers(0, 3))
def test_never_outside_a_window(now: datetime, outcome: str, attempts: int,
                                calls_today: int) -> None:
    decision = next_attempt(outcome, now, attempts, calls_today, DEADLINE, W)
    if decision.at is not None:
        assert W.allows(decision.at) and decision.at > now and decision.at <= DEADLINE
