"""The `[spot_checks]` section of huifang.toml (抽检): which share of the machine's own
calls is drawn each day, how much more often 不满意/未解决 are, and the accuracy floor
under which the dashboard and the metrics raise the alert."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from store.spot_rule import DrawRules

ANSWERS = ("yes", "no", "satisfied", "basic", "unsatisfied")


class SpotChecksSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True  # the daily draw in `huifang run`
    share: float = Field(default=0.05, ge=0, le=1)  # of the calls of weight 1
    min_per_day: int = Field(default=5, ge=0, le=10_000)
    # the machine's answer -> how many times more often it is drawn (others: 1)
    weights: dict[str, float] = Field(default_factory=lambda: {"no": 3.0, "unsatisfied": 3.0})
    catch_up_days: int = Field(default=3, ge=1, le=60)  # days drawn (again) by each run
    every_s: float = Field(default=3600.0, ge=10, le=86_400)  # how often the job runs
    alert_below: float = Field(default=0.97, ge=0, le=1)  # the upper bound's floor
    alert_days: int = Field(default=30, ge=1, le=366)  # the calls the alert looks at

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        for answer, weight in value.items():
            if answer not in ANSWERS:
                raise ValueError(f"{answer!r} is not an answer; use one of "
                                 f"{', '.join(ANSWERS)}")
            if not 0 < weight <= 100:
                raise ValueError(f"{answer}: a weight is above 0 and at most 100")
        return value

    def rules(self) -> DrawRules:
        return DrawRules(self.share, self.min_per_day, dict(self.weights))
