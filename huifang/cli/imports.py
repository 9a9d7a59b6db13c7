"""`huifang import KIND FILE`."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from sqlalchemy import Engine

from huifang.cli.app import EXIT_REJECTED_ROWS, App, err, fail, out, pass_app
from huifang.cli.render import print_import_result
from store.db import StoreError
from store.importing.runner import (
    HANDLERS,
    ImportFileError,
    ImportOptions,
    ImportResult,
    run_import,
)
from store.models import HOTLINE_TZ


def _hotline_now() -> datetime:
    """The hotline's wall clock (China time), naive, as the store keeps every time: an
    import's time sits among the tickets' own times, whatever this machine's zone."""
    return datetime.now(HOTLINE_TZ).replace(tzinfo=None, microsecond=0)


def import_file(engine: Engine, app: App, kind: str, path: Path, *, strict: bool = False,
                encoding: str | None = None, sheet: str | None = None,
                rejects: Path | None = None, quiet: bool = False) -> ImportResult:
    settings = app.settings
    options = ImportOptions(
        strict=strict, batch_size=settings.imports.batch_size, encoding=encoding, sheet=sheet,
        rejects_path=rejects, rejects_suffix=settings.imports.rejects_suffix,
        default_area_code=settings.phone.default_area_code)
    show = not quiet and err.is_terminal
    with Progress(TextColumn(f"[bold]{kind}[/] {path.name}"), BarColumn(), TaskProgressColumn(),
                  TimeRemainingColumn(), console=err, disable=not show, transient=True) as bar:
        task = bar.add_task("import", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        try:
            return run_import(engine, kind, path, now=_hotline_now(),
                              options=options, progress=progress)
        except ImportFileError as exc:
            fail(str(exc))
        except StoreError as exc:
            fail(str(exc))
    raise AssertionError("unreachable")


@click.command("import")
@click.argument("kind", type=click.Choice(list(HANDLERS)))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Write nothing if any row is bad.")
@click.option("--encoding", help="Force the CSV encoding (default: detect UTF-8 or GBK).")
@click.option("--sheet", help="XLSX sheet to read (default: the first).")
@click.option("--rejects", type=click.Path(path_type=Path),
              help="Where to write bad rows (default: beside the input).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@pass_app
def import_command(app: App, kind: str, file: Path, strict: bool, encoding: str | None,
                   sheet: str | None, rejects: Path | None, quiet: bool) -> None:
    """Import units, tickets, evaluations or exclusions from CSV, XLSX or JSON Lines.

    Good rows go in, bad rows go to a rejects file with the reason; re-importing a
    file changes nothing. Exit status 3 when some rows were rejected.
    """
    result = import_file(app.engine(), app, kind, file, strict=strict, encoding=encoding,
                         sheet=sheet, rejects=rejects, quiet=quiet)
    print_import_result(out, result, app.settings.imports.max_errors_shown)
    if result.rejected:
        sys.exit(EXIT_REJECTED_ROWS)
