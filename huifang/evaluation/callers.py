"""The development corpus: answers as callers give them, split so that tuning cannot see
the test.

- Phrasings (`PHRASINGS`): written from how people answer on the telephone (particles,
  repetitions, 我觉得…, 还行吧, 没有没有, 解决是解决了, 嗯满意, 对解决了 …), each labelled
  with the intent it means under the default policy, plus the non-answers (啥意思, 不知道,
  打错了 …) that sit in the grammar beside the answers. None is taken from the grammar.
- Voices: every espeak-ng variant of the Mandarin voice (`espeak-ng --voices=variant`),
  each phrasing at a rate in 130-220 and a pitch in 30-70 chosen by hash.
- Off-script: the real clips cut into 2-3 s pieces, unrelated sentences, silence, noise,
  breathing, a television.
- Split (`split_of`): a phrasing and a voice variant are each `heldout` or `tune` by a
  hash of their text; a clip is rendered only in a voice of its phrasing's split, so a
  held-out clip has a phrasing AND a voice the tuning never saw. Real clips split by file.
- Conditions (`CONDITIONS`): every clip is decoded under each noise kind at each SNR; the
  codec (μ-law or A-law), packet loss (none, or 1-5 %) and clipping are drawn per decode
  from a seed, so each condition mixes them.

Renders are cached by (text, voice, rate, pitch) file name: generating again is quick.
"""

from __future__ import annotations

import logging
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from huifang.evaluation import channel
from huifang.evaluation.corpus import UNRELATED, Item, write_labels
from huifang.speech import pcm16, to_float_8k
from ivr.intents import Intent, Question
from prompts.audio import AudioError, read_wav, write_wav
from prompts.tts import TtsError, Voice

log = logging.getLogger(__name__)
BASE_VOICE = "sit/cmn-latn-pinyin"
HELDOUT, TUNE = "heldout", "tune"
HELDOUT_SHARE = 0.4
_R, _U = Intent.RESOLVED, Intent.UNRESOLVED
_S, _B, _N = Intent.SATISFIED, Intent.BASIC_SATISFIED, Intent.UNSATISFIED

# (question, intent, phrasings). The default policy: hedges are 基本满意, partly resolved
# is 未解决, basically resolved is 已解决.
PHRASINGS: tuple[tuple[Question, Intent, tuple[str, ...]], ...] = (
    (Question.RESOLVED, _R, (
        "解决了", "已经解决了", "嗯解决了", "对解决了", "是的已经解决了", "解决了解决了",
        "都解决好了", "已经处理好了", "问题解决了", "我觉得解决了", "嗯已经弄好了", "对的解决了",
        "是解决了", "解决了谢谢", "已经修好了", "早就解决了", "解决是解决了", "对对对解决了",
        "解决啦", "已经搞定了", "处理好了", "嗯是的解决了", "问题已经解决了", "基本解决了",
        "基本上解决了", "现在已经解决了", "解决了的")),
    (Question.RESOLVED, _U, (
        "没解决", "没有解决", "还没解决", "还没有解决", "没有没有", "没有还没解决", "一直没解决",
        "根本没解决", "根本没有解决", "没人处理", "没有人来处理", "还是老样子", "没解决啊",
        "没弄好", "还没修好", "一点都没解决", "没有解决好", "解决不了", "问题没有解决",
        "没有啊没解决", "我觉得没解决", "还没有呢", "解决了一部分", "只解决了一半", "没有处理",
        "到现在还没解决", "没有没有没解决")),
    (Question.SATISFIED, _S, (
        "满意", "很满意", "挺满意的", "非常满意", "满意满意", "嗯满意", "我很满意",
        "我觉得挺满意的", "挺好的", "很好", "非常好", "满意的", "对满意", "还是很满意的",
        "特别满意", "挺不错的", "蛮满意的", "都满意", "我满意", "嗯挺好", "满意啊", "很满意谢谢",
        "非常满意非常满意", "我觉得很好", "挺满意")),
    (Question.SATISFIED, _B, (
        "基本满意", "还行吧", "还行", "还可以", "一般吧", "一般般", "还算满意", "比较满意",
        "凑合吧", "马马虎虎", "差不多吧", "还好吧", "基本上满意", "也还行", "我觉得还可以",
        "嗯还行", "还可以吧", "基本满意吧", "一般")),
    (Question.SATISFIED, _N, (
        "不满意", "不太满意", "我不满意", "不怎么满意", "很不满意", "一点都不满意", "非常不满意",
        "不是很满意", "不满意不满意", "不行", "太差了", "不好", "我觉得不满意", "根本不满意",
        "很差", "没法满意", "不太好", "我很不满意", "不满意啊", "嗯不满意", "特别不满意",
        "一点也不满意", "不怎么样")),
)
# Said to either question: they must come out as what they are, or be rejected.
NON_ANSWERS: tuple[tuple[Intent, tuple[str, ...]], ...] = (
    (Intent.REPEAT, ("啥意思", "你说什么", "再说一遍", "没听清", "什么意思", "没听清楚",
                     "你再说一遍", "听不清")),
    (Intent.NOT_SURE, ("不知道", "说不好", "不清楚", "我也不知道", "不好说", "不记得了")),
    (Intent.WRONG_PERSON, ("打错了", "不是我", "你打错了", "我没反映过")),
    (Intent.CALL_LATER, ("我在开车", "没空", "等会再打", "现在不方便")),
)
CONDITIONS: tuple[tuple[str, float], ...] = tuple(
    (kind, snr) for snr in (20.0, 10.0) for kind in channel.NOISES)


