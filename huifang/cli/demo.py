"""`huifang demo`: the main job on the embedded default, with nothing configured.

Builds a SQLite store from a generated hotline through the real import path, then runs
a callback campaign through the real service (scheduler, SIP dialer, media, speech
recognition, store) against a loopback citizen simulator, and prints what came of it:
the outcomes, the month's ranking with the automatic callbacks counted, and where the
recordings and reports are.
"""

from __future__ import annotations

import csv
import logging
import shutil
import signal
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError

from huifang import doctor
from huifang.cli.app import App, out, pass_app
from huifang.cli.doctor import print_check
from huifang.cli.imports import import_file
from huifang.cli.render import import_line, print_summary
from huifang.cli.report import print_ranking, rules_of, write_outputs
from huifang.config import Settings
from huifang.demo.citizens import (
    Speech,
    live_progress,
    make_citizens,
    outcome_table,
    progress_of,
    settled,
    settled_by_the_machine,
    simulator,
)
from huifang.demo.month_end import close_the_month
from huifang.models import install_shared_for_demo
from huifang.service import RecognitionUnavailable, Service, build_service, local_now
from prompts.cache import PromptCache
from prompts.catalog import PromptError
from prompts.tts import EspeakWorker, TtsUnavailable
from scoring.periods import parse_period
from scoring.report import build_report
from store import accounts
from store.db import make_engine, upgrade
from store.enums import Role
from store.sample import generate
from store.summary import summarize

log = logging.getLogger(__name__)


def demo_settings(settings: Settings, directory: Path, channels: int) -> Settings:
    """Loopback trunk, calling windows open round the clock (a demo may run at night;
    a real campaign never calls outside its windows), due at once, fast ticks."""
    trunk = settings.trunk.model_copy(update={
        "bind": "127.0.0.1", "sip_port": 0, "max_channels": channels, "calls_per_second": 4.0,
        "ring_timeout_s": 8.0})
    campaign = settings.campaign.model_copy(update={
        "windows": ["00:00-24:00"], "weekday_windows": {}, "skip_holidays": False,
        "delay_days": 1, "tick_s": 1.0, "http": "127.0.0.1:0", "node": "demo",
        "recordings_dir": str(directory / "recordings"), "no_input_s": 4.0})
    bulletins = settings.bulletins.model_copy(update={"dir": str(directory / "bulletins")})
    return settings.model_copy(update={"trunk": trunk, "campaign": campaign,
                                       "bulletins": bulletins})


def checkup(settings: Settings) -> None:
    """`huifang doctor`'s checks of this node on the demo's settings, each with its fix:
    all but the trunk and its RTP ports (the demo's trunk is its own simulator, started
    later). The demo goes on whatever they say (without a model, on keys)."""
    out.print("   体检 doctor: what `huifang doctor` checks before a real node calls anyone",
              highlight=False)
    for check in (doctor.database(settings), doctor.model(settings), doctor.tts(settings),
                  doctor.disk(settings), doctor.clock(settings), doctor.calendar(settings)):
        print_check(check, indent="   ")


@click.command("demo")
@click.option("--dir", "directory", type=click.Path(path_type=Path),
              default=Path("var/demo"), show_default=True,
              help="Working directory of the demo (recreated each run).")
@click.option("--tickets", type=click.IntRange(1), default=3000, show_default=True)
@click.option("--callbacks", type=click.IntRange(1, 500), default=50, show_default=True,
              help="Fresh closures the campaign calls back.")
