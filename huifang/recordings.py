"""Recordings retention (`campaign.recordings_keep_days`): the files of settled calls
older than that are deleted; their attempts keep their rows, their paths and the time
the file went (`store.retention` decides which may go). Run by `huifang recordings
prune` and by the running service (`RetentionJob`, in the store's thread pool, one batch
at a time, so that the campaign's own writes are never held up for long).

A file is only ever deleted inside `campaign.recordings_dir`. A file that is already
missing is marked deleted when this host recorded it (or on SQLite, one machine);
otherwise it may live on another dialer's disk and is left for that dialer."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from twisted.internet.defer import Deferred, inlineCallbacks

from huifang.periodic import PeriodicJob
from store import retention

log = logging.getLogger(__name__)
BATCH = 200  # attempts per batch: one short transaction each


@dataclass
class Pruned:
    """What a run deleted (or, dry, would delete) and what it kept."""

    cutoff: datetime
    dry_run: bool = False
    files: int = 0
    bytes: int = 0
    attempts: int = 0
    missing: int = 0  # already gone: marked deleted
    elsewhere: int = 0  # not here, recorded by another host: left for it
    refused: int = 0  # outside recordings_dir: never deleted
    failed: int = 0  # could not be deleted (permissions): tried again next run
    kept_unsettled: int = 0
    seen: set[str] = field(default_factory=set)

    def add(self, other: Pruned) -> None:
        for name in ("files", "bytes", "attempts", "missing", "elsewhere", "refused",
                     "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        text = (f"{verb} {self.files} recordings ({self.bytes / 1e6:.1f} MB) of "
                f"{self.attempts} attempts begun before {self.cutoff:%Y-%m-%d %H:%M}")
        extra = [f"{n} {what}" for n, what in (
            (self.missing, "already missing (marked deleted)"),
            (self.elsewhere, "on another dialer's disk (left for it)"),
            (self.refused, "outside recordings_dir (refused)"),
            (self.failed, "could not be deleted"),
            (self.kept_unsettled, "old enough but kept: their answers are not settled"))
            if n]
        return text + ("; " + "; ".join(extra) if extra else "")


def cutoff_of(now: datetime, keep_days: int) -> datetime:
    return now - timedelta(days=keep_days)


class Pruner:
    """Deletes expired recordings in batches; each `batch()` is one blocking step."""

    def __init__(self, engine: Engine, root: Path, keep_days: int,
                 now: Callable[[], datetime], *, host: str | None = None) -> None:
        self.engine, self.root, self.keep_days, self.now = engine, root, keep_days, now
        self.host = host if host is not None else socket.gethostname()
        self.single_machine = engine.dialect.name == "sqlite"

    def start(self, *, dry_run: bool = False) -> Pruned:
        """A run's tally; `keep_days` 0 keeps everything (the run does nothing)."""
        return Pruned(cutoff_of(self.now(), self.keep_days), dry_run)

    def batch(self, run: Pruned, after_id: int) -> int | None:
        """Delete one batch; the id to continue after, or None when the run is done."""
        if self.keep_days <= 0:
            return None
        found, next_after = retention.expired(self.engine, run.cutoff, after_id=after_id,
                                              limit=BATCH)
        root = self.root.resolve()
        gone: list[int] = []
        for item in found:
            if item.path in run.seen:  # a dry run meets a shared file again
                continue
            run.seen.add(item.path)
            file = Path(item.path).resolve()
            if not file.is_relative_to(root):
                run.refused += 1
                log.warning("recording %s of attempts %s is outside %s: not deleted",
                            item.path, item.attempt_ids, root)
                continue
            if not file.is_file():
                if self.single_machine or self.host in item.hosts:
                    run.missing += 1
                    run.attempts += len(item.attempt_ids)
                    gone.extend(item.attempt_ids)
                else:
                    run.elsewhere += 1
                continue
            size = file.stat().st_size
            if not run.dry_run:
                try:
                    file.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    run.failed += 1
                    log.warning("cannot delete recording %s: %s", file, exc)
                    continue
                self._tidy(file.parent, root)
            run.files += 1
            run.bytes += size
            run.attempts += len(item.attempt_ids)
            gone.extend(item.attempt_ids)
        if not run.dry_run:
            retention.mark_deleted(self.engine, gone, self.now())
        if next_after is None:
            run.kept_unsettled = retention.kept_unsettled(self.engine, run.cutoff)
        return next_after

    @staticmethod
    def _tidy(directory: Path, root: Path) -> None:
        """Remove the day's directory once its last recording went."""
        if directory != root and directory.is_relative_to(root):
            with contextlib.suppress(OSError):  # not empty, or not ours to remove
                directory.rmdir()

    def run(self, *, dry_run: bool = False) -> Pruned:
        """A whole run, blocking (the command line)."""
        tally = self.start(dry_run=dry_run)
        after: int | None = 0
        while after is not None:
            after = self.batch(tally, after)
        return tally


class RetentionJob(PeriodicJob):
    """The service's retention: a run every `every_s` seconds of `clock` (and one at
    start), each batch on `in_store` (the store's thread pool), never on the reactor."""

    name = "recordings retention"

    def __init__(self, pruner: Pruner, clock: Any,
                 in_store: Callable[..., Deferred[Any]], every_s: float = 3600.0) -> None:
        super().__init__(clock, every_s, at_start=True)
        self.pruner, self.in_store = pruner, in_store
        self.runs = 0
        self.last: Pruned | None = None

    @inlineCallbacks
    def _run(self) -> Any:
        try:
            tally = self.pruner.start()
            after: int | None = 0
            while after is not None and not self.stopping:
                after = yield self.in_store(self.pruner.batch, tally, after)
        except Exception as exc:  # the database away: the next run tries again
            log.warning("recordings retention: this run failed (%s); next in %.0f s", exc,
                        self.every_s)
            return
        self.runs += 1
        self.last = tally
        if tally.files or tally.missing or tally.refused or tally.failed:
            log.info("recordings retention: %s", tally.summary())
