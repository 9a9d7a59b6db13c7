"""Decode a corpus through the telephone channel at each noise level."""

from __future__ import annotations

import zlib
from collections.abc import Callable

from console.asreval import channel
from console.asreval.corpus import Item
from console.asreval.metrics import Row
from console.speech import decode, pcm16, to_float_8k
from ivr.intents import Intent, Policy
from ivr.recognition import Engine
from prompts.audio import read_wav


def evaluate(engine: Engine, items: list[Item], snrs: list[float | None], policy: Policy,
             accept: float, use_channel: bool = True, seed: int = 12345,
             progress: Callable[[int, int], None] | None = None) -> list[Row]:
    rows: list[Row] = []
    total = len(items) * len(snrs)
    for item in items:
        samples, info = read_wav(item.file)
        audio = to_float_8k(samples, info.rate)
        for snr in snrs:
            clip_seed = zlib.crc32(f"{seed}:{item.file.name}:{item.question}:{snr}".encode())
            if use_channel:
                pcm = channel.telephone(audio, snr, clip_seed, is_speech=item.speech)
            else:
                pcm = bytes(pcm16(audio).tobytes())
            result = decode(engine, pcm, item.question, policy)
            u = result.understanding
            rows.append(Row(item.question, item.expected, u.intent,
                            u.confidence >= accept and u.intent is not Intent.UNCLEAR,
                            item.off_script, snr if use_channel else None, item.kind,
                            item.text, result.hypothesis.heard, result.audio_s,
                            result.decode_s))
            if progress:
                progress(len(rows), total)
    return rows
