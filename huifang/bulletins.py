"""Bulletins on schedule (日报、周报、月报): `huifang run` makes each one once, when it is
due (`scoring.bulletins.due`), into `[bulletins] dir`, with the report builder and the
exporters of `huifang report`, and mails it when `[bulletins.mail]` says so.

Once per period: a bulletin is claimed in the store (`store.bulletins.claim`, a row per
(kind, period) with a unique constraint) before it is made and marked made by that claim
alone, so a restart or a second node sharing the PostgreSQL database never makes it
again; a node that died while making one leaves a claim that expires after
`lease_minutes`, and a failed try is tried again after `retry_minutes`. Files are
written under a temporary name and moved into place before the mark.

`BulletinJob` runs in the service every `every_s` seconds of the injected clock: each
step (claim, make, mark, mail) on the store pool, never on the reactor thread; a mail's
SMTP conversation on the reactor's thread pool. A mail failure is logged and retried and
never stops a bulletin from being made.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from twisted.internet.defer import Deferred, inlineCallbacks

from huifang.bulletin_mail import MailError, send_bulletin
from huifang.config import Settings
from huifang.periodic import PeriodicJob
from scoring.bulletins import Due, Schedule, comparison, due, period_of, same_month_last_year
from scoring.exports import write_report
from scoring.periods import Period
from scoring.report import Report, build_report
from scoring.rules import ScoringRules
from store import bulletins as store
from store.bulletins import KIND_LABELS, BulletinFile, BulletinKind, Claim, MailTodo
from store.workdays import is_workday

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
# Figures a bulletin's JSON carries beside the report, by key: each is computed from the
# store for the bulletin's period. `machine_accuracy` (the spot checks' agreement rate)
# goes here when scoring.accuracy provides it; a figure the report itself already
# carries (its JSON has the key) is not computed twice.
Figure = Callable[[Engine, Period], object]
FIGURES: dict[str, Figure] = {}
_lock = threading.Lock()  # one bulletin's files at a time in this process (matplotlib)


def schedule_of(settings: Settings) -> Schedule:
    b = settings.bulletins
    return Schedule(daily_at=b.at("daily"), weekly_at=b.at("weekly"),
                    monthly_at=b.at("monthly"), catch_up_days=b.catch_up_days,
                    kinds=tuple(BulletinKind(k) for k in b.kinds))


def file_name(kind: BulletinKind, period: str, fmt: str) -> str:
    """`daily-2026-11-27.xlsx`, `weekly-2026-W48.pdf`, `monthly-2026-11.json`."""
    return f"{kind}-{period}.{fmt}"


def kind_dir(root: Path, kind: BulletinKind) -> Path:
    return root / str(kind)


@dataclass(frozen=True)
class Made:
    kind: BulletinKind
    period: str
    files: tuple[BulletinFile, ...]


@contextmanager
def _charts_lock() -> Iterator[None]:
    """matplotlib's pyplot is not thread-safe: the console draws with the same lock."""
    from huifang.web.pages import _charts  # noqa: PLC0415 - the console's, when loaded

    with _lock, _charts:
        yield


