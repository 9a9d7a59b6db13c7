"""`huifang models list | install SRC | verify [NAME]`: the speech models installed in
`[recognition] models_dir`, each with its manifest."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from huifang.cli.app import App, err, fail, out, pass_app
from huifang.models import (
    INSTALL_HINT,
    ModelError,
    ModelMissing,
    install,
    installed,
    is_name,
    model_path,
    models_dir,
    verify,
)


@click.group()
def models() -> None:
    """Speech models: list, install (a directory or an archive) and verify them."""


def _size(directory: Path) -> str:
    total = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    return f"{total / 1e6:.1f} MB"


@models.command("list")
@pass_app
def models_list(app: App) -> None:
    """List the installed models and say which one is configured."""
    r = app.settings.recognition
    try:
        found = installed(r)
    except ModelError as exc:
        fail(str(exc))
    out.print(f"模型 models in {models_dir(r)}:", highlight=False)
    for directory, m in found:
        mark = "  ← configured ([recognition] model)" if m.name == r.model else ""
        out.print(f"  {m.name}  {m.engine}  {m.sample_rate} Hz  {len(m.files)} files  "
                  f"{_size(directory)}  licence: {m.licence}{mark}", highlight=False,
                  markup=False)
    try:
        path = model_path(r)
    except ModelMissing as exc:
        err.print(f"[yellow]warning:[/] {escape(str(exc))}", highlight=False)
        return
    if not is_name(r.model):
        state = "found" if path.is_dir() else "NOT FOUND"
        out.print(f"[recognition] model is a path: {path} ({state})", highlight=False)
    if not found:
        out.print(f"no model installed: {INSTALL_HINT}", highlight=False)


@models.command("install")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--name", help="The installed model's name (default: the source's).")
@click.option("--licence", help="The licence to record (default: read from COPYING or "
                                "LICENSE in the source).")
@click.option("--force", is_flag=True, help="Replace a model of that name.")
@pass_app
def models_install(app: App, source: Path, name: str | None, licence: str | None,
                   force: bool) -> None:
    """Install a model from a directory or an archive (.tar.gz, .zip ...)."""
    try:
        target, m = install(source, app.settings.recognition, name=name, licence=licence,
                            force=force)
    except (ModelError, OSError) as exc:
        fail(str(exc))
    out.print(f"[green]installed[/] {m.name}: {m.engine}, {m.sample_rate} Hz, "
              f"{len(m.files)} files, licence {escape(m.licence)}", highlight=False)
    out.print(f"  in {target}", highlight=False)
    if app.settings.recognition.model != m.name:
        out.print(f'  use it: [recognition] model = "{m.name}" (engine = "{m.engine}")',
                  highlight=False, markup=False)


@models.command("verify")
@click.argument("name", required=False)
@pass_app
def models_verify(app: App, name: str | None) -> None:
    """Check every installed file against its manifest's sha256 (exit 1 if any differ)."""
    r = app.settings.recognition
    try:
        found = [(d, m) for d, m in installed(r) if name in (None, m.name)]
    except ModelError as exc:
        fail(str(exc))
    if not found:
        fail(f"no model {name or ''} installed in {models_dir(r)}: {INSTALL_HINT}".replace(
            "  ", " "))
    bad = 0
    for directory, m in found:
        problems = verify(directory)
        if problems:
            bad += 1
            out.print(f"[red]FAIL[/] {m.name}: " + "; ".join(escape(p) for p in problems),
                      highlight=False)
        else:
            out.print(f"[green]OK[/]   {m.name}: {len(m.files)} files as installed",
                      highlight=False)
    if bad:
        fail(f"{bad} model(s) damaged: install again with `huifang models install SRC "
             "--force`")
