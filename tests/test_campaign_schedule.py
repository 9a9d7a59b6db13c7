"""The campaign's jobs on a `task.Clock`: the test moves time and counts ticks, nothing
sleeps. The store is real (SQLite, its work on the store pool of `dialer.workers`); what
the pools hand back runs on the test's thread, which is this campaign's reactor. Calls are
not placed: `prepare` notes the tickets it was asked for and refuses, so the claim goes
back to pending."""

from __future__ import annotations

import functools
import logging
import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from dialer.callsession import Prompts, SessionSettings
from dialer.campaign import Campaign, CampaignSettings
from dialer.trunk import Dialer, TrunkConfig
from dialer.windows import CallingWindows
from dialer.workers import Workers
from store import campaign as state
from store.callbacks import TicketDetails
from store.campaign_models import DialerNode
from tests.campaign_support import NOW, callbacks_by_status
from tests.test_campaign import load

LUNCH = datetime(2026, 11, 20, 12, 30)  # between the two windows below
AFTERNOON = datetime(2026, 11, 20, 14, 5)
WINDOWS = CallingWindows({d: ((clock_time(9), clock_time(12)),
                              (clock_time(14), clock_time(20, 30))) for d in range(7)},
                         skip_holidays=False)
NEVER = timedelta(days=1)  # a job's interval that does not come round in a test