@click.option("--channels", type=click.IntRange(1, 100), default=12, show_default=True)
@click.option("--seed", type=int, default=12345, show_default=True)
@click.option("--console", "console_address", default="127.0.0.1:8345", show_default=True,
              help="Serve the supervisors' console here during and after the campaign "
                   "(port 0: any free port; empty: no console).")
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="Keep serving the console after the campaign, until Ctrl-C.")
@pass_app
def demo_command(app: App, directory: Path, tickets: int, callbacks: int, channels: int,
                 seed: int, console_address: str, serve: bool) -> None:
    """Build a demo hotline in a fresh SQLite database, run a callback campaign, and
    serve the supervisors' console on it."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    db_path = directory / "huifang.db"
    url = f"sqlite:///{db_path}"
    now = local_now()
    out.rule("huifang demo")
    out.print(f"1. 生成示例热线 generating {tickets} tickets (seed {seed})", highlight=False)
    # History ends 8 days ago: the only closures young enough to call are the demo's own.
    sample = generate(directory / "sample", tickets=tickets, seed=seed,
                      end=now - timedelta(days=8))
    out.print(f"2. 建库 creating {db_path}", highlight=False)
    engine = make_engine(url)
    upgrade(engine)
    out.print("3. 导入 importing through the real import path")
    for kind, path in sample.files():
        result = import_file(engine, app, kind, path, quiet=True)
        out.print(import_line(result), highlight=False)
    out.print("4. 概况 summary")
    print_summary(out, summarize(engine))

    installed = install_shared_for_demo(app.settings.recognition)
    if installed is not None:
        out.print(f"   模型 the shared Mandarin model installed into {installed}",
                  highlight=False)
    settings = demo_settings(app.settings, directory, channels)
    checkup(settings.model_copy(update={
        "database": settings.database.model_copy(update={"url": url})}))
    out.print(f"5. 回访市民 {callbacks} closures from yesterday, for the citizen simulator",
              highlight=False)
    try:
        worker = EspeakWorker()
    except TtsUnavailable as exc:
        out.print(f"[red]{exc}[/]")
        raise SystemExit(1) from exc
    speech = Speech(worker, PromptCache(Path(settings.prompts.cache_dir)))
    units = _unit_names(sample.directory / "units.csv")
    citizens = make_citizens(directory, speech, units, callbacks, now, seed)
    result = import_file(engine, app, "tickets", citizens.tickets_csv, quiet=True)
    out.print(import_line(result), highlight=False)
    worker.close()

    if console_address:
        demo_users(engine, now)
    out.print("6. 回访活动 the campaign: scheduler, SIP, media and speech on loopback")
    logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))

    def results(summary: str, console: Any) -> None:
        out.print(outcome_table(engine, citizens))
        done, answered = settled_by_the_machine(engine)
        share = f"{done / answered:.0%}" if answered else "-"
        out.print(f"自动办结 settled by the machine: {done} of {answered} answered calls "
                  f"({share}) with both answers; the rest go to review (复核). The citizens "
                  "speak in voices the recogniser was never tuned on.", highlight=False)
        out.print(f"指标 metrics: {summary}", highlight=False)
        # the last 30 days: the generated history and the demo's own callbacks, whatever
        # the day of the month (early in a month, the month alone holds nearly nothing)
        period = parse_period(f"{(now - timedelta(days=29)).date()}..{now.date()}")
        out.print(f"7. 排名 ranking of the last 30 days, {period.label} (智能回访 counted at "
                  "once)", highlight=False)
        ranking = build_report(engine, period, rules=rules_of(app), now=now)
        print_ranking(out, ranking)
        reports = directory / "reports"
        write_outputs(ranking, tuple(reports / f"report-{period.label}.{ext}"
                                     for ext in ("json", "xlsx", "html", "pdf")))
        out.print(f"database: {db_path}\nrecordings: {directory / 'recordings'}\n"
                  f"reports: {reports}", highlight=False)
        out.print(f"explore it: HUIFANG_DB={url} huifang campaign status", highlight=False)
        close_the_month(engine, settings, citizens, local_now, out)
        if console is not None:
            host = console.getHost()
            base = f"http://{host.host}:{host.port}"
            out.print(f"9. 回访质检台 the supervisors' console: {base}/"
                      + ("  (Ctrl-C 退出 to stop)" if serve else ""), highlight=False)
            out.print(f"   this ranking there: {base}/rankings?period={period.label}",
                      highlight=False)
            out.print(f"   the accuracy on {base}/dashboard and {base}/spot-checks, the "
                      f"reasons on {base}/reasons, the 月报 on {base}/bulletins",
                      highlight=False)
            logins = "  ".join(f"{name} / {DEMO_PASSWORD} ({label})"
                               for name, _role, label in DEMO_USERS)
            out.print(f"   demo login 演示账号: {logins}", highlight=False)

    _run_campaign(engine, settings, citizens, console_address, serve, results)


def _unit_names(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))[1:]
    streets = [r[0] for r in rows if r[3] in ("街道", "社区")]
    return streets or [r[0] for r in rows]


DEMO_PASSWORD = "huifang-demo"
DEMO_USERS = (("zhijian", Role.SUPERVISOR, "质检员"), ("lingdao", Role.VIEWER, "领导"),
              ("admin", Role.ADMIN, "管理员"))


def demo_users(engine: Any, now: Any) -> None:
    """The demo's console accounts, all with one known password (a loopback demo only)."""
    from huifang.web.auth import hash_password  # noqa: PLC0415

    hashed = hash_password(DEMO_PASSWORD)
    for name, role, label in DEMO_USERS:
        accounts.add_user(engine, name, f"演示{label}", role, hashed, "demo", now)


