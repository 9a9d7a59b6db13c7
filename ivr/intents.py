"""Questions, intents and what an answer was understood as."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Question(enum.StrEnum):
    RESOLVED = "resolved"  # 问题解决了吗
    SATISFIED = "satisfied"  # 对办理结果满意吗


class Intent(enum.StrEnum):
    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"
    SATISFIED = "satisfied"
    BASIC_SATISFIED = "basic_satisfied"
    UNSATISFIED = "unsatisfied"
    WRONG_PERSON = "wrong_person"  # 不是我, 打错了
    CALL_LATER = "call_later"  # 没空, 在开车
    REPEAT = "repeat"  # 没听清, 再说一遍, *
    NOT_SURE = "not_sure"  # 不知道, 说不好
    UNCLEAR = "unclear"  # nothing understood: never a guess


ANSWERS = {
    Question.RESOLVED: (Intent.RESOLVED, Intent.UNRESOLVED),
    Question.SATISFIED: (Intent.SATISFIED, Intent.BASIC_SATISFIED, Intent.UNSATISFIED),
}


@dataclass(frozen=True)
class Understanding:
    intent: Intent
    confidence: float  # 0..1; keys 1.0, explicit phrases high, bare yes/no and hedges lower
    also: tuple[Intent, ...] = ()  # answers to the other question, heard in the same breath
    evidence: str = ""  # the phrase that decided, for the review screen


@dataclass(frozen=True)
class Policy:
    """Mappings that are policy, not fact (README: 'Answer policy')."""

    hedge: Intent = Intent.BASIC_SATISFIED  # 还行 / 一般 / 凑合 / 差不多
    partly_resolved: Intent = Intent.UNRESOLVED  # 解决了一部分 / 部分解决
    basically_resolved: Intent = Intent.RESOLVED  # 基本解决
