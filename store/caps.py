"""The caps on calling: at most `max_attempts` counted attempts per closure, at most
`max_calls_per_number_per_day` calls to one number a day. One rule, pure, used both by
the claim (may a due callback be called now?) and by the retry planner (when may the
next attempt be?), with the counts the store read in the transaction that acts on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta


@dataclass(frozen=True)
class Caps:
    max_attempts: int = 3  # counted attempts per closure (trunk failures do not count)
    max_calls_per_number_per_day: int = 2


@dataclass(frozen=True)
class Counts:
    """What the caps are checked against, as the store reads them."""

    attempts: int  # counted attempts made for the closure so far
    calls_today: int  # calls placed to its number since midnight


@dataclass(frozen=True)
class Eligibility:
    at: datetime | None  # the earliest the caps allow the next call; None: never again
    why: str  # empty when the call may be placed now


def eligibility(counts: Counts, now: datetime, caps: Caps) -> Eligibility:
    """When the caps allow the next call of a closure whose counts these are."""
    if counts.attempts >= caps.max_attempts:
        return Eligibility(None, f"{counts.attempts} attempts made")
    if counts.calls_today >= caps.max_calls_per_number_per_day:
        tomorrow = datetime.combine(now.date() + timedelta(days=1), time(0))
        return Eligibility(tomorrow, f"{counts.calls_today} calls to this number today")
    return Eligibility(now, "")


@dataclass(frozen=True)
class Decision:
    """What becomes of a callback after an attempt: the caller's policy, decided from the
    counts the store read while closing the attempt."""

    at: datetime | None  # when to call again; None: no more attempts
    review: bool  # to the supervisors' review queue
    why: str
