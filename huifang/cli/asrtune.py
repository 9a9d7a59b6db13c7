"""`huifang asr-tune --corpus DIR`: choose the rejection thresholds on the tune split.

The tune part of a split corpus (`huifang asr-eval --callers` writes one; your own
recordings with a `split` column work the same) is decoded once, through the telephone
channel under every noise kind and level asked for, with the engine's rejection turned
off. Every candidate setting of (min_coverage, min_coverage_non_answer, min_voiced_s,
rival_margin) is then replayed through `huifang.speech.judge`, the live call's decision,
and the setting kept is the one that accepts the most answers rightly while it
- reverses at most `--max-reversals` of the answers (满意 taken as 不满意, 解决 as 未解决),
- accepts at most `--max-off-script` of the off-script clips as an answer,
- takes at most `--max-wrong` of the answers as something else (a non-answer included).
It prints the `[recognition]` lines to write. With `--heldout-every n` it then decodes
every n-th held-out clip the same way and reports the chosen setting on them (the same
table as `huifang asr-eval --split heldout` with those settings, which gives the same
figures: the engine's rejection is `passes`, replayed here). `--cache DIR` keeps the
decoded decisions, so a second calibration with other targets decodes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import product
from pathlib import Path
from typing import Any

import click
from rich.progress import Progress

from huifang.cli.app import App, fail, out, pass_app
from huifang.cli.asreval import DEFAULT_REAL, _noises, _snrs, examples_of, print_report, select
from huifang.cli.fromreviews import (
    reviewed_items,
    reviews_options,
    reviews_record,
    since_needs_reviews,
)
from huifang.evaluation import channel
from huifang.evaluation.callers import real_speech
from huifang.evaluation.corpus import CorpusError, Item, read_labels
from huifang.evaluation.metrics import Row, summarise
from huifang.evaluation.runner import evaluate, write_decisions
from huifang.evaluation.second import Pair, Setting, combinations, decode_both
from huifang.evaluation.second import best as best_setting
from huifang.evaluation.second import rows as second_rows
from huifang.speech import Decoded, engine_from, judge, policy_from
from ivr.intents import Intent, Policy, Question
from ivr.recognition import Engine, Hypothesis, RecognitionError, Rejection, passes
from ivr.second_opinion import Combination, SecondOpinionEngine
from ivr.understand import OPPOSITES
from prompts.audio import AudioError

COVERAGES = tuple(round(0.3 + 0.05 * i, 2) for i in range(15))  # 0.30 .. 1.00
VOICED = (0.1, 0.15, 0.25, 0.4)
MARGINS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1)


@dataclass(frozen=True)
class Decision:
    question: Question
    expected: Intent
    kind: str
    hypothesis: Hypothesis
    snr: float | None = None
    noise: str = ""
    text: str = ""
    audio_s: float = 0.0
    decode_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        h = self.hypothesis
        return {"question": self.question.value, "expected": self.expected.value,
                "kind": self.kind, "snr": self.snr, "noise": self.noise, "said": self.text,
                "audio_s": self.audio_s, "decode_s": self.decode_s,
                "hypothesis": [h.text, h.confidence, h.heard, h.coverage,
                               [list(a) for a in h.alternatives], h.voiced_s]}

    @staticmethod
    def from_json(d: dict[str, Any]) -> Decision:
        text, confidence, heard, cov, alternatives, voiced = d["hypothesis"]
        h = Hypothesis(text, confidence, True, heard, cov,
                       tuple((str(t), float(s)) for t, s in alternatives), voiced)
        return Decision(Question(d["question"]), Intent(d["expected"]), d["kind"], h,
                        d["snr"], d["noise"], d["said"], d["audio_s"], d["decode_s"])


def decisions_for(engine: Engine, items: list[Item], snrs: list[float | None],
                  noises: tuple[str, ...], policy: Policy, accept: float,
                  cache: Path | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  use_channel: bool = True) -> list[Decision]:
    """Every clip decoded under every condition by an engine with rejection off (kept in
    `cache` if given, and read from it when it is there); without `use_channel`, each clip
    once as it is (telephone audio already, e.g. the reviewed turns)."""
    if cache is not None and cache.exists():
        return [Decision.from_json(d) for d in json.loads(cache.read_text(encoding="utf-8"))]
    decisions: list[Decision] = []

    def keep(item: Item, result: Decoded, snr: float | None, noise: str) -> None:
        decisions.append(Decision(item.question, item.expected, item.kind, result.hypothesis,
                                  snr, noise, item.text, result.audio_s, result.decode_s))

    evaluate(engine, items, snrs, policy, accept, noises=noises, vary=True, keep=keep,
             progress=progress, use_channel=use_channel)
    write_decisions(cache, [d.as_json() for d in decisions])
    return decisions


def rows_for(decisions: list[Decision], rejection: Rejection, margin: float, policy: Policy,
             accept: float) -> list[Row]:
    """The report rows `huifang asr-eval` would give with these settings."""
    rows = []
    for d in decisions:
        u = judge(d.hypothesis, d.question, margin, policy, rejection)
        passed = passes(rejection, d.hypothesis.heard, d.hypothesis.coverage,
                        d.hypothesis.voiced_s, d.question)
        rows.append(Row(d.question, d.expected, u.intent,
                        u.confidence >= accept and u.intent is not Intent.UNCLEAR,
                        d.kind.startswith("off_script"), d.snr, d.kind, d.text,
                        d.hypothesis.heard if passed else "", d.audio_s, d.decode_s, d.noise))
    return rows


@dataclass(frozen=True)
class Outcome:
    rejection: Rejection
    margin: float
    answers: int
    right: int
    reversed: int
    wrong: int
    off_script: int
    off_accepted: int

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self.rejection), "rival_margin": self.margin,
                "answers": self.answers, "right": self.right, "reversed": self.reversed,
                "wrong": self.wrong, "off_script": self.off_script,
                "off_script_accepted": self.off_accepted}


def replay(decisions: list[Decision], rejection: Rejection, margin: float, policy: Policy,
           accept: float) -> Outcome:
    answers = right = reversed_ = wrong = off = off_accepted = 0
    for d in decisions:
        u = judge(d.hypothesis, d.question, margin, policy, rejection)
        accepted = u.confidence >= accept and u.intent is not Intent.UNCLEAR
        if d.kind.startswith("off_script"):
            off += 1
            off_accepted += accepted
        elif d.kind == "answer":
            answers += 1
            right += accepted and u.intent is d.expected
            reversed_ += accepted and u.intent in OPPOSITES.get(d.expected, set())
            wrong += accepted and u.intent is not d.expected
        else:  # a non-answer taken as an answer is as wrong as a wrong answer
            wrong += accepted and u.intent is not d.expected
    return Outcome(rejection, margin, answers, right, reversed_, wrong, off, off_accepted)


def choose(decisions: list[Decision], policy: Policy, accept: float, max_reversals: float,
           max_off_script: float, max_wrong: float) -> tuple[Outcome | None, int]:
    """The admissible setting with the most right answers (ties: the stricter one)."""
    best, tried, _ = search(decisions, policy, accept, max_reversals, max_off_script, max_wrong)
    return best, tried


def search(decisions: list[Decision], policy: Policy, accept: float, max_reversals: float,
           max_off_script: float, max_wrong: float
           ) -> tuple[Outcome | None, int, Outcome | None]:
    """The best admissible setting, how many were tried, and the nearest miss (fewest
    reversals, then fewest off-script accepted, then fewest wrong, then most right)."""
    best: Outcome | None = None
    nearest: Outcome | None = None
    tried = 0
    for cov, extra, voiced, margin in product(COVERAGES, (0.0, 0.1, 0.2), VOICED, MARGINS):
        rejection = Rejection(cov, min(1.0, round(cov + extra, 2)), voiced)
        o = replay(decisions, rejection, margin, policy, accept)
        tried += 1
        miss = (o.reversed, o.off_accepted, o.wrong, -o.right)
        if nearest is None or miss < (nearest.reversed, nearest.off_accepted, nearest.wrong,
                                      -nearest.right):
            nearest = o
        n = max(o.answers, 1)
        if (o.reversed > max_reversals * n or o.wrong > max_wrong * n
                or o.off_accepted > max_off_script * max(o.off_script, 1)):
            continue
        if best is None or (o.right, o.rejection.min_coverage) > (
                best.right, best.rejection.min_coverage):
            best = o
    return best, tried, nearest


@click.command("asr-tune")
@click.option("--corpus", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=Path("var/callers"), show_default=True,
              help="A split corpus (labels.tsv with a split column).")
@click.option("--snr", "snr_text", default="20,10", show_default=True)
@click.option("--noise", "noise_text", default=None, help="Noise kinds (default: all).")
@click.option("--max-reversals", default=0.0, show_default=True,
              help="Highest share of answers reversed on the tune split.")
@click.option("--max-off-script", default=0.02, show_default=True,
              help="Highest share of off-script clips accepted.")
@click.option("--max-wrong", default=0.01, show_default=True,
              help="Highest share of answers and non-answers taken as something else.")
@click.option("--every", default=1, show_default=True,
              help="Use every n-th tune clip (a quicker calibration).")
@click.option("--real", "real_clips", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_REAL, show_default=True, help="Real clips for babble noise.")
@click.option("--heldout-every", default=0, show_default=True,
              help="Then measure the chosen setting on every n-th held-out clip (0: no).")
@click.option("--cache", "cache", type=click.Path(file_okay=False, path_type=Path),
              help="Keep decoded decisions here and reuse them.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the chosen setting, the tune figures and any held-out report.")
@click.option("--second-opinion", is_flag=True,
              help="Also ask Whisper on every clip and choose the combination's thresholds "
                   "(README: Second opinion) to the same targets.")
@reviews_options("Calibrate on the turns people confirmed, corrected or spot-checked "
                 "(split by caller), decoded as recorded; --corpus, --snr and --noise are "
                 "then not used.")
@pass_app
def asr_tune(app: App, folder: Path, snr_text: str, noise_text: str | None,
             max_reversals: float, max_off_script: float, max_wrong: float, every: int,
             real_clips: Path, heldout_every: int, cache: Path | None,
             out_path: Path | None, second_opinion: bool, from_reviews: bool,
             since: datetime | None, judged: frozenset[str]) -> None:
    """Calibrate rejection on the tune split; print the [recognition] settings."""
    since_needs_reviews(since, from_reviews)
    if from_reviews and cache is not None:
        raise click.BadParameter(
            "not with --from-reviews: people's reviews change the labels, and cached "
            "decodes would keep citizens' words outside the private folder", param_hint="--cache")
    with ExitStack() as stack:
        if from_reviews:
            reviewed, corpus = stack.enter_context(
                reviewed_items(app, since, "all", judged=judged))
            if not select(corpus, "tune"):
                fail("no reviewed turn in the tune part yet (one caller in three is held "
                     "out): review more calls first")
            source = Source("reviews", corpus, [None], ("none",), False,
                            reviews_record(reviewed, since))
        else:
            try:
                corpus = read_labels(folder)
            except CorpusError as exc:
                fail(str(exc))
            if not any(i.split for i in corpus):
                fail(f"{folder}: no tune split (labels.tsv needs a split column)")
            source = Source(str(folder), corpus, _snrs(snr_text),
                            _noises(noise_text, True), True)
        calibrate(app, source, max_reversals, max_off_script, max_wrong, every, real_clips,
                  heldout_every, cache, out_path, second_opinion)


@dataclass(frozen=True)
class Source:
    """What to calibrate on: the corpus, its conditions, and whether the simulated
    telephone channel applies (not to recorded calls)."""

    name: str
    corpus: list[Item]
    snrs: list[float | None]
    noises: tuple[str, ...]
    use_channel: bool
    record: dict[str, Any] | None = None  # what the reviews held, for the JSON


def calibrate(app: App, source: Source, max_reversals: float, max_off_script: float,
              max_wrong: float, every: int, real_clips: Path, heldout_every: int,
              cache: Path | None, out_path: Path | None, second_opinion: bool) -> None:
    settings = app.settings.recognition
    policy = policy_from(settings)
    corpus, snrs, noises = source.corpus, source.snrs, source.noises
    folder = source.name
    pairs: dict[str, list[Pair]] = {}
    try:
        engine = engine_from(settings, second_opinion=second_opinion, always_ask=True,
                             min_coverage=0.0, min_coverage_non_answer=0.0, min_voiced_s=0.0)
        if second_opinion and not isinstance(engine, SecondOpinionEngine):
            fail("--second-opinion: the Whisper model cannot be loaded (the warning above "
                 "says why)")
        channel.set_babble_sources(real_speech(real_clips))

        def decoded(split: str, n: int) -> list[Decision]:
            items = select(corpus, split)[::max(1, n)]
            tag = "-whisper" if second_opinion else ""
            where = cache / f"{split}-every{n}{tag}.json" if cache else None
            with Progress(transient=True, console=out) as bar:
                task = bar.add_task(f"decoding the {split} split", total=None)
                show = lambda k, t: bar.update(task, completed=k, total=t)  # noqa: E731
                if not second_opinion:
                    return decisions_for(engine, items, snrs, noises, policy,
                                         settings.accept, where, show,
                                         use_channel=source.use_channel)
                pairs[split] = decode_both(engine, items, snrs, noises, policy,
                                           settings.accept, where, show,
                                           use_channel=source.use_channel)
                return [Decision(p.question, p.expected, p.kind,
                                 p.hypothesis.primary or p.hypothesis, p.snr, p.noise,
                                 p.text, p.audio_s, p.primary_s) for p in pairs[split]]

        decisions = decoded("tune", every)
    except (CorpusError, RecognitionError, AudioError) as exc:
        fail(str(exc))
    best, tried, nearest = search(decisions, policy, settings.accept, max_reversals,
                                  max_off_script, max_wrong)
    if best is None:
        if nearest is None:
            fail("nothing to calibrate on")
        out.print(f"[yellow]no setting of the {tried} tried meets the targets on the tune "
                  "split; the nearest miss follows (fewest reversals, then off-script "
                  "accepted, then wrong answers)[/]", highlight=False)
        best = nearest
    r = best.rejection
    out.print(f"tune split: {len(decisions)} decodes; {tried} settings tried; chosen: "
              f"{best.right} of {best.answers} answers right, {best.reversed} reversed, "
              f"{best.wrong} wrong, {best.off_accepted} of {best.off_script} off-script "
              "accepted", highlight=False)
    click.echo("[recognition]")
    click.echo(f"min_coverage = {r.min_coverage}")
    click.echo(f"min_coverage_non_answer = {r.min_coverage_non_answer}")
    click.echo(f"min_voiced_s = {r.min_voiced_s}")
    click.echo(f"rival_margin = {best.margin}")
    click.echo(f'vad = "{settings.vad or "silero"}"')
    if best.off_script == 0:
        out.print("[yellow]no off-script audio among these clips: the off-script bound "
                  "(--max-off-script) was not tested; check the chosen setting with "
                  "`huifang asr-eval --callers` as well[/]", highlight=False)
    record: dict[str, Any] = {"chosen": best.as_dict(), "decodes": len(decisions),
                              "settings_tried": tried, "corpus": folder}
    if source.record is not None:
        record["reviews"] = source.record
    combination = None
    if second_opinion:
        candidates = (Setting("combined", r, best.margin, combination=c)
                      for c in combinations())
        found, tried_c = best_setting(pairs["tune"], candidates, policy, settings.accept,
                                      int(max_reversals * max(best.answers, 1)),
                                      max_off_script, max_wrong)
        if found is None or found.setting.combination is None:
            out.print(f"[yellow]no combination of the {tried_c} tried meets the targets on "
                      "the tune split: leave second_opinion off[/]", highlight=False)
        else:
            combination = found.setting.combination
            out.print(f"second opinion, tune split: {found.right} of {found.answers} answers "
                      f"right, {found.reversed} reversed, {found.wrong} wrong, "
                      f"{found.off_accepted} of {found.off_script} off-script accepted "
                      f"({tried_c} combinations tried)", highlight=False)
            for line in combination_lines(combination):
                click.echo(line)
            record["second_opinion"] = {"combination": repr(combination),
                                        "right": found.right, "answers": found.answers,
                                        "reversed": found.reversed, "wrong": found.wrong,
                                        "off_script_accepted": found.off_accepted}
    if heldout_every and not select(corpus, "heldout"):
        out.print("[yellow]the held-out part is empty: nothing to measure the chosen "
                  "setting on[/]", highlight=False)
    elif heldout_every:
        try:
            heldout = decoded("heldout", heldout_every)
        except (CorpusError, RecognitionError, AudioError) as exc:
            fail(str(exc))
        rows = rows_for(heldout, r, best.margin, policy, settings.accept)
        report = summarise(rows)
        report.update(engine=engine.name, model=settings.model, accept=settings.accept,
                      corpus=str(folder), split="heldout", examples=examples_of(rows))
        out.print("held-out split, with the chosen setting:")
        print_report(report)
        record["heldout"] = report
        if combination is not None:
            both = Setting("combined", r, best.margin, combination=combination)
            report = summarise(second_rows(pairs["heldout"], both, policy, settings.accept))
            report.update(engine=engine.name, model=settings.model, accept=settings.accept,
                          corpus=str(folder), split="heldout", examples=[])
            out.print("held-out split, with the second opinion:")
            print_report(report)
            record["heldout_second_opinion"] = report
    if out_path:
        out_path.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")


def combination_lines(c: Combination) -> list[str]:
    """The `[recognition]` lines that configure a combination."""
    lines = ['second_opinion = "whisper"', f"second_doubt_below = {c.doubt_below}",
             f"second_agree_logprob = {c.agree.min_avg_logprob}",
             f"second_agree_no_speech = {c.agree.max_no_speech}",
             f"whisper_min_text_coverage = {c.agree.min_text_coverage}",
             f"second_veto = {str(c.veto).lower()}",
             "second_questions = [" + ", ".join(f'"{q}"' for q in sorted(c.questions)) + "]"]
    if c.alone is not None:
        lines += [f"second_alone_logprob = {c.alone.min_avg_logprob}",
                  f"second_alone_no_speech = {c.alone.max_no_speech}"]
    return lines
