"""The development corpus (issue 15): labelled callers' phrasings, every espeak-ng
variant, a split that keeps tuning away from the test, the harsher channel, and the
calibration that replays decisions through the live call's judgement."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from huifang.cli.asrtune import Decision, choose, replay
from huifang.evaluation import channel
from huifang.evaluation.callers import (
    HELDOUT,
    NON_ANSWERS,
    PHRASINGS,
    TUNE,
    Planned,
    espeak_render,
    espeak_variants,
    generate_callers,
    plan,
    real_pieces,
    split_of,
    voices_for,
)
from huifang.evaluation.corpus import read_labels
from huifang.evaluation.metrics import upper_bound
from huifang.evaluation.vadcheck import score, truth
from ivr.intents import Intent, Policy, Question
from ivr.recognition import Hypothesis, Rejection, SileroVoicedTime, VoicedTime, passes
from ivr.understand import understand
from tests.conftest import need
from tests.speech import MODEL

REAL = MODEL.parents[2] / "speech/real"


def test_every_phrasing_means_its_label() -> None:
    for p in plan():
        assert understand(p.text, p.question).intent is p.expected, p
    assert sum(len(t) for _, _, t in PHRASINGS) >= 100
    assert {i for i, _ in NON_ANSWERS} == {Intent.REPEAT, Intent.NOT_SURE,
                                           Intent.WRONG_PERSON, Intent.CALL_LATER}


def test_the_split_is_deterministic_and_both_parts_are_used() -> None:
    splits = {p.text: p.split for p in plan()}
    assert splits == {p.text: p.split for p in plan()}
    assert set(splits.values()) == {HELDOUT, TUNE}
    assert 0.25 < sum(s == HELDOUT for s in splits.values()) / len(splits) < 0.55
    variants = [f"v{i}" for i in range(40)]
    for text, split in list(splits.items())[:20]:  # a phrasing only in voices of its split
        assert {split_of(v.name.partition("+")[2]) for v in
                voices_for(text, split, variants, 3)} == {split}
        assert all(130 <= v.rate <= 220 and 30 <= v.pitch <= 70
                   for v in voices_for(text, split, variants, 3))


def test_channel_kinds_codecs_loss_and_clipping() -> None:
    t = np.arange(16000) / 8000
    speech = np.sin(2 * np.pi * 440 * t) * np.abs(np.sin(2 * np.pi * 3 * t)) * 0.3
    clean = np.frombuffer(channel.telephone(speech, None, 5), "<i2").astype(float)
    for kind in channel.NOISES:
        noisy = np.frombuffer(channel.telephone(speech, 20, 5, noise_kind=kind), "<i2")
        assert 18 < channel.measured_snr(clean, noisy.astype(float)) < 21, kind
    alaw = channel.telephone(speech, None, 5, codec="alaw")
    assert alaw != channel.telephone(speech, None, 5) and len(alaw) == len(clean) * 2
    lossy = np.frombuffer(channel.telephone(speech, None, 5, loss=0.05), "<i2")
    assert 0 < np.mean(lossy != clean) < 0.5  # some packets concealed, most intact
    clipped = np.frombuffer(channel.telephone(speech, None, 5, clip_db=6), "<i2")
    assert np.std(clipped) > 0 and not np.array_equal(clipped, clean.astype("<i2"))
    with pytest.raises(ValueError, match="noise kind"):
        channel.telephone(speech, 20, 5, noise_kind="rain")


def test_silero_does_not_call_broadband_noise_speech() -> None:
    rng = np.random.default_rng(1)
    noise = channel.telephone(channel.silence(3.0, rng), 0, 3, is_speech=False,
                              noise_kind="white")  # white noise at a caller's level
    webrtc, silero = VoicedTime(), SileroVoicedTime()
    for i in range(0, len(noise), 320):  # streamed in RTP frames
        webrtc.feed(noise[i:i + 320])
        silero.feed(noise[i:i + 320])
    assert webrtc.seconds > 1.5  # webrtcvad: most of it is "voice"
    assert silero.seconds < 0.3


def test_vad_scoring() -> None:
    speech = np.concatenate([np.zeros(800), np.ones(1600) * 0.1, np.zeros(800)])
    real = truth(speech)
    assert score(real, real) == {"false_speech": 0.0, "missed": 0.0, "onset_ms": 0.0,
                                 "offset_ms": 0.0}
    assert score(np.ones_like(real), real)["false_speech"] == 1.0


def test_rejection_is_stricter_for_non_answers() -> None:
    r = Rejection(min_coverage=0.6, min_coverage_non_answer=0.9, min_voiced_s=0.2)
    assert passes(r, "满意", 0.7, 1.0, Question.SATISFIED)
    assert not passes(r, "啥意思", 0.7, 1.0, Question.SATISFIED)
    assert passes(r, "啥意思", 0.95, 1.0, Question.SATISFIED)
    assert not passes(r, "满意", 0.7, 0.1, Question.SATISFIED)
    assert not passes(r, "", 1.0, 1.0, Question.SATISFIED)


def test_calibration_keeps_reversals_out() -> None:
    def d(expected: Intent, text: str, cov: float, kind: str = "answer") -> Decision:
        return Decision(Question.SATISFIED, expected, kind,
                        Hypothesis(text, 1.0, True, text, cov, ((text, -1.0),), 1.0))

    decisions = ([d(Intent.SATISFIED, "满意", 0.9)] * 8 + [d(Intent.UNSATISFIED, "不满意", 0.8)]
                 * 4 + [d(Intent.SATISFIED, "不满意", 0.5)]  # a reversal at low coverage
                 + [d(Intent.UNCLEAR, "挺满意", 0.4, "off_script/real")])
    best, tried = choose(decisions, Policy(), 0.5, 0.0, 0.0, 0.01)
    assert best is not None and tried > 100
    assert best.right == 12 and best.reversed == 0 and best.off_accepted == 0
    assert 0.5 < best.rejection.min_coverage <= 0.8
    loose = replay(decisions, Rejection(0.3, 0.3, 0.1), 0.0, Policy(), 0.5)
    assert loose.reversed == 1 and loose.off_accepted == 1


def test_upper_bound() -> None:
    assert upper_bound(0, 0) is None
    assert 0.0095 < (upper_bound(0, 300) or 0) < 0.0105  # about 3/n, the rule of three
    assert upper_bound(5, 5) == 1.0


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    folder = tmp_path_factory.mktemp("callers")
    planned = [Planned(Question.SATISFIED, Intent.UNSATISFIED, "我不满意", TUNE),
               Planned(Question.RESOLVED, Intent.REPEAT, "啥意思", HELDOUT)]
    generate_callers(folder, espeak_render, REAL if REAL.is_dir() else None, per_phrasing=2,
                     variants=espeak_variants()[:12], planned=planned)
    return folder


def test_a_small_callers_corpus(small: Path) -> None:
    items = read_labels(small)
    answers = [i for i in items if i.kind in ("answer", "non_answer")]
    assert len(answers) == 4 and {i.split for i in answers} == {TUNE, HELDOUT}
    assert all(i.voice and i.file.exists() for i in answers)
    assert {i.kind for i in items} >= {"off_script/unrelated", "off_script/silence"}
    renders = sorted((small / "renders").iterdir())
    stamps = [f.stat().st_mtime_ns for f in renders]
    generate_callers(small, espeak_render, None, per_phrasing=2,
                     variants=espeak_variants()[:12], planned=[
                         Planned(Question.SATISFIED, Intent.UNSATISFIED, "我不满意", TUNE)])
    assert [f.stat().st_mtime_ns for f in renders[:len(stamps)]] == stamps  # cached


def test_real_clips_cut_into_pieces() -> None:
    need(REAL.is_dir(), "shared real clips missing")
    pieces = real_pieces(REAL)
    assert len(pieces) >= 10 and all(0.9 <= len(p) / 8000 <= 2.01 for p, _ in pieces)


def test_tune_then_measure_held_out(tmp_path: Path) -> None:
    from tests.test_cli import huifang

    need(MODEL.exists(), f"shared Mandarin model missing at {MODEL}")
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    small = tmp_path / "corpus"
    generate_callers(small, espeak_render, None, per_phrasing=1,
                     variants=espeak_variants()[:12], off_script=False, planned=[
                         Planned(Question.SATISFIED, Intent.UNSATISFIED, "我不满意", TUNE),
                         Planned(Question.SATISFIED, Intent.SATISFIED, "很满意", TUNE),
                         Planned(Question.SATISFIED, Intent.UNSATISFIED, "不满意", HELDOUT)])
    config = tmp_path / "huifang.toml"
    config.write_text(f'[recognition]\nmodel = "{MODEL}"\n', encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'x.db'}"
    out = tmp_path / "tune.json"
    tuned = huifang("--config", str(config), "asr-tune", "--corpus", str(small), "--snr", "20",
                    "--noise", "white", "--max-wrong", "1", "--max-reversals", "1",
                    "--heldout-every", "1", "--cache", str(tmp_path / "cache"), "--out",
                    str(out), "--real", str(REAL), cwd=tmp_path, db=db)
    assert tuned.returncode == 0, tuned.stderr
    assert "[recognition]" in tuned.stdout and "min_coverage_non_answer = " in tuned.stdout
    record = json.loads(out.read_text(encoding="utf-8"))
    assert record["chosen"]["answers"] == 2 and record["heldout"]["split"] == "heldout"
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "heldout-every1.json", "tune-every1.json"]
    settings = tuned.stdout[tuned.stdout.index("[recognition]"):].splitlines()[1:6]
    config.write_text("\n".join([f'[recognition]\nmodel = "{MODEL}"', *settings]) + "\n",
                      encoding="utf-8")
    measured = huifang("--config", str(config), "asr-eval", "--corpus", str(small), "--snr",
                       "20", "--noise", "white", "--out", str(tmp_path / "e.json"), cwd=tmp_path,
                       db=db)
    assert measured.returncode == 0, measured.stderr
    report = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))
    assert report["split"] == "heldout"
    heldout = {k: v for k, v in record["heldout"].items() if k in ("confusion", "per_intent")}
    assert heldout == {k: report[k] for k in heldout}  # the replay is the live decision
