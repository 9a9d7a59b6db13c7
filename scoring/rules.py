"""The definitions behind every figure: weights and thresholds, with their defaults.

Every report prints the values it used (`as_definitions`).
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ScoringRules:
    response_limit_workdays: int = 1  # signed by the end of the Nth working day after dispatch
    closure_limit_workdays: int = 5  # deadline when the ticket gives none: N working days
    basic_weight: float = 1.0  # 基本满意 counts this much as 满意 in the satisfaction rate
    weight_response: float = 0.10
    weight_resolution: float = 0.45
    weight_satisfaction: float = 0.45
    score_both_positive: float = 1.0
    score_one_negative: float = -0.5
    score_both_negative: float = -1.0
    min_sample: int = 10  # fewer evaluated tickets: listed, not ranked
    yellow_satisfaction_below: float = 0.85
    trend_periods: int = 6

    def as_definitions(self) -> dict[str, Any]:
        return asdict(self)


_DEFINITIONS = tomllib.loads(
    (Path(__file__).parent / "definitions.toml").read_text(encoding="utf-8"))
DEFINITIONS_ZH = {key: text["zh"] for key, text in _DEFINITIONS.items()}
DEFINITIONS_EN = {key: text["en"] for key, text in _DEFINITIONS.items()}
