"""`make bench`: does a reused PocketSphinx decoder hear a call through the last call's
line? Every `HUIFANG_BENCH_CHANNEL_EVERY`-th (default 3) answer clip of the development
corpus's held-out split, under white, pink, babble and hum noise at 20 and 10 dB with the
line drawn per decode (as `huifang asr-eval` does), each clip decoded as its own call on
one engine, with no rejection: how often the text alone means the right answer, the
wrong one, or nothing, when each call starts from the model's cepstral mean (the
default) and when decoders carry the last call's. Writes bench/out/channel.json."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from huifang.evaluation import channel
from huifang.evaluation.corpus import Item, read_labels
from huifang.evaluation.runner import line_audio
from ivr.intents import Intent
from ivr.recognition import grammar_for
from ivr.sphinx import SphinxEngine
from ivr.understand import understand
from tests.speech import MODEL

OUT = Path(__file__).parent / "out"
SNRS = (20.0, 10.0)


def corpus() -> list[Item]:
    folder = OUT / "asr-callers"
    if not (folder / "labels.tsv").exists():
        from huifang.evaluation.callers import espeak_render, generate_callers

        generate_callers(folder, espeak_render, MODEL.parents[2] / "speech/real")
    every = int(os.environ.get("HUIFANG_BENCH_CHANNEL_EVERY", "3"))
    return [i for i in read_labels(folder)
            if i.split == "heldout" and i.speech and not i.off_script][::every]


def run(items: list[Item], mean_per_call: bool) -> dict[str, dict[str, int]]:
    engine = SphinxEngine(MODEL, min_coverage=0.0, min_voiced_s=0.0,
                          min_coverage_non_answer=0.0, mean_per_call=mean_per_call)
    counts: dict[float, Counter[str]] = {snr: Counter() for snr in SNRS}
    conditions: list[tuple[str, float | None]] = [(noise, snr) for snr in SNRS
                                                  for noise in channel.NOISES]
    for item, _, snr, pcm in line_audio(items, conditions, True, 12345, vary=True):
        recogniser = engine.recogniser(grammar_for(item.question))
        try:
            for i in range(0, len(pcm), 320):
                recogniser.feed(pcm[i:i + 320])
            hypothesis = recogniser.finish()
        finally:
            recogniser.close()
        got = understand(hypothesis.text or hypothesis.heard, item.question).intent
        assert snr is not None
        counts[snr]["right" if got is item.expected
                    else "nothing" if got is Intent.UNCLEAR else "other"] += 1
    return {f"{snr:g}dB": dict(c) for snr, c in counts.items()}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    items = corpus()
    result = {"clips": len(items), "decodes_per_setting": len(items) * 8,
              "mean_per_call": run(items, True), "mean_carried": run(items, False)}
    (OUT / "channel.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
