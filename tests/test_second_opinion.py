"""The second-opinion rule as pure logic, the combined engine with fake engines (a failing
and a hung Whisper leave the decision with PocketSphinx and say so), and the replay in
`judge` giving exactly what the live recogniser gives."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from huifang.config import RecognitionSettings
from huifang.speech import engine_from, judge
from ivr.intents import Intent, Policy, Question
from ivr.recognition import Grammar, Hypothesis, Opinion, grammar_for
from ivr.second_opinion import Combination, SecondOpinionEngine, asks, combined
from ivr.understand import understand_hypotheses
from ivr.whisper import WhisperGuards, admissible, hypothesis_of, looped, simplified

POLICY = Policy()
S = Question.SATISFIED
R = Question.RESOLVED
RULE = Combination(doubt_below=0.9, agree=WhisperGuards(0.8, -1.0, 2.4, 0.5),
                   alone=None, veto=True)
ALONE = Combination(0.9, WhisperGuards(0.8, -1.0, 2.4, 0.5), WhisperGuards(0.3, -0.4, 2.4, 0.9))


def rejected(heard: str) -> Hypothesis:
    """What PocketSphinx gives when its rejection threw away what the grammar matched."""
    return Hypothesis("", 0.0, True, heard, 0.4, voiced_s=1.0)


def accepted(text: str, alternatives: tuple[tuple[str, float], ...] = ()) -> Hypothesis:
    return Hypothesis(text, 1.0, True, text, 1.0, alternatives, 1.0)


def said(text: str, logprob: float = -0.5, no_speech: float = 0.2) -> Opinion:
    return Opinion(text, logprob, no_speech, 1.0, 1.2, 0.8)


def decide(primary: Hypothesis, opinion: Opinion | None, question: Question = S,
           rule: Combination = RULE) -> tuple[Intent, float]:
    h = combined(primary, opinion, question, 0.05, POLICY, 0.5, rule)
    u = understand_hypotheses(h.text, h.confidence, h.alternatives, question, 0.05, POLICY)
    return u.intent, u.confidence


def test_agreement_rescues_a_rejected_answer() -> None:
    intent, confidence = decide(rejected("不满意"), said("我不满意。"))
    assert intent is Intent.UNSATISFIED and confidence >= 0.5
    intent, _ = decide(rejected("没有解决"), said("还没解决"), R)
    assert intent is Intent.UNRESOLVED


def test_disagreement_or_weak_evidence_stays_unclear() -> None:
    assert decide(rejected("不满意"), said("满意"))[0] is Intent.UNCLEAR  # a dropped 不
    assert decide(rejected("满意"), said("满意", logprob=-1.5))[0] is Intent.UNCLEAR
    assert decide(rejected("满意"), said("满意", no_speech=0.95))[0] is Intent.UNCLEAR
    assert decide(rejected("满意"), said("满意满意满意满意"))[0] is Intent.UNCLEAR  # a loop
    # an off-script sentence that contains an answer word is no agreement
    assert decide(rejected("不错"), said("今天天气不错我们去公园散步吧"))[0] is Intent.UNCLEAR


def test_whisper_alone_decides_only_with_its_stricter_guards() -> None:
    assert decide(rejected(""), said("满意", logprob=-0.3, no_speech=0.1))[0] is Intent.UNCLEAR
    assert decide(rejected(""), said("满意", logprob=-0.3, no_speech=0.1), rule=ALONE)[0] \
        is Intent.SATISFIED
    assert decide(rejected(""), said("满意", logprob=-0.6, no_speech=0.1), rule=ALONE)[0] \
        is Intent.UNCLEAR


def test_an_opposite_opinion_vetoes_a_doubted_answer() -> None:
    contested = accepted("很满意", (("很满意", -10.0), ("很不满意", -10.01)))
    assert decide(contested, None) == (Intent.SATISFIED, 0.3)  # contested: not accepted
    yes = accepted("是的")  # a bare yes: 0.8, below doubt_below
    assert decide(yes, None)[0] is Intent.SATISFIED
    assert decide(yes, said("不满意"))[0] is Intent.UNCLEAR
    keep = Combination(0.9, RULE.agree, None, veto=False)
    assert decide(yes, said("不满意"), rule=keep)[0] is Intent.SATISFIED


def test_a_sure_answer_is_not_doubted() -> None:
    sure = accepted("不满意")
    assert not asks(Intent.UNSATISFIED, 0.95, 0.5, RULE)
    assert decide(sure, said("满意")) == (Intent.UNSATISFIED, 0.95)
    # a non-answer is always doubted: 满意 is heard as 啥意思
    assert asks(Intent.REPEAT, 0.95, 0.5, RULE)
    assert decide(rejected("啥意思"), said("满意"))[0] is Intent.UNCLEAR
    assert decide(accepted("啥意思"), said("啥意思"))[0] is Intent.REPEAT


def test_whisper_is_asked_only_on_its_questions() -> None:
    resolved_only = Combination(0.9, RULE.agree, None, True, frozenset({R}))
    assert decide(rejected("没有解决"), said("没解决"), R, resolved_only)[0] is Intent.UNRESOLVED
    assert decide(rejected("不满意"), said("不满意"), S, resolved_only)[0] is Intent.UNCLEAR
    assert not asks(Intent.UNCLEAR, 0.0, 0.5, resolved_only, S)


def test_no_opinion_leaves_the_grammar_engine_alone() -> None:
    for opinion in (None, Opinion("", error="whisper gave no opinion within 1 s")):
        assert decide(rejected("不满意"), opinion)[0] is Intent.UNCLEAR
        assert decide(accepted("不满意"), opinion)[0] is Intent.UNSATISFIED


def test_judge_replays_the_live_decision() -> None:
    """asr-tune stores the grammar engine's result and Whisper's opinion; judge with the
    combination gives what the live recogniser's hypothesis gives."""
    cases = [(rejected("不满意"), said("不满意")), (accepted("是的"), said("不满意")),
             (rejected(""), said("满意", -0.3, 0.1)), (accepted("满意"), said("不满意")),
             (rejected("满意"), Opinion("", error="failed"))]
    for primary, opinion in cases:
        live = combined(primary, opinion, S, 0.05, POLICY, 0.5, ALONE)
        stored = Hypothesis(primary.text, primary.confidence, True, primary.heard,
                            primary.coverage, primary.alternatives, primary.voiced_s,
                            opinion, primary)
        assert judge(live, S, 0.05, POLICY) == judge(stored, S, 0.05, POLICY,
                                                     combination=ALONE, accept=0.5)


