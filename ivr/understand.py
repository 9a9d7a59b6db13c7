"""What a citizen's words (or keys) mean for the question asked: a pure function.

Being wrong is worse than admitting doubt. Phrases are matched longest first and
without overlap, so 不满意 is never read as 满意; two different answers to the same
question without a correction between them come out UNCLEAR; anything off-script is
UNCLEAR with confidence 0. Vosk's spaces between Chinese words are ignored.
"""

from __future__ import annotations

import re

from ivr.intents import ANSWERS, Intent, Policy, Question, Understanding

KEY_CONFIDENCE = 1.0
PHRASE_CONFIDENCE = 0.95
YES_NO_CONFIDENCE = 0.8
HEDGE_CONFIDENCE = 0.75

# (phrase, meaning). A meaning is an Intent, or a policy name, or YES / NO.
YES, NO = "yes", "no"
HEDGE, PARTLY, BASICALLY = "hedge", "partly", "basically"
PHRASES: list[tuple[str, str]] = [
    # anywhere in the call
    *((p, Intent.WRONG_PERSON) for p in (
        "不是我", "打错了", "你打错了", "打错电话", "没有反映过", "我没反映过", "没反映过",
        "我没打过", "没打过", "不是本人", "我不是", "你找错人了", "找错人了")),
    *((p, Intent.CALL_LATER) for p in (
        "没空", "没时间", "在开车", "开车呢", "晚点打", "晚点再打", "等会再打", "等一会再打",
        "过会再打", "一会再打", "在忙", "正忙", "忙着呢", "在开会", "开会呢", "不方便",
        "现在不方便", "改天再说", "回头再说")),
    *((p, Intent.REPEAT) for p in (
        "没听清", "没听清楚", "听不清", "再说一遍", "再说一次", "重复一遍", "你说什么", "说什么",
        "什么意思", "啥意思", "没听懂", "听不懂")),
    *((p, Intent.NOT_SURE) for p in (
        "不知道", "说不好", "不清楚", "不好说", "说不清", "不确定", "不记得", "忘了")),
    # satisfaction, negatives first (longest match wins anyway)
    *((p, Intent.UNSATISFIED) for p in (
        "不满意", "不太满意", "不是很满意", "不怎么满意", "很不满意", "非常不满意", "特别不满意",
        "一点都不满意", "一点也不满意", "没法满意", "不满", "不满足", "很差", "太差", "差劲",
        "太差劲", "不好", "不行", "很糟糕", "糟糕", "不太好", "不怎么样", "不怎么好")),
    *((p, Intent.BASIC_SATISFIED) for p in (
        "基本满意", "基本上满意", "还算满意", "比较满意", "勉强满意", "基本还满意")),
    *((p, HEDGE) for p in (
        "还行", "还可以", "凑合", "凑合吧", "马马虎虎", "一般", "一般般", "差不多", "过得去",
        "还凑合", "还好")),
    *((p, Intent.SATISFIED) for p in (
        "满意", "挺满意", "很满意", "非常满意", "特别满意", "十分满意", "蛮满意", "满意的",
        "都满意", "很好", "挺好", "不错", "挺不错", "很不错", "非常好", "满意满意")),
    # resolution, negatives first
    *((p, Intent.UNRESOLVED) for p in (
        "没解决", "没有解决", "还没解决", "还没有解决", "未解决", "没能解决", "不解决",
        "解决不了", "没法解决", "没处理", "没有处理", "没人处理", "没人管", "没人来",
        "没弄好", "没修好", "没搞好", "还没弄", "还没修", "还是老样子", "一点没变", "问题还在",
        "还没好")),
    *((p, PARTLY) for p in (
        "解决了一部分", "部分解决", "解决了一半", "一部分解决了", "解决一部分", "只解决了一部分")),
    *((p, BASICALLY) for p in ("基本解决", "基本解决了", "基本上解决了", "大部分解决了")),
    *((p, Intent.RESOLVED) for p in (
        "解决了", "已经解决", "已经解决了", "已解决", "都解决了", "全解决了", "处理好了",
        "处理了", "弄好了", "修好了", "搞定了", "办好了", "解决啦", "解决好了")),
    # bare yes / no to the question as asked
    *((p, YES) for p in ("是的", "是", "对", "对的", "对啊", "嗯", "恩", "好的", "有", "行",
                         "可以")),
    *((p, NO) for p in ("不是", "没有", "没", "不对", "否")),
]
CORRECTIONS = ("不对", "说错了", "不是", "哦不", "应该是", "我是说")
_SPACES = re.compile(r"[\s，。、！？,.!?~～…]+")
_PARTICLES = "的了吧啊呀呢哦哈嘛啦"
_INDEX: dict[str, str] = {}
for _phrase, _meaning in PHRASES:
    _INDEX.setdefault(_phrase, str(_meaning))
