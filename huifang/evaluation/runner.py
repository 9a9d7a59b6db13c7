"""Decode a corpus through the telephone channel under each condition (noise kind and
level), every decode through `huifang.speech.decode`: the live call's decision path."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from huifang.evaluation import channel
from huifang.evaluation.corpus import Item
from huifang.evaluation.metrics import Row
from huifang.speech import Decoded, decode, pcm16, to_float_8k
from ivr.intents import Policy
from ivr.recognition import Engine
from prompts.audio import read_wav


@dataclass(frozen=True)
class Line:
    """What one decode's audio went through, drawn from its seed when `vary` is on: the
    G.711 law, packet loss (none half the time, else 1-5 %), clipping (one in five)."""

    codec: str = "ulaw"
    loss: float = 0.0
    clip_db: float | None = None

    @staticmethod
    def drawn(seed: int) -> Line:
        rng = np.random.default_rng(seed ^ 0x5EED)
        codec = channel.CODECS[int(rng.integers(len(channel.CODECS)))]
        loss = 0.0 if rng.random() < 0.5 else float(rng.uniform(0.01, 0.05))
        clip = float(rng.uniform(3, 9)) if rng.random() < 0.2 else None
        return Line(codec, round(loss, 3), clip)


def line_audio(items: list[Item], conditions: list[tuple[str, float | None]],
               use_channel: bool = True, seed: int = 12345, vary: bool = False
               ) -> Iterator[tuple[Item, str, float | None, bytes]]:
    """Each clip as it arrives under each condition (noise kind, SNR), in `evaluate`'s
    order: the same seed gives the same audio, so another engine can hear it again."""
    for item in items:
        samples, info = read_wav(item.file)
        audio = to_float_8k(samples, info.rate)
        for noise, snr in conditions if use_channel else [("none", None)]:
            tag = "" if noise == "pink" else f":{noise}"
            clip_seed = zlib.crc32(f"{seed}:{item.file.name}:{item.question}:{snr}{tag}"
                                   .encode())
            if use_channel:
                line = Line.drawn(clip_seed) if vary else Line()
                pcm = channel.telephone(audio, snr, clip_seed, is_speech=item.speech,
                                        noise_kind=noise if noise != "none" else "pink",
                                        codec=line.codec, loss=line.loss,
                                        clip_db=line.clip_db)
            else:
                pcm = bytes(pcm16(audio).tobytes())
            yield item, noise, snr, pcm


def evaluate(engine: Engine, items: list[Item], snrs: list[float | None], policy: Policy,
             accept: float, use_channel: bool = True, seed: int = 12345,
             progress: Callable[[int, int], None] | None = None,
             noises: tuple[str, ...] = ("pink",), vary: bool = False,
             keep: Callable[[Item, Decoded, float | None, str], None] | None = None
             ) -> list[Row]:
    """One row per clip and condition. `keep` sees every decode (for calibration)."""
    rows: list[Row] = []
    conditions = [(n, s) for s in snrs for n in (noises if s is not None else ("none",))]
    total = len(items) * (len(conditions) if use_channel else 1)
    for item, noise, snr, pcm in line_audio(items, conditions, use_channel, seed, vary):
        result = decode(engine, pcm, item.question, policy)
        if keep is not None:
            keep(item, result, snr if use_channel else None, noise)
        u = result.understanding
        rows.append(Row(item.question, item.expected, u.intent,
                        u.confidence >= accept and u.intent.value != "unclear",
                        item.off_script, snr if use_channel else None, item.kind,
                        item.text, result.hypothesis.heard, result.audio_s,
                        result.decode_s, noise if use_channel else "none"))
        if progress:
            progress(len(rows), total)
    return rows


def write_decisions(cache: Path | None, rows: list[dict[str, Any]]) -> None:
    """What a decode of the corpus gave, kept so that tuning replays it without decoding."""
    if cache is None:
        return
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