def test_whisper_guards_and_text() -> None:
    assert simplified("滿意。沒解決�") == "满意。没解决"
    assert looped("没油,没油,没油,没油") and not looped("对对对解决了")
    assert admissible(said("满意"), RULE.agree)
    assert not admissible(Opinion("满意", -0.2, 0.1, 1.0, 0.0), RULE.agree)  # nothing voiced
    assert not admissible(Opinion("", error="x"), RULE.agree)
    h = hypothesis_of(said("嗯，挺满意的"), WhisperGuards())
    assert (h.text, h.confidence) == ("嗯，挺满意的", 1.0)
    assert hypothesis_of(said("我家楼下停车位太少了"), WhisperGuards()).text == ""


# The combined engine, with fakes for both engines -----------------------------------------


@dataclass
class FakeRecogniser:
    result: Hypothesis
    fed: bytearray = field(default_factory=bytearray)

    def reset(self, grammar: Grammar) -> None:
        self.fed.clear()

    def feed(self, pcm: bytes) -> Hypothesis | None:
        self.fed += pcm
        return None

    def finish(self) -> Hypothesis:
        return self.result

    def close(self) -> None:
        pass


@dataclass
class FakePrimary:
    result: Hypothesis
    name: str = "pocketsphinx"
    rival_margin: float = 0.05
    free_form: bool = False

    def recogniser(self, grammar: Grammar) -> FakeRecogniser:
        return FakeRecogniser(self.result)

    def transcribe(self, pcm: bytes) -> str | None:
        return None


@dataclass
class FakeWhisper:
    text: str = "不满意"
    fail: bool = False
    hang: threading.Event | None = None
    name: str = "whisper"
    free_form: bool = True
    heard: list[bytes] = field(default_factory=list)

    def opinion(self, pcm: bytes, question: Question | None) -> Opinion:
        self.heard.append(pcm)
        if self.fail:
            raise RuntimeError("CTranslate2 ran out of memory")
        if self.hang is not None:
            self.hang.wait()
        return said(self.text)

    def transcribe(self, pcm: bytes) -> str | None:
        return self.text


def run(engine: SecondOpinionEngine, question: Question = S) -> Hypothesis:
    r = engine.recogniser(grammar_for(question))
    r.feed(b"\x01\x00" * 800)
    r.feed(b"\x02\x00" * 800)
    h = r.finish()
    r.close()
    return h


@pytest.fixture
def hung() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def test_combined_engine_asks_on_doubt_with_the_whole_answer() -> None:
    whisper = FakeWhisper("不满意")
    engine = SecondOpinionEngine(FakePrimary(rejected("不满意")), whisper, RULE, POLICY, 0.5)
    h = run(engine)
    assert judge(h, S, 0.05, POLICY).intent is Intent.UNSATISFIED
    assert whisper.heard == [b"\x01\x00" * 800 + b"\x02\x00" * 800]
    assert h.primary is not None and h.primary.text == "" and h.opinion is not None
    sure = SecondOpinionEngine(FakePrimary(accepted("不满意")), whisper, RULE, POLICY, 0.5)
    assert run(sure).opinion is None and len(whisper.heard) == 1  # not asked
    engine.shutdown()
    sure.shutdown()


def test_a_failing_whisper_leaves_pocketsphinx_deciding(caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    engine = SecondOpinionEngine(FakePrimary(accepted("是的")), FakeWhisper(fail=True), RULE,
                                 POLICY, 0.5)
    with caplog.at_level(logging.WARNING, logger="ivr.second_opinion"):
        h = run(engine)
    assert judge(h, S, 0.05, POLICY).intent is Intent.SATISFIED  # PocketSphinx's yes
    assert h.opinion is not None and "out of memory" in h.opinion.error
    assert "PocketSphinx decides alone" in caplog.text
    assert engine.failed == 1
    engine.shutdown()


def test_a_hung_whisper_times_out_and_pocketsphinx_decides(hung: threading.Event) -> None:
    engine = SecondOpinionEngine(FakePrimary(rejected("不满意")), FakeWhisper(hang=hung),
                                 RULE, POLICY, 0.5, timeout_s=0.2)
    h = run(engine)
    assert judge(h, S, 0.05, POLICY).intent is Intent.UNCLEAR
    assert h.opinion is not None and "no opinion within 0.2 s" in h.opinion.error
    engine.shutdown()


def test_a_missing_whisper_model_turns_the_second_opinion_off(
        tmp_path: object, caplog: pytest.LogCaptureFixture) -> None:
    from tests.speech import MODEL

    settings = RecognitionSettings(model=str(MODEL), second_opinion="whisper",
                                   whisper_model=str(tmp_path) + "/nowhere")
    with caplog.at_level(logging.WARNING, logger="huifang.speech"):
        engine = engine_from(settings)
    assert engine.name == "pocketsphinx"
    assert "second opinion off" in caplog.text and "nowhere" in caplog.text
