"""What every command shares: the settings, the store, the consoles and how to fail."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import NoReturn

import click
from rich.console import Console
from sqlalchemy import Engine

from huifang.config import ConfigError, Settings, load_settings
from huifang.logs import setup_logging
from store.db import (
    StoreError,
    check_schema,
    make_engine,
)
from store.workdays import set_calendar

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
            set_calendar(self._settings.calendar.calendar())  # before chinese-calendar
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
