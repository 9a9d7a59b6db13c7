"""`huifang calendar show [YEAR]`: the days off and make-up working days the service
counts with, and where each comes from ([calendar] or chinese-calendar); `huifang
calendar import FILE`: a year's 放假安排 into [calendar]."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import click
from rich.markup import escape

from huifang.calendar_config import CalendarWriteError, merged, runs, section
from huifang.calendar_config import write as write_calendar
from huifang.calendar_notice import Kind, NoticeError, parse
from huifang.cli.app import App, err, fail, out, pass_app
from huifang.config import config_path
from huifang.coverage import calendar_warning, hotline_today
from store.workdays import current_calendar, is_holiday, is_workday, package_knows


@click.group()
def calendar() -> None:
    """The holiday calendar: [calendar] before chinese-calendar."""


@calendar.command("show")
@click.argument("year", type=click.IntRange(2000, 2100), required=False)
@pass_app
def calendar_show(app: App, year: int | None) -> None:
    """Print a year's holidays and make-up working days, and where they come from."""
    app.settings  # noqa: B018 - loads [calendar]
    year = year or hotline_today().year
    operator = current_calendar()
    if year in operator.years:
        source = "[calendar] (配置), before chinese-calendar"
    elif package_knows(year):
        source = "chinese-calendar"
    else:
        source = "未知 unknown: Mon-Fri guessed"
    days = [date(year, 1, 1) + timedelta(days=n) for n in range(366)]
    days = [d for d in days if d.year == year]
    holidays = [d for d in days if is_holiday(d)]
    makeup = [d for d in days if d.weekday() >= 5 and is_workday(d)]
    out.print(f"{year}: {escape(source)}", highlight=False)
    out.print(f"  放假 holidays:    {', '.join(runs(holidays)) or '(none)'}", highlight=False)
    out.print(f"  调休 make-up days: {', '.join(runs(makeup)) or '(none)'}", highlight=False)
    warning = calendar_warning()
    if warning:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


@calendar.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--year", type=click.IntRange(2000, 2100), default=None,
              help="The year, when the file does not say (the notice's title does).")
@click.option("--write", is_flag=True,
              help="Write it into the configuration file's [calendar] (else print it).")
@pass_app
def calendar_import(app: App, file: Path, year: int | None, write: bool) -> None:
    """Read a year's 放假安排 (lines `2027-01-01..2027-01-03,holiday,元旦`,
    `2027-02-14,workday,春节调休`, or the State Council's notice as published) and print
    the [calendar] section with it, or write it into the configuration file."""
    try:
        notice = parse(file.read_text(encoding="utf-8"), year)
    except UnicodeDecodeError:
        fail(f"{file}: 不是 UTF-8 文本 not UTF-8 text (save it as UTF-8)")
    except NoticeError as exc:
        fail(f"{file}: {exc}")
    current = app.settings.calendar
    holidays, workdays = merged(current.holidays, current.workdays, notice)
    comment = f"{notice.year}: imported from {file.name} by huifang calendar import"
    free = notice.days(Kind.HOLIDAY)
    summary = (f"{notice.year}: {len(free)} 天放假 days off in "
               f"{len(runs(free))} runs, {len(notice.days(Kind.WORKDAY))} 天调休上班 "
               "make-up working days")
    if not write:
        click.echo(section(holidays, workdays, comment), nl=False)
        err.print(f"{escape(summary)}; paste the section above into huifang.toml (it "
                  "replaces the \\[calendar] there), or run again with --write",
                  highlight=False, soft_wrap=True)
        return
    path = config_path(app.config_path)
    if path is None:
        fail("no configuration file to write: give --config PATH or $HUIFANG_CONFIG")
    try:
        write_calendar(path, holidays, workdays, comment)
    except (CalendarWriteError, OSError) as exc:
        fail(str(exc))
    out.print(f"已写入 wrote \\[calendar] to {escape(str(path))}: {escape(summary)}. "
              "Restart huifang run "
              "and huifang console to use it (every node reads its own file).",
              highlight=False, soft_wrap=True)
