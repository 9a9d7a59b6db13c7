"""`huifang asr-eval`: measure recognition on a labelled corpus (generated, or yours)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from huifang.cli.app import App, fail, out, pass_app
from huifang.cli.fromreviews import (
    JUDGMENTS,
    print_by_judgment,
    reviewed_items,
    reviews_options,
    reviews_record,
    since_needs_reviews,
)
from huifang.config import RecognitionSettings
from huifang.evaluation import channel
from huifang.evaluation.callers import espeak_render, generate_callers, real_speech
from huifang.evaluation.corpus import CorpusError, Item, generate, read_labels, variants
from huifang.evaluation.metrics import Row, summarise, worst
from huifang.evaluation.runner import evaluate
from huifang.speech import engine_from, policy_from
from ivr.recognition import RecognitionError
from prompts.audio import AudioError
from prompts.tts import EspeakWorker, TtsError, TtsUnavailable
from store.phones import mask_phones_in_text

DEFAULT_REAL = Path("../shared/speech/real")


def _snrs(text: str) -> list[float | None]:
    try:
        return [None if s.strip() in ("clean", "none") else float(s) for s in text.split(",")]
    except ValueError as exc:
        raise click.BadParameter(f"{text!r}: a comma-separated list of dB values "
                                 "or 'clean'") from exc


@click.command("asr-eval")
@click.option("--corpus", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=Path("var/asr-corpus"), show_default=True,
              help="Folder with labels.tsv and clips; generated there if it has none.")
@click.option("--regenerate", is_flag=True, help="Render the generated corpus again.")
@click.option("--quick", is_flag=True, help="Two phrasings per intent and two voices.")
@click.option("--snr", "snr_text", default="30,20,10", show_default=True,
              help="Noise levels in dB (or 'clean') for the telephone channel.")
@click.option("--no-channel", is_flag=True,
              help="Decode the clips as they are (your own telephone recordings).")
@click.option("--real", "real_clips", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_REAL, show_default=True,
              help="Real off-script Mandarin clips to add to a generated corpus.")
@click.option("--callers", is_flag=True,
              help="Generate the development corpus (callers' phrasings, every espeak-ng "
                   "variant, split tune/heldout) instead of the catalogue's.")
@click.option("--split", "split", type=click.Choice(["heldout", "tune", "all"]),
              default=None,
              help="Which part of a split corpus to measure (figures are reported on the "
                   "held-out part; thresholds are chosen on the tune part). Default: "
                   "heldout; all with --from-reviews.")
@reviews_options("Measure on the turns people confirmed, corrected or spot-checked, cut "
                 "from the calls' recordings (README: Learning from reviews).")
@click.option("--every", default=1, show_default=True,
              help="Measure every n-th clip of the part (a quicker, bounded run).")
@click.option("--noise", "noise_text", default=None,
              help="Noise kinds, comma-separated (pink, white, babble, hum). Default: all "
                   "of them for a split corpus, pink otherwise.")
@click.option("--engine", type=click.Choice(["pocketsphinx", "vosk"]),
              help="Override [recognition] engine.")
@click.option("--model", help="Override [recognition] model.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the full report as JSON.")
@pass_app
def asr_eval(app: App, folder: Path, regenerate: bool, quick: bool, snr_text: str,
             no_channel: bool, real_clips: Path, callers: bool, split: str | None,
             from_reviews: bool, since: datetime | None, judged: frozenset[str], every: int,
             noise_text: str | None, engine: str | None, model: str | None,
             out_path: Path | None) -> None:
    """Intent accuracy, confusion, rejection, false acceptance and real-time factor."""
    settings = app.settings.recognition
    overrides: dict[str, Any] = {k: v for k, v in (("engine", engine), ("model", model)) if v}
    settings = RecognitionSettings(**{**settings.model_dump(), **overrides})
    policy = policy_from(settings)
    since_needs_reviews(since, from_reviews)
    if from_reviews:
        report = measure_reviews(app, settings, split or "all", since, every, judged)
        _print_and_write(report, out_path)
        return
    split = split or "heldout"
    snrs: list[float | None] = [None] if no_channel else _snrs(snr_text)
    try:
        recogniser_engine = engine_from(settings)  # a wrong model fails before any rendering
        items = _corpus(app, folder, regenerate, quick, real_clips, policy, callers)
        is_split = any(i.split for i in items)
        items = select(items, split)[::max(1, every)]
        noises = _noises(noise_text, is_split)
        channel.set_babble_sources(real_speech(real_clips))
        with Progress(transient=True, console=out) as bar:
            task = bar.add_task(f"decoding with {recogniser_engine.name}", total=None)
            rows = evaluate(recogniser_engine, items, snrs, policy, settings.accept,
                            use_channel=not no_channel, noises=noises, vary=is_split,
                            progress=lambda n, t: bar.update(task, completed=n, total=t))
    except (CorpusError, RecognitionError, AudioError) as exc:
        fail(str(exc))
    report = summarise(rows)
    report.update(engine=recogniser_engine.name, model=settings.model, accept=settings.accept,
                  corpus=str(folder), split=split if is_split else "all",
                  examples=examples_of(rows))
    _print_and_write(report, out_path)


def _print_and_write(report: dict[str, Any], out_path: Path | None) -> None:
    print_report(report)
    if "reviews" in report:
        print_by_judgment(report["reviews"])
    if out_path:
        out_path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        out.print(f"report written to {out_path}")


def measure_reviews(app: App, settings: RecognitionSettings, split: str,
                    since: datetime | None, every: int,
                    judged: frozenset[str] = frozenset(JUDGMENTS)) -> dict[str, Any]:
    """The live decision path on the reviewed turns, decoded as they were recorded."""
    policy = policy_from(settings)
    try:
        recogniser_engine = engine_from(settings)
        with reviewed_items(app, since, split, every, judged) as (corpus, items), \
                Progress(transient=True, console=out) as bar:
            task = bar.add_task(f"decoding with {recogniser_engine.name}", total=None)
            rows = evaluate(recogniser_engine, items, [None], policy, settings.accept,
                            use_channel=False,
                            progress=lambda n, t: bar.update(task, completed=n, total=t))
    except (CorpusError, RecognitionError, AudioError) as exc:
        fail(str(exc))
    report = summarise(rows)
    report.update(engine=recogniser_engine.name, model=settings.model,
                  accept=settings.accept, corpus="reviews", split=split,
                  reviews=reviews_record(corpus, since, list(zip(items, rows, strict=True))),
                  examples=examples_of(rows))
    return report


def examples_of(rows: list[Row]) -> list[dict[str, Any]]:
    """The report's worst decodes (numbers in what was heard masked)."""
    return [{"question": r.question.value, "said": r.text,
             "heard": mask_phones_in_text(r.heard), "expected": r.expected.value,
             "got": r.got.value, "snr": r.snr} for r in worst(rows)]


