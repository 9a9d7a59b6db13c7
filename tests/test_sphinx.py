"""The PocketSphinx recogniser on real audio: espeak answers accepted and understood,
the shared real Mandarin clips and unrelated sentences rejected, garbage handled."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator

import numpy as np
import pytest

from ivr.intents import Intent, Question
from ivr.recognition import Grammar, Hypothesis, RecognitionError, grammar_for
from ivr.sphinx import SphinxEngine, SphinxRecogniser
from ivr.understand import understand, understand_hypotheses
from prompts.audio import read_wav, to_telephone
from prompts.cache import PromptCache
from prompts.catalog import load_catalog
from prompts.render import PromptRenderer
from prompts.tts import EspeakWorker, Voice
from tests.conftest import need
from tests.speech import MODEL

REAL = MODEL.parents[2] / "speech/real"
ANSWERS = {"很满意": Intent.SATISFIED, "挺满意的": Intent.SATISFIED,
           "基本满意": Intent.BASIC_SATISFIED, "不满意": Intent.UNSATISFIED,
           "不太满意": Intent.UNSATISFIED, "还行": Intent.BASIC_SATISFIED}
OFF_SCRIPT = ["今天天气不错我们去公园散步吧", "我想订一张明天去北京的火车票", "这个手机多少钱"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    need(MODEL.exists(), f"shared Mandarin model missing at {MODEL}")
    worker = EspeakWorker()
    try:
        r = PromptRenderer(load_catalog(), PromptCache(tmp_path_factory.mktemp("c")), worker,
                           Voice(), hotline="x", city="y")
        return {t: r.cache.load(r.say(t).audio) for t in [*ANSWERS, *OFF_SCRIPT]}
    finally:
        worker.close()


@pytest.fixture(scope="module")
def engine() -> SphinxEngine:
    need(MODEL.exists(), f"shared Mandarin model missing at {MODEL}")
    return SphinxEngine(MODEL)


@pytest.fixture
def recogniser(engine: SphinxEngine) -> Iterator[SphinxRecogniser]:
    r = engine.recogniser(grammar_for(Question.SATISFIED))
    yield r
    r.close()


def decode(recogniser: SphinxRecogniser, pcm: np.ndarray, chunk: int = 320,
           partials: list[Hypothesis] | None = None) -> Hypothesis:
    data = pcm.astype("<i2").tobytes()
    for i in range(0, len(data), chunk):
        partial = recogniser.feed(data[i:i + chunk])  # streamed as RTP would deliver it
        if partial is not None and partials is not None:
            partials.append(partial)
    return recogniser.finish()


ACCEPT = 0.5  # the flow's confidence threshold


def test_no_confident_swap_and_accepted_answers_are_right(
        recogniser: SphinxRecogniser, clips: dict[str, np.ndarray]) -> None:
    accepted = 0
    for text, truth in ANSWERS.items():
        hyp = decode(recogniser, clips[text])
        result = understand_hypotheses(hyp.text, hyp.confidence, hyp.alternatives,
                                       Question.SATISFIED)
        if result.confidence >= ACCEPT:
            accepted += 1
            assert result.intent is truth, (text, hyp, result)
        else:  # in doubt: asked again, never recorded as the opposite
            assert result.confidence <= 0.3 or result.intent is Intent.UNCLEAR, (text, result)
    assert accepted >= 3  # the recogniser does accept answers, not only doubt them


def test_the_near_swap_is_caught(recogniser: SphinxRecogniser,
                                 clips: dict[str, np.ndarray]) -> None:
    hyp = decode(recogniser, clips["很满意"])
    result = understand_hypotheses(hyp.text, hyp.confidence, hyp.alternatives,
                                   Question.SATISFIED)
    assert result.intent is Intent.SATISFIED or result.confidence < ACCEPT, (hyp, result)


def test_off_script_speech_is_rejected(recogniser: SphinxRecogniser,
                                       clips: dict[str, np.ndarray]) -> None:
    real = sorted(REAL.glob("*.wav"))
    assert len(real) == 5
    for path in real:
        samples, info = read_wav(path)
        hyp = decode(recogniser, to_telephone(samples, info.rate))
        assert (hyp.text, hyp.confidence) == ("", 0.0), (path.name, hyp)
        assert understand(hyp.text, Question.SATISFIED).intent is Intent.UNCLEAR
    for text in OFF_SCRIPT:
        hyp = decode(recogniser, clips[text])
        assert hyp.text == "" and hyp.coverage < 0.7, (text, hyp)


def test_silence_garbage_and_empty_streams_fail_cleanly(recogniser: SphinxRecogniser) -> None:
    assert decode(recogniser, np.zeros(16000, dtype=np.int16)).text == ""
    recogniser.feed(b"\x01\x02\x03")  # odd bytes: the last one waits for more
    recogniser.feed(bytes(range(256)) * 50)
    # a buzz: no answer (from the model's own mean, the lattice's best is the 还 of 还行)
    assert understand(recogniser.finish().text, Question.SATISFIED).intent is Intent.UNCLEAR
    empty = recogniser.finish()  # nothing fed at all
    assert (empty.text, empty.confidence, empty.coverage) == ("", 0.0, 0.0)
    with pytest.raises(TypeError, match="bytes of 8 kHz"):
        recogniser.feed("满意")  # type: ignore[arg-type]
    recogniser.close()
    with pytest.raises(RecognitionError, match="after close"):
        recogniser.feed(b"\x00" * 320)


def test_partials_stream_and_the_final_is_flagged(recogniser: SphinxRecogniser,
                                                  clips: dict[str, np.ndarray]) -> None:
    partials: list[Hypothesis] = []
    final = decode(recogniser, clips["不满意"], partials=partials)
    assert partials and all(not p.final for p in partials)
    assert all(a.text != b.text for a, b in itertools.pairwise(partials))  # when it changed
    assert final.final and final.text == "不满意" and final.confidence >= 0.7


def test_reset_switches_grammar_and_decoders_are_reused(engine: SphinxEngine,
                                                        clips: dict[str, np.ndarray]) -> None:
    r = engine.recogniser(grammar_for(Question.RESOLVED))
    slot = r.slot
    # 不满意 is not in the resolved grammar: forced onto resolution words, rejected or other
    first = decode(r, clips["不满意"])
    assert "满意" not in first.text
    r.reset(grammar_for(Question.SATISFIED))
    assert decode(r, clips["不满意"]).text == "不满意"
    r.close()
    r.close()  # twice is harmless
    again = engine.recogniser(Grammar("yes-no", ("是的", "不是")))
    assert again.slot is slot  # the decoder came back from the free list
    again.close()


def test_a_grammar_nothing_can_say_is_refused(engine: SphinxEngine) -> None:
    with pytest.raises(RecognitionError, match="no phrase can be said"):
        engine.recogniser(Grammar("latin", ("hello world",)))
    with pytest.raises(RecognitionError, match="model incomplete"):
        SphinxEngine(MODEL.parent)