def _build(engine: Any, settings: Settings, reactor: Any) -> Service:
    """The real service on the demo's settings; calls fall back to keys when no speech
    model can be loaded, as they would on a real line."""
    try:
        return build_service(settings, reactor, engine)
    except RecognitionUnavailable as exc:
        out.print(f"[yellow]speech recognition unavailable ({exc}): the calls fall back to "
                  "keys, as they would on a real line[/]")
        return build_service(settings, reactor, engine, keys_only=True)


def _start(service: Service) -> Deferred[Any]:
    try:
        return service.start()
    except CannotListenError as exc:
        address = service.console_address
        out.print(f"[yellow]{address} is taken ({exc.socketError}); the console takes any "
                  "free port instead[/]")
        service.console_address = f"{address.rpartition(':')[0]}:0"
        return service.start()


def _run_campaign(engine: Any, settings: Settings, citizens: Any, console_address: str,
                  serve: bool, results: Callable[[str, Any], None]) -> None:
    """Run the campaign on the reactor; when it has settled, stop it and print the
    results, and keep the console serving until Ctrl-C if asked to."""
    from twisted.internet import reactor as _reactor  # noqa: PLC0415 - the demo only
    from twisted.internet.task import LoopingCall  # noqa: PLC0415

    reactor: Any = _reactor
    _uas, uas_port = simulator(reactor, citizens)
    target = f"sip:{{number}}@127.0.0.1:{uas_port.getHost().port}"
    settings = settings.model_copy(update={
        "trunk": settings.trunk.model_copy(update={"target": target}),
        "console": settings.console.model_copy(update={"bind": console_address})})
    try:
        service = _build(engine, settings, reactor)
    except (PromptError, TtsUnavailable, OSError) as exc:
        out.print(f"[red]cannot start the service: {exc}[/]")
        raise SystemExit(1) from exc
    started = _start(service)
    progress = live_progress(out)
    task = progress.add_task("", total=citizens.tickets)
    summary: dict[str, str] = {}

    def poll() -> None:
        total, touched, outcomes = progress_of(engine)
        calls = len(service.campaign.calls)
        text = " ".join(f"{k}:{v}" for k, v in outcomes.most_common())
        progress.update(task, completed=touched, total=max(total, 1),
                        description=f"{calls} calls now  {text}")
        if total and touched >= total and settled(engine, local_now()) and not calls:
            looping.stop()
            metrics = service.campaign.metrics
            latency = next(iter(metrics.turn_latency.collect())).samples
            count = next((s.value for s in latency if s.name.endswith("_count")), 0)
            total_s = next((s.value for s in latency if s.name.endswith("_sum")), 0)
            summary["text"] = (f"{int(count)} turns, mean turn latency "
                               f"{1000 * total_s / count:.0f} ms" if count else "no turns")
            stopped = service.stop(keep_console=serve)
            stopped.addBoth(lambda _: progress.stop())
            stopped.addCallback(lambda _: results(summary["text"], service.console_port))
            stopped.addErrback(lambda f: out.print(f"[red]{f.getErrorMessage()}[/]"))
            if not serve or service.console_port is None:
                stopped.addBoth(lambda _: reactor.stop())

    looping = LoopingCall(poll)
    started.addCallback(lambda _: looping.start(1.0))

    def failed(failure: Any) -> None:
        out.print(f"[red]the campaign failed: {failure.getErrorMessage()}[/]")
        reactor.stop()

    started.addErrback(failed)
    progress.start()
    # Ctrl-C stops the demo, as it says, also when it was started from a shell without
    # job control (a script's `&`): POSIX starts such a child with SIGINT ignored, and
    # Python and Twisted then leave it so (both demo tests timed out at Ctrl-C that way)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    reactor.run(installSignalHandlers=True)
    progress.stop()
    uas_port.stopListening()

