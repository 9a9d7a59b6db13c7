"""The read-back of a doubted answer (ivr/confirm.py): which answers are read back, what
a spoken confirmation means, and two real calls through PocketSphinx where the citizen
confirms one and denies another."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer.callsession import SessionSettings
from huifang.demo.simulator import Citizen
from ivr import flow
from ivr.confirm import ConfirmSettings, confirmation_of, doubted_answer
from ivr.intents import Intent, Question
from ivr.recognition import Hypothesis
from tests.test_callsession import key, run_call, say

ON = ConfirmSettings(enabled=True)


def rejected(heard: str, coverage: float) -> Hypothesis:
    return Hypothesis("", 0.0, True, heard, coverage, voiced_s=1.0)


def accepted(text: str, *alternatives: tuple[str, float]) -> Hypothesis:
    return Hypothesis(text, 1.0, True, text, 0.9, tuple(alternatives), 1.0)


@pytest.mark.parametrize(("hypothesis", "question", "expected"), [
    (rejected("没有解决", 0.5), Question.RESOLVED, Intent.UNRESOLVED),
    (rejected("很满意", 0.4), Question.SATISFIED, Intent.SATISFIED),
    (rejected("没有解决", 0.2), Question.RESOLVED, None),  # too little of the voice
    (rejected("满意", 0.6), Question.RESOLVED, None),  # not an answer to this question
    (rejected("啥意思", 0.9), Question.SATISFIED, None),  # a non-answer
    (rejected("", 0.0), Question.RESOLVED, None),
])
def test_what_a_rejected_answer_reads_back(hypothesis: Hypothesis, question: Question,
                                           expected: Intent | None) -> None:
    assert doubted_answer(hypothesis, Intent.UNCLEAR, 0.0, question, 0.5, ON) is expected


def test_an_accepted_answer_is_read_back_only_below_acceptance() -> None:
    h = accepted("还行")
    assert doubted_answer(h, Intent.BASIC_SATISFIED, 0.4, Question.SATISFIED, 0.5, ON) \
        is Intent.BASIC_SATISFIED
    assert doubted_answer(h, Intent.BASIC_SATISFIED, 0.7, Question.SATISFIED, 0.5, ON) is None
    assert doubted_answer(h, Intent.NOT_SURE, 0.3, Question.SATISFIED, 0.5, ON) is None
    # off by default (README: a spoken 不对 taken for a yes in the human voice)
    assert doubted_answer(rejected("没有解决", 0.5), Intent.UNCLEAR, 0.0, Question.RESOLVED,
                          0.5) is None


@pytest.mark.parametrize(("hypothesis", "expected"), [
    (accepted("对"), True), (accepted("是的"), True), (accepted("没错"), True),
    (accepted("不对"), False), (accepted("不是"), False), (accepted("说错了"), False),
    (accepted("说错"), False), (accepted("错"), False),
    (rejected("不对", 0.2), False),  # a no, even rejected, sends the question to the keys
    (rejected("对", 0.2), None),  # a yes must be accepted
    (accepted("对", ("不对", -0.01)), None),  # a 不对 in the n-best vetoes the yes
    (accepted("对", ("说错", -3.0)), None),  # however far behind
    (accepted("对", ("对的", -0.5)), True),
    (accepted(""), None),
])
def test_what_a_spoken_confirmation_means(hypothesis: Hypothesis, expected: bool | None
                                          ) -> None:
    alternatives = hypothesis.alternatives
    if alternatives:  # the best first, at score 0
        hypothesis = Hypothesis(hypothesis.text, 1.0, True, hypothesis.heard, 0.9,
                                ((hypothesis.text, 0.0), *alternatives), 1.0)
    assert confirmation_of(hypothesis) is expected


# Every answer is understood below acceptance here, so the flow reads it back: the real
# engine then hears the citizen's 是的 or 不对 through the confirmation grammar (espeak's bare
# 对 is too short for the rejection: 0.67 of its voiced time covered).
DOUBTING = SessionSettings(no_input_s=2.0, accept=0.99, confirm=ON)


@pytest.mark.timeout(120)
def test_a_real_call_where_the_citizen_confirms_the_read_back(tmp_path: Path) -> None:
    report, answers, history = run_call(
        Citizen(turns=(say("没有解决"), say("是的"), key("3"))), tmp_path, settings=DOUBTING)
    got = [(a.question, a.intent, a.source) for a in answers]
    assert got == [(Question.RESOLVED, Intent.UNRESOLVED, "speech, confirmed"),
                   (Question.SATISFIED, Intent.UNSATISFIED, "keys")], (got, history)
    assert "→" in answers[0].heard
    assert report.flow_outcome is flow.CallOutcome.COMPLETED
    # two spoken turns (the answer and the 是的), each latency with its parts: the end
    # point's wait, the recogniser's answer, the flow to the next prompt
    assert len(report.turn_latencies_ms) == len(report.turn_parts_ms) == 2
    for latency, parts in zip(report.turn_latencies_ms, report.turn_parts_ms, strict=True):
        assert all(p >= 0 for p in parts) and parts[0] > 100  # silence ends a turn
        assert abs(sum(parts) - latency) < 1.0


@pytest.mark.timeout(120)
def test_a_real_call_where_the_citizen_denies_the_read_back(tmp_path: Path) -> None:
    _, answers, history = run_call(
        Citizen(turns=(say("没有解决"), say("不对"), key("1"), key("1"))), tmp_path,
        settings=DOUBTING)
    got = [(a.question, a.intent, a.source) for a in answers]
    assert got == [(Question.RESOLVED, Intent.RESOLVED, "keys"),
                   (Question.SATISFIED, Intent.SATISFIED, "keys")], (got, history)
