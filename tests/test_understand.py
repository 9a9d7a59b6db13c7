"""Understanding tables: hundreds of phrasings, each with the intent it must give."""

from __future__ import annotations

import itertools

import pytest

from ivr.intents import Intent, Policy, Question
from ivr.understand import understand, understand_keys

R, S = Question.RESOLVED, Question.SATISFIED
A = Intent  # short names keep the tables readable

# Core phrasings per intent, as citizens say them.
SATISFIED = ["满意", "挺满意", "很满意", "非常满意", "特别满意", "十分满意", "蛮满意", "满意的",
             "都满意", "很好", "挺好", "不错", "挺不错", "非常好"]
BASIC = ["基本满意", "基本上满意", "还算满意", "比较满意", "勉强满意"]
UNSATISFIED = ["不满意", "不太满意", "不是很满意", "不怎么满意", "很不满意", "非常不满意",
               "一点都不满意", "一点也不满意", "不满", "很差", "太差", "差劲", "不行", "不好"]
HEDGES = ["还行", "还可以", "凑合", "马马虎虎", "一般", "一般般", "差不多", "过得去", "还好"]
RESOLVED = ["解决了", "已经解决", "已经解决了", "已解决", "都解决了", "处理好了", "弄好了",
            "修好了", "搞定了", "办好了", "基本解决", "基本上解决了"]
UNRESOLVED = ["没解决", "没有解决", "还没解决", "还没有解决", "未解决", "解决不了", "没处理",
              "没有处理", "没人管", "没人来", "没弄好", "没修好", "还是老样子"]
PARTLY = ["解决了一部分", "部分解决", "解决了一半", "只解决了一部分"]
WRONG = ["不是我", "打错了", "你打错了", "我没反映过", "找错人了", "不是本人"]
LATER = ["没空", "在开车", "我在开车", "晚点打", "等会再打", "在忙", "在开会", "现在不方便"]
REPEAT = ["没听清", "再说一遍", "你说什么", "没听懂", "听不清"]
NOT_SURE = ["不知道", "说不好", "不清楚", "不好说", "不记得"]

PREFIXES = ["", "嗯，", "那个", "我觉得", "应该是", "唔 "]
SUFFIXES = ["", "的", "吧", "啊", "。", "呀"]


def variants(phrases: list[str]) -> list[str]:
    return [p + core + s for core in phrases for p, s in itertools.product(PREFIXES, SUFFIXES)
            if not (p == "应该是" and core.startswith("是"))]


TABLE = (
    [(t, S, A.SATISFIED) for t in variants(SATISFIED)]
    + [(t, S, A.BASIC_SATISFIED) for t in variants(BASIC)]
    + [(t, S, A.UNSATISFIED) for t in variants(UNSATISFIED)]
    + [(t, S, A.BASIC_SATISFIED) for t in variants(HEDGES)]
    + [(t, R, A.RESOLVED) for t in variants(RESOLVED)]
    + [(t, R, A.UNRESOLVED) for t in variants(UNRESOLVED)]
    + [(t, R, A.UNRESOLVED) for t in variants(PARTLY)]
    + [(t, q, A.WRONG_PERSON) for t in variants(WRONG) for q in (R, S)]
    + [(t, q, A.CALL_LATER) for t in variants(LATER) for q in (R, S)]
    + [(t, q, A.REPEAT) for t in variants(REPEAT) for q in (R, S)]
    + [(t, q, A.NOT_SURE) for t in variants(NOT_SURE) for q in (R, S)]
)


def test_the_table_is_large() -> None:
    assert len(TABLE) > 2000


@pytest.mark.parametrize(("text", "question", "intent"), TABLE)
def test_table(text: str, question: Question, intent: Intent) -> None:
    assert understand(text, question).intent is intent, text


