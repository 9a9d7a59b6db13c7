"""The second opinion measured and calibrated: decode once with Whisper always asked, then
replay PocketSphinx alone, Whisper alone and the combination through `judge` with any
thresholds. Pure but for `decode_both`, which decodes.

A `Pair` keeps one decode's evidence: the grammar engine's result with its rejection off
and Whisper's opinion on the same audio (the combined engine with `always_ask`). Replays
never decode again, so the search over thresholds on the tune split is cheap, and the
held-out figures come from the same evidence with the chosen thresholds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from itertools import product
from pathlib import Path
from typing import Any

from huifang.evaluation.corpus import Item
from huifang.evaluation.metrics import Row
from huifang.evaluation.runner import evaluate, write_decisions
from huifang.speech import Decoded, judge
from ivr.intents import Intent, Policy, Question
from ivr.recognition import Engine, Hypothesis, Opinion, Rejection
from ivr.second_opinion import Combination
from ivr.understand import OPPOSITES
from ivr.whisper import WhisperGuards

Mode = str  # "pocketsphinx", "whisper" or "combined"


@dataclass(frozen=True)
class Pair:
    question: Question
    expected: Intent
    kind: str
    text: str
    snr: float | None
    noise: str
    voice: str
    hypothesis: Hypothesis  # primary: the grammar engine's (rejection off); opinion: Whisper's
    audio_s: float
    primary_s: float  # wall seconds of the grammar engine's decode

    def as_json(self) -> dict[str, Any]:
        h = self.hypothesis.primary or self.hypothesis
        return {"question": self.question.value, "expected": self.expected.value,
                "kind": self.kind, "text": self.text, "snr": self.snr, "noise": self.noise,
                "voice": self.voice, "audio_s": self.audio_s, "primary_s": self.primary_s,
                "primary": [h.text, h.confidence, h.heard, h.coverage,
                            [list(a) for a in h.alternatives], h.voiced_s],
                "opinion": asdict(self.hypothesis.opinion) if self.hypothesis.opinion else None}

    @staticmethod
    def from_json(d: dict[str, Any]) -> Pair:
        text, confidence, heard, cov, alternatives, voiced = d["primary"]
        primary = Hypothesis(text, confidence, True, heard, cov,
                             tuple((str(t), float(s)) for t, s in alternatives), voiced)
        opinion = Opinion(**d["opinion"]) if d["opinion"] else None
        h = Hypothesis(text, confidence, True, heard, cov, primary.alternatives, voiced,
                       opinion, primary)
        return Pair(Question(d["question"]), Intent(d["expected"]), d["kind"], d["text"],
                    d["snr"], d["noise"], d["voice"], h, d["audio_s"], d["primary_s"])

    @property
    def off_script(self) -> bool:
        return self.kind.startswith("off_script")


def decode_both(engine: Engine, items: list[Item], snrs: list[float | None],
                noises: tuple[str, ...], policy: Policy, accept: float,
                cache: Path | None = None,
                progress: Callable[[int, int], None] | None = None,
                use_channel: bool = True) -> list[Pair]:
    """Every clip under every condition through `engine` (a SecondOpinionEngine with
    `always_ask` and the grammar engine's rejection off), kept in `cache` if given;
    without `use_channel`, each clip once as it is (telephone audio already)."""
    if cache is not None and cache.exists():
        return [Pair.from_json(d) for d in json.loads(cache.read_text(encoding="utf-8"))]
    pairs: list[Pair] = []
    voices = {(i.file.name, i.question): i.voice for i in items}

    def keep(item: Item, result: Decoded, snr: float | None, noise: str) -> None:
        h = result.hypothesis
        cpu = h.opinion.cpu_s if h.opinion else 0.0
        pairs.append(Pair(item.question, item.expected, item.kind, item.text, snr, noise,
                          voices.get((item.file.name, item.question), ""), h,
                          result.audio_s, max(0.0, result.decode_s - cpu)))

    evaluate(engine, items, snrs, policy, accept, noises=noises, vary=True, keep=keep,
             progress=progress, use_channel=use_channel)
    write_decisions(cache, [p.as_json() for p in pairs])
    return pairs


@dataclass(frozen=True)
class Setting:
    """One way of deciding, replayed: the grammar engine's rejection and margin, and for
    Whisper alone its guards, for the combination its rule."""

    mode: Mode
    rejection: Rejection
    margin: float
    guards: WhisperGuards | None = None
    combination: Combination | None = None


def decided(pair: Pair, setting: Setting, policy: Policy, accept: float) -> tuple[Intent, bool]:
    """(intent, accepted) for one decode under a setting, through `judge`."""
    h = pair.hypothesis
    if setting.mode == "whisper":
        alone = Hypothesis("", 0.0, True, opinion=h.opinion)
        u = judge(alone, pair.question, 0.0, policy, guards=setting.guards)
    elif setting.mode == "combined":
        u = judge(h, pair.question, setting.margin, policy, setting.rejection,
                  setting.combination, accept)
    else:
        u = judge(h.primary or h, pair.question, setting.margin, policy, setting.rejection)
    return u.intent, u.confidence >= accept and u.intent is not Intent.UNCLEAR


def rows(pairs: list[Pair], setting: Setting, policy: Policy, accept: float) -> list[Row]:
    """Report rows (`huifang.evaluation.metrics`) for a setting; decode_s is the CPU of
    what the setting runs (Whisper's only where it is asked)."""
    out = []
    for p in pairs:
        intent, accepted = decided(p, setting, policy, accept)
        cpu = p.hypothesis.opinion.cpu_s if p.hypothesis.opinion else 0.0
        cost = {"pocketsphinx": p.primary_s, "whisper": cpu,
                "combined": p.primary_s + (cpu if asked(p, setting, policy, accept) else 0.0)}
        out.append(Row(p.question, p.expected, intent, accepted, p.off_script, p.snr, p.kind,
                       p.text, p.hypothesis.heard, p.audio_s, cost[setting.mode], p.noise))
    return out


def asked(pair: Pair, setting: Setting, policy: Policy, accept: float) -> bool:
    """Whether the combination would have asked Whisper on this decode."""
    from ivr.second_opinion import asks  # noqa: PLC0415 - only for the combined mode

    if setting.combination is None:
        return False
    u = judge(pair.hypothesis.primary or pair.hypothesis, pair.question, setting.margin,
              policy, setting.rejection)
    return asks(u.intent, u.confidence, accept, setting.combination, pair.question)


@dataclass(frozen=True)
class Score:
    setting: Setting
    answers: int
    right: int
    reversed: int
    wrong: int
    off_script: int
    off_accepted: int

    def admissible(self, max_reversals: int, max_off: float, max_wrong: float) -> bool:
        return (self.reversed <= max_reversals and self.wrong <= max_wrong * max(self.answers, 1)
                and self.off_accepted <= max_off * max(self.off_script, 1))


def score(pairs: list[Pair], setting: Setting, policy: Policy, accept: float) -> Score:
    answers = right = reversed_ = wrong = off = off_accepted = 0
    for p in pairs:
        intent, accepted = decided(p, setting, policy, accept)
        if p.off_script:
            off += 1
            off_accepted += accepted
        elif p.kind == "answer":
            answers += 1
            right += accepted and intent is p.expected
            reversed_ += accepted and intent in OPPOSITES.get(p.expected, set())
            wrong += accepted and intent is not p.expected
        else:
            wrong += accepted and intent is not p.expected
    return Score(setting, answers, right, reversed_, wrong, off, off_accepted)


LOGPROBS = (-1.4, -1.2, -1.0, -0.8, -0.6, -0.5, -0.4, -0.3)
NO_SPEECH = (0.3, 0.5, 0.7, 0.9, 1.0)
COVERAGE = (0.5, 0.7, 0.9)
DOUBT = (0.8, 0.9, 1.01)


def whisper_guards() -> Iterator[WhisperGuards]:
    for lp, ns, cov in product(LOGPROBS, NO_SPEECH, COVERAGE):
        yield WhisperGuards(ns, lp, 2.4, cov)


QUESTIONS = (frozenset(Question), frozenset({Question.RESOLVED}),
             frozenset({Question.SATISFIED}))


def combinations() -> Iterator[Combination]:
    agrees = list(whisper_guards())
    for questions, doubt, agree, veto in product(QUESTIONS, DOUBT, agrees, (True, False)):
        yield Combination(doubt, agree, None, veto, questions)
    for questions, doubt, agree, alone_lp in product(QUESTIONS, DOUBT, agrees,
                                                     (-0.5, -0.4, -0.3, -0.2)):
        alone = WhisperGuards(0.3, alone_lp, agree.max_compression, agree.min_text_coverage)
        yield Combination(doubt, agree, alone, True, questions)


def best(pairs: list[Pair], settings: Iterator[Setting], policy: Policy, accept: float,
         max_reversals: int = 0, max_off: float = 0.02, max_wrong: float = 0.01
         ) -> tuple[Score | None, int]:
    """The admissible setting with the most right answers on `pairs` (the tune split;
    ties: the first, which is the stricter in the orders above)."""
    chosen: Score | None = None
    tried = 0
    for setting in settings:
        tried += 1
        s = score(pairs, setting, policy, accept)
        if s.admissible(max_reversals, max_off, max_wrong) and (
                chosen is None or s.right > chosen.right):
            chosen = s
    return chosen, tried
