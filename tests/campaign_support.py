"""Running a real campaign (scheduler, dialer, recognition, store) in the test reactor
against the citizen simulator, with the campaign's clock in the test's hands."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from dialer.callsession import Prompts, SessionSettings
from dialer.campaign import Campaign, CampaignSettings
from dialer.channels import ChannelPool
from dialer.media import PortRange
from dialer.simulator import Citizen, CitizenSimulator
from dialer.sipudp import SipEndpoint
from dialer.uac import CallSettings
from dialer.windows import CallingWindows
from store.callbacks import TicketDetails
from store.campaign_models import CallAttempt, Callback
from store.enums import AttemptStatus, CallbackStatus
from tests.peers import free_udp_port, on_reactor, reactor
from tests.test_callsession import pool, prompts

NOW = datetime(2026, 11, 20, 10, 0)  # a Friday, inside the default morning window


@dataclass
class Clock:
    """The campaign's wall clock: moves with real time from `start`, or jumps."""

    start: datetime = NOW
    offset: timedelta = timedelta(0)
    began: float = field(default_factory=time.monotonic)

    def __call__(self) -> datetime:
        elapsed = timedelta(seconds=time.monotonic() - self.began)
        return (self.start + self.offset + elapsed).replace(microsecond=0)

    def jump(self, to: datetime) -> None:
        self.start, self.offset, self.began = to, timedelta(0), time.monotonic()


def short_prompts(details: list[TicketDetails], today: date) -> Prompts:
    return prompts()


@dataclass
class Running:
    campaign: Campaign
    simulator: CitizenSimulator
    ports: list[Any]

    def stop(self) -> None:
        def go() -> Any:
            def close(_: Any) -> None:
                for port in self.ports:
                    port.stopListening()
            return self.campaign.stop().addBoth(close)
        on_reactor(go)


def start_campaign(engine: Engine, citizens: dict[str, Citizen], tmp_path: Path,
                   clock: Clock, *, channels: int = 4,
                   windows: CallingWindows | None = None, target: str | None = None,
                   ports: PortRange | None = None, **overrides: Any) -> Running:
    """A campaign calling the simulator's `citizens`, or `target` (another callee)."""
    simulator = CitizenSimulator(reactor, citizens)

    def go() -> Running:
        uas = reactor.listenUDP(0, simulator, interface="127.0.0.1")
        endpoint = SipEndpoint(reactor)
        sip = reactor.listenUDP(0, endpoint, interface="127.0.0.1")
        low = free_udp_port(40)
        settings = CampaignSettings(
            windows=windows or CallingWindows(), tick_s=0.5, plan_every_s=2.0,
            recordings=tmp_path / "recordings", node=overrides.pop("node", "test"),
            target=target or f"sip:{{number}}@127.0.0.1:{uas.getHost().port}", **overrides)
        campaign = Campaign(
            reactor, engine, settings, endpoint=endpoint,
            channels=ChannelPool(reactor, channels, 20.0),
            call_settings=CallSettings("sip:x@127.0.0.1", ("127.0.0.1", sip.getHost().port),
                                       0, ring_timeout=3.0),
            ports=ports or PortRange(low, low + 38), bind="127.0.0.1", prepare=short_prompts,
            recognition=pool(), session=SessionSettings(no_input_s=2.0), now=clock)
        campaign.start()
        return Running(campaign, simulator, [uas, sip])

    return on_reactor(go)


def callbacks_by_status(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {str(s): int(n) for s, n in conn.execute(
            select(Callback.status, func.count()).group_by(Callback.status)).all()}


def wait_until(check: Callable[[], bool], timeout_s: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"not reached within {timeout_s:g} s: {what}")


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