def select(items: list[Item], split: str) -> list[Item]:
    """The part of a split corpus asked for; a corpus without splits is taken whole."""
    if split == "all" or not any(i.split for i in items):
        return items
    return [i for i in items if i.split == split]


def _noises(text: str | None, is_split: bool) -> tuple[str, ...]:
    if text is None:
        return channel.NOISES if is_split else ("pink",)
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in channel.NOISES]
    if unknown or not kinds:
        raise click.BadParameter(f"{text!r}: noise kinds are {', '.join(channel.NOISES)}")
    return kinds


def _corpus(app: App, folder: Path, regenerate: bool, quick: bool, real_clips: Path,
            policy: Any, callers: bool = False) -> list[Item]:
    if (folder / "labels.tsv").exists() and not regenerate:
        return read_labels(folder)
    if callers:
        try:
            with Progress(transient=True, console=out) as bar:
                task = bar.add_task("rendering the callers' corpus", total=None)
                return generate_callers(
                    folder, espeak_render, real_clips if real_clips.is_dir() else None,
                    per_phrasing=1 if quick else 3,
                    progress=lambda n, t: bar.update(task, completed=n, total=t))
        except TtsError as exc:
            fail(f"cannot generate a corpus: {exc}")
    p = app.settings.prompts
    try:
        worker = EspeakWorker(timeout_s=p.timeout_s)
    except TtsUnavailable as exc:
        fail(f"cannot generate a corpus: {exc}")
    voices = variants()
    if quick:
        voices = [voices[0], voices[-1]]
    try:
        with Progress(transient=True, console=out) as bar:
            task = bar.add_task("rendering corpus", total=None)
            return generate(folder, worker, voices, policy,
                            real_clips if real_clips.is_dir() else None,
                            per_intent=2 if quick else None,
                            progress=lambda n, t: bar.update(task, completed=n, total=t))
    finally:
        worker.close()


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def print_report(report: dict[str, Any]) -> None:
    wide = Console(width=max(out.width, 120), highlight=False)
    table = Table(title=f"识别评测 {report['engine']} ({report['clips']} decodes)",
                  caption="acc: right and accepted / answers; acc|ok: over accepted answers; "
                          "FA: off-script accepted")
    for column in ("question", "noise", "SNR", "answers", "acc", "acc|ok", "rejected",
                   "swaps (≤95%)", "as non-answer", "off", "FA", "real", "non-ans taken",
                   "RTF"):
        table.add_column(column, justify="right", no_wrap=True)
    for g in report["groups"]:
        table.add_row(g["question"], g["noise"], g["snr"], str(g["answers"]),
                      _pct(g["accuracy"]), _pct(g["accepted_accuracy"]),
                      _pct(g["rejection_rate"]), f"{g['swaps']} ({_pct(g['swap_upper95'])})",
                      str(g["taken_as_non_answer"]), str(g["off_script"]),
                      _pct(g["false_acceptance"]), f"{g['real_accepted']}/{g['real']}",
                      f"{g['non_answer_taken']}/{g['non_answers']}",
                      f"{g['real_time_factor']}")
    wide.print(table)
    for question, confusion in report["confusion"].items():
        outcomes = sorted({o for row in confusion.values() for o in row})
        t = Table(title=f"confusion: {question} (rows: said, columns: taken)")
        t.add_column("said", no_wrap=True)
        for o in outcomes:
            t.add_column(o.replace("_", " "), justify="right")
        for expected, row in sorted(confusion.items()):
            t.add_row(expected, *(str(row.get(o, "")) for o in outcomes))
        wide.print(t)
    for example in report["examples"]:
        wide.print(f"  {example['question']} {example['snr']}dB: said {example['said']} → "
                  f"heard {example['heard'] or '—'} → {example['got']} "
                   f"(expected {example['expected']})")
