"""Pure arithmetic of the rates: from counts to rates, intervals, composite, ranks, cards."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scoring.rules import ScoringRules

Z95 = 1.959963984540054


def ratio(numerator: float, denominator: float) -> float | None:
    """A rate in [0, 1], or None when nothing was counted."""
    return numerator / denominator if denominator else None


def wilson(numerator: float, denominator: float, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion; None when nothing was counted."""
    if not denominator:
        return None
    n, p = denominator, numerator / denominator
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    low, high = (centre - spread) / scale, (centre + spread) / scale
    return max(0.0, low), min(1.0, high)


@dataclass(frozen=True)
class Counts:
    """The counts of one unit (or roll-up) in one period; rates derive from them."""

    dispatched: int = 0
    response_due: int = 0
    signed_in_time: int = 0
    closed: int = 0
    closed_on_time: int = 0
    evaluated: int = 0
    resolved: int = 0
    unresolved: int = 0
    satisfied: int = 0
    basic_satisfied: int = 0
    unsatisfied: int = 0
    both_positive: int = 0
    one_negative: int = 0
    both_negative: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)))

    def as_tuple(self) -> tuple[int, ...]:
        return tuple(getattr(self, name) for name in self.__dataclass_fields__)


@dataclass(frozen=True)
class Rates:
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    on_time_closure_rate: float | None
    callback_rate: float | None
    score_total: float
    composite: float | None
    intervals: dict[str, tuple[float, float] | None]


def rates(c: Counts, rules: ScoringRules) -> Rates:
    satisfaction_num = c.satisfied + c.basic_satisfied * rules.basic_weight
    satisfaction_den = c.satisfied + c.basic_satisfied + c.unsatisfied
    response = ratio(c.signed_in_time, c.response_due)
    resolution = ratio(c.resolved, c.resolved + c.unresolved)
    satisfaction = ratio(satisfaction_num, satisfaction_den)
    composite = None
    if response is not None and resolution is not None and satisfaction is not None:
        composite = 100 * (rules.weight_response * response
                           + rules.weight_resolution * resolution
                           + rules.weight_satisfaction * satisfaction)
    score = (c.both_positive * rules.score_both_positive
             + c.one_negative * rules.score_one_negative
             + c.both_negative * rules.score_both_negative)
    return Rates(
        response_rate=response,
        resolution_rate=resolution,
        satisfaction_rate=satisfaction,
        on_time_closure_rate=ratio(c.closed_on_time, c.closed),
        callback_rate=ratio(c.evaluated, c.closed),
        score_total=score,
        composite=composite,
        intervals={
            "response_rate": wilson(c.signed_in_time, c.response_due),
            "resolution_rate": wilson(c.resolved, c.resolved + c.unresolved),
            "satisfaction_rate": wilson(satisfaction_num, satisfaction_den),
            "on_time_closure_rate": wilson(c.closed_on_time, c.closed),
            "callback_rate": wilson(c.evaluated, c.closed),
        },
    )


def competition_ranks(values: Sequence[float]) -> list[int]:
    """Ranks for values ordered best (highest) first; equal values share a rank: 1, 2, 2, 4."""
    ranks = []
    for value in values:
        ranks.append(1 + sum(1 for other in values if other > value))
    return ranks


def rank_key(composite: float) -> float:
    """Composite rounded for ranking, so that float noise never splits a true tie."""
    return round(composite, 9)
