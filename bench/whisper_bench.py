"""`python -m bench.whisper_bench` (issue 15 item 5): Whisper as a second opinion.

On the development corpus (`huifang asr-eval --callers`, generated into var/callers when
absent), every n-th tune and held-out clip is decoded once under each noise kind (white,
pink, babble, hum) at 20 and 10 dB, A-law/μ-law, loss and clipping drawn per decode, by
PocketSphinx (rejection off, silero VAD) with Whisper base always asked on the same
audio. Then, replayed through `huifang.speech.judge` without decoding again:
- (a) PocketSphinx alone, with the rejection `huifang asr-tune` chose (README);
- (b) Whisper alone, its guards chosen on the tune split (0 reversals, ≤ 2 % off-script,
  ≤ 1 % wrong), or the strictest if none is admissible;
- (c) the combination (`ivr.second_opinion.combined`), its thresholds chosen on the tune
  split the same way;
each reported on the **held-out** split: answers accepted with the right intent, reversed,
off-script accepted, per noise kind and level; Whisper's CPU seconds per answer, the
real-time factor, the share of answers on which the combination asks it, and the RSS the
model adds.

Bounded: HUIFANG_BENCH_WHISPER_TUNE_EVERY (default 20) and ..._HELDOUT_EVERY (default 14)
clips of each split, times 8 conditions. Decodes are cached in var/whisper-bench/ (delete
it to decode again); HUIFANG_BENCH_WHISPER_ONLY=tune (or heldout) decodes one split and
stops, so the two can be decoded by two processes. HUIFANG_BENCH_WHISPER_PROMPT=plain
(or none) takes Whisper's opinion again on the same audio with another prompt
(`ivr.whisper.PROMPT_KINDS`). Writes bench/out/whisper.json.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from huifang.config import RecognitionSettings
from huifang.evaluation import channel
from huifang.evaluation.callers import espeak_render, generate_callers, real_speech
from huifang.evaluation.corpus import Item, read_labels
from huifang.evaluation.metrics import summarise
from huifang.evaluation.runner import line_audio
from huifang.evaluation.second import (
    Pair,
    Score,
    Setting,
    best,
    combinations,
    decode_both,
    rows,
    score,
    whisper_guards,
)
from huifang.speech import engine_from, policy_from
from ivr.recognition import Rejection
from ivr.second_opinion import SecondOpinionEngine
from ivr.whisper import WhisperEngine
from tests.speech import MODEL

OUT = Path(__file__).parent / "out"
CORPUS = Path("var/callers")
CACHE = Path("var/whisper-bench")
REAL = Path("../shared/speech/real")
# What `huifang asr-tune --corpus var/callers --every 12` chose (README, "Calibrating").
CALIBRATED = Rejection(0.95, 1.0, 0.4)
CALIBRATED_MARGIN = 0.005


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGESIZE") / 2**20


def _pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.1f} %)" if b else "—"


def report(name: str, pairs: list[Pair], setting: Setting, settings: RecognitionSettings
           ) -> dict[str, Any]:
    policy = policy_from(settings)
    summary = summarise(rows(pairs, setting, policy, settings.accept))
    print(f"\n{name}")
    print(f"  {'noise':7} {'SNR':5} {'right':>16} {'reversed':>9} {'off-script acc.':>16}"
          f" {'real acc.':>9} {'RTF':>6}")
    table = []
    for g in summary["groups"]:
        if g["question"] != "all":
            continue
        right = round((g["accuracy"] or 0) * g["answers"])
        print(f"  {g['noise']:7} {g['snr']:5} {_pct(right, g['answers']):>16} "
              f"{g['swaps']:>3} (≤{100 * (g['swap_upper95'] or 0):.0f}%) "
              f"{_pct(g['false_accepts'], g['off_script']):>16} "
              f"{g['real_accepted']}/{g['real']:<7} {g['real_time_factor']}")
        table.append(g)
    return {"groups": table, "per_intent": summary["per_intent"],
            "confusion": summary["confusion"]}


def _pocketsphinx() -> Iterator[Setting]:
    yield Setting("pocketsphinx", CALIBRATED, CALIBRATED_MARGIN)


def _whispers() -> Iterator[Setting]:
    for g in whisper_guards():
        yield Setting("whisper", CALIBRATED, 0.0, guards=g)


def _combinations() -> Iterator[Setting]:
    for c in combinations():
        yield Setting("combined", CALIBRATED, CALIBRATED_MARGIN, combination=c)


def _chosen(name: str, found: tuple[Score | None, int], fallback: Setting,
            tune: list[Pair], settings: RecognitionSettings) -> Setting:
    s, tried = found
    if s is None:
        print(f"{name}: none of {tried} settings is admissible on the tune split; "
              "the strictest is measured")
        s = score(tune, fallback, policy_from(settings), settings.accept)
    print(f"{name}: tune split {s.right}/{s.answers} answers right, {s.reversed} reversed, "
          f"{s.wrong} wrong, {s.off_accepted}/{s.off_script} off-script accepted "
          f"({tried} settings tried)")
    return s.setting


def reopine(whisper: WhisperEngine, pairs: list[Pair], items: list[Item],
            snrs: list[float | None], cache: Path) -> list[Pair]:
    """The same decodes with Whisper's opinion taken again (another prompt) on the very
    same audio (`line_audio` draws it as `evaluate` did)."""
    if cache.exists():
        return [Pair.from_json(d) for d in json.loads(cache.read_text(encoding="utf-8"))]
    conditions = [(n, s) for s in snrs for n in channel.NOISES]
    out = []
    for pair, (item, noise, snr, pcm) in zip(pairs, line_audio(items, conditions, vary=True),
                                             strict=True):
        assert (pair.text, pair.noise, pair.snr) == (item.text, noise, snr)
        h = pair.hypothesis
        out.append(replace(pair, hypothesis=replace(
            h, opinion=whisper.opinion(pcm, item.question))))
    cache.write_text(json.dumps([p.as_json() for p in out], ensure_ascii=False),
                     encoding="utf-8")
    return out


def main() -> int:
    tune_every = int(os.environ.get("HUIFANG_BENCH_WHISPER_TUNE_EVERY", "20"))
    held_every = int(os.environ.get("HUIFANG_BENCH_WHISPER_HELDOUT_EVERY", "14"))
    # a loaded machine: the bench waits for every opinion (a live call gives up at 10 s)
    settings = RecognitionSettings(model=str(MODEL), vad="silero", whisper_timeout_s=120)
    policy = policy_from(settings)
    if not (CORPUS / "labels.tsv").exists():
        print(f"generating the callers' corpus into {CORPUS} ...", flush=True)
        generate_callers(CORPUS, espeak_render, REAL if REAL.is_dir() else None)
    corpus = read_labels(CORPUS)
    channel.set_babble_sources(real_speech(REAL))
    before = rss_mb()
    t0 = time.process_time()
    engine = engine_from(settings, second_opinion=True, always_ask=True, min_coverage=0.0,
                         min_coverage_non_answer=0.0, min_voiced_s=0.0)
    load_cpu = time.process_time() - t0
    loaded = rss_mb()
    if "+" not in engine.name:
        print("Whisper could not be loaded (see the warning above)", file=sys.stderr)
        return 1
    snrs: list[float | None] = [20.0, 10.0]
    decoded: dict[str, list[Pair]] = {}
    only = os.environ.get("HUIFANG_BENCH_WHISPER_ONLY")  # decode one split, then stop
    for split, every in (("tune", tune_every), ("heldout", held_every)):
        if only and split != only:
            continue
        items = [i for i in corpus if i.split == split][::max(1, every)]
        cache = CACHE / f"{split}-every{every}.json"
        print(f"{split}: {len(items)} clips x {len(snrs) * len(channel.NOISES)} conditions"
              f"{' (cached)' if cache.exists() else ''}", flush=True)
        decoded[split] = decode_both(engine, items, snrs, channel.NOISES, policy,
                                     settings.accept, cache)
    prompt = os.environ.get("HUIFANG_BENCH_WHISPER_PROMPT", "answers")
    if prompt != "answers":  # Whisper again on the same audio with another prompt
        assert isinstance(engine, SecondOpinionEngine)
        other = WhisperEngine(engine.second.model, workers=1, prompt=prompt)  # type: ignore[attr-defined]
        for split, every in (("tune", tune_every), ("heldout", held_every)):
            if only and split != only:
                continue
            items = [i for i in corpus if i.split == split][::max(1, every)]
            decoded[split] = reopine(other, decoded[split], items, snrs,
                                     CACHE / f"{split}-every{every}-{prompt}.json")
    if only:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tune, held = decoded["tune"], decoded["heldout"]
    sphinx = _chosen("(a) PocketSphinx", best(tune, _pocketsphinx(), policy, settings.accept),
                     next(_pocketsphinx()), tune, settings)
    whisper = _chosen("(b) Whisper alone", best(tune, _whispers(), policy, settings.accept),
                      Setting("whisper", CALIBRATED, 0.0,
                              guards=next(iter(reversed(list(whisper_guards()))))),
                      tune, settings)
    # The issue's targets are 0 reversed and <= 2 % off-script; asr-tune also holds other
    # wrong answers (基本满意 taken as 满意, a non-answer as an answer) to <= 1 %. The
    # calibrated PocketSphinx alone already takes more wrong than that (no setting met it):
    # the combination may add at most 1 % of wrong answers to PocketSphinx's own.
    base = score(tune, sphinx, policy, settings.accept)
    allowed = base.wrong / max(base.answers, 1) + 0.01
    both = _chosen("(c) combination", best(tune, _combinations(), policy, settings.accept,
                                           max_wrong=allowed),
                   next(_combinations()), tune, settings)
    relaxed = _chosen("(c') combination, wrong <= 5 % more",
                      best(tune, _combinations(), policy, settings.accept,
                           max_wrong=allowed + 0.04),
                      next(_combinations()), tune, settings)
    result: dict[str, Any] = {"tune_every": tune_every, "heldout_every": held_every,
                              "decodes": {"tune": len(tune), "heldout": len(held)}}
    for name, setting in (("pocketsphinx", sphinx), ("whisper", whisper),
                          ("combined", both), ("combined_relaxed", relaxed)):
        result[name] = report(f"held-out split, {name}", held, setting, settings)
        result[name]["setting"] = repr(setting)
    opinions = [p.hypothesis.opinion for p in held + tune if p.hypothesis.opinion]
    cpu = [o.cpu_s for o in opinions]
    audio = sum(p.audio_s for p in held + tune)
    from huifang.evaluation.second import asked

    answers = [p for p in held if p.kind == "answer"]
    share = sum(asked(p, both, policy, settings.accept) for p in answers) / max(1, len(answers))
    mean = sum(cpu) / max(1, len(cpu))
    result["cost"] = {
        "whisper_cpu_s_per_answer_mean": round(mean, 3),
        "whisper_cpu_s_per_answer_p90": round(sorted(cpu)[int(0.9 * len(cpu))], 3) if cpu
        else None,
        "whisper_rtf": round(sum(cpu) / audio, 3) if audio else None,
        "pocketsphinx_rtf": round(sum(p.primary_s for p in held + tune) / audio, 3),
        "asked_share_heldout": round(share, 3),
        "combined_cpu_s_per_answer": round(share * mean, 3),
        "load_cpu_s": round(load_cpu, 2),
        "rss_mb_before": round(before), "rss_mb_after_load": round(loaded),
        "rss_mb_peak": round(peak),
    }
    c = result["cost"]
    print(f"\nWhisper base (int8, beam {settings.whisper_beam_size}, "
          f"{settings.whisper_threads} thread): {c['whisper_cpu_s_per_answer_mean']} s of CPU "
          f"per answer (p90 {c['whisper_cpu_s_per_answer_p90']}), real-time factor "
          f"{c['whisper_rtf']}; PocketSphinx+silero {c['pocketsphinx_rtf']}")
    print(f"the combination asks Whisper on {100 * share:.0f} % of held-out answers: "
          f"{c['combined_cpu_s_per_answer']} s of Whisper CPU per answer")
    print(f"RSS {c['rss_mb_before']} MB before loading, {c['rss_mb_after_load']} MB after "
          f"(+{c['rss_mb_after_load'] - c['rss_mb_before']} MB), peak {c['rss_mb_peak']} MB; "
          f"load {c['load_cpu_s']} s CPU")
    if both.combination is not None:
        k = both.combination
        print("\n[recognition]   # the combination chosen on the tune split")
        print('second_opinion = "whisper"')
        print(f"second_doubt_below = {k.doubt_below}")
        print(f"second_agree_logprob = {k.agree.min_avg_logprob}")
        print(f"second_agree_no_speech = {k.agree.max_no_speech}")
        print(f"whisper_min_text_coverage = {k.agree.min_text_coverage}")
        print(f"second_veto = {str(k.veto).lower()}")
        print("second_questions = [" + ", ".join(f'"{q}"' for q in sorted(k.questions)) + "]")
        if k.alone is not None:
            print(f"second_alone_logprob = {k.alone.min_avg_logprob}")
    OUT.mkdir(exist_ok=True)
    (OUT / "whisper.json").write_text(json.dumps(result, ensure_ascii=False, indent=2),
                                      encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
