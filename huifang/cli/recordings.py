"""`huifang recordings prune [--dry-run]`: delete the recordings of settled calls older
than `campaign.recordings_keep_days` (the running service does the same every hour)."""

from __future__ import annotations

from pathlib import Path

import click

from huifang.cli.app import App, fail, out, pass_app
from huifang.recordings import Pruner
from huifang.service import local_now
from store.db import StoreError, translated_errors


@click.group()
def recordings() -> None:
    """Call recordings: retention (campaign.recordings_keep_days)."""


@recordings.command("prune")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@pass_app
def recordings_prune(app: App, dry_run: bool) -> None:
    """Delete the recordings of settled calls older than campaign.recordings_keep_days;
    their attempts keep their rows, marked with when the file was deleted."""
    c = app.settings.campaign
    if c.recordings_keep_days == 0:
        out.print("campaign.recordings_keep_days = 0: recordings are kept forever; "
                  "nothing to do", highlight=False, soft_wrap=True)
        return
    engine = app.engine()
    pruner = Pruner(engine, Path(c.recordings_dir), c.recordings_keep_days, local_now)
    try:
        with translated_errors(app.settings.database.url):
            tally = pruner.run(dry_run=dry_run)
    except StoreError as exc:
        fail(str(exc))
    label = "试运行 dry run" if dry_run else "录音保留 retention"
    out.print(f"{label} (keep {c.recordings_keep_days} days, {c.recordings_dir}): "
              f"{tally.summary()}", highlight=False, soft_wrap=True)
