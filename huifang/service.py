"""The one place the running service is wired (`huifang run`, `huifang demo`, `huifang
call` and the benchmarks all come through here): from the settings to the trunk's
dialer, the thread pools, prompts, recognition, the campaign, the health and metrics
page and the supervisors' console, all on one Twisted reactor. What differs between
those commands is their settings, not their wiring.

Sockets: SIP and RTP are opened by `dialer/` (`Dialer.listen`, `Dialer.bind_media`);
the HTTP ports (console, health and metrics) are the application's own edge.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from twisted.internet.defer import Deferred

from dialer.callsession import SessionSettings
from dialer.campaign import Campaign, CampaignSettings
from dialer.metrics import Metrics
from dialer.prompting import CallPrompts
from dialer.sipactions import Credentials
from dialer.sipconnect import TlsSettings
from dialer.siptransport import Transport
from dialer.trunk import Dialer, TrunkConfig, host_port
from dialer.windows import CallingWindows, RetryPolicy
from dialer.workers import Workers
from huifang.bulletins import BulletinJob, BulletinMaker
from huifang.config import WEEKDAYS, CampaignSection, Settings
from huifang.health import health_site
from huifang.reasons import ReasonJob
from huifang.recognition_processes import ProcessRecognitionPool
from huifang.recognition_worker import SettingsEngine
from huifang.recordings import Pruner, RetentionJob
from huifang.speech import engine_from, policy_from
from huifang.spot_checks import AccuracyCollector, SpotCheckJob
from ivr.confirm import ConfirmSettings
from ivr.pool import Recognition, RecognitionPool
from prompts.cache import PromptCache
from prompts.catalog import load_catalog
from prompts.render import PromptRenderer
from prompts.tts import EspeakWorker, Voice
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


def campaign_settings(settings: Settings) -> CampaignSettings:
    c, t = settings.campaign, settings.trunk
    base = RetryPolicy()
    delays = {**base.delays, **{k: timedelta(minutes=v) for k, v in c.retry_minutes.items()}}
    retry = RetryPolicy(delays, c.max_attempts, c.max_calls_per_number_per_day)
    return CampaignSettings(
        windows=windows_of(c), retry=retry, delay_days=c.delay_days,
        within_days=c.within_days, tick_s=c.tick_s, lease=timedelta(seconds=c.lease_s),
        reopen_on_negative=c.reopen_on_negative, recordings=Path(c.recordings_dir),
        trunk_backoff_s=c.trunk_backoff_s,
        target=t.target, dial_prefix=t.dial_prefix, routes=tuple(t.routes.items()),
        node=c.node or f"{socket.gethostname()}-{os.getpid()}")


def trunk_config(settings: Settings, password: str = "") -> TrunkConfig:
    t = settings.trunk
    low, _, high = t.rtp_ports.partition("-")
    return TrunkConfig(
        bind=t.bind, sip_port=t.sip_port, rtp_low=int(low), rtp_high=int(high),
        proxy=host_port(t.proxy) if t.proxy else None,
        credentials=Credentials(t.username, password) if t.username else None,
        ring_timeout=t.ring_timeout_s, max_channels=t.max_channels,
        calls_per_second=t.calls_per_second,
        registrar=host_port(t.registrar) if t.registrar else None, aor=t.aor,
        register_expires=t.register_expires_s, rtp_latching=t.rtp_latching, rtcp=t.rtcp,
        session_expires=t.session_expires_s, min_se=t.min_se_s,
        accept_from=tuple(t.accept_from), transport=Transport(t.transport),
        tls=TlsSettings(t.tls_ca, t.tls_cert, t.tls_key, t.tls_server_name))


def prompt_renderer(settings: Settings) -> PromptRenderer:
    """The prompt renderer of the settings (TtsUnavailable without espeak-ng)."""
    p = settings.prompts
    return PromptRenderer(load_catalog(p.texts), PromptCache(Path(p.cache_dir)),
                          EspeakWorker(timeout_s=p.timeout_s), Voice(p.voice, p.rate, p.pitch),
                          hotline=settings.hotline, city=settings.city,
                          summary_max_chars=p.summary_max_chars,
                          overrides=Path(p.overrides_dir) if p.overrides_dir else None)


def build_dialer(settings: Settings, reactor: Any, clock: Any = None, password: str = ""
                 ) -> Dialer:
    """The trunk alone (`huifang call`): nothing listens until `listen()`. The hosts the
    campaign calls (its target and routes) are the trunk's from the start: their OPTIONS
    keep-alives are answered before the first INVITE."""
    dialer = Dialer(reactor, trunk_config(settings, password), clock=clock)
    t = settings.trunk
    for uri in (t.target, *t.routes.values()):
        dialer.trust(uri)
    return dialer


@dataclass
class Service:
    """Everything `huifang run` runs; `start()` opens the ports and starts the campaign."""

    reactor: Any
    settings: Settings
    engine: Engine
    dialer: Dialer
    workers: Workers
    campaign: Campaign
    metrics: Metrics
    prompts: CallPrompts
    recognition: Recognition | None
    console_address: str = ""  # host:port of the web console on this reactor; empty: none
    reasons: ReasonJob | None = None  # transcribing reasons in the background; None: off
    retention: RetentionJob | None = None  # deleting expired recordings; None: kept forever
    bulletins: BulletinJob | None = None  # 日报/周报/月报 on schedule; None: off
    spot_checks: SpotCheckJob | None = None  # the daily 抽检 draw and its alert; None: off
    http_port: Any = None
    console_port: Any = None
    _stopped: Deferred[None] | None = field(default=None, init=False)

    def start(self) -> Deferred[Any]:
        """Bind the console first (a taken port fails before anything else is bound),
        then SIP, then health and metrics; the Deferred fires when the campaign has
        started. OSError or CannotListenError if a port is taken."""
        if self.console_address:
            self.console_port = self.listen_console(self.console_address)
        try:
            self.dialer.listen()
            address = self.settings.campaign.http
            if address:
                host, port = host_port(address)
                self.http_port = self.reactor.listenTCP(
                    port, health_site(self.campaign, self.metrics, local_now), interface=host)
        except BaseException:
            self._close_ports(keep_console=False)
            raise
        if self.reasons is not None:
            self.reasons.start()
        if self.retention is not None:
            self.retention.start()
        if self.bulletins is not None:
            self.bulletins.start()
        if self.spot_checks is not None:
            self.spot_checks.start()
        return self.campaign.start()

    def listen_console(self, address: str) -> Any:
        return listen_console(self.reactor, self.engine, self.settings, self.workers, address)

    def stop(self, *, keep_console: bool = False) -> Deferred[None]:
        """Stop the campaign gracefully (calls in progress finish), then close the ports:
        the console's too unless `keep_console` (the demo serves it on after its
        campaign), and the pools."""
        if self._stopped is None:
            self.dialer.unregister()  # REGISTER with Expires: 0 while the socket is open

            def close(result: Any) -> Any:
                self._close_ports(keep_console=keep_console)
                if self.recognition is not None:  # worker processes, if any, end here
                    self.recognition.shutdown()
                if not keep_console:
                    self.workers.stop()
                return result

            reasons = self.reasons.stop() if self.reasons is not None else None
            stopped = self.campaign.stop()
            pruning = self.retention.stop() if self.retention is not None else None
            making = self.bulletins.stop() if self.bulletins is not None else None
            drawing = self.spot_checks.stop() if self.spot_checks is not None else None
            if drawing is not None:  # its draw running in the store pool ends first
                stopped = stopped.addBoth(lambda result: drawing.addBoth(lambda _: result))
            if making is not None:  # a bulletin being made in the store pool ends first
                stopped = stopped.addBoth(lambda result: making.addBoth(lambda _: result))
            if pruning is not None:  # its batch running in the store pool ends first
                stopped = stopped.addBoth(lambda result: pruning.addBoth(lambda _: result))
            if reasons is not None:
                stopped = stopped.addBoth(lambda result: reasons.addBoth(lambda _: result))
            self._stopped = stopped.addBoth(close)
        return self._stopped

    def _close_ports(self, *, keep_console: bool) -> None:
        self.dialer.stop()
        if self.http_port is not None:
            self.http_port.stopListening()
            self.http_port = None
        if self.console_port is not None and not keep_console:
            self.console_port.stopListening()
            self.console_port = None


def listen_console(reactor: Any, engine: Engine, settings: Settings, workers: Workers,
                   address: str) -> Any:
    """Serve the supervisors' console on host:port, its store work on `workers`."""
    from huifang.web.routes import console_site  # noqa: PLC0415 - only when served

    host, port = host_port(address)
    _web, site = console_site(engine, settings, local_now, workers.store)
    return reactor.listenTCP(port, site, interface=host)


