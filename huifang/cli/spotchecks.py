"""`huifang spot-checks draw [--date D]` and `huifang spot-checks accuracy [--period P]`:
the 抽检 draw of a day's automatic calls (the running service draws every day), and the
machine's measured accuracy (智能回访抽检一致率)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import click

from huifang.cli.app import App, fail, out, pass_app
from huifang.service import local_now
from huifang.spot_checks import draw_days
from scoring.accuracy import (
    ANSWER_LABELS,
    QUESTION_LABELS,
    QUESTIONS,
    machine_accuracy,
    percent,
    sentence,
)
from scoring.periods import parse_period
from store.db import StoreError, translated_errors


@click.group("spot-checks")
def spot_checks() -> None:
    """Spot checks (抽检): draw the machine's calls to check, and its measured accuracy."""


@spot_checks.command("draw")
@click.option("--date", "day", metavar="YYYY-MM-DD",
              help="The day of the calls to draw (default: the service's catch-up days up "
                   "to yesterday).")
@pass_app
def draw(app: App, day: str | None) -> None:
    """Draw the spot checks of a day's automatic calls; those drawn before stay."""
    section = app.settings.spot_checks
    try:
        days = None if day is None else [date.fromisoformat(day)]
    except ValueError:
        fail(f"--date {day!r}: use YYYY-MM-DD")
    now = local_now()
    if days is not None and days[0] > now.date():
        fail(f"--date {day}: a day still to come has no calls to draw")
    engine = app.engine()
    try:
        with translated_errors(app.settings.database.url):
            results = draw_days(engine, section, now, days)
    except StoreError as exc:
        fail(str(exc))
    for r in results:
        out.print(f"{r.day}: 抽检 drawn now {r.drawn_now}, before {r.drawn_before}, of "
                  f"{r.candidates} calls the machine settled", highlight=False,
                  soft_wrap=True)


@spot_checks.command("accuracy")
@click.option("--period", default=None, metavar="P",
              help="2026-11, 2026-W48, 2026-11-27 ... (default: the last alert_days days).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report's "
              "machine_accuracy.")
@pass_app
def accuracy(app: App, period: str | None, as_json: bool) -> None:
    """The machine's agreement with the spot checks, with Wilson 95% intervals."""
    section = app.settings.spot_checks
    if period is None:
        end = local_now().date() + timedelta(days=1)
        start = end - timedelta(days=section.alert_days)
    else:
        try:
            p = parse_period(period)
        except ValueError as exc:
            fail(str(exc))
        start, end = p.start.date(), p.end.date()
    engine = app.engine()
    try:
        with translated_errors(app.settings.database.url):
            result = machine_accuracy(engine, start, end, floor=section.alert_below)
    except StoreError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    out.print(f"{start} – {end - timedelta(days=1)}: {sentence(result)}", highlight=False,
              soft_wrap=True)
    for q in QUESTIONS:
        for answer, f in result[q]["by_answer"].items():
            if f["checked"]:
                lo, hi = f["interval"]
                out.print(f"  {QUESTION_LABELS[q]} 机器答 {ANSWER_LABELS[answer]}: "
                          f"{f['agreed']}/{f['checked']} 一致 {percent(f['rate'])} "
                          f"({percent(lo)}–{percent(hi)})", highlight=False)
    if result["alert"]:
        out.print(f"告警 alert: 一致率 95% 区间上限低于 {percent(section.alert_below)}",
                  highlight=False)
