"""The `huifang` command line."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import NoReturn

import click
from rich.console import Console
from sqlalchemy import Engine

from console.config import ConfigError, Settings, effective, load_settings
from console.logs import setup_logging
from store.db import (
    StoreError,
    check_schema,
    current_revision,
    head_revision,
    make_engine,
    masked_url,
    translated_errors,
    upgrade,
)

EXIT_ERROR = 1
EXIT_REJECTED_ROWS = 3

out = Console()
err = Console(stderr=True)


@dataclass
class App:
    config_path: str | None
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                fail(str(exc))
            setup_logging(self._settings.logging.level)
        return self._settings

    def engine(self, *, check: bool = True) -> Engine:
        db = self.settings.database
        engine = make_engine(db.url, busy_timeout_ms=db.busy_timeout_ms)
        if check:
            try:
                check_schema(engine)
            except StoreError as exc:
                fail(str(exc))
        return engine


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    err.print(f"[bold red]错误 error:[/] {message}", highlight=False)
    sys.exit(code)


pass_app = click.make_pass_decorator(App)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="PATH", envvar="HUIFANG_CONFIG",
              help="huifang.toml to use (default: $HUIFANG_CONFIG, then ./huifang.toml).")
@click.version_option(package_name="huifang")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """huifang 回访: automatic follow-up calls for 12345 hotlines."""
    ctx.obj = App(config_path)


@cli.group()
def config() -> None:
    """Check the configuration."""


@config.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
@pass_app
def config_check(app: App, as_json: bool) -> None:
    """Validate the configuration and print the effective settings, secrets masked."""
    data = effective(app.settings)
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


@cli.group()
def db() -> None:
    """Create, upgrade and inspect the database."""


@db.command("upgrade")
@pass_app
def db_upgrade(app: App) -> None:
    """Apply the migrations up to this code's schema."""
    engine = app.engine(check=False)
    try:
        with translated_errors(app.settings.database.url):
            upgrade(engine)
            revision = current_revision(engine)
    except StoreError as exc:
        fail(str(exc))
    out.print(f"schema of {masked_url(app.settings.database.url)} is at {revision}",
              highlight=False)


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
    from console.render import print_summary  # noqa: PLC0415
    from store.summary import summarize  # noqa: PLC0415

    engine = app.engine()
    try:
        with translated_errors(app.settings.database.url):
            print_summary(out, summarize(engine))
    except StoreError as exc:
        fail(str(exc))


def main() -> None:
    from console import (  # noqa: F401, PLC0415
        asrevalcmd,
        callcmd,
        consolecmd,
        demo,
        importcmd,
        promptscmd,
        recognizecmd,
        reportcmd,
        runcmd,
        samplecmd,
    )

    cli(prog_name="huifang")
