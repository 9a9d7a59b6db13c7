"""The definitions behind every figure: weights and thresholds, their defaults and bounds.

Every report prints the values it used (`as_definitions`). The `[scoring]` section of
huifang.toml validates straight into `ScoringRules`: a rule added here is a setting, with
its bounds (the `Field` in each annotation, read by pydantic; a plain construction ignores
them) and default.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field

_Share = Annotated[float, Field(ge=0, le=1)]


@dataclass(frozen=True)
class ScoringRules:
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    # signed by the end of the Nth working day after dispatch
    response_limit_workdays: Annotated[int, Field(ge=0, le=30)] = 1
    # deadline when the ticket gives none: N working days
    closure_limit_workdays: Annotated[int, Field(ge=0, le=90)] = 5
    basic_weight: _Share = 1.0  # 基本满意 counts this much as 满意 in the satisfaction rate
    weight_response: _Share = 0.10
    weight_resolution: _Share = 0.45
    weight_satisfaction: _Share = 0.45
    score_both_positive: float = 1.0
    score_one_negative: float = -0.5
    score_both_negative: float = -1.0
    min_sample: Annotated[int, Field(ge=0)] = 10  # fewer evaluated tickets: listed, not ranked
    yellow_satisfaction_below: _Share = 0.85
    trend_periods: Annotated[int, Field(ge=1, le=36)] = 6

    def __post_init__(self) -> None:
        total = self.weight_response + self.weight_resolution + self.weight_satisfaction
        if abs(total - 1) > 1e-9:
            raise ValueError(f"weight_response + weight_resolution + weight_satisfaction must "
                             f"be 1, not {total:g}")

    def as_definitions(self) -> dict[str, Any]:
        return asdict(self)


_DEFINITIONS = tomllib.loads(
    (Path(__file__).parent / "definitions.toml").read_text(encoding="utf-8"))
DEFINITIONS_ZH = {key: text["zh"] for key, text in _DEFINITIONS.items()}
DEFINITIONS_EN = {key: text["en"] for key, text in _DEFINITIONS.items()}
# what the reports call each definition and each rule, in Chinese (the XLSX sheet 指标说明,
# the HTML and PDF definitions, the console's rankings page)
DEFINITION_TERMS = {"response_rate": "响应率", "resolution_rate": "解决率",
                    "satisfaction_rate": "满意率", "on_time_closure_rate": "按时办结率",
                    "callback_rate": "回访率", "score": "工单得分", "composite": "综合得分",
                    "ranking": "排名", "cards": "红牌/黄牌", "period": "统计期间",
                    "exclusions": "剔除工单", "rollup": "上级单位汇总"}
RULE_LABELS_ZH = {
    "response_limit_workdays": "签收时限（派单日后第 N 个工作日）",
    "closure_limit_workdays": "默认办理时限（受理日后第 N 个工作日）",
    "basic_weight": "基本满意计入满意率的权重",
    "weight_response": "综合得分权重：响应率", "weight_resolution": "综合得分权重：解决率",
    "weight_satisfaction": "综合得分权重：满意率",
    "score_both_positive": "工单得分：双满意", "score_one_negative": "工单得分：单否",
    "score_both_negative": "工单得分：双否", "min_sample": "参与排名的最少回访数",
    "yellow_satisfaction_below": "黄牌：满意率低于", "trend_periods": "趋势图期数",
}


def rules_zh(rules: ScoringRules) -> list[tuple[str, str]]:
    """The rules a report used, as (Chinese name, value) pairs."""
    def shown(value: Any) -> str:
        return f"{value:g}" if isinstance(value, float) else str(value)

    return [(RULE_LABELS_ZH.get(k, k), shown(v)) for k, v in rules.as_definitions().items()]
