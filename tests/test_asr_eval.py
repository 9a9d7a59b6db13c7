"""The evaluation harness: the telephone channel, the measures, the corpus format, and
`huifang asr-eval` / `huifang recognize` end to end on real engines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from huifang.evaluation import channel
from huifang.evaluation.corpus import CorpusError, Item, generate, phrasings, read_labels
from huifang.evaluation.metrics import Row, summarise, worst
from huifang.evaluation.runner import evaluate
from ivr.intents import Intent, Policy, Question
from ivr.recognition import grammar_for
from ivr.sphinx import SphinxEngine
from prompts.tts import EspeakWorker, Voice
from tests.conftest import need
from tests.speech import MODEL
from tests.test_cli import huifang

REAL = MODEL.parents[2] / "speech/real"


def tone(freq: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * 8000)) / 8000
    return np.sin(2 * np.pi * freq * t) * 0.3


def level(pcm: bytes) -> float:
    x = np.frombuffer(pcm, "<i2").astype(np.float64)[3200:-3200]  # inside the padding
    return 20 * float(np.log10(np.sqrt(np.mean(x * x)) + 1e-9))


def test_the_channel_is_a_telephone_band() -> None:
    passed = level(channel.telephone(tone(1000), None, seed=1))
    assert level(channel.telephone(tone(100), None, seed=1)) < passed - 30
    assert level(channel.telephone(tone(3900), None, seed=1)) < passed - 20
    assert level(channel.telephone(tone(500), None, seed=1)) > passed - 3
    assert abs(passed - (channel.SPEECH_DBFS + 90.3)) < 2  # brought to a caller's level


def test_noise_is_at_the_asked_snr_and_seeded() -> None:
    speech = tone(700, 2.0) * np.abs(np.sin(np.arange(16000) / 800))
    clean = np.frombuffer(channel.telephone(speech, None, seed=3), "<i2").astype(float)
    for snr in (30, 20, 10):
        noisy = np.frombuffer(channel.telephone(speech, snr, seed=3), "<i2").astype(float)
        measured = channel.measured_snr(clean, noisy)  # μ-law adds a little noise of its own
        assert snr - 1.5 < measured < snr + 0.5, (snr, measured)
        assert channel.telephone(speech, snr, seed=3) == channel.telephone(speech, snr, seed=3)
    assert channel.telephone(speech, 20, seed=3) != channel.telephone(speech, 20, seed=4)


def test_off_script_sounds() -> None:
    rng = np.random.default_rng(0)
    quiet = channel.telephone(channel.silence(1.0, rng), 20, seed=1, is_speech=False)
    assert level(quiet) < 90.3 + channel.SPEECH_DBFS - 15  # only the line noise, not raised
    for sound in (channel.noise(2.0, rng), channel.breathing(3.0, rng),
                  channel.television(tone(300), 3.0, rng)):
        assert len(sound) >= 16000 and np.isfinite(sound).all() and np.abs(sound).max() < 1


def row(expected: Intent, got: Intent, accepted: bool = True, off: bool = False,
        question: Question = Question.SATISFIED, snr: float | None = 20) -> Row:
    return Row(question, expected, got, accepted, off, snr, "off_script/x" if off else "answer",
               "t", "h", 2.0, 0.1)


def test_measures() -> None:
    rows = [row(Intent.SATISFIED, Intent.SATISFIED), row(Intent.SATISFIED, Intent.SATISFIED),
            row(Intent.SATISFIED, Intent.UNSATISFIED),  # a swap
            row(Intent.UNSATISFIED, Intent.UNCLEAR, accepted=False),  # asked again
            row(Intent.UNCLEAR, Intent.SATISFIED, off=True),  # a false accept
            row(Intent.UNCLEAR, Intent.UNCLEAR, accepted=False, off=True),
            row(Intent.RESOLVED, Intent.RESOLVED, question=Question.RESOLVED, snr=10)]
    report = summarise(rows)
    sat = next(g for g in report["groups"] if (g["question"], g["snr"]) == ("satisfied", "20dB"))
    assert sat["answers"] == 4 and sat["accuracy"] == 0.5
    assert sat["accepted_accuracy"] == round(2 / 3, 4) and sat["rejection_rate"] == 0.25
    assert sat["swaps"] == 1 and sat["swap_rate"] == round(1 / 3, 4)
    assert sat["false_accepts"] == 1 and sat["false_acceptance"] == 0.5
    assert sat["real_time_factor"] == 0.05
    assert report["confusion"]["satisfied"]["unsatisfied"] == {"rejected": 1}
    assert report["confusion"]["satisfied"]["off_script"] == {"satisfied": 1, "rejected": 1}
    assert report["per_intent"]["resolved"]["resolved"]["accuracy"] == 1.0
    assert {g["snr"] for g in report["groups"]} == {"20dB", "10dB"}
    assert [r.got for r in worst(rows)] == [Intent.UNSATISFIED, Intent.SATISFIED]


def test_every_supported_phrasing_is_labelled() -> None:
    for question in Question:
        labelled = dict(phrasings(question, Policy()))
        assert Intent.UNCLEAR not in labelled.values()
        assert set(labelled) <= set(grammar_for(question).phrases)
        assert len(labelled) >= 50
    assert dict(phrasings(Question.RESOLVED, Policy()))["解决了挺满意的"] is Intent.RESOLVED
    hedged = dict(phrasings(Question.SATISFIED, Policy(hedge=Intent.UNSATISFIED)))
    assert hedged["还行"] is Intent.UNSATISFIED


def test_labels_errors_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"labels\.tsv not found"):
        read_labels(tmp_path)
    (tmp_path / "labels.tsv").write_text("file\tquestion\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="missing column"):
        read_labels(tmp_path)
    (tmp_path / "labels.tsv").write_text(
        "file\tquestion\texpected\na.wav\tsatisfied\tsatisfied\nb.wav\thappy\tsatisfied\n",
        encoding="utf-8")
    with pytest.raises(CorpusError, match="line 3: 'happy'"):
        read_labels(tmp_path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Item]]:
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    need(MODEL.exists(), f"shared Mandarin model missing at {MODEL}")
    folder = tmp_path_factory.mktemp("corpus")
    worker = EspeakWorker()
    try:
        items = generate(folder, worker, [Voice()], Policy(), REAL, per_intent=1)
    finally:
        worker.close()
    return folder, items


def test_generated_corpus_evaluated_on_pocketsphinx(corpus: tuple[Path, list[Item]]) -> None:
    folder, items = corpus
    assert read_labels(folder) == items
    kinds = {i.kind for i in items}
    assert {"answer", "off_script/real", "off_script/silence", "off_script/noise",
            "off_script/breathing", "off_script/television", "off_script/unrelated"} <= kinds
    assert {i.expected for i in items if i.kind == "answer"} >= {
        Intent.RESOLVED, Intent.UNRESOLVED, Intent.SATISFIED, Intent.BASIC_SATISFIED,
        Intent.UNSATISFIED, Intent.WRONG_PERSON, Intent.CALL_LATER}
    rows = evaluate(SphinxEngine(MODEL), items, [20.0], Policy(), accept=0.5)
    assert len(rows) == len(items)
    quiet = [r for r in rows if r.kind in ("off_script/silence", "off_script/noise")]
    assert quiet and not any(r.accepted for r in quiet)
    report = summarise(rows)
    whole = next(g for g in report["groups"] if g["question"] == "all")
    assert whole["answers"] + whole["off_script"] == len(items)
    assert 0 < whole["real_time_factor"] < 5


def test_commands(corpus: tuple[Path, list[Item]], tmp_path: Path) -> None:
    folder, items = corpus
    config = tmp_path / "huifang.toml"
    config.write_text(f'[recognition]\nmodel = "{MODEL}"\n', encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'x.db'}"
    answer = next(i for i in items if i.kind == "answer" and i.text == "不满意")
    said = huifang("--config", str(config), "recognize", str(answer.file), "--question",
                   "satisfied", "--json", cwd=tmp_path, db=db)
    assert said.returncode == 0, said.stderr
    record = json.loads(said.stdout)
    assert record["engine"] == "pocketsphinx" and record["question"] == "satisfied"
    assert {"hypothesis", "intent", "confidence", "accepted", "real_time_factor"} <= set(record)
    silence = next(i for i in items if i.kind == "off_script/silence")
    quiet = huifang("--config", str(config), "recognize", str(silence.file), "--question",
                    "resolved", cwd=tmp_path, db=db)
    assert quiet.returncode == 0 and "unclear" in quiet.stdout and "拒识" in quiet.stdout
    bad = huifang("--config", str(config), "recognize", str(config), "--question", "resolved",
                  cwd=tmp_path, db=db)
    assert bad.returncode == 1 and "not a PCM WAV file" in bad.stderr
    report = tmp_path / "r.json"
    # every 4th clip: the command's path end to end (the whole corpus is measured by the
    # library test above)
    run = huifang("--config", str(config), "asr-eval", "--corpus", str(folder), "--snr",
                  "clean,10", "--every", "4", "--out", str(report), cwd=tmp_path, db=db)
    assert run.returncode == 0, run.stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["clips"] == 2 * len(items[::4]) and "识别评测" in run.stdout
    assert {g["snr"] for g in data["groups"]} == {"clean", "10dB"}
    nothing = huifang("--config", str(config), "asr-eval", "--corpus", str(tmp_path / "none"),
                      "--real", str(tmp_path / "missing"), "--engine", "vosk", "--model",
                      str(tmp_path / "no-model"), "--quick", cwd=tmp_path, db=db)
    assert nothing.returncode == 1 and "model directory not found" in nothing.stderr
    assert not (tmp_path / "none").exists()  # failed before rendering anything