_LONGEST = max(len(p) for p in _INDEX)
DIGITS = {
    Question.RESOLVED: {"1": Intent.RESOLVED, "2": Intent.UNRESOLVED},
    Question.SATISFIED: {"1": Intent.SATISFIED, "2": Intent.BASIC_SATISFIED,
                         "3": Intent.UNSATISFIED},
}


def understand_keys(digits: str, question: Question) -> Understanding:
    """RFC 2833 digits: the key menu of the question; * repeats; anything else UNCLEAR."""
    if digits == "*":
        return Understanding(Intent.REPEAT, KEY_CONFIDENCE, evidence="*")
    intent = DIGITS[question].get(digits)
    if intent is None:
        return Understanding(Intent.UNCLEAR, 0.0, evidence=digits)
    return Understanding(intent, KEY_CONFIDENCE, evidence=digits)


def _matches(text: str) -> list[tuple[int, str, str]]:
    """Non-overlapping phrase matches, longest first at each position: (start, phrase,
    meaning)."""
    found, i = [], 0
    while i < len(text):
        for size in range(min(_LONGEST, len(text) - i), 0, -1):
            piece = text[i:i + size]
            meaning = _INDEX.get(piece)
            if meaning is not None:
                found.append((i, piece, meaning))
                i += size
                break
        else:
            i += 1
    return found


def _resolve(meaning: str, question: Question, policy: Policy) -> Intent | None:
    if meaning == HEDGE:
        return policy.hedge
    if meaning == PARTLY:
        return policy.partly_resolved
    if meaning == BASICALLY:
        return policy.basically_resolved
    if meaning == YES:
        return Intent.RESOLVED if question is Question.RESOLVED else Intent.SATISFIED
    if meaning == NO:
        return Intent.UNRESOLVED if question is Question.RESOLVED else Intent.UNSATISFIED
    return Intent(meaning)


DEFAULT_POLICY = Policy()


def understand(text: str, question: Question, policy: Policy = DEFAULT_POLICY
               ) -> Understanding:
    """The intent of `text` for `question`, with a confidence and the deciding phrase."""
    cleaned = _SPACES.sub("", text).lower()
    if not cleaned.strip(_PARTICLES):
        return Understanding(Intent.UNCLEAR, 0.0)
    matches = _matches(cleaned)
    if not matches:
        return Understanding(Intent.UNCLEAR, 0.0, evidence=cleaned)
    answers = _answers(matches, question, policy)
    # Wrong person, call later, repeat, not sure: they yield to an explicit answer, never
    # to a bare yes/no (嗯，不是我 is not a yes).
    explicit = [a for a in answers if _INDEX[a[1]] not in (YES, NO)]
    for intent in (Intent.WRONG_PERSON, Intent.CALL_LATER, Intent.REPEAT, Intent.NOT_SURE):
        hit = next((m for m in matches if m[2] == intent), None)
        if hit is not None and not explicit:
            return Understanding(intent, PHRASE_CONFIDENCE, evidence=hit[1])
    other = next(q for q in Question if q is not question)
    # A bare yes or no answers only the question asked.
    also = tuple(dict.fromkeys(i for _, p, i, _ in _answers(matches, other, policy)
                               if _INDEX[p] not in (YES, NO)))
    if not answers:
        return Understanding(Intent.UNCLEAR, 0.0, also=also, evidence=cleaned)
    distinct = {intent for _, _, intent, _ in answers}
    if len(distinct) > 1:
        last_start = answers[-1][0]
        corrected = any(c in cleaned[answers[0][0]:last_start] for c in CORRECTIONS)
        if not corrected:  # two answers and no correction: doubt, not a guess
            return Understanding(Intent.UNCLEAR, 0.0, also=also,
                                 evidence="/".join(p for _, p, _, _ in answers))
    start, phrase, intent, confidence = answers[-1]
    del start
    return Understanding(intent, confidence, also=also, evidence=phrase)


