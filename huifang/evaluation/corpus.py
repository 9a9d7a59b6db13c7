"""The evaluation corpus: a folder of WAV clips and `labels.tsv`.

`labels.tsv` has a header and the columns `file question expected kind speech text`:
- file: a path relative to the folder (or absolute);
- question: resolved or satisfied;
- expected: the intent the clip means, or `unclear` for off-script audio that must be
  rejected;
- kind: `answer` or `off_script/<what>`;
- speech: 1 for speech (brought to a caller's level by the channel), 0 for other sounds;
- text: what was said, for the report;
- split (optional): `tune` or `heldout` (see `huifang.evaluation.callers`); empty for a
  corpus that is not split;
- voice (optional): the voice variant, for the report.

`generate` writes one from espeak-ng: every phrasing the grammars support, in several
voice variants, rates and pitches, plus off-script material. An operator's own
recordings go in the same format (their `speech` column is 1, and they are usually
measured with `--no-channel`, being telephone audio already).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np

from huifang.evaluation import channel
from huifang.speech import pcm16, to_float_8k
from ivr.intents import Intent, Policy, Question
from ivr.recognition import grammar_for
from ivr.understand import understand
from prompts.audio import AudioError, read_wav, write_wav
from prompts.tts import EspeakWorker, TtsError, Voice

log = logging.getLogger(__name__)
COLUMNS = ("file", "question", "expected", "kind", "speech", "text", "split", "voice")
VOICES = ("sit/cmn-latn-pinyin+f3", "sit/cmn-latn-pinyin+f4", "sit/cmn-latn-pinyin+m3")
RATES = (150, 190)
PITCHES = (40, 60)
UNRELATED = ("今天天气不错我们去公园散步吧", "我想订一张明天去北京的火车票", "这个手机多少钱",
             "请问地铁站怎么走", "孩子明天要考试了", "晚上吃饺子还是面条", "你们单位几点下班",
             "我家楼下停车位太少了")


class CorpusError(ValueError):
    pass


@dataclass(frozen=True)
class Item:
    file: Path
    question: Question
    expected: Intent
    kind: str
    speech: bool
    text: str
    split: str = ""
    voice: str = ""

    @property
    def off_script(self) -> bool:
        return self.kind.startswith("off_script")


def phrasings(question: Question, policy: Policy) -> list[tuple[str, Intent]]:
    """Every phrasing the question's grammar supports, with what it means under policy."""
    out = [(p, understand(p, question, policy).intent) for p in grammar_for(question).phrases]
    return [(p, i) for p, i in out if i is not Intent.UNCLEAR]


def read_labels(folder: Path) -> list[Item]:
    path = folder / "labels.tsv"
    if not path.exists():
        raise CorpusError(f"{path} not found: a corpus folder needs labels.tsv")
    items, problems = [], []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = set(COLUMNS[:3]) - set(reader.fieldnames or ())
        if missing:
            raise CorpusError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            try:
                file = Path(row["file"])
                items.append(Item(file if file.is_absolute() else folder / file,
                                  Question(row["question"]), Intent(row["expected"]),
                                  row.get("kind") or "answer",
                                  (row.get("speech") or "1") != "0", row.get("text") or "",
                                  row.get("split") or "", row.get("voice") or ""))
            except ValueError as exc:
                problems.append(f"line {line}: {exc}")
    if problems:
        raise CorpusError(f"{path}: " + "; ".join(problems[:10]))
    return items


def write_labels(folder: Path, items: list[Item]) -> None:
    with (folder / "labels.tsv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(COLUMNS)
        for i in items:
            file = i.file.relative_to(folder) if i.file.is_relative_to(folder) else i.file
            writer.writerow([file, i.question.value, i.expected.value, i.kind,
                             int(i.speech), i.text, i.split, i.voice])


def variants(voices: tuple[str, ...] = VOICES, rates: tuple[int, ...] = RATES,
             pitches: tuple[int, ...] = PITCHES) -> list[Voice]:
    return [Voice(v, r, p) for v, r, p in product(voices, rates, pitches)]


def generate(folder: Path, worker: EspeakWorker, voices: list[Voice], policy: Policy,
             real_clips: Path | None, per_intent: int | None = None, seed: int = 12345,
             progress: Callable[[int, int], None] | None = None) -> list[Item]:
    """Render the corpus into `folder` and write its labels. `per_intent` limits the
    phrasings per (question, intent), for a quick run."""
    folder.mkdir(parents=True, exist_ok=True)
    plan = list(_plan(policy, per_intent))
    items: list[Item] = []
    total = len(plan) * len(voices) + len(UNRELATED) + 4
    done = 0
    for n, (question, text, intent) in enumerate(plan):
        for k, voice in enumerate(voices):
            file = folder / f"{question.value}-{n:03d}-{k:02d}.wav"
            if not file.exists():
                samples, rate = _say(worker, text, voice)
                write_wav(file, pcm16(to_float_8k(samples, rate)))
            items.append(Item(file, question, intent, "answer", True, text))
            done += 1
            if progress:
                progress(done, total)
    rng = np.random.default_rng(seed)
    off = _off_script(folder, worker, voices[0], rng, real_clips)
    for file, kind, is_speech, text in off:
        items += [Item(file, q, Intent.UNCLEAR, f"off_script/{kind}", is_speech, text)
                  for q in Question]
        done += 1
        if progress:
            progress(min(done, total), total)
    write_labels(folder, items)
    return items


def _plan(policy: Policy, per_intent: int | None) -> Iterator[tuple[Question, str, Intent]]:
    for question in Question:
        taken: dict[Intent, int] = {}
        for text, intent in phrasings(question, policy):
            if per_intent is not None and taken.get(intent, 0) >= per_intent:
                continue
            taken[intent] = taken.get(intent, 0) + 1
            yield question, text, intent


def _say(worker: EspeakWorker, text: str, voice: Voice) -> tuple[np.ndarray, int]:
    try:
        return worker.render(text, voice)
    except TtsError as exc:
        raise CorpusError(f"espeak-ng could not say {text!r} in {voice.name}: {exc}") from exc


def _off_script(folder: Path, worker: EspeakWorker, voice: Voice, rng: np.random.Generator,
                real_clips: Path | None) -> list[tuple[Path, str, bool, str]]:
    out: list[tuple[Path, str, bool, str]] = []
    unrelated = []
    for n, text in enumerate(UNRELATED):
        file = folder / f"unrelated-{n:02d}.wav"
        samples, rate = _say(worker, text, voice)
        speech = to_float_8k(samples, rate)
        unrelated.append(speech)
        write_wav(file, pcm16(speech))
        out.append((file, "unrelated", True, text))
    sounds = {"silence": channel.silence(3.0, rng), "noise": channel.noise(3.0, rng),
              "breathing": channel.breathing(4.0, rng),
              "television": channel.television(np.concatenate(unrelated[:3]), 5.0, rng)}
    for kind, audio in sounds.items():
        file = folder / f"{kind}.wav"
        write_wav(file, pcm16(audio))
        out.append((file, kind, False, kind))
    if real_clips is not None:
        for file in sorted(real_clips.glob("*.wav")):
            try:
                read_wav(file)
            except AudioError as exc:
                log.warning("real clip %s skipped: %s", file, exc)
                continue
            out.append((file.resolve(), "real", True, file.name))
    return out
