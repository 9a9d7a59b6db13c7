"""Which of a day's automatic calls are spot-checked (抽检): a pure, auditable rule.

Every candidate gets a number in [0, 1) from a hash of its attempt id alone, so anyone can
recompute who was drawn and re-running the draw never changes it. A call's weight is the
largest of its two answers' weights (不满意 and 未解决 weigh more: checked more often);
its key is that number divided by its weight. Drawn: every call whose key is below the
share (a call of weight w is drawn with probability share × w), and at least
`min_per_day` calls of the day, the smallest keys first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

SEED = b"huifang spot check "


def draw_number(attempt_id: int) -> float:
    """The attempt's number in [0, 1): the first 8 bytes of SHA-256 of the seed and id."""
    digest = hashlib.sha256(SEED + str(attempt_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


@dataclass(frozen=True)
class DrawRules:
    share: float = 0.05  # of the calls of weight 1
    min_per_day: int = 5
    # answer (the stored value: yes/no, satisfied/basic/unsatisfied) -> weight; others 1
    weights: Mapping[str, float] = field(
        default_factory=lambda: {"no": 3.0, "unsatisfied": 3.0})

    def weight(self, resolved: str, satisfaction: str) -> float:
        return max(self.weights.get(resolved, 1.0), self.weights.get(satisfaction, 1.0))


@dataclass(frozen=True)
class Candidate:
    attempt_id: int
    resolved: str
    satisfaction: str


@dataclass(frozen=True)
class Drawn:
    attempt_id: int
    number: float  # draw_number(attempt_id)
    weight: float
    by: str  # "share": its key is below the share; "minimum": to reach min_per_day


def draw(candidates: Iterable[Candidate], rules: DrawRules,
         already: Iterable[int] = ()) -> list[Drawn]:
    """The candidates drawn now: not those drawn before (`already`, which count toward
    the day's minimum), in the order of their keys."""
    taken = set(already)
    keyed = []
    for c in candidates:
        weight = rules.weight(c.resolved, c.satisfaction)
        number = draw_number(c.attempt_id)
        keyed.append((number / weight, c.attempt_id, number, weight))
    keyed.sort()
    drawn: list[Drawn] = []
    count = len(taken)
    for key, attempt_id, number, weight in keyed:
        if attempt_id in taken:
            continue
        if key < rules.share:
            drawn.append(Drawn(attempt_id, number, weight, "share"))
        elif count < rules.min_per_day:
            drawn.append(Drawn(attempt_id, number, weight, "minimum"))
        else:
            continue
        count += 1
    return drawn
