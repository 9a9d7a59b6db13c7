"""`make bench` (issue 15 item 4): what the read-back of a doubted answer rescues, and
whether it ever stores a reversed one, on the held-out split of the development corpus.

Each held-out answer phrasing (`huifang.evaluation.callers`: phrasings and espeak-ng
variants the thresholds never saw) is said in three held-out voices and decoded through the
live decision path (`huifang.speech.decode`, PocketSphinx with the configured
defaults) under each noise kind at 20 and 10 dB, with A-law/μ-law, loss and clipping
drawn per decode. Where the answer is not accepted and `ivr.confirm.doubted_answer`
finds one to read back, the same voice answers the read-back as a citizen would: a yes
(对, 对的, 是的, 没错 …) when the read-back is right, a no (不对, 不是, 说错了 …) when it
is wrong, through the same line; `ivr.confirm.confirmation_of` decides. Counted per
level: answers accepted right at once, read back, rescued (read back right and
confirmed), reversed by the read-back (read back wrong and confirmed: the figure that
must be 0), read back right but not confirmed (a key menu, as before), read back wrong
and refused. HUIFANG_BENCH_CONFIRM_EVERY=n takes every n-th held-out phrasing (default
1), HUIFANG_BENCH_CONFIRM_VOICES=k says each in k held-out voices (default 3). Writes
bench/out/confirm-espeak.json. HUIFANG_BENCH_CONFIRM_VOICE=human says everything in
one real speaker's recorded syllables instead (`huifang.evaluation.human`, the voice in
../shared/voices/ekho-2024; tempo variants stand for voices), into confirm-human.json.
"""

from __future__ import annotations

import json
import os
import sys
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from huifang.evaluation import channel, human
from huifang.evaluation.callers import (
    Planned,
    espeak_render,
    espeak_variants,
    plan,
    split_of,
    voices_for,
)
from huifang.evaluation.runner import Line
from huifang.speech import decode, to_float_8k
from ivr.confirm import CONFIRM_GRAMMAR, ConfirmSettings, confirmation_of, doubted_answer
from ivr.endpoint import FRAME_BYTES
from ivr.intents import ANSWERS
from ivr.recognition import Hypothesis
from ivr.sphinx import SphinxEngine
from ivr.understand import DEFAULT_POLICY
from prompts.tts import TtsError
from tests.speech import MODEL

OUT = Path(__file__).parent / "out"
YES = ("对", "对的", "是的", "没错", "对对对", "是这样")
NO = ("不对", "不是", "不是的", "说错了", "不对不对")
ACCEPT = 0.5
HUMAN = Path(__file__).resolve().parents[2] / "shared" / "voices" / "ekho-2024" / "syllables"


def need_human() -> None:
    if not HUMAN.is_dir():
        sys.exit(f"the recorded voice is not at {HUMAN} (../shared/voices/ekho-2024)")


def pick(options: tuple[str, ...], key: str) -> str:
    return options[zlib.crc32(key.encode()) % len(options)]


def hear_reply(engine: SphinxEngine, pcm: bytes) -> Hypothesis:
    recogniser = engine.recogniser(CONFIRM_GRAMMAR)
    try:
        for i in range(0, len(pcm), FRAME_BYTES):
            recogniser.feed(pcm[i:i + FRAME_BYTES])
        return recogniser.finish()
    finally:
        recogniser.close()


def upper_bound(events: int, n: int) -> float:
    """One-sided 95 % upper bound of a rate seen `events` times in `n` (exact for 0)."""
    if n == 0:
        return 1.0
    if events == 0:
        return float(1 - 0.05 ** (1 / n))
    p = events / n
    return float(min(1.0, p + 1.645 * np.sqrt(p * (1 - p) / n)))