def _unit(text: str) -> float:
    return zlib.crc32(text.encode("utf-8")) / 2**32


def split_of(key: str) -> str:
    """heldout or tune, by a hash of a phrasing's text, a variant's name or a file name."""
    return HELDOUT if _unit("split:" + key) < HELDOUT_SHARE else TUNE


def espeak_variants() -> list[str]:
    """Every voice variant espeak-ng has (`espeak-ng --voices=variant`), by file name."""
    try:
        listing = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True,
                                 text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise TtsError(f"espeak-ng --voices=variant failed: {exc}") from exc
    names = []
    for line in listing.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5 and parts[4].startswith("!v/"):
            names.append(parts[4][3:])
    return sorted(dict.fromkeys(names))


@dataclass(frozen=True)
class Planned:
    question: Question
    expected: Intent
    text: str
    split: str


def plan() -> list[Planned]:
    """Every labelled phrasing, to the question it answers (non-answers to both)."""
    out = [Planned(q, i, t, split_of(t)) for q, i, texts in PHRASINGS for t in texts]
    out += [Planned(q, i, t, split_of(t)) for i, texts in NON_ANSWERS for t in texts
            for q in Question]
    return out


def voices_for(text: str, split: str, variants: list[str], per_phrasing: int) -> list[Voice]:
    """`per_phrasing` voices of the phrasing's own split, each with its rate and pitch."""
    pool = [v for v in variants if split_of(v) == split] or variants
    ranked = sorted(pool, key=lambda v: _unit(f"{text}|{v}"))[:per_phrasing]
    out = []
    for v in ranked:
        u = _unit(f"rate|{text}|{v}")
        out.append(Voice(f"{BASE_VOICE}+{v}", 130 + int(u * 91),
                         30 + int(_unit(f"pitch|{text}|{v}") * 41)))
    return out


