"""Answers in a human voice: one real speaker's recorded Mandarin syllables (the Ekho
voice data in `../shared/voices/ekho-2024/`, GPL-2.0-or-later, never copied into this
project) put together into phrases, for measuring the recogniser on something closer to
callers than espeak-ng.

Text becomes toned pinyin (`pypinyin`, tone 5 for the neutral tone) with the tone sandhi
a speaker applies: 不 before a 4th tone is said bu2, 一 before a 4th tone yi2 and before
the others yi4 (counting and ordinals aside), and in a run of 3rd tones all but the last
are said as 2nd. Each syllable's recording is trimmed of its silence and joined to the
next with a 15 ms crossfade; a comma is a 150 ms pause. A `HumanVoice` varies the tempo
and pitch together (a resampling, as a tape played faster) and the gap between
syllables, so one speaker gives several "voices" to split by. Syllables the voice lacks
fall back to the same syllable in another tone, then fail with the syllable named.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import signal

log = logging.getLogger(__name__)
RATE = 16000
CROSSFADE_S = 0.015
PAUSE_S = 0.15
PUNCTUATION = set("，。、！？,.!? ")
ALIASES = {"n": "en", "ng": "en", "m": "mu", "hm": "hen"}  # 嗯 呣 哼: the nearest syllable


class HumanVoiceError(RuntimeError):
    """A phrase cannot be said with the recorded syllables; the message says which."""


@dataclass(frozen=True)
class HumanVoice:
    name: str
    speed: float = 1.0  # >1: faster and higher, as a tape
    gap_s: float = 0.02  # silence between syllables (before the crossfade)


def voices(count: int) -> list[HumanVoice]:
    """`count` variants of the one speaker, spread over tempo 0.88-1.16 and gaps 0-60 ms,
    named by their settings so that a split by name is stable."""
    out = []
    for i in range(count):
        u = (zlib.crc32(f"human{i}".encode()) % 1000) / 999
        speed = round(0.88 + 0.28 * ((i + 0.5) / count), 3)
        gap = round(0.06 * u, 3)
        out.append(HumanVoice(f"ekho-s{speed:.2f}-g{int(gap * 1000):02d}", speed, gap))
    return out


def toned_syllables(text: str) -> list[str]:
    """`text` as toned pinyin syllables with sandhi, "," for a pause."""
    from pypinyin import Style, pinyin  # noqa: PLC0415 - only the evaluation needs it

    raw: list[str] = []
    chars: list[str] = []
    for ch, (reading,) in zip(text, pinyin(text, style=Style.TONE3,
                                           neutral_tone_with_five=True, errors="default"),
                              strict=False):
        if ch in PUNCTUATION:
            raw.append(",")
            chars.append(ch)
        elif reading and reading[-1].isdigit():
            raw.append(reading)
            chars.append(ch)
    out = list(raw)
    for i, ch in enumerate(chars):
        following = raw[i + 1] if i + 1 < len(raw) else ""
        tone = following[-1:] if following != "," else ""
        if ch == "不" and tone == "4":
            out[i] = "bu2"
        elif ch == "一" and tone in ("1", "2", "3", "4") and i + 1 < len(raw):
            out[i] = "yi2" if tone == "4" else "yi4"
    for i in range(len(out) - 2, -1, -1):  # 3-3 -> 2-3, from the right
        if out[i].endswith("3") and out[i + 1].endswith("3"):
            out[i] = out[i][:-1] + "2"
    return out


@cache
def _syllable(folder: Path, name: str) -> npt.NDArray[np.float64]:
    import soundfile  # noqa: PLC0415 - GSM 6.10 WAV, through libsndfile

    base = ALIASES.get(name[:-1], name[:-1])
    for candidate in (base + name[-1], *(base + t for t in "54321" if t != name[-1])):
        path = folder / f"{candidate}.wav"
        if path.exists():
            data, rate = soundfile.read(str(path), dtype="float64", always_2d=False)
            if rate != RATE:
                raise HumanVoiceError(f"{path}: {rate} Hz, not {RATE}")
            return _trimmed(np.asarray(data, dtype=np.float64))
    raise HumanVoiceError(f"the recorded voice in {folder} has no syllable {name} "
                          "(in any tone)")


def _trimmed(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    frame = RATE // 100
    if len(x) < frame * 3:
        return x
    energy = np.sqrt(np.convolve(x * x, np.ones(frame) / frame, mode="same"))
    loud = np.flatnonzero(energy > max(0.02, 0.1 * float(energy.max())))
    if not len(loud):
        return x
    return x[max(0, loud[0] - frame):loud[-1] + frame]


def say(text: str, voice: HumanVoice, folder: Path) -> npt.NDArray[np.float64]:
    """The phrase at 16 kHz, float in -1..1."""
    fade = int(CROSSFADE_S * RATE)
    out = np.zeros(0)
    for syllable in toned_syllables(text):
        if syllable == ",":
            out = np.concatenate([out, np.zeros(int(PAUSE_S * RATE))])
            continue
        piece = _syllable(folder, syllable)
        gap = np.zeros(int(voice.gap_s * RATE))
        if len(out) >= fade and len(piece) >= fade and not len(gap):
            ramp = np.linspace(0.0, 1.0, fade)
            out[-fade:] = out[-fade:] * (1 - ramp) + piece[:fade] * ramp
            out = np.concatenate([out, piece[fade:]])
        else:
            out = np.concatenate([out, gap, piece])
    if not any(syllable != "," for syllable in toned_syllables(text)):
        raise HumanVoiceError(f"nothing to say in {text!r}")
    if voice.speed != 1.0:
        out = signal.resample(out, max(1, int(len(out) / voice.speed)))
    peak = float(np.max(np.abs(out))) or 1.0
    return np.asarray(out * (0.8 / peak), dtype=np.float64)
