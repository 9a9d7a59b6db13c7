"""`huifang prompts check|render|say`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from huifang.cli.app import App, fail, out, pass_app
from huifang.service import prompt_renderer
from prompts.audio import write_wav
from prompts.catalog import PromptError, load_catalog
from prompts.render import PromptRenderer
from prompts.tts import TtsUnavailable

SAMPLE_TICKET = {"date": "十一月三日", "summary": "小区加装电梯进度", "unit": "东湖区",
                 "count": "两", "ordinal": "一"}


def renderer(app: App) -> PromptRenderer:
    try:
        return prompt_renderer(app.settings)
    except TtsUnavailable as exc:
        fail(str(exc))


@click.group()
def prompts() -> None:
    """The callback script: check it, render it, speak any text."""


@prompts.command("check")
@pass_app
def prompts_check(app: App) -> None:
    """Validate the catalog: missing ids, unknown fields, prompts that run too long."""
    s = app.settings
    catalog = load_catalog(s.prompts.texts)
    problems = catalog.check(s.prompts.max_seconds,
                             {"hotline": s.hotline, "city": s.city, **SAMPLE_TICKET})
    for problem in problems:
        out.print(f"[red]✗[/] {problem}", highlight=False)
    if problems:
        fail(f"{len(problems)} problem(s) in the prompt catalog")
    out.print(f"[green]{len(catalog.prompts)} prompts OK[/]")


@prompts.command("render")
@pass_app
def prompts_render(app: App) -> None:
    """Render every fixed prompt into the cache (run at start-up)."""
    r = renderer(app)
    try:
        rendered = r.render_fixed()
    except PromptError as exc:
        fail(str(exc))
    finally:
        r.worker.close()
    table = Table(title="固定提示音 fixed prompts")
    for header in ("id", "秒", "来源", "文本"):
        table.add_column(header)
    for p in rendered:
        table.add_row(p.prompt_id, f"{p.audio.seconds:.1f}", p.source, p.text)
    out.print(table)
    out.print(f"cache: {app.settings.prompts.cache_dir}", highlight=False)


@prompts.command("say")
@click.argument("text")
@click.option("--out", "path", type=click.Path(path_type=Path), required=True,
              help="WAV file to write (8 kHz mono 16-bit).")
@pass_app
def prompts_say(app: App, text: str, path: Path) -> None:
    """Speak any text, normalised as prompts are, into a telephone WAV."""
    r = renderer(app)
    try:
        said = r.say(text)
    except PromptError as exc:
        fail(str(exc))
    finally:
        r.worker.close()
    write_wav(path, r.cache.load(said.audio))
    out.print(f"{said.text} → {path} ({said.audio.seconds:.1f} s)", highlight=False)
