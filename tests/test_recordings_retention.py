"""Recordings retention (campaign.recordings_keep_days) on SQLite and PostgreSQL, with
the files in tmp_path and the clock injected: a settled call's recording older than the
retention goes, its attempt stays with the time it went; nothing still to be heard goes
(the review queue, a ticket sent back, a callback still due, a reason to transcribe, a
file shared with such a call); nothing outside recordings_dir goes; the service's job
runs its batches on the store pool."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, insert, select, update
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock

from huifang import recordings as recordings_module
from huifang.cli import cli
from huifang.recordings import Pruner, RetentionJob
from store.campaign_models import CallAttempt, Callback, DialerNode
from store.enums import AttemptStatus, CallbackStatus, ReasonStatus, ReviewKind, TicketStatus
from store.models import Closure, Ticket, Unit

NOW = datetime(2026, 12, 2, 3, 0)
OLD = NOW - timedelta(days=200)  # past the default 180 days
RECENT = NOW - timedelta(days=100)
_numbers = itertools.count(1)


@dataclass
class Store:
    engine: Engine
    root: Path

    def __post_init__(self) -> None:
        with self.engine.begin() as conn:
            self.unit = int(conn.execute(insert(Unit).values(
                name="青石街道", kind="street", created_at=NOW, updated_at=NOW)
                .returning(Unit.id)).scalar_one())

    def ticket(self, status: TicketStatus = TicketStatus.CLOSED) -> int:
        n = next(_numbers)
        with self.engine.begin() as conn:
            return int(conn.execute(insert(Ticket).values(
                ticket_no=f"R{n:04d}", unit_id=self.unit, type="complaint",
                phone=f"+861450731{n:04d}", phone_kind="mobile", received_at=OLD,
                status=status, closure_count=1, created_at=OLD, updated_at=OLD)
                .returning(Ticket.id)).scalar_one())

    def callback(self, ticket: int, status: CallbackStatus = CallbackStatus.DONE, *,
                 kind: ReviewKind | None = None, reviewed: bool = False) -> int:
        with self.engine.begin() as conn:
            seq = conn.execute(select(Closure.seq).where(Closure.ticket_id == ticket)
                               .order_by(Closure.seq.desc())).scalar() or 0
            closure = conn.execute(insert(Closure).values(
                ticket_id=ticket, seq=seq + 1, closed_at=OLD, reopened=False,
                created_at=OLD).returning(Closure.id)).scalar_one()
            return int(conn.execute(insert(Callback).values(
                closure_id=closure, ticket_id=ticket, phone="+8614507310000", status=status,
                due_at=OLD, deadline_at=OLD, attempts=1, created_at=OLD, updated_at=OLD,
                review_kind=kind, reviewed_at=NOW if reviewed else None,
                reviewed_by="zhijian" if reviewed else None).returning(Callback.id))
                .scalar_one())

    def attempt(self, callback: int, *, started: datetime = OLD, file: Path | None = None,
                node: str = "dialer-1", status: AttemptStatus = AttemptStatus.FINISHED,
                reason: ReasonStatus | None = None, write: bool = True) -> tuple[int, Path]:
        if file is None:
            file = self.root / f"{started:%Y-%m-%d}" / f"{next(_numbers)}.wav"
        if write and not file.exists():
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(b"RIFF" + bytes(1000))
        with self.engine.begin() as conn:
            ticket = conn.execute(select(Callback.ticket_id)
                                  .where(Callback.id == callback)).scalar_one()
            attempt = conn.execute(insert(CallAttempt).values(
                callback_id=callback, ticket_id=ticket, call_id=f"c{next(_numbers)}",
                node=node, phone="+8614507310000", status=status, started_at=started,
                ended_at=started, outcome="completed", recording=str(file),
                reason_status=reason).returning(CallAttempt.id)).scalar_one()
        return int(attempt), file

    def settled(self, **kw: Any) -> tuple[int, Path]:
        return self.attempt(self.callback(self.ticket()), **kw)

    def deleted_at(self, attempt: int) -> datetime | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(CallAttempt.recording, CallAttempt.recording_deleted_at)
                               .where(CallAttempt.id == attempt)).one()
        assert row.recording is not None  # the path stays
        return row.recording_deleted_at  # type: ignore[no-any-return]


@pytest.fixture
def store(engine: Engine, tmp_path: Path) -> Store:
    return Store(engine, tmp_path / "recordings")


def pruner(store: Store, keep_days: int = 180, now: Callable[[], datetime] = lambda: NOW,
           host: str = "here") -> Pruner:
    return Pruner(store.engine, store.root, keep_days, now, host=host)


def test_a_settled_old_recording_goes_and_its_attempt_stays(store: Store) -> None:
    attempt, file = store.settled()
    recent, recent_file = store.settled(started=RECENT)
    tally = pruner(store).run()
    assert (tally.files, tally.attempts, tally.bytes) == (1, 1, 1004)
    assert not file.exists() and not file.parent.exists()  # the day's directory too
    assert store.deleted_at(attempt) == NOW
    assert recent_file.exists() and store.deleted_at(recent) is None
    assert pruner(store).run().files == 0  # nothing left to do
    # 100 days later the other one's time has come
    assert pruner(store, now=lambda: NOW + timedelta(days=81)).run().files == 1
    assert not recent_file.exists()


def test_nothing_still_to_be_heard_goes(store: Store) -> None:
    kept = [
        # waiting in the review queue
        store.attempt(store.callback(store.ticket(), CallbackStatus.REVIEW,
                                     kind=ReviewKind.UNCLEAR)),
        # done, but a negative answer waiting for a supervisor
        store.attempt(store.callback(store.ticket(), kind=ReviewKind.NEGATIVE)),
        # still to be called again
        store.attempt(store.callback(store.ticket(), CallbackStatus.PENDING)),
        store.attempt(store.callback(store.ticket(), CallbackStatus.CLAIMED)),
        # the ticket was sent back (退回重办)
        store.attempt(store.callback(store.ticket(TicketStatus.REOPENED))),
        # the reason not transcribed yet
        store.settled(reason=ReasonStatus.PENDING),
        # a call in progress
        store.settled(status=AttemptStatus.IN_PROGRESS),
    ]
    # settled itself, but another callback of its ticket is still in the queue
    ticket = store.ticket()
    kept.append(store.attempt(store.callback(ticket)))
    store.callback(ticket, CallbackStatus.REVIEW, kind=ReviewKind.UNREACHABLE)
    gone = [
        store.attempt(store.callback(store.ticket(), CallbackStatus.REVIEW,
                                     kind=ReviewKind.UNCLEAR, reviewed=True)),
        store.attempt(store.callback(store.ticket(), CallbackStatus.CANCELLED)),
        store.settled(reason=ReasonStatus.DONE),
    ]
    dry = pruner(store).run(dry_run=True)
    assert (dry.files, dry.kept_unsettled) == (3, len(kept))
    assert all(f.exists() for _, f in kept + gone)  # a dry run deletes nothing
    assert all(store.deleted_at(a) is None for a, _ in gone)
    tally = pruner(store).run()
    assert (tally.files, tally.kept_unsettled) == (3, len(kept))
    assert "kept: their answers are not settled" in tally.summary()
    assert all(f.exists() and store.deleted_at(a) is None for a, f in kept)
    assert all(not f.exists() and store.deleted_at(a) == NOW for a, f in gone)


def test_a_file_shared_by_a_call_for_several_tickets(store: Store,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    shared = store.root / "2026-05-16" / "shared.wav"
    first, _ = store.settled(file=shared)
    second, _ = store.attempt(store.callback(store.ticket(), CallbackStatus.REVIEW,
                                             kind=ReviewKind.UNCLEAR), file=shared)
    assert pruner(store).run().files == 0  # one of its tickets is still in the queue
    assert shared.exists() and store.deleted_at(first) is None
    with store.engine.begin() as conn:  # a supervisor settles it
        conn.execute(update(Callback).values(reviewed_at=NOW))
    # batches of one attempt: the file goes with both, though they fall in two batches
    monkeypatch.setattr(recordings_module, "BATCH", 1)
    tally = pruner(store).run()
    assert (tally.files, tally.attempts) == (1, 2)
    assert not shared.exists()
    assert store.deleted_at(first) == store.deleted_at(second) == NOW


def test_only_inside_recordings_dir_and_missing_files(store: Store, tmp_path: Path) -> None:
    outside, outside_file = store.settled(file=tmp_path / "elsewhere" / "x.wav")
    with store.engine.begin() as conn:
        conn.execute(insert(DialerNode).values(node="here-1", host="here", started_at=OLD,
                                               seen_at=OLD))
        conn.execute(insert(DialerNode).values(node="there-1", host="there", started_at=OLD,
                                               seen_at=OLD))
    mine, _ = store.settled(node="here-1", write=False)
    theirs, _ = store.settled(node="there-1", write=False)
    tally = pruner(store).run()
    assert tally.refused == 1 and outside_file.exists()
    assert store.deleted_at(outside) is None  # never marked: looked at again, refused again
    assert store.deleted_at(mine) == NOW  # this host recorded it: it is gone
    if store.engine.dialect.name == "sqlite":  # one machine: missing is missing
        assert tally.missing == 2 and store.deleted_at(theirs) == NOW
    else:  # it may be on the other dialer's disk: left for that dialer
        assert (tally.missing, tally.elsewhere) == (1, 1)
        assert store.deleted_at(theirs) is None


def test_zero_keeps_everything(store: Store) -> None:
    attempt, file = store.settled(started=NOW - timedelta(days=3000))
    assert pruner(store, keep_days=0).run().files == 0
    assert file.exists() and store.deleted_at(attempt) is None


def test_the_services_job_runs_on_the_store_pool(store: Store) -> None:
    now = [NOW]
    clock = Clock()
    batches: list[str] = []

    def in_store(fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        batches.append(fn.__name__)
        return maybeDeferred(fn, *args)

    _, first_file = store.settled()
    later, later_file = store.settled(started=RECENT)
    job = RetentionJob(pruner(store, now=lambda: now[0]), clock, in_store, every_s=3600)
    job.start()  # a run at once
    assert job.runs == 1 and not first_file.exists() and later_file.exists()
    assert batches == ["batch"]
    now[0] += timedelta(days=81)
    clock.advance(3599)
    assert job.runs == 1 and later_file.exists()
    clock.advance(1)
    assert job.runs == 2 and not later_file.exists() and store.deleted_at(later) == now[0]
    assert job.last is not None and job.last.files == 1
    done = job.stop()
    assert done is not None and done.called
    clock.advance(7200)
    assert job.runs == 2


def test_the_job_survives_a_failed_run(store: Store) -> None:
    clock = Clock()
    calls = {"n": 0}

    def in_store(fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            return maybeDeferred(lambda: 1 / 0)  # the database away, say
        return maybeDeferred(fn, *args)

    _, file = store.settled()
    job = RetentionJob(pruner(store), clock, in_store, every_s=60)
    job.start()
    assert file.exists() and job.runs == 0
    clock.advance(60)
    assert not file.exists() and job.runs == 1
    job.stop()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_command(store: Store, store_url: str, tmp_path: Path) -> None:
    attempt, file = store.settled(started=datetime(2020, 1, 1))
    config = tmp_path / "huifang.toml"
    config.write_text(f'[campaign]\nrecordings_dir = "{store.root}"\n', encoding="utf-8")
    env = {"HUIFANG_DB": store_url, "HUIFANG_CONFIG": str(config)}
    runner = CliRunner()
    dry = runner.invoke(cli, ["recordings", "prune", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would delete 1 recordings" in dry.output and file.exists()
    real = runner.invoke(cli, ["recordings", "prune"], env=env)
    assert real.exit_code == 0, real.output
    assert "deleted 1 recordings" in real.output and not file.exists()
    assert store.deleted_at(attempt) is not None
    config.write_text(f'[campaign]\nrecordings_dir = "{store.root}"\n'
                      "recordings_keep_days = 0\n", encoding="utf-8")
    forever = runner.invoke(cli, ["recordings", "prune"], env=env)
    assert forever.exit_code == 0 and "kept forever" in forever.output
    config.write_text("[campaign]\nrecordings_keep_days = -1\n", encoding="utf-8")
    bad = runner.invoke(cli, ["recordings", "prune"], env=env)
    assert bad.exit_code == 1 and "campaign.recordings_keep_days" in bad.output