def serve_console(settings: Settings, reactor: Any, engine: Engine, address: str) -> Any:
    """`huifang console`: the console alone, with a store pool of its own."""
    workers = Workers(reactor, single_writer=engine.dialect.name == "sqlite",
                      engine_threads=1)
    try:
        return listen_console(reactor, engine, settings, workers, address)
    except BaseException:
        workers.stop()
        raise


class RecognitionUnavailable(RuntimeError):
    """The configured speech engine or its model cannot be loaded."""


def recognition_processes(configured: int | None) -> int:
    """`[recognition] processes`: as configured, or one per core when unset."""
    if configured is not None:
        return configured
    return max(1, min(64, len(os.sched_getaffinity(0))))  # the cores this process may use


def load_recognition(settings: Settings, workers: Workers) -> Recognition:
    """The configured engine: in `[recognition] processes` worker processes of its own
    (unset: one per core), or, with 0, on the engines pool of this process (`workers`
    threads)."""
    r = settings.recognition
    processes = recognition_processes(r.processes)
    try:
        if processes:
            return ProcessRecognitionPool(SettingsEngine(r), processes,
                                          timeout_s=r.process_timeout_s)
        return RecognitionPool(engine_from(r), r.workers, executor=workers.engines)
    except (OSError, RuntimeError, ValueError) as exc:
        raise RecognitionUnavailable(f"{r.engine} model {r.model}: {exc}") from exc


