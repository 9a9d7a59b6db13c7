"""`huifang config check` and `huifang db upgrade|backup|status|summary`."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape
from sqlalchemy import Engine

from huifang.cli.app import App, err, fail, out, pass_app
from huifang.config import effective
from huifang.coverage import calendar_warning
from store.db import (
    StoreError,
    current_revision,
    head_revision,
    masked_url,
    translated_errors,
    upgrade,
)


@click.group()
def config() -> None:
    """Check the configuration."""


@config.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
@pass_app
def config_check(app: App, as_json: bool) -> None:
    """Validate the configuration and print the effective settings, secrets masked."""
    data = effective(app.settings)
    warning = calendar_warning()
    if warning:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if as_json:
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    out.print("[green]configuration OK[/]")
    for section, values in data.items():
        if isinstance(values, dict):
            for key, value in values.items():
                out.print(f"  {section}.{key} = {value!r}", highlight=False)
        else:
            out.print(f"  {section} = {values!r}", highlight=False)


@click.group()
def db() -> None:
    """Create, upgrade and inspect the database."""


@db.command("upgrade")
@click.option("--backup-to", "backup_to", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Back the database up into this directory first (only "
              "when there is something to upgrade).")
@pass_app
def db_upgrade(app: App, backup_to: Path | None) -> None:
    """Apply the migrations up to this code's schema."""
    engine = app.engine(check=False)
    url = app.settings.database.url
    try:
        with translated_errors(url):
            before = current_revision(engine)
            if backup_to is not None and before != head_revision():
                _backup(engine, backup_to, before)
            upgrade(engine)
            revision = current_revision(engine)
    except StoreError as exc:
        fail(str(exc))
    moved = f" (was {before or 'empty'})" if before != revision else " (already)"
    out.print(f"schema of {masked_url(url)} is at {revision}{moved}", highlight=False,
              soft_wrap=True)


def _backup(engine: Engine, directory: Path, revision: str | None) -> None:
    from huifang.backup import BackupError, backup  # noqa: PLC0415
    from huifang.service import local_now  # noqa: PLC0415

    try:
        made = backup(engine, directory, revision, local_now())
    except (BackupError, OSError) as exc:
        fail(f"备份失败 backup failed, nothing was changed: {exc}")
    out.print(f"已备份 backed up {made.size / 1e6:.1f} MB at schema {made.revision or '(none)'}"
              f" to {made.path}", highlight=False, soft_wrap=True)
    out.print(f"  to restore: {made.restore}", highlight=False, soft_wrap=True)


@db.command("backup")
@click.option("--out", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("backups"), show_default=True,
              help="The directory the backup goes into.")
@pass_app
def db_backup(app: App, directory: Path) -> None:
    """A consistent copy of the database (SQLite's online backup, or pg_dump), safe while
    the service runs; run it before `huifang db upgrade`."""
    engine = app.engine(check=False)
    try:
        with translated_errors(app.settings.database.url):
            revision = current_revision(engine)
    except StoreError as exc:
        fail(str(exc))
    _backup(engine, directory, revision)


@db.command("status")
@pass_app
def db_status(app: App) -> None:
    """Report the schema version, and whether it matches this code (exit 1 if not)."""
    engine = app.engine(check=False)
    try:
        with translated_errors(app.settings.database.url):
            current = current_revision(engine)
    except StoreError as exc:
        fail(str(exc))
    head = head_revision()
    out.print(f"database: {masked_url(app.settings.database.url)}", highlight=False)
    out.print(f"schema:   {current or '(none)'}", highlight=False)
    out.print(f"code:     {head}", highlight=False)
    if current != head:
        fail("schema does not match; run `huifang db upgrade`")
    out.print("[green]up to date[/]")


@db.command("summary")
@pass_app
def db_summary(app: App) -> None:
    """Summarise what the store holds."""
    from huifang.cli.render import print_summary  # noqa: PLC0415
    from store.summary import summarize  # noqa: PLC0415

    engine = app.engine()
    try:
        with translated_errors(app.settings.database.url):
            print_summary(out, summarize(engine))
    except StoreError as exc:
        fail(str(exc))