def _answers(matches: list[tuple[int, str, str]], question: Question, policy: Policy
             ) -> list[tuple[int, str, Intent, float]]:
    """Matches that answer `question`, with their confidence. Yes/no words count only
    when no explicit answer to either question was given."""
    explicit_any = any(m not in (YES, NO) and m in _ANSWER_MEANINGS for _, _, m in matches)
    out = []
    for start, phrase, meaning in matches:
        if meaning in (YES, NO) and explicit_any:
            continue
        if meaning not in _ANSWER_MEANINGS:
            continue
        intent = _resolve(meaning, question, policy)
        if intent is None or intent not in ANSWERS[question]:
            continue
        confidence = (YES_NO_CONFIDENCE if meaning in (YES, NO) else
                      HEDGE_CONFIDENCE if meaning in (HEDGE, PARTLY) else PHRASE_CONFIDENCE)
        out.append((start, phrase, intent, confidence))
    return out


_ANSWER_MEANINGS = {str(i) for i in (Intent.RESOLVED, Intent.UNRESOLVED, Intent.SATISFIED,
                                     Intent.BASIC_SATISFIED, Intent.UNSATISFIED)} | {
    YES, NO, HEDGE, PARTLY, BASICALLY}


CONTESTED_CONFIDENCE = 0.3
OPPOSITES = {
    Intent.SATISFIED: {Intent.UNSATISFIED}, Intent.BASIC_SATISFIED: {Intent.UNSATISFIED},
    Intent.UNSATISFIED: {Intent.SATISFIED, Intent.BASIC_SATISFIED},
    Intent.RESOLVED: {Intent.UNRESOLVED}, Intent.UNRESOLVED: {Intent.RESOLVED},
}


def understand_hypotheses(best: str, recogniser_confidence: float,
                          alternatives: tuple[tuple[str, float], ...], question: Question,
                          margin: float = 0.05, policy: Policy = DEFAULT_POLICY
                          ) -> Understanding:
    """Understand a recogniser's best hypothesis, in doubt when a near alternative means
    the opposite answer (很满意 against 很不满意 a hair apart): then the confidence drops
    below acceptance so that the flow asks again instead of recording a swap."""
    result = understand(best, question, policy)
    confidence = min(result.confidence, recogniser_confidence)
    if alternatives:
        top = alternatives[0][1]
        for text, score in alternatives[1:]:
            if top - score > margin:
                break
            rival = understand(text, question, policy).intent
            if rival in OPPOSITES.get(result.intent, set()):
                return Understanding(result.intent, min(confidence, CONTESTED_CONFIDENCE),
                                     result.also, f"{result.evidence} contested by {text}")
    return Understanding(result.intent, confidence, result.also, result.evidence)


FILLERS = ("我觉得", "我感觉", "觉得", "其实", "就是", "那个", "这个", "谢谢", "嗯", "呃", "哎",
           "唉", "喂")


def text_coverage(text: str) -> float:
    """Share of a free-form transcript's characters (punctuation left out) that belong to a
    known phrase, a particle or a discourse filler (嗯, 我觉得, 谢谢 …): near 1 for an
    answer, low for an off-script sentence that merely contains one (今天天气不错 …). For
    engines that transcribe freely (Whisper), where the grammar cannot force the fit."""
    cleaned = _SPACES.sub("", text).lower()
    if not cleaned:
        return 0.0
    covered = [False] * len(cleaned)
    for start, phrase, _ in _matches(cleaned):
        covered[start:start + len(phrase)] = [True] * len(phrase)
    for filler in FILLERS:
        at = cleaned.find(filler)
        while at >= 0:
            covered[at:at + len(filler)] = [True] * len(filler)
            at = cleaned.find(filler, at + 1)
    for i, ch in enumerate(cleaned):
        if ch in _PARTICLES:
            covered[i] = True
    return sum(covered) / len(cleaned)