def session_settings(settings: Settings, recognition: Recognition | None
                     ) -> SessionSettings:
    """How a call decides on what it heard: the same threshold, rival margin and policy
    as `huifang recognize` and `asr-eval` (`huifang.speech.decode`)."""
    r = settings.recognition
    margin = recognition.rival_margin if recognition else None
    return SessionSettings(accept=r.accept, no_input_s=settings.campaign.no_input_s,
                           policy=policy_from(r),
                           margin=SessionSettings.margin if margin is None else margin,
                           confirm=ConfirmSettings(r.confirm, r.confirm_min_coverage))


def build_service(settings: Settings, reactor: Any, engine: Engine, *, clock: Any = None,
                  password: str = "", keys_only: bool = False,
                  metrics: Metrics | None = None) -> Service:
    """The service of `settings`; nothing is bound or started until `Service.start()`.
    Renders the fixed prompts now, so a broken TTS is found before any call (PromptError,
    TtsUnavailable, OSError). `keys_only`: no speech recognition (the demo, when no
    model is installed); otherwise a model that cannot load is RecognitionUnavailable."""
    metrics = metrics or Metrics()
    transcribing = settings.reasons.transcribe  # one engine thread waits on its process
    workers = Workers(reactor, single_writer=engine.dialect.name == "sqlite",
                      engine_threads=settings.recognition.workers + 1 + transcribing)
    try:
        prompts = CallPrompts(prompt_renderer(settings),
                              on_source=lambda source: metrics.prompts.labels(source).inc())
        prompts.fixed()
        recognition = None if keys_only else load_recognition(settings, workers)
    except BaseException:
        workers.stop()
        raise
    dialer = build_dialer(settings, reactor, clock, password)
    metrics.watch_sip_drops(lambda: dialer.endpoint.dropped)
    if isinstance(recognition, ProcessRecognitionPool):
        pool = recognition
        metrics.watch_recognisers(lambda: pool.restarts, lambda: pool.turns_lost)
    campaign = Campaign(
        reactor, engine, campaign_settings(settings), dialer=dialer, workers=workers,
        prepare=prompts.prepare, recognition=recognition,
        session=session_settings(settings, recognition),
        now=local_now, metrics=metrics, clock=clock)
    reasons = ReasonJob(engine, settings, workers, local_now, clock=clock or reactor) \
        if transcribing else None
    c = settings.campaign
    retention = RetentionJob(Pruner(engine, Path(c.recordings_dir), c.recordings_keep_days,
                                    local_now), clock or reactor, workers.store) \
        if c.recordings_keep_days else None
    bulletins = BulletinJob(BulletinMaker(engine, settings, local_now,
                                          node=campaign_settings(settings).node),
                            clock or reactor, workers.store, workers.engine) \
        if settings.bulletins.enabled else None
    spot_checks = SpotCheckJob(engine, settings.spot_checks, local_now, clock or reactor,
                               workers.store) if settings.spot_checks.enabled else None
    if spot_checks is not None:
        metrics.registry.register(AccuracyCollector(lambda: spot_checks.accuracy))
    return Service(reactor, settings, engine, dialer, workers, campaign, metrics, prompts,
                   recognition, console_address=settings.console.bind, reasons=reasons,
                   retention=retention, bulletins=bulletins, spot_checks=spot_checks)