@pytest.mark.parametrize(("text", "question", "intent", "also"), [
    ("解决了，挺满意的", R, A.RESOLVED, (A.SATISFIED,)),
    ("解决了，挺满意的", S, A.SATISFIED, (A.RESOLVED,)),
    ("没解决，不满意", S, A.UNSATISFIED, (A.UNRESOLVED,)),
    ("问题是解决了，但是不太满意", S, A.UNSATISFIED, (A.RESOLVED,)),
    ("还没有解决，一般吧", R, A.UNRESOLVED, (A.BASIC_SATISFIED,)),
])
def test_both_answers_in_one_breath(text: str, question: Question, intent: Intent,
                                    also: tuple[Intent, ...]) -> None:
    result = understand(text, question)
    assert (result.intent, result.also) == (intent, also)


@pytest.mark.parametrize(("text", "question", "intent"), [
    # bare yes / no answer the question as asked, with less confidence
    ("是", R, A.RESOLVED), ("是的", R, A.RESOLVED), ("对", R, A.RESOLVED),
    ("嗯", R, A.RESOLVED), ("没有", R, A.UNRESOLVED), ("不是", R, A.UNRESOLVED),
    ("是的", S, A.SATISFIED), ("没有", S, A.UNSATISFIED), ("不对", S, A.UNSATISFIED),
    # vosk puts spaces between words
    ("不 满意", S, A.UNSATISFIED), ("还 没有 解决", R, A.UNRESOLVED),
    ("基本 满意", S, A.BASIC_SATISFIED), ("挺 满意 的", S, A.SATISFIED),
    # corrections: the answer after the correction counts
    ("满意，不对，不满意", S, A.UNSATISFIED), ("不满意，说错了，满意", S, A.SATISFIED),
    # two different answers without a correction: doubt
    ("满意不满意", S, A.UNCLEAR), ("解决了没解决", R, A.UNCLEAR),
    # off-script, silence, noise words
    ("甚至出现交易几乎停滞的情况", S, A.UNCLEAR), ("换一首歌", R, A.UNCLEAR),
    ("", S, A.UNCLEAR), ("  ", R, A.UNCLEAR), ("啊", S, A.UNCLEAR), ("喂喂", R, A.UNCLEAR),
    # an answer to the other question only does not answer this one
    ("挺满意的", R, A.UNCLEAR), ("解决了", S, A.UNCLEAR),
])
def test_special_cases(text: str, question: Question, intent: Intent) -> None:
    assert understand(text, question).intent is intent


def test_confidence_orders_keys_phrases_yes_no_and_hedges() -> None:
    assert understand_keys("1", S).confidence == 1.0
    assert understand("不满意", S).confidence > understand("是的", S).confidence
    assert understand("是的", S).confidence > understand("还行", S).confidence
    assert understand("甚至出现交易几乎停滞的情况", S).confidence == 0.0
    assert understand("不太满意", S).evidence == "不太满意"


def test_policy_maps_the_ambiguous_phrasings() -> None:
    strict = Policy(hedge=A.UNSATISFIED, partly_resolved=A.RESOLVED,
                    basically_resolved=A.UNRESOLVED)
    assert understand("一般", S, strict).intent is A.UNSATISFIED
    assert understand("解决了一部分", R, strict).intent is A.RESOLVED
    assert understand("基本解决了", R, strict).intent is A.UNRESOLVED
    assert understand("一般", S).intent is A.BASIC_SATISFIED


@pytest.mark.parametrize(("digits", "question", "intent"), [
    ("1", R, A.RESOLVED), ("2", R, A.UNRESOLVED), ("3", R, A.UNCLEAR),
    ("1", S, A.SATISFIED), ("2", S, A.BASIC_SATISFIED), ("3", S, A.UNSATISFIED),
    ("4", S, A.UNCLEAR), ("#", S, A.UNCLEAR), ("*", R, A.REPEAT), ("*", S, A.REPEAT),
])
def test_keys(digits: str, question: Question, intent: Intent) -> None:
    assert understand_keys(digits, question).intent is intent