def espeak_render(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    """espeak-ng itself (the engine pyttsx3 drives) writing a WAV to stdout: one process
    per phrase, no state kept between them."""
    try:
        wav = subprocess.run(["espeak-ng", "-v", voice.name, "-s", str(voice.rate), "-p",
                              str(voice.pitch), "--stdout", text], capture_output=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise TtsError(f"espeak-ng failed on {text!r} in {voice.name}: {exc}") from exc
    samples = np.frombuffer(wav[44:len(wav) - (len(wav) - 44) % 2], dtype="<i2")
    rate = int.from_bytes(wav[24:28], "little") if len(wav) >= 44 else 22050
    if not len(samples):
        raise TtsError(f"espeak-ng said nothing for {text!r} in {voice.name}")
    return samples, rate


Render = Callable[[str, Voice], tuple[np.ndarray, int]]


def generate_callers(folder: Path, render: Render, real_clips: Path | None,
                     per_phrasing: int = 3, variants: list[str] | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     planned: list[Planned] | None = None, off_script: bool = True
                     ) -> list[Item]:
    """Render the development corpus into `folder` (cached) and write labels.tsv with a
    `split` column. `planned`: only these phrasings (a test's handful)."""
    folder.mkdir(parents=True, exist_ok=True)
    variants = variants if variants is not None else espeak_variants()
    planned = planned if planned is not None else plan()
    renders = folder / "renders"
    renders.mkdir(exist_ok=True)
    items: list[Item] = []
    total = len(planned) * per_phrasing
    for p in planned:
        for voice in voices_for(p.text, p.split, variants, per_phrasing):
            file = renders / _name(p.text, voice)
            if not file.exists():
                try:
                    samples, rate = render(p.text, voice)
                except TtsError as exc:
                    log.warning("espeak-ng could not say %r in %s: %s", p.text, voice.name, exc)
                    continue
                write_wav(file, pcm16(to_float_8k(samples, rate)))
            items.append(Item(file, p.question, p.expected, "answer"
                              if p.expected in _ANSWER_INTENTS else "non_answer", True,
                              p.text, p.split, voice.name.partition("+")[2]))
            if progress:
                progress(len(items), total)
    if off_script:
        items += _off_script(folder, render, variants, real_clips)
    write_labels(folder, items)
    return items


_ANSWER_INTENTS = {_R, _U, _S, _B, _N}


def _name(text: str, voice: Voice) -> str:
    tag = zlib.crc32(f"{text}|{voice.name}|{voice.rate}|{voice.pitch}".encode())
    return f"{tag:08x}.wav"


def _off_script(folder: Path, render: Render, variants: list[str],
                real_clips: Path | None) -> list[Item]:
    out: list[Item] = []
    rng = np.random.default_rng(2026)
    spoken = []
    for text in UNRELATED:
        split = split_of(text)
        voice = voices_for(text, split, variants, 1)[0]
        file = folder / "renders" / _name(text, voice)
        if not file.exists():
            samples, rate = render(text, voice)
            write_wav(file, pcm16(to_float_8k(samples, rate)))
        spoken.append(to_float_8k(*_read(file)))
        out += [Item(file, q, Intent.UNCLEAR, "off_script/unrelated", True, text, split,
                     voice.name.partition("+")[2]) for q in Question]
    sounds = {"silence": channel.silence(3.0, rng), "breathing": channel.breathing(4.0, rng),
              "television": channel.television(np.concatenate(spoken[:3]), 5.0, rng)}
    for kind, audio in sounds.items():
        file = folder / f"{kind}.wav"
        write_wav(file, pcm16(audio))
        out += [Item(file, q, Intent.UNCLEAR, f"off_script/{kind}", False, kind,
                     HELDOUT if kind == "television" else TUNE) for q in Question]
    for n, (piece, source) in enumerate(real_pieces(real_clips)):
        file = folder / f"real-{n:02d}.wav"
        write_wav(file, pcm16(piece))
        out += [Item(file, q, Intent.UNCLEAR, "off_script/real", True, source,
                     split_of(f"{source}#{n}")) for q in Question]
    return out


def _read(file: Path) -> tuple[np.ndarray, int]:
    samples, info = read_wav(file)
    return samples, info.rate


def real_pieces(real_clips: Path | None, seconds: float = 2.0
                ) -> list[tuple[np.ndarray, str]]:
    """The real clips cut into pieces of about `seconds` (a caller's off-script remark is
    short), each with its source file's name."""
    if real_clips is None or not real_clips.is_dir():
        return []
    out = []
    for file in sorted(real_clips.glob("*.wav")):
        try:
            x = to_float_8k(*_read(file))
        except AudioError as exc:
            log.warning("real clip %s skipped: %s", file, exc)
            continue
        step = int(seconds * 8000)
        for start in range(0, max(1, len(x) - step // 2), step):
            piece = x[start:start + step]
            if len(piece) >= step // 2:
                out.append((piece, file.name))
    return out


def real_speech(real_clips: Path | None) -> list[np.ndarray]:
    """The real clips whole, 8 kHz, for babble noise."""
    return [to_float_8k(*_read(f)) for f in sorted(real_clips.glob("*.wav"))] \
        if real_clips is not None and real_clips.is_dir() else []