class BulletinMaker:
    """Makes the due bulletins; every method blocks (the store pool, or the command line)."""

    def __init__(self, engine: Engine, settings: Settings, now: Callable[[], datetime], *,
                 node: str, host: str | None = None,
                 workday: Callable[[date], bool] = is_workday) -> None:
        self.engine, self.settings, self.now, self.node = engine, settings, now, node
        self.host = host if host is not None else socket.gethostname()
        self.workday = workday
        b = settings.bulletins
        self.root = Path(b.dir)
        self.lease = timedelta(minutes=b.lease_minutes)
        self.retry = timedelta(minutes=b.retry_minutes)
        self.schedule = schedule_of(settings)
        self.rules = ScoringRules(**settings.scoring.model_dump())

    def due(self) -> list[Due]:
        """The bulletins due now that are neither made nor being made."""
        wanted = due(self.now(), self.schedule, self.workday)
        settled = store.settled(self.engine, [(d.kind, d.period) for d in wanted], self.now())
        return [d for d in wanted if (d.kind, d.period) not in settled]

    def claim(self, item: Due) -> Claim | None:
        return store.claim(self.engine, item.kind, item.period, node=self.node,
                           host=self.host, now=self.now(), lease=self.lease)

    def make(self, held: Claim, due_at: datetime | None = None) -> Made | None:
        """Make a claimed bulletin's files and mark it made; None if it failed (marked
        failed, tried again later) or the claim was lost meanwhile."""
        try:
            files = self._write(held, due_at)
        except Exception as exc:  # the database away, a full disk: tried again later
            log.exception("%s %s could not be made", KIND_LABELS[held.kind], held.period)
            store.mark_failed(self.engine, held, f"{type(exc).__name__}: {exc}", self.now(),
                              self.retry)
            return None
        mail = self.settings.bulletins.mail.enabled
        if not store.mark_made(self.engine, held, files, self.now(), mail=mail):
            log.warning("%s %s: this node's claim expired while it was made; the node that "
                        "took it over marks it", KIND_LABELS[held.kind], held.period)
            return None
        log.info("%s %s made: %s", KIND_LABELS[held.kind], held.period,
                 ", ".join(f.name for f in files))
        return Made(held.kind, held.period, tuple(files))

    def run_due(self) -> list[Made]:
        """Every due bulletin this node can claim, made now (the command line, tests)."""
        made = []
        for item in self.due():
            held = self.claim(item)
            if held is not None and (result := self.make(held, item.at)) is not None:
                made.append(result)
        return made

    # -- the files ---------------------------------------------------------------------
    def reports(self, kind: BulletinKind, period: Period) -> Report:
        """The period's report; the monthly analysis's with its comparisons."""
        now = self.now()
        report = build_report(self.engine, period, rules=self.rules, now=now)
        if kind is BulletinKind.MONTHLY:
            previous = build_report(self.engine, period.previous(), rules=self.rules,
                                    now=now, with_trends=False)
            last_year = build_report(self.engine, same_month_last_year(period),
                                     rules=self.rules, now=now, with_trends=False)
            report.comparison = comparison(report, previous, last_year)
        return report

    def _write(self, held: Claim, due_at: datetime | None) -> list[BulletinFile]:
        from scoring.export_json import report_dict  # noqa: PLC0415 - with the report

        period = period_of(held.kind, held.period)
        report = self.reports(held.kind, period)
        target = kind_dir(self.root, held.kind)
        work = target / f".making-{held.period}-{held.id}-{held.tries}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            written: list[tuple[str, Path]] = []
            for fmt in self.settings.bulletins.formats:
                path = work / file_name(held.kind, held.period, fmt)
                if fmt == "json":
                    data = report_dict(report)
                    for key, figure in FIGURES.items():
                        if key not in data:
                            data[key] = figure(self.engine, period)
                    data["bulletin"] = {
                        "format_version": FORMAT_VERSION, "kind": str(held.kind),
                        "label": KIND_LABELS[held.kind], "period": held.period,
                        "due_at": due_at.isoformat(timespec="seconds") if due_at else None,
                        "node": self.node}
                    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n",
                                    encoding="utf-8")
                else:
                    with _charts_lock():
                        write_report(report, path)
                written.append((fmt, path))
            files = []
            for done, path in written:  # into place, each file whole (same file system)
                final = target / path.name
                os.replace(path, final)
                files.append(BulletinFile(done, final.name, final.stat().st_size))
            return files
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # -- mail --------------------------------------------------------------------------
    def mail_todo(self) -> list[MailTodo]:
        """Mails due that this node can send: their files are on this host (or, on
        SQLite, one machine, wherever they are)."""
        m = self.settings.bulletins.mail
        if not m.enabled:
            return []
        todo = store.mail_due(self.engine, self.now(), m.max_tries)
        here = self.engine.dialect.name == "sqlite"
        return [t for t in todo if here or t.host == self.host]

    def take_mail(self, todo: MailTodo) -> bool:
        lease = timedelta(seconds=self.settings.bulletins.mail.timeout_s * 4)
        return store.take_mail(self.engine, todo, self.now(), lease)

    def send(self, todo: MailTodo) -> str | None:
        """Send one taken mail (blocking SMTP); the error in words, or None."""
        m = self.settings.bulletins.mail
        files = [kind_dir(self.root, todo.kind) / f.name for f in todo.files]
        try:
            refused = send_bulletin(m, self.settings.hotline, KIND_LABELS[todo.kind],
                                    todo.period, files, os.environ.get(m.password_env, ""))
        except MailError as exc:
            return str(exc)
        if refused:
            log.warning("%s %s: the mail server refused %s (sent to the others)",
                        KIND_LABELS[todo.kind], todo.period, ", ".join(refused))
        return None

    def mail_result(self, todo: MailTodo, error: str | None) -> None:
        m = self.settings.bulletins.mail
        now = self.now()
        retry = now + timedelta(minutes=m.retry_minutes) if todo.tries < m.max_tries else None
        store.mail_result(self.engine, todo, now, error, retry)
        what = f"{KIND_LABELS[todo.kind]} {todo.period}"
        if error is None:
            log.info("%s mailed to %s", what, ", ".join(m.to))
        elif retry is not None:
            log.warning("%s: mail failed (try %s of %s): %s; tried again at %s", what,
                        todo.tries, m.max_tries, error, f"{retry:%Y-%m-%d %H:%M}")
        else:
            log.error("%s: mail failed %s times, not tried again: %s", what, todo.tries,
                      error)

    def mail_due(self) -> int:
        """Send every mail due now (blocking: the command line, tests)."""
        sent = 0
        for todo in self.mail_todo():
            if self.take_mail(todo):
                error = self.send(todo)
                self.mail_result(todo, error)
                sent += error is None
        return sent


