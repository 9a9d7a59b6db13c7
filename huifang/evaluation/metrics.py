"""What the harness reports, from one row per decoded clip. Pure.

- accuracy: in-script clips understood as their intent and accepted, over all in-script
  clips (a rejected answer counts against it: the flow has to ask again);
- accepted accuracy: the same over accepted answers only;
- rejection rate: in-script clips not accepted;
- swaps: accepted answers that mean the opposite of what was said (满意 heard as 不满意,
  解决 as 未解决), over accepted answers: the worst error;
- false acceptance: off-script clips accepted as some answer, over off-script clips
  (real speech on its own as `real_accepted`);
- non-answers (啥意思, 不知道 … `kind` non_answer): taken as an answer to the question,
  over non-answers (`non_answer_taken`); taken as another non-answer is `wrong`;
- reversals carry their one-sided 95 % upper bound (Clopper-Pearson): 0 of 300 is not 0;
- real-time factor: decoding time over audio time.

Groups are per question, noise kind and level (and "all" questions together).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from scipy import stats

from ivr.intents import Intent, Question
from ivr.understand import OPPOSITES

REJECTED = "rejected"


@dataclass(frozen=True)
class Row:
    question: Question
    expected: Intent
    got: Intent
    accepted: bool
    off_script: bool
    snr: float | None
    kind: str
    text: str
    heard: str
    audio_s: float
    decode_s: float
    noise: str = "pink"

    @property
    def outcome(self) -> str:
        return self.got.value if self.accepted else REJECTED


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def summarise(rows: list[Row]) -> dict[str, Any]:
    groups: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for r in rows:
        snr = "clean" if r.snr is None else f"{r.snr:g}dB"
        noise = "none" if r.snr is None else r.noise
        for question in (r.question.value, "all"):
            groups[(question, noise, snr)].append(r)
            groups[(question, "all", snr)].append(r)
    report: dict[str, Any] = {"groups": [], "confusion": {}, "per_intent": {}}
    kinds = {n for _, n, _ in groups} - {"all", "none"}
    for (question, noise, snr), group in sorted(groups.items(),
                                                key=lambda g: (g[0][0], -_level(g[0][2]),
                                                               g[0][1])):
        if noise == "all" and len(kinds) <= 1:
            continue  # one noise kind: its groups are the whole
        report["groups"].append({"question": question, "noise": noise, "snr": snr,
                                 **_measures(group)})
    for question in Question:
        confusion: dict[str, Counter[str]] = defaultdict(Counter)
        per_intent: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for r in rows:
            if r.question is not question:
                continue
            expected = "off_script" if r.off_script else r.expected.value
            confusion[expected][r.outcome] += 1
            per_intent[expected][1] += 1
            per_intent[expected][0] += _right(r)
        report["confusion"][question.value] = {k: dict(v) for k, v in confusion.items()}
        report["per_intent"][question.value] = {
            k: {"clips": n, "right": ok, "accuracy": _ratio(ok, n)}
            for k, (ok, n) in sorted(per_intent.items())}
    audio = sum(r.audio_s for r in rows)
    report["real_time_factor"] = round(sum(r.decode_s for r in rows) / audio, 4) if audio else None
    report["clips"] = len(rows)
    return report


def _level(snr: str) -> float:
    return 1000.0 if snr == "clean" else float(snr.removesuffix("dB"))


def upper_bound(k: int, n: int, confidence: float = 0.95) -> float | None:
    """One-sided upper confidence bound of a proportion k/n (Clopper-Pearson)."""
    if n == 0:
        return None
    if k >= n:
        return 1.0
    return round(float(stats.beta.ppf(confidence, k + 1, n - k)), 4)


def _right(r: Row) -> bool:
    if r.off_script:
        return not r.accepted or r.got is Intent.UNCLEAR
    return r.accepted and r.got is r.expected


def is_swap(r: Row) -> bool:
    return r.accepted and r.got in OPPOSITES.get(r.expected, set())


def _measures(rows: list[Row]) -> dict[str, Any]:
    answers = [r for r in rows if not r.off_script and r.kind != "non_answer"]
    off = [r for r in rows if r.off_script]
    real = [r for r in off if r.kind == "off_script/real"]
    non = [r for r in rows if r.kind == "non_answer"]
    non_taken = sum(1 for r in non if r.accepted and r.got not in _NON_ANSWERS)
    non_wrong = sum(1 for r in non if r.accepted and r.got in _NON_ANSWERS
                    and r.got is not r.expected)
    wrong_non = sum(1 for r in answers if r.accepted and r.got in _NON_ANSWERS)
    accepted = [r for r in answers if r.accepted]
    right = sum(1 for r in answers if _right(r))
    swaps = sum(1 for r in accepted if is_swap(r))
    false_accepts = sum(1 for r in off if r.accepted and r.got is not Intent.UNCLEAR)
    audio = sum(r.audio_s for r in rows)
    return {
        "answers": len(answers), "accuracy": _ratio(right, len(answers)),
        "accepted_accuracy": _ratio(right, len(accepted)),
        "rejection_rate": _ratio(len(answers) - len(accepted), len(answers)),
        "swaps": swaps, "swap_rate": _ratio(swaps, len(accepted)),
        "swap_upper95": upper_bound(swaps, len(answers)),
        "taken_as_non_answer": wrong_non,
        "off_script": len(off), "false_accepts": false_accepts,
        "false_acceptance": _ratio(false_accepts, len(off)),
        "real": len(real),
        "real_accepted": sum(1 for r in real if r.accepted and r.got is not Intent.UNCLEAR),
        "non_answers": len(non), "non_answer_taken": non_taken,
        "non_answer_wrong": non_wrong,
        "real_time_factor": round(sum(r.decode_s for r in rows) / audio, 4) if audio else None,
    }


_NON_ANSWERS = {Intent.WRONG_PERSON, Intent.CALL_LATER, Intent.REPEAT, Intent.NOT_SURE}


def worst(rows: list[Row], n: int = 10) -> list[Row]:
    """Examples for the report: swaps first, then false accepts, then wrong answers."""
    swaps = [r for r in rows if is_swap(r)]
    false = [r for r in rows if r.off_script and r.accepted and r.got is not Intent.UNCLEAR]
    wrong = [r for r in rows if not r.off_script and r.accepted and r.got is not r.expected
             and not is_swap(r)]
    return (swaps + false + wrong)[:n]
