"""`huifang recognize FILE.wav --question satisfied`: one clip through the configured
engine, as a live call would hear it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from huifang.cli.app import App, fail, out, pass_app
from huifang.speech import decode, engine_from, policy_from, read_8k
from ivr.intents import Question
from ivr.recognition import RecognitionError
from prompts.audio import AudioError


@click.command()
@click.argument("wav", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--question", type=click.Choice([q.value for q in Question]), required=True,
              help="Which question the clip answers: resolved (问题解决了吗) or satisfied.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_app
def recognize(app: App, wav: Path, question: str, as_json: bool) -> None:
    """Print the hypothesis, intent and confidence for one WAV clip (any rate, mono)."""
    settings = app.settings.recognition
    try:
        pcm = read_8k(wav)
        engine = engine_from(settings)
        result = decode(engine, pcm, Question(question), policy_from(settings))
    except (AudioError, RecognitionError) as exc:
        fail(f"{wav}: {exc}")
    h, u = result.hypothesis, result.understanding
    accepted = u.confidence >= settings.accept
    record = {
        "file": str(wav), "engine": engine.name, "question": question,
        "hypothesis": h.text, "heard": h.heard, "coverage": round(h.coverage, 3),
        "intent": u.intent.value, "confidence": round(u.confidence, 3),
        "accepted": accepted, "also": [i.value for i in u.also], "evidence": u.evidence,
        "alternatives": [[t, s] for t, s in h.alternatives[:5]],
        "speech_start_ms": result.speech_ms[0], "speech_end_ms": result.speech_ms[1],
        "audio_s": round(result.audio_s, 3), "real_time_factor":
            round(result.decode_s / result.audio_s, 4) if result.audio_s else None,
    }
    if as_json:
        click.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    verdict = ("[green]采纳 accepted[/]" if accepted
               else "[yellow]不采纳，将再问一次 not accepted[/]")
    out.print(f"识别 hypothesis: {h.text or '（拒识 rejected）'}   听到 heard: {h.heard or '—'}"
              f"   覆盖 coverage: {h.coverage:.2f}", highlight=False)
    out.print(f"意图 intent: [bold]{u.intent.value}[/]   置信度 confidence: {u.confidence:.2f}"
              f"   {verdict}", highlight=False)
    if u.also:
        out.print(f"另答 also: {', '.join(i.value for i in u.also)}", highlight=False)
    if h.alternatives:
        out.print("候选 n-best: " + " | ".join(f"{t} ({s:g})" for t, s in h.alternatives[:5]),
                  highlight=False)
    out.print(f"语音 speech: {result.speech_ms[0]}–{result.speech_ms[1]} ms of "
              f"{result.audio_s:.2f} s   实时率 RTF: {record['real_time_factor']}",
              highlight=False)