class BulletinJob(PeriodicJob):
    """The service's bulletins: a look every `every_s` seconds of `clock` (the first one
    interval after start); store steps on `in_store`, SMTP on `in_thread`, never on the
    reactor."""

    name = "bulletins"

    def __init__(self, maker: BulletinMaker, clock: Any,
                 in_store: Callable[..., Deferred[Any]],
                 in_thread: Callable[..., Deferred[Any]] | None = None,
                 every_s: float | None = None) -> None:
        # the first look one interval after start: the campaign starts first, and a
        # service stopped at once (a check, a test) makes nothing
        super().__init__(clock, every_s or maker.settings.bulletins.every_s, at_start=False)
        self.maker, self.in_store = maker, in_store
        self.in_thread = in_thread or in_store
        self.made: list[Made] = []
        self.mailed = 0

    @inlineCallbacks
    def _run(self) -> Any:
        try:
            todo = yield self.in_store(self.maker.due)
            for item in todo:
                if self.stopping:
                    return
                held = yield self.in_store(self.maker.claim, item)
                if held is not None:
                    made = yield self.in_store(self.maker.make, held, item.at)
                    if made is not None:
                        self.made.append(made)
        except Exception as exc:  # the database away: the next look tries again
            log.warning("bulletins: this look failed (%s); next in %.0f s", exc,
                        self.every_s)
        try:
            mails = yield self.in_store(self.maker.mail_todo)
            for mail in mails:
                if self.stopping:
                    return
                if (yield self.in_store(self.maker.take_mail, mail)):
                    error = yield self.in_thread(self.maker.send, mail)
                    yield self.in_store(self.maker.mail_result, mail, error)
                    self.mailed += error is None
        except Exception as exc:
            log.warning("bulletins: mailing failed (%s); next in %.0f s", exc, self.every_s)
