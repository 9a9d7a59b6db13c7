"""The running service (`huifang run`, and the demo): the campaign, its SIP endpoint,
recognition, prompts, and an HTTP endpoint for health and Prometheus metrics, all on
one Twisted reactor."""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, cast

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request, Site

from console.config import WEEKDAYS, CampaignSection, Settings
from dialer.callsession import SessionSettings
from dialer.campaign import Campaign, CampaignSettings, PreparePrompts
from dialer.channels import ChannelPool
from dialer.media import PortRange
from dialer.metrics import Metrics
from dialer.register import RegistrationSettings
from dialer.sipudp import RegistrationRunner, SipEndpoint
from dialer.uac import CallSettings, Credentials
from dialer.windows import CallingWindows, RetryPolicy
from ivr.pool import RecognitionPool
from store.models import HOTLINE_TZ

log = logging.getLogger(__name__)


def local_now() -> datetime:
    """The hotline's wall clock, naive, as the store keeps it."""
    return datetime.now(HOTLINE_TZ).replace(tzinfo=None, microsecond=0)


def _window(text: str) -> tuple[time, time]:
    start, end = text.split("-")
    return time.fromisoformat(start), time.max if end == "24:00" else time.fromisoformat(end)


def windows_of(section: CampaignSection) -> CallingWindows:
    default = tuple(_window(w) for w in section.windows)
    by_day = {i: tuple(_window(w) for w in section.weekday_windows.get(day, ()))
              if day in section.weekday_windows else default
              for i, day in enumerate(WEEKDAYS)}
    return CallingWindows(by_day, section.skip_holidays)


def campaign_settings(settings: Settings, node: str | None = None) -> CampaignSettings:
    c, t = settings.campaign, settings.trunk
    base = RetryPolicy()
    delays = {**base.delays, **{k: timedelta(minutes=v) for k, v in c.retry_minutes.items()}}
    retry = RetryPolicy(delays, c.max_attempts, c.max_calls_per_number_per_day)
    return CampaignSettings(
        windows=windows_of(c), retry=retry, delay_days=c.delay_days,
        within_days=c.within_days, tick_s=c.tick_s, lease=timedelta(seconds=c.lease_s),
        reopen_on_negative=c.reopen_on_negative, recordings=Path(c.recordings_dir),
        target=t.target, dial_prefix=t.dial_prefix,
        node=node or c.node or f"{socket.gethostname()}-{os.getpid()}")


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


@dataclass
class Service:
    campaign: Campaign
    sip: Any
    http: Any
    recognition: RecognitionPool | None
    registration: RegistrationRunner | None = None
    console: Any = None  # the web console's listening port, when served here

    def stop(self, *, keep_console: bool = False) -> Any:
        """Stop the campaign gracefully, then close the ports (the console's too unless
        `keep_console`: the demo serves it on after its campaign)."""
        if self.registration is not None:
            self.registration.stop()  # REGISTER with Expires: 0

        def close(_: Any) -> Any:
            self.sip.stopListening()
            if self.console is not None and not keep_console:
                self.console.stopListening()
            if self.http is not None:
                self.http.stopListening()
            if self.recognition is not None:
                self.recognition.shutdown()
        return self.campaign.stop().addBoth(close)


class Health(Resource):
    isLeaf = True

    def __init__(self, campaign: Campaign) -> None:
        super().__init__()
        self.campaign = campaign

    def render_GET(self, request: Request) -> bytes:
        c = self.campaign
        body = {"status": "stopping" if c.stopping else ("paused" if c.paused else "running"),
                "node": c.settings.node, "calls_in_progress": len(c.calls),
                "channels": c.channels.max_channels, "now": local_now().isoformat()}
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(body).encode()


class MetricsPage(Resource):
    isLeaf = True

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.metrics = metrics

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode())
        return bytes(generate_latest(self.metrics.registry))


def start_service(reactor: Any, engine: Engine, settings: Settings, *,
                  prepare: PreparePrompts, recognition: RecognitionPool | None,
                  campaign_overrides: CampaignSettings | None = None,
                  sip_port: int | None = None, http: str | None = None,
                  password: str = "", metrics: Metrics | None = None,
                  console: str = "") -> tuple[Service, Any]:
    """Listen, build the campaign and start it; returns the service and a Deferred that
    fires when the campaign has started. `console` is host:port for the supervisors'
    web console on the same reactor (empty: not served)."""
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per tick otherwise
    console_port = None
    if console:  # first: a taken port fails before anything else is bound
        from console.web.routes import listen_console  # noqa: PLC0415

        _web, console_port = listen_console(reactor, engine, settings, local_now, console)
    t = settings.trunk
    endpoint = SipEndpoint(reactor, host=t.bind)
    sip = reactor.listenUDP(t.sip_port if sip_port is None else sip_port, endpoint,
                            interface=t.bind)
    low, _, high = t.rtp_ports.partition("-")
    call_settings = CallSettings(
        target="sip:placeholder@127.0.0.1", local=(t.bind, sip.getHost().port), media_port=0,
        proxy=_hostport(t.proxy) if t.proxy else None, ring_timeout=t.ring_timeout_s,
        credentials=Credentials(t.username, password) if t.username else None)
    metrics = metrics or Metrics()
    campaign = Campaign(
        reactor, engine, campaign_overrides or campaign_settings(settings),
        endpoint=endpoint, channels=ChannelPool(reactor, t.max_channels, t.calls_per_second),
        call_settings=call_settings, ports=PortRange(int(low), int(high)), bind=t.bind,
        prepare=prepare, recognition=recognition,
        session=SessionSettings(accept=settings.recognition.accept,
                                no_input_s=settings.campaign.no_input_s),
        now=local_now, metrics=metrics)
    listening = None
    address = http if http is not None else settings.campaign.http
    if address:
        root = Resource()
        # zope.interface: mypy cannot see that a Resource provides IResource
        root.putChild(b"health", cast(IResource, Health(campaign)))
        root.putChild(b"metrics", cast(IResource, MetricsPage(metrics)))
        host, port = _hostport(address)
        listening = reactor.listenTCP(port, Site(root), interface=host)
    registration = None
    if t.registrar:
        host, port = _hostport(t.registrar)
        registration = endpoint.register(RegistrationSettings(
            registrar=(host, port), aor=t.aor or f"sip:{t.username or 'huifang'}@{host}",
            local=(t.bind, sip.getHost().port), expires=t.register_expires_s,
            credentials=Credentials(t.username, password) if t.username else None))
    service = Service(campaign, sip, listening, recognition, registration, console_port)
    return service, campaign.start()