def main() -> None:
    every = int(os.environ.get("HUIFANG_BENCH_CONFIRM_EVERY", "1"))
    per_phrasing = int(os.environ.get("HUIFANG_BENCH_CONFIRM_VOICES", "3"))
    engine = SphinxEngine(MODEL)
    variants = espeak_variants()
    planned = [p for p in plan() if p.split == "heldout" and p.expected in ANSWERS[p.question]]
    planned = planned[::every]
    counts: dict[str, Counter[str]] = {"20": Counter(), "10": Counter()}
    examples: list[dict[str, str]] = []
    family = os.environ.get("HUIFANG_BENCH_CONFIRM_VOICE", "espeak")
    if family == "human":  # one real speaker's syllables, at several tempi
        need_human()
        people = human.voices(per_phrasing)
        said: list[tuple[Planned, Any]] = [(p, v) for p in planned for v in people]

        def render(text: str, voice: Any) -> tuple[np.ndarray, int]:
            return human.say(text, voice, HUMAN), human.RATE
    else:
        said = [(p, v) for p in planned
                for v in voices_for(p.text, p.split, variants, per_phrasing)]
        render = espeak_render
    for n, (p, voice) in enumerate(said):
        try:
            samples, rate = render(p.text, voice)
        except (human.HumanVoiceError, TtsError) as exc:
            print(f"left out: {exc}", file=sys.stderr)
            continue
        audio = to_float_8k(samples, rate)
        for snr in (20.0, 10.0):
            noise = channel.NOISES[(n + int(snr)) % len(channel.NOISES)]
            seed = zlib.crc32(f"{p.text}|{voice.name}|{snr}|{noise}".encode())
            line = Line.drawn(seed)
            pcm = channel.telephone(audio, snr, seed, noise_kind=noise, codec=line.codec,
                                    loss=line.loss, clip_db=line.clip_db)
            decoded = decode(engine, pcm, p.question, DEFAULT_POLICY)
            u, c = decoded.understanding, counts[f"{snr:.0f}"]
            c["answers"] += 1
            if u.intent in ANSWERS[p.question] and u.confidence >= ACCEPT:
                c["right at once" if u.intent is p.expected else "wrong at once"] += 1
                continue
            candidate = doubted_answer(decoded.hypothesis, u.intent, u.confidence,
                                       p.question, ACCEPT, ConfirmSettings(enabled=True))
            if candidate is None:
                c["not read back"] += 1
                continue
            c["read back"] += 1
            right = candidate is p.expected
            reply = pick(YES if right else NO, f"{p.text}|{voice.name}|{snr}")
            r_samples, r_rate = render(reply, voice)
            r_pcm = channel.telephone(to_float_8k(r_samples, r_rate), snr, seed ^ 0xC0FF,
                                      noise_kind=noise, codec=line.codec, loss=line.loss,
                                      clip_db=line.clip_db)
            heard = hear_reply(engine, r_pcm)
            yes = confirmation_of(heard)
            if right:
                c["rescued" if yes is True else "read back right, not confirmed"] += 1
            else:
                c["REVERSED by the read-back" if yes is True else "read back wrong, refused"] += 1
                if yes is True:
                    examples.append({"said": p.text, "read back": candidate.value,
                                     "reply": reply, "heard": heard.text,
                                     "coverage": f"{heard.coverage:.2f}",
                                     "n-best": " ".join(t for t, _ in heard.alternatives),
                                     "snr": f"{snr:.0f}", "noise": noise})
    result = {}
    for snr, c in counts.items():
        wrong_read_backs = c["REVERSED by the read-back"] + c["read back wrong, refused"]
        result[f"{snr} dB"] = {
            **dict(c),
            "right after the read-back": c["right at once"] + c["rescued"],
            "reversal by the read-back, upper 95 %": round(
                upper_bound(c["REVERSED by the read-back"], max(1, c["read back"])), 4),
            "wrong read-backs refused": f"{c['read back wrong, refused']}/{wrong_read_backs}",
        }
    result["reversed examples"] = examples  # type: ignore[assignment]
    result["phrasings"] = len(planned)  # type: ignore[assignment]
    result["voices per phrasing"] = per_phrasing  # type: ignore[assignment]
    result["voice"] = family  # type: ignore[assignment]
    result["held-out split"] = all(split_of(p.text) == "heldout" for p in planned)  # type: ignore[assignment]
    OUT.mkdir(exist_ok=True)
    (OUT / f"confirm-{family}.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
