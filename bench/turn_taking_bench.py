"""`make bench` (issue 18): when a turn ends. The call session ends an answer after 700 ms
of silence, or after 250 ms once the partial hypothesis is a whole answer that no longer
answer begins with (`ivr.recognition.complete_phrases`). This measures, on the held-out
phrasings and voices of the callers' corpus (`huifang.evaluation.callers`, never tuned
on), both ways:

- the endpoint wait: from the caller's last voiced sample to the end of the turn (p50,
  p95), the part of turn latency that is waiting, not decoding;
- false cuts: turns ended before the caller had finished. Each phrasing is said in one
  breath, and (four characters or more) again with a 400 ms pause after its lead-in word
  (我觉得 | 很好, 问题 | 已经解决了; in the middle when it has none), the hesitation that a
  short end-of-turn silence risks cutting;
- answers understood: the final hypothesis means the labelled intent.

The audio goes through the telephone channel at 20 dB SNR (pink noise, μ-law), and the
frames are fed as RTP delivers them, to webrtcvad's endpointer and to PocketSphinx with
the question's grammar. Partials are applied at once (live they come from the decoding
thread a little later, which can only make the early end later). Writes
bench/out/turn_taking.json (turn_taking_tune.json for the tune split).
HUIFANG_BENCH_TURN_EVERY=N keeps one phrasing in N; HUIFANG_BENCH_TURN_SPLIT=tune runs
the tune split instead, where the completion silence is chosen (the held-out split only
reports it).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
PAUSE_S = 0.4
PAD_S = 1.5
MODES = {"complete_250ms": 250, "complete_400ms": 400, "complete_550ms": 550,
         "fixed_700ms": 700}
# where callers hesitate: after a lead-in word (else in the middle of the phrasing)
LEAD_INS = ("我觉得", "到现在", "基本上", "一点都", "一点也", "问题", "现在", "已经", "还是",
            "是的", "对对对", "对的", "早就", "非常", "特别", "根本", "没有", "嗯", "对", "我")


def voiced_end_ms(x: np.ndarray) -> float:
    """Where the caller's voice ends in `x` (8 kHz float): its last sample above 5 % of
    the peak."""
    loud = np.nonzero(np.abs(x) > 0.05 * float(np.max(np.abs(x))))[0]
    return float(loud[-1]) / 8.0 if len(loud) else 0.0


def take_turn(engine: Any, grammar: Any, pcm: bytes, end_ms: int) -> tuple[int | None, str]:
    """Feed 20 ms frames as a call does; when the turn was taken (ms from the first
    frame, None if it never ended) and the final hypothesis' text."""
    from ivr.endpoint import FRAME_BYTES, Endpointer, EndpointSettings, Event
    from ivr.recognition import complete_phrases

    endpointer = Endpointer(EndpointSettings(complete_ms=end_ms))
    complete = complete_phrases(grammar)
    recogniser = engine.recogniser(grammar)
    ended: int | None = None
    try:
        for at in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
            frame = pcm[at:at + FRAME_BYTES]
            point = endpointer.feed(frame)
            partial = recogniser.feed(frame)
            if partial is not None and partial.text in complete and endpointer.started:
                endpointer.complete()
            if point is not None and point.event is Event.SPEECH_ENDED:
                ended = endpointer.now_ms  # when the turn is taken (at_ms dates it back)
                break
            if point is not None and point.event is Event.TIMEOUT:
                break
        text = recogniser.finish().text
    finally:
        recogniser.close()
    return ended, text


def main() -> int:
    if shutil.which("espeak-ng") is None:
        print("turn-taking bench skipped: espeak-ng not installed (make test installs it)")
        return 0
    from tests.speech import MODEL

    if not MODEL.exists():
        print(f"turn-taking bench skipped: no model at {MODEL}")
        return 0
    from huifang.evaluation import channel
    from huifang.evaluation.callers import (
        HELDOUT,
        PHRASINGS,
        espeak_render,
        espeak_variants,
        split_of,
        voices_for,
    )
    from huifang.speech import to_float_8k
    from ivr.recognition import grammar_for
    from ivr.sphinx import SphinxEngine
    from ivr.understand import understand

    every = int(os.environ.get("HUIFANG_BENCH_TURN_EVERY", "1"))
    split = os.environ.get("HUIFANG_BENCH_TURN_SPLIT", HELDOUT)
    engine = SphinxEngine(MODEL)
    variants = espeak_variants()
    rows: list[dict[str, Any]] = []
    planned = [(q, i, t) for q, i, texts in PHRASINGS for t in texts
               if split_of(t) == split][::every]
    for n, (question, intent, text) in enumerate(planned):
        voice = voices_for(text, split, variants, 1)[0]

        def said(words: str, voice: Any = voice) -> np.ndarray:
            samples, rate = espeak_render(words, voice)
            x = to_float_8k(samples, rate)
            loud = np.nonzero(np.abs(x) > 0.05 * float(np.max(np.abs(x))))[0]
            return x[loud[0]:loud[-1] + 1] if len(loud) else x

        cases = {"one_breath": said(text)}
        if len(text) >= 4:
            half = next((len(w) for w in LEAD_INS if text.startswith(w) and len(w) < len(text)),
                        len(text) // 2)
            cases["paused"] = np.concatenate([said(text[:half]), np.zeros(int(PAUSE_S * 8000)),
                                              said(text[half:])])
        grammar = grammar_for(question)
        for case, speech in cases.items():
            truth_ms = PAD_S * 1000 + voiced_end_ms(speech)
            pcm = channel.telephone(speech, 20.0, seed=n, pad_s=PAD_S)
            for mode, end_ms in MODES.items():
                ended, heard = take_turn(engine, grammar, pcm, end_ms)
                rows.append({"text": text, "case": case, "mode": mode, "voice": voice.name,
                             "truth_ms": round(truth_ms), "ended_ms": ended, "heard": heard,
                             "right": understand(heard, question).intent is intent})
        print(f"{n + 1}/{len(planned)} {text}", file=sys.stderr)
    summary: dict[str, Any] = {}
    for mode in MODES:
        for case in ("one_breath", "paused"):
            mine = [r for r in rows if r["mode"] == mode and r["case"] == case]
            ended = [r for r in mine if r["ended_ms"] is not None]
            cuts = [r for r in ended if r["ended_ms"] < r["truth_ms"]]
            waits = [r["ended_ms"] - r["truth_ms"] for r in ended if r not in cuts]
            summary[f"{mode}/{case}"] = {
                "turns": len(mine), "false_cuts": len(cuts),
                "never_ended": len(mine) - len(ended),
                "endpoint_wait_ms": {"p50": round(float(np.percentile(waits, 50)))
                                     if waits else None,
                                     "p95": round(float(np.percentile(waits, 95)))
                                     if waits else None},
                "understood": sum(r["right"] for r in mine),
                "cut_examples": [r["text"] for r in cuts][:8]}
    result = {"split": split, "pause_s": PAUSE_S, "snr_db": 20, "phrasings": len(planned),
              "summary": summary, "turns": rows}
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    name = "turn_taking.json" if split == HELDOUT else f"turn_taking_{split}.json"
    (out / name).write_text(json.dumps(result, ensure_ascii=False, indent=2))
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
