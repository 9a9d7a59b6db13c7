"""The Whisper engine for real: the packaged base model (joined from the two PyPI packages
once per session), on real Mandarin clips and on espeak-ng answers through the telephone
channel, and behind PocketSphinx as the second opinion. A few clips only: each costs a
couple of seconds of one core."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from huifang.evaluation import channel
from huifang.speech import decode, judge, read_8k
from ivr.intents import Intent, Policy, Question
from ivr.recognition import grammar_for
from ivr.second_opinion import Combination, SecondOpinionEngine
from ivr.sphinx import SphinxEngine
from ivr.understand import understand
from ivr.whisper import WhisperEngine
from ivr.whisper_model import PACKAGED, packaged_model
from tests.speech import MODEL, espeak

REAL = MODEL.parents[2] / "speech/real"
POLICY = Policy()


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return packaged_model(tmp_path_factory.mktemp("whisper-base"))


@pytest.fixture(scope="session")
def whisper(whisper_dir: Path) -> WhisperEngine:
    return WhisperEngine(whisper_dir, workers=1)


def answer(text: str, voice: str, snr: float | None = 30.0) -> bytes:
    """An espeak-ng answer as the trunk delivers it: telephone band, μ-law, pink noise."""
    raw = np.frombuffer(espeak(text, voice, pad_s=0.0), "<i2").astype(np.float64) / 32768
    return channel.telephone(raw, snr, seed=7, noise_kind="pink")


def test_the_packaged_base_model_is_the_one_measured(whisper_dir: Path) -> None:
    """The real parts from PyPI, joined: 145,217,607 bytes with the hash in the issue."""
    assert (whisper_dir / "model.bin").stat().st_size == PACKAGED.size == 145_217_607
    assert (whisper_dir / "model.bin.sha256").read_text().strip() == PACKAGED.sha256


def test_real_speech_is_transcribed_in_simplified_characters(whisper: WhisperEngine) -> None:
    pcm = read_8k(REAL / "firered_IT0011W0001.wav")  # 换一首歌, 16 kHz read to 8 kHz
    text = whisper.transcribe(pcm)
    assert text is not None
    assert difflib.SequenceMatcher(None, text, "换一首歌").ratio() >= 0.5, text
    assert "換" not in text and "歌" in text  # OpenCC: the model wrote 換一首歌


def test_off_script_real_speech_is_not_an_answer(whisper: WhisperEngine) -> None:
    r = whisper.recogniser(grammar_for(Question.SATISFIED))
    r.feed(read_8k(REAL / "firered_BAC009S0764W0121.wav"))  # 甚至出现交易几乎停滞的情况
    h = r.finish()
    r.close()
    assert h.opinion is not None and h.opinion.text  # it heard a sentence ...
    assert judge(h, Question.SATISFIED, 0.0, POLICY).intent is Intent.UNCLEAR  # ... no answer


@pytest.mark.parametrize(("question", "said", "voice", "meaning"), [
    (Question.SATISFIED, "不满意", "sit/cmn-latn-pinyin+m3", Intent.UNSATISFIED),
    (Question.RESOLVED, "没有解决", "sit/cmn-latn-pinyin+m3", Intent.UNRESOLVED),
    (Question.SATISFIED, "基本满意", "sit/cmn-latn-pinyin+f3", Intent.BASIC_SATISFIED),
])
def test_espeak_answers_through_the_telephone_channel(
        whisper: WhisperEngine, question: Question, said: str, voice: str, meaning: Intent
) -> None:
    d = decode(whisper, answer(said, voice), question, POLICY)
    assert d.hypothesis.opinion is not None
    # the transcript means what was said, or nothing: on a fresh machine (2026-12-02) the
    # m3 voice's 不满意 came back as 不满意？很满意, both answers, which is unclear
    assert understand(d.hypothesis.opinion.text, question).intent in (meaning, Intent.UNCLEAR), \
        d.hypothesis
    # what the engine alone accepts depends on its guards (no_speech_prob is often high on
    # a short answer): right or not accepted, never something else
    assert d.understanding.intent in (meaning, Intent.UNCLEAR)


def test_silence_gets_no_transcript(whisper: WhisperEngine) -> None:
    quiet = channel.telephone(channel.silence(2.0, np.random.default_rng(1)), None, 3,
                              is_speech=False)
    o = whisper.opinion(quiet, Question.SATISFIED)
    assert o.text == "" and o.speech_s == 0.0  # the voice detector passed nothing on


@pytest.fixture
def combined_engine(whisper: WhisperEngine) -> Iterator[SecondOpinionEngine]:
    engine = SecondOpinionEngine(SphinxEngine(MODEL, vad="silero"), whisper, Combination(),
                                 POLICY, 0.5, timeout_s=120, workers=1, always_ask=True)
    yield engine
    engine.shutdown()


def test_behind_pocketsphinx_on_a_real_decode(combined_engine: SecondOpinionEngine) -> None:
    """The live recogniser's hypothesis carries both engines' evidence, and judge's replay
    of the stored evidence gives the same decision."""
    d = decode(combined_engine, answer("不满意", "sit/cmn-latn-pinyin+m3"),
               Question.SATISFIED, POLICY)
    h = d.hypothesis
    assert h.primary is not None and h.opinion is not None and not h.opinion.error
    assert d.understanding == judge(h, Question.SATISFIED, combined_engine.rival_margin,
                                    POLICY, combination=Combination(), accept=0.5)
    # never taken as anything else: PocketSphinx's lattice said 不方便 (call later) where
    # its Viterbi path heard 不满意, and that disagreement leaves it in doubt, not accepted
    assert d.understanding.intent is Intent.UNSATISFIED or d.understanding.confidence < 0.5, \
        d.understanding


def test_asr_tune_chooses_the_second_opinion(tmp_path: Path) -> None:
    """`huifang asr-tune --second-opinion` decodes once with Whisper asked on every clip,
    chooses the combination on the tune split and reports it on the held-out one."""
    import json
    import shutil

    from huifang.evaluation.callers import (
        HELDOUT,
        TUNE,
        Planned,
        espeak_render,
        espeak_variants,
        generate_callers,
    )
    from tests.conftest import need
    from tests.test_cli import huifang

    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    small = tmp_path / "corpus"
    generate_callers(small, espeak_render, None, per_phrasing=1,
                     variants=espeak_variants()[:12], off_script=False, planned=[
                         Planned(Question.SATISFIED, Intent.UNSATISFIED, "不满意", TUNE),
                         Planned(Question.SATISFIED, Intent.SATISFIED, "很满意", TUNE),
                         Planned(Question.SATISFIED, Intent.UNSATISFIED, "我不满意", HELDOUT)])
    config = tmp_path / "huifang.toml"
    config.write_text(f'[recognition]\nmodel = "{MODEL}"\nwhisper_timeout_s = 120\n',
                      encoding="utf-8")
    out = tmp_path / "tune.json"
    tuned = huifang("--config", str(config), "asr-tune", "--corpus", str(small), "--snr", "20",
                    "--noise", "white", "--max-wrong", "1", "--heldout-every", "1",
                    "--second-opinion", "--cache", str(tmp_path / "cache"), "--out", str(out),
                    "--real", str(REAL), cwd=tmp_path, db=f"sqlite:///{tmp_path / 'x.db'}")
    assert tuned.returncode == 0, tuned.stderr
    record = json.loads(out.read_text(encoding="utf-8"))
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "heldout-every1-whisper.json", "tune-every1-whisper.json"]
    if "second_opinion" in record:  # a combination met the targets on the two tune clips
        assert 'second_opinion = "whisper"' in tuned.stdout
        assert record["second_opinion"]["reversed"] == 0
        assert record["heldout_second_opinion"]["split"] == "heldout"
    else:
        assert "leave second_opinion off" in tuned.stdout
    assert (tmp_path / "var/models/whisper-base/model.bin").stat().st_size == PACKAGED.size
