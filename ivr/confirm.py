"""The confirmation turn (the VoiceXML confirm pattern): between "accept" and "ask
again". An answer the recogniser doubts, but whose words name one answer, is read back
("您是说没有解决，对吗？对的话请说对，也可以按键：已经解决请按1，没有解决请按2") and taken
only when the citizen says it is right. A key means what it always means in that
question (1 解决, 2 未解决): a key pressed over the read-back is an answer, never a "yes"
that could store the other one.

Which answers are doubted: one the engine rejected although what its grammar matched
means an answer (the coverage or voiced-time test failed), and one accepted below the
flow's acceptance (a hedge, a bare yes/no, an answer contested by a near n-best rival).
Nothing is confirmed that did not name an answer of the question asked.

The confirmation is safe in one direction only, and is built that way: a "no" (不对, 不是)
or anything unclear never stores anything (the question goes on to the key menu), so a
misheard "no" costs a key press; a "yes" stores the read-back answer. A spoken "yes" is
taken only when the confirmation grammar accepted it and nothing in its n-best is a
"no": 不对 heard as 对 is the one way a confirmation could store a reversed
answer, and it needs the first answer misheard too.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.intents import ANSWERS, Intent, Policy, Question
from ivr.recognition import Grammar, Hypothesis
from ivr.understand import DEFAULT_POLICY, understand

# No 嗯 in the grammar: in the recorded human voice 不对 came back as 嗯对 (7 times in 17
# wrong read-backs), its 不 matched by 嗯 (bench/confirm_bench.py, the human voice).
YES_PHRASES = ("对", "对的", "对啊", "对对", "对对对", "是", "是的", "是啊", "没错", "没错没错",
               "对没错", "是这样", "好的")
NO_PHRASES = ("不对", "不是", "不是的", "错了", "说错了", "不对不对", "不是不是", "没有",
              "不是这样")
CONFIRM_GRAMMAR = Grammar("confirm", YES_PHRASES + NO_PHRASES)


@dataclass(frozen=True)
class ConfirmSettings:
    # off by default: in the recorded human voice a spoken 不对 was taken for a yes (README,
    # "The confirmation turn"); on for a deployment that measured its own callers
    enabled: bool = False
    min_coverage: float = 0.3  # a rejected answer is read back only above this share


def doubted_answer(hypothesis: Hypothesis, understood_intent: Intent,
                   understood_confidence: float, question: Question, accept: float,
                   settings: ConfirmSettings = ConfirmSettings(),
                   policy: Policy = DEFAULT_POLICY) -> Intent | None:
    """The answer to read back, or None when there is nothing worth confirming."""
    if not settings.enabled:
        return None
    if hypothesis.text:  # accepted by the engine: confirm only what understanding doubts
        if understood_intent in ANSWERS[question] and understood_confidence < accept:
            return understood_intent
        return None
    if not hypothesis.heard or hypothesis.coverage < settings.min_coverage:
        return None  # rejected, and too little of the voice was those words
    meant = understand(hypothesis.heard, question, policy)
    return meant.intent if meant.intent in ANSWERS[question] else None


def _meaning(text: str) -> bool | None:
    whole = text.replace(" ", "").strip("，。")
    cleaned = whole.strip("的了吧啊呀呢哦哈嘛啦")
    if not cleaned:
        return None
    if whole in YES_PHRASES or cleaned in YES_PHRASES:
        return True
    if whole in NO_PHRASES or cleaned in NO_PHRASES or cleaned.startswith(("不", "没有")) \
            or "错" in cleaned:  # 错了, 说错了 (没错, a yes, is taken above)
        return False
    return None


def confirmation_of(hypothesis: Hypothesis, settings: ConfirmSettings = ConfirmSettings()
                    ) -> bool | None:
    """What a spoken confirmation said: True (yes), False (no) or None (unclear). A yes
    needs the engine's acceptance and no "no" anywhere in its n-best: a near rival only
    (as understanding does for answers) let 不对不对 through as 是 at 10 dB, its n-best
    是 / 说 / 是说 / 说错 (bench/confirm_bench.py)."""
    heard = _meaning(hypothesis.text or hypothesis.heard)
    if heard is False:
        return False  # a no, even a rejected one, only sends the question to the keys
    if heard is None or not hypothesis.text:
        return None
    if any(_meaning(text) is False for text, _ in hypothesis.alternatives):
        return None  # 不对不对 heard as 是 with 说错 in its n-best: not a yes
    return True


def prompt_for(intent: Intent) -> str:
    """The read-back prompt's id in the catalog: confirm_<intent>."""
    return f"confirm_{intent.value}"