class OneThreadReactor(Clock):
    """The campaign's reactor on the test's thread: timers are `task.Clock`'s, moved by
    `advance`; what the thread pools hand back (`callFromThread`) waits in a queue until
    `run_until` runs it here."""

    def __init__(self) -> None:
        super().__init__()
        self.handed_back: queue.Queue[Callable[[], object]] = queue.Queue()

    def callFromThread(self, f: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        self.handed_back.put(functools.partial(f, *args, **kwargs))

    def addSystemEventTrigger(self, phase: str, event: str, f: Callable[..., object],
                              *args: Any, **kwargs: Any) -> int:
        return 0  # this reactor never shuts down: `Rig.stop` stops the pools

    def run_until(self, done: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
        """Run what the pools hand back until `done()`; fail if it does not come true
        within `timeout_s` of real time (the store's threads are real)."""
        deadline = time.monotonic() + timeout_s
        while not done():
            try:
                call = self.handed_back.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"not within {timeout_s:g} s: {what}") from None
            call()


@dataclass
class Wall:
    """The campaign's wall clock (for its windows): stands still until it is set."""

    at: datetime = NOW

    def __call__(self) -> datetime:
        return self.at


class NotDialled(Exception):
    pass


@dataclass
class Rig:
    reactor: OneThreadReactor
    campaign: Campaign
    wall: Wall
    engine: Engine
    workers: Workers
    dialled: list[str] = field(default_factory=list)  # tickets `prepare` was asked for

    def start(self) -> None:
        started: Deferred[Any] = self.campaign.start()
        self.reactor.run_until(lambda: started.called, "the campaign started")
        assert started.result is None

    def stop(self) -> None:
        finished = self.campaign.stop()
        try:
            self.reactor.run_until(lambda: finished.called, "the campaign stopped")
        finally:
            self.workers.stop()  # the pools' threads, however it went

    def ticks_to(self, n: int) -> None:
        self.reactor.run_until(lambda: self.campaign.ticks >= n, f"{n} ticks")
        assert self.campaign.ticks == n

    def settle(self) -> None:
        """Until the claimed work is done (prepared, refused, released)."""
        c = self.campaign
        self.reactor.run_until(lambda: not c.work and not c.dialling, "the work settled")

    def next_run(self, job: str) -> float | None:
        """When `job` runs next on the clock; None while a run is in progress."""
        call: Any = self.campaign.loops[job].call
        return None if call is None else float(call.getTime())

    def metric(self, name: str, **labels: str) -> float:
        value = self.campaign.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@pytest.fixture
def rig_for(sqlite_engine: Engine, tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """`rig_for(tickets=0, **settings)`: a campaign on a `task.Clock`, not started."""
    rigs: list[Rig] = []

    def make(tickets: int = 0, wall: datetime = NOW, **overrides: Any) -> Rig:
        if tickets:
            load(sqlite_engine, tmp_path, [f"1380000{i:04d}" for i in range(1, tickets + 1)])
        reactor = OneThreadReactor()
        settings = replace(CampaignSettings(
            windows=WINDOWS, tick_s=0.5, plan_every_s=NEVER.total_seconds(), lease=NEVER,
            recordings=tmp_path / "recordings", node="test"), **overrides)
        dialled: list[str] = []

        def prepare(details: list[TicketDetails], today: date) -> Prompts:
            dialled.extend(d.ticket_no for d in details)
            raise NotDialled("this test places no calls")

        clock = Wall(wall)
        workers = Workers(reactor, single_writer=True)
        campaign = Campaign(
            reactor, sqlite_engine, settings,
            dialer=Dialer(reactor, TrunkConfig(max_channels=4, calls_per_second=20.0)),
            workers=workers, prepare=prepare, recognition=None,
            session=SessionSettings(no_input_s=2.0), now=clock, clock=reactor)
        rig = Rig(reactor, campaign, clock, sqlite_engine, workers, dialled)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.stop()


def test_a_tick_at_start_then_one_every_tick_s(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for(tickets=1)
    rig.start()
    rig.ticks_to(1)  # at once
    rig.settle()
    assert rig.dialled == ["T0"]  # due and in a window: dialled
    assert rig.next_run("tick") == 0.5
    rig.reactor.advance(0.49)
    assert rig.next_run("tick") == 0.5 and rig.campaign.ticks == 1  # not yet
    rig.reactor.advance(0.01)
    rig.ticks_to(2)
    rig.settle()
    assert rig.dialled == ["T0", "T0"]  # refused, released, claimed again
    assert callbacks_by_status(rig.engine) == {"pending": 1}
    assert rig.metric("huifang_scheduler_misfires_total") == 0


def test_no_dial_while_paused_or_outside_a_window(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for(tickets=1, wall=LUNCH)
    state.set_paused(rig.engine, True, "test", NOW)
    rig.start()
    rig.ticks_to(1)
    assert rig.campaign.paused and rig.dialled == []
    rig.wall.at = AFTERNOON  # a window, but paused
    rig.reactor.advance(0.5)
    rig.ticks_to(2)
    assert rig.dialled == []
    rig.wall.at = LUNCH  # resumed, outside a window
    state.set_paused(rig.engine, False, "test", NOW)
    rig.reactor.advance(0.5)
    rig.ticks_to(3)
    assert not rig.campaign.paused and rig.dialled == []
    rig.wall.at = AFTERNOON  # resumed, in a window: the next tick dials
    rig.reactor.advance(0.5)
    rig.ticks_to(4)
    rig.settle()
    assert rig.dialled == ["T0"]


def test_run_now_is_taken_by_the_next_tick_and_windows_still_apply(
        rig_for: Callable[..., Rig], caplog: pytest.LogCaptureFixture) -> None:
    rig = rig_for(tickets=1, wall=LUNCH)
    rig.start()
    rig.ticks_to(1)
    state.request_run_now(rig.engine, "test", LUNCH)
    rig.reactor.advance(0.5)
    rig.ticks_to(2)
    assert state.state(rig.engine).run_now_at is None  # taken, once
    assert rig.dialled == []  # but not outside a window
    rig.wall.at = AFTERNOON
    state.request_run_now(rig.engine, "test", AFTERNOON)
    with caplog.at_level(logging.INFO, logger="dialer.campaign"):
        rig.reactor.advance(0.5)
        rig.ticks_to(3)
        rig.settle()
    assert rig.dialled == ["T0"]
    assert "run-now requested: 1 numbers due" in caplog.text


def test_a_tick_still_running_when_the_next_is_due_is_skipped_not_queued(
        rig_for: Callable[..., Rig]) -> None:
    rig = rig_for()
    rig.start()  # the first tick has begun; what the store hands back is not run yet
    assert rig.next_run("tick") is None
    for _ in range(3):  # 0.5, 1.0 and 1.5 come while it runs
        rig.reactor.advance(0.5)
        assert rig.next_run("tick") is None
    rig.ticks_to(1)
    assert rig.next_run("tick") == 2.0  # the next time from now, not the ones missed
    assert rig.metric("huifang_scheduler_misfires_total") == 0
    rig.reactor.advance(0.5)
    rig.ticks_to(2)  # one run, not four
    assert rig.metric("huifang_scheduler_misfires_total") == 3
    assert rig.metric("huifang_scheduler_lag_seconds") == 0
    rig.reactor.advance(0.7)  # the reactor was 0.2 s late for the tick due at 2.5
    rig.ticks_to(3)
    assert rig.metric("huifang_scheduler_lag_seconds") == pytest.approx(0.2)
    assert rig.metric("huifang_scheduler_misfires_total") == 3


def seen_at(engine: Engine) -> datetime:
    with engine.connect() as conn:
        return conn.execute(select(DialerNode.seen_at)).scalar_one()


@pytest.mark.parametrize(("lease_s", "every_s"), [(6.0, 2.0), (1.5, 1.0)])
def test_the_heartbeat_every_third_of_the_lease_at_least_a_second(
        rig_for: Callable[..., Rig], lease_s: float, every_s: float) -> None:
    rig = rig_for(tick_s=NEVER.total_seconds(), lease=timedelta(seconds=lease_s))
    rig.start()
    rig.ticks_to(1)
    assert seen_at(rig.engine) == NOW  # at start
    rig.wall.at = NOW + timedelta(minutes=1)
    rig.reactor.advance(every_s - 0.25)
    assert rig.next_run("heartbeat") == every_s  # not yet begun
    rig.reactor.advance(0.25)
    rig.reactor.run_until(lambda: seen_at(rig.engine) == rig.wall.at, "a heartbeat")
    rig.reactor.run_until(lambda: rig.next_run("heartbeat") is not None, "its end")
    assert rig.next_run("heartbeat") == 2 * every_s
    rig.wall.at = NOW + timedelta(minutes=2)
    rig.reactor.advance(every_s)
    rig.reactor.run_until(lambda: seen_at(rig.engine) == rig.wall.at, "the next heartbeat")


def test_a_failed_run_is_counted_and_the_job_goes_on(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for(tick_s=NEVER.total_seconds(), lease=timedelta(seconds=3))
    rig.start()
    with rig.engine.begin() as conn:  # the heartbeat's table goes away
        conn.execute(text("ALTER TABLE dialer_nodes RENAME TO dialer_nodes_gone"))


    def failures() -> float:
        return rig.metric("huifang_errors_total", where="heartbeat")

    rig.reactor.advance(1.0)
    rig.reactor.run_until(lambda: failures() == 1, "the heartbeat failed")
    assert rig.campaign.loops["heartbeat"].running
    rig.reactor.advance(1.0)
    rig.reactor.run_until(lambda: failures() == 2, "the next heartbeat ran, and failed")


def test_stop_lets_the_tick_in_progress_end_then_no_job_runs(
        rig_for: Callable[..., Rig]) -> None:
    rig = rig_for(tickets=1, lease=timedelta(seconds=3), plan_every_s=2.0)
    rig.start()  # the first tick has begun
    finished = rig.campaign.stop()
    assert not finished.called and rig.campaign.ticks == 0
    rig.reactor.run_until(lambda: finished.called, "stopped")
    assert rig.campaign.ticks == 1  # it ended first, and what it claimed was released
    assert callbacks_by_status(rig.engine) == {"pending": 1}
    assert not any(loop.running for loop in rig.campaign.loops.values())
    assert rig.reactor.getDelayedCalls() == []
    rig.reactor.advance(3600)
    assert rig.campaign.ticks == 1 and rig.reactor.handed_back.empty()
    with rig.engine.connect() as conn:
        assert conn.execute(select(DialerNode.state)).scalar_one() == "stopped"
