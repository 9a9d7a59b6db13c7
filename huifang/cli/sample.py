"""`huifang sample`: write a synthetic hotline."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from huifang.cli.app import out
from store.sample import generate
from store.tablefiles import FORMATS


@click.command("sample")
@click.option("--out", "directory", type=click.Path(path_type=Path), default=Path("sample"),
              show_default=True, help="Directory for the files.")
@click.option("--tickets", type=click.IntRange(1), default=2000, show_default=True)
@click.option("--seed", type=int, default=12345, show_default=True)
@click.option("--end", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%d %H:%M:%S"]),
              help="Last moment of the sample (default: now).")
@click.option("--months", type=click.IntRange(1, 36), default=3, show_default=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.option("--encoding", type=click.Choice(["utf-8", "gbk"]), default="utf-8",
              show_default=True, help="CSV encoding (GBK is what Chinese office software writes).")
def sample_command(directory: Path, tickets: int, seed: int, end: datetime | None,
                   months: int, fmt: str, encoding: str) -> None:
    """Generate a realistic synthetic hotline (units, tickets, callbacks, exclusions)."""
    codec = "utf-8-sig" if encoding == "utf-8" else "gb18030"
    summary = generate(directory, tickets=tickets, seed=seed, end=end, months=months, fmt=fmt,
                       encoding=codec)
    out.print(f"{summary.units} units, {summary.tickets} tickets ({summary.reopened} reopened), "
              f"{summary.evaluations} evaluations, {summary.exclusions} exclusions in "
              f"{directory}", highlight=False)
    out.print("import them in this order:")
    for kind, path in summary.files(fmt):
        out.print(f"  huifang import {kind} {path}", highlight=False)
