"""Properties of the rate arithmetic and ranking (hypothesis), and period parsing."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.periods import PeriodError, parse_period
from scoring.rates import Counts, competition_ranks, rates, wilson
from scoring.rules import ScoringRules

small = st.integers(min_value=0, max_value=500)


@st.composite
def counts(draw: st.DrawFn) -> Counts:
    due = draw(small)
    closed = draw(small)
    evaluated = draw(st.integers(0, closed))
    parts = draw(st.lists(st.integers(0, 100), min_size=5, max_size=5))
    return Counts(dispatched=due + draw(small), response_due=due,
                  signed_in_time=draw(st.integers(0, due)), closed=closed,
                  closed_on_time=draw(st.integers(0, closed)), evaluated=evaluated,
                  resolved=parts[0], unresolved=parts[1], satisfied=parts[2],
                  basic_satisfied=parts[3], unsatisfied=parts[4])


weights = st.floats(min_value=0, max_value=1)


@given(counts(), weights)
def test_rates_stay_in_unit_interval(c: Counts, basic_weight: float) -> None:
    r = rates(c, ScoringRules(basic_weight=basic_weight))
    for value in (r.response_rate, r.resolution_rate, r.satisfaction_rate,
                  r.on_time_closure_rate, r.callback_rate):
        assert value is None or 0.0 <= value <= 1.0
    for interval in r.intervals.values():
        assert interval is None or 0.0 <= interval[0] <= interval[1] <= 1.0
    assert r.composite is None or 0.0 <= r.composite <= 100.0 + 1e-9


@given(counts(), weights)
def test_one_more_satisfied_never_lowers_satisfaction(c: Counts, basic_weight: float) -> None:
    rules = ScoringRules(basic_weight=basic_weight)
    before = rates(c, rules).satisfaction_rate
    after = rates(Counts(**{**c.__dict__, "satisfied": c.satisfied + 1}),
                  rules).satisfaction_rate
    assert after is not None
    assert before is None or after >= before


@given(st.lists(st.integers(0, 20), max_size=30))
def test_ranks_are_a_competition_ranking(values: list[int]) -> None:
    ordered = sorted(values, reverse=True)
    ranks = competition_ranks([float(v) for v in ordered])
    for i, (value, rank) in enumerate(zip(ordered, ranks, strict=True)):
        assert rank == 1 + sum(1 for other in ordered if other > value)
        assert rank == (ranks[i - 1] if i and ordered[i - 1] == value else i + 1)


def test_competition_ranking_example() -> None:
    assert competition_ranks([90.0, 80.0, 80.0, 70.0]) == [1, 2, 2, 4]


def test_wilson_edges() -> None:
    assert wilson(0, 0) is None
    low, high = wilson(10, 10)  # type: ignore[misc]
    assert high == pytest.approx(1.0) and 0.69 < low < 0.73


@pytest.mark.parametrize(("text", "label", "start", "end", "previous"), [
    ("2026-10", "2026-10", datetime(2026, 10, 1), datetime(2026, 11, 1), "2026-09"),
    ("2026-1", "2026-01", datetime(2026, 1, 1), datetime(2026, 2, 1), "2025-12"),
    ("2026-12", "2026-12", datetime(2026, 12, 1), datetime(2027, 1, 1), "2026-11"),
    ("2026-W44", "2026-W44", datetime(2026, 10, 26), datetime(2026, 11, 2), "2026-W43"),
    ("2026-w01", "2026-W01", datetime(2025, 12, 29), datetime(2026, 1, 5), "2025-W52"),
    ("2026-10-31", "2026-10-31", datetime(2026, 10, 31), datetime(2026, 11, 1), "2026-10-30"),
    ("2026-10-01..2026-10-15", "2026-10-01..2026-10-15", datetime(2026, 10, 1),
     datetime(2026, 10, 16), "2026-09-16..2026-09-30"),
])
def test_periods(text: str, label: str, start: datetime, end: datetime,
                 previous: str) -> None:
    period = parse_period(text)
    assert (period.label, period.start, period.end) == (label, start, end)
    assert period.previous().label == previous


def test_history_is_oldest_first() -> None:
    assert [p.label for p in parse_period("2026-02").history(3)] == [
        "2025-12", "2026-01", "2026-02"]


@pytest.mark.parametrize("text", ["2026-13", "2026-W54", "2026-02-30", "October",
                                  "2026-10-15..2026-10-01", ""])
def test_bad_periods(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text)
