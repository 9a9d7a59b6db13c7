"""Running a real campaign (scheduler, dialer, recognition, store) in the test reactor
against the citizen simulator, with the campaign's wall clock in the test's hands. The
job timers are the reactor's; `tests/test_campaign_schedule.py` drives them on a
`task.Clock` instead."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from dialer.callsession import Prompts, SessionSettings
from dialer.campaign import Campaign, CampaignSettings
from dialer.trunk import Dialer, TrunkConfig
from dialer.windows import CallingWindows
from dialer.workers import Workers
from huifang.demo.simulator import Citizen, CitizenSimulator
from ivr.pool import Recognition
from store.callbacks import TicketDetails
from store.campaign_models import CallAttempt, Callback
from store.enums import AttemptStatus, CallbackStatus
from tests.peers import free_udp_port, on_reactor, reactor
from tests.test_callsession import pool, prompts

NOW = datetime(2026, 11, 20, 10, 0)  # a Friday, inside the default morning window


@dataclass
class Clock:
    """The campaign's wall clock: moves with real time from `start`, or jumps. (Read on
    the reactor thread, jumped on the test's: one attribute holds both halves.)"""

    start: InitVar[datetime] = NOW
    base: tuple[datetime, float] = field(init=False)

    def __post_init__(self, start: datetime) -> None:
        self.base = (start, time.monotonic())

    def __call__(self) -> datetime:
        start, began = self.base
        return (start + timedelta(seconds=time.monotonic() - began)).replace(microsecond=0)

    def jump(self, to: datetime) -> None:
        self.base = (to, time.monotonic())


def short_prompts(details: list[TicketDetails], today: date) -> Prompts:
    return prompts()


@dataclass
class Running:
    campaign: Campaign
    simulator: CitizenSimulator
    ports: list[Any]
    dialer: Dialer
    workers: Workers
    started: list[Any] = field(default_factory=list)  # what `Campaign.start` gave, once it has

    def stop(self) -> None:
        def go() -> Any:
            def close(_: Any) -> None:
                for port in self.ports:
                    port.stopListening()
                self.dialer.stop()
                self.workers.stop()
            return self.campaign.stop().addBoth(close)
        on_reactor(go)


def start_campaign(engine: Engine, citizens: dict[str, Citizen], tmp_path: Path,
                   clock: Clock, *, channels: int = 4,
                   windows: CallingWindows | None = None, target: str | None = None,
                   rtp_ports: tuple[int, int] | None = None,
                   recognition: Recognition | None = None,
                   session: SessionSettings | None = None, **overrides: Any) -> Running:
    """A campaign calling the simulator's `citizens`, or `target` (another callee);
    decoding on `recognition`, by default the threads of `tests.test_callsession.pool`."""
    simulator = CitizenSimulator(reactor, citizens)

    def go() -> Running:
        uas = reactor.listenUDP(0, simulator, interface="127.0.0.1")
        low = free_udp_port(40)
        rtp_low, rtp_high = rtp_ports or (low, low + 38)
        dialer = Dialer(reactor, TrunkConfig(
            bind="127.0.0.1", sip_port=0, rtp_low=rtp_low, rtp_high=rtp_high,
            ring_timeout=3.0, max_channels=channels, calls_per_second=20.0))
        dialer.listen()
        settings = CampaignSettings(
            windows=windows or CallingWindows(), tick_s=0.5, plan_every_s=2.0,
            recordings=tmp_path / "recordings", node=overrides.pop("node", "test"),
            target=target or f"sip:{{number}}@127.0.0.1:{uas.getHost().port}", **overrides)
        workers = Workers(reactor, single_writer=engine.dialect.name == "sqlite")
        campaign = Campaign(
            reactor, engine, settings, dialer=dialer, workers=workers,
            prepare=short_prompts, recognition=recognition or pool(),
            session=session or SessionSettings(no_input_s=2.0), now=clock)
        running = Running(campaign, simulator, [uas], dialer, workers)
        campaign.start().addBoth(running.started.append)
        return running

    return on_reactor(go)


def callbacks_by_status(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {str(s): int(n) for s, n in conn.execute(
            select(Callback.status, func.count()).group_by(Callback.status)).all()}


def wait_until(check: Callable[[], bool], timeout_s: float = 120.0, what: str = "",
               every_s: float = 0.3) -> None:
    """Poll `check` (a store query, a process's output) until it holds; fail at the
    deadline. The one wait in these tests: for a condition that must come true."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not reached within {timeout_s:g} s: {what}")
        time.sleep(every_s)


def ticks_pass(campaign: Campaign, n: int = 3, timeout_s: float = 30.0) -> None:
    """Wait until `n` more of the campaign's ticks have completed. With n >= 2 at least
    one whole tick began after the call, so what it did not do can be asserted."""
    target = campaign.ticks + n
    wait_until(lambda: campaign.ticks >= target, timeout_s, f"{n} more ticks", 0.05)


def first_attempts_done(engine: Engine) -> bool:
    """Every callback was tried at least once and nothing is being called."""
    with engine.connect() as conn:
        if not conn.execute(select(Callback.id)).first():
            return False  # not planned yet
        untried = conn.execute(select(func.count()).where(
            Callback.attempts == 0,
            Callback.status.in_([CallbackStatus.PENDING, CallbackStatus.CLAIMED]))
        ).scalar_one()
        busy = conn.execute(select(func.count()).where(
            CallAttempt.status == AttemptStatus.IN_PROGRESS)).scalar_one()
        claimed = conn.execute(select(func.count()).where(
            Callback.status == CallbackStatus.CLAIMED)).scalar_one()
    return int(untried) == 0 and int(busy) == 0 and int(claimed) == 0
