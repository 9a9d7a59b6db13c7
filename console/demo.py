"""`huifang demo`: the main job on the embedded default, with nothing configured.

Until the dialer exists it builds a SQLite store from a generated hotline through the
real import path, summarises it, prints last month's ranking and writes the reports.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import click

from console.cli import App, cli, out, pass_app
from console.importcmd import import_file
from console.render import import_line, print_summary
from console.reportcmd import print_ranking, rules_of, write_outputs
from scoring.periods import parse_period
from scoring.report import build_report
from store.db import make_engine, upgrade
from store.sample import generate
from store.summary import summarize


@cli.command("demo")
@click.option("--dir", "directory", type=click.Path(path_type=Path),
              default=Path("var/demo"), show_default=True,
              help="Working directory of the demo (recreated each run).")
@click.option("--tickets", type=click.IntRange(1), default=3000, show_default=True)
@click.option("--seed", type=int, default=12345, show_default=True)
@pass_app
def demo_command(app: App, directory: Path, tickets: int, seed: int) -> None:
    """Build a demo hotline in a fresh SQLite database and summarise it."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    db_path = directory / "huifang.db"
    url = f"sqlite:///{db_path}"
    out.rule("huifang demo")
    out.print(f"1. 生成示例热线 generating {tickets} tickets (seed {seed})", highlight=False)
    sample = generate(directory / "sample", tickets=tickets, seed=seed)
    out.print(f"2. 建库 creating {db_path}", highlight=False)
    engine = make_engine(url)
    upgrade(engine)
    out.print("3. 导入 importing through the real import path")
    for kind, path in sample.files():
        result = import_file(engine, app, kind, path, quiet=True)
        out.print(import_line(result), highlight=False)
    out.print("4. 概况 summary")
    print_summary(out, summarize(engine))
    now = datetime.now().replace(microsecond=0)
    period = parse_period(f"{now.year}-{now.month:02d}").previous()  # the last full month
    out.print(f"5. 排名 ranking of {period.label}", highlight=False)
    report = build_report(engine, period, rules=rules_of(app), now=now)
    print_ranking(out, report)
    reports = directory / "reports"
    write_outputs(report, tuple(reports / f"report-{period.label}.{ext}"
                                for ext in ("json", "xlsx", "html", "pdf")))
    out.print(f"database: {db_path}  sample files: {sample.directory}  reports: {reports}",
              highlight=False)
    out.print(f"explore it: HUIFANG_DB={url} huifang explain --unit 临江县 --period "
              f"{period.label}", highlight=False)
