"""`huifang run` (the service) and `huifang campaign status|pause|resume|run-now`, and
the do-not-call list (`huifang dnc add|remove|list`)."""

from __future__ import annotations

import getpass
import json
import signal
import sys
from dataclasses import asdict
from typing import Any

import click
from twisted.internet.error import CannotListenError

from huifang.cli.app import EXIT_ERROR, App, err, fail, out, pass_app
from huifang.service import RecognitionUnavailable, build_service, local_now
from prompts.catalog import PromptError
from prompts.tts import TtsUnavailable
from store import campaign as state
from store.enums import CALLBACK_STATUS_LABELS, CallbackStatus
from store.phones import PhoneError, mask_phone


@click.command("run")
@click.option("--password", envvar="HUIFANG_SIP_PASSWORD", default="",
              help="Trunk digest password (or $HUIFANG_SIP_PASSWORD).")
@click.option("--node", default=None, help="This process's name (default: host-pid).")
@pass_app
def run(app: App, password: str, node: str | None) -> None:
    """Run the campaign: scheduler, dialer, health and metrics. SIGTERM or Ctrl-C stops it
    gracefully (calls in progress finish; a second signal stops at once)."""
    settings = app.settings
    if node:
        settings = settings.model_copy(update={"campaign": settings.campaign.model_copy(
            update={"node": node})})
    engine = app.engine()
    from twisted.internet import reactor as _reactor  # noqa: PLC0415 - the service only

    reactor: Any = _reactor
    try:
        service = build_service(settings, reactor, engine, password=password)
    except (PromptError, TtsUnavailable, RecognitionUnavailable, OSError) as exc:
        fail(f"cannot start: {exc}")
    try:
        started = service.start()
    except (OSError, CannotListenError) as exc:
        fail(f"cannot listen: {exc}")
    signals = {"count": 0}

    def on_signal(number: int, _frame: Any) -> None:
        signals["count"] += 1
        if signals["count"] > 1:
            reactor.callFromThread(reactor.stop)
            return
        out.print("停止中 stopping: calls in progress finish first", highlight=False)
        reactor.callFromThread(lambda: service.stop().addBoth(lambda _: reactor.stop()))

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def failed(failure: Any) -> None:
        signals["failed"] = 1
        err.print(f"[bold red]错误 error:[/] campaign failed to start: "
                  f"{failure.getErrorMessage()}", highlight=False)
        # what did start (registration, the background jobs) is stopped as on SIGTERM
        service.stop().addBoth(lambda _: reactor.stop())

    started.addErrback(failed)
    c = service.campaign.settings
    out.print(f"huifang run: node {c.node}, SIP {settings.trunk.bind}:"
              f"{service.dialer.local[1]}, health and metrics on "
              f"http://{settings.campaign.http}/health and /metrics", highlight=False)
    if service.console_port is not None:
        host = service.console_port.getHost()
        out.print(f"回访质检台 console: http://{host.host}:{host.port}/", highlight=False)
    reactor.run(installSignalHandlers=False)
    if signals.get("failed"):
        sys.exit(EXIT_ERROR)


@click.group()
def campaign() -> None:
    """See and steer the running campaign (every process sharing the database)."""


def _actor() -> str:
    try:
        return getpass.getuser()
    except OSError:
        return "operator"


@campaign.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def campaign_status(app: App, as_json: bool) -> None:
    """Callbacks by status, today's attempts by outcome, and the dialer processes."""
    now = local_now()
    status = state.status(app.engine(), now)
    if as_json:
        click.echo(json.dumps(asdict(status), ensure_ascii=False, default=str, indent=2))
        return
    s = status.state
    running = "已暂停 paused" if s.paused else "运行中 running"
    out.print(f"活动 campaign: {running}"
              + (f" (by {s.changed_by} at {s.changed_at:%Y-%m-%d %H:%M})" if s.changed_at
                 else ""), highlight=False)
    parts = [f"{CALLBACK_STATUS_LABELS[CallbackStatus(k)]} {k}: {v}"
             for k, v in sorted(status.callbacks.items())]
    out.print("回访任务 callbacks: " + ("  ".join(parts) or "none"), highlight=False)
    out.print(f"现在到期 due now: {status.due_now}", highlight=False)
    today = "  ".join(f"{k}: {v}" for k, v in sorted(status.attempts_today.items()))
    out.print(f"今日呼叫 attempts today: {today or 'none'}", highlight=False)
    for node, started, seen, calls, node_state in status.nodes:
        stale = f" (not seen for {now - seen})" if (now - seen).total_seconds() > 120 else ""
        out.print(f"节点 node {node}: {node_state}{stale}, {calls} calls, "
                  f"started {started:%m-%d %H:%M}, seen {seen:%H:%M:%S}",
                  highlight=False)


@campaign.command("pause")
@pass_app
def campaign_pause(app: App) -> None:
    """No new calls on any node (calls in progress finish)."""
    state.set_paused(app.engine(), True, _actor(), local_now())
    out.print("已暂停 paused: no new calls are placed", highlight=False)


@campaign.command("resume")
@pass_app
def campaign_resume(app: App) -> None:
    state.set_paused(app.engine(), False, _actor(), local_now())
    out.print("已恢复 resumed", highlight=False)


@campaign.command("run-now")
@pass_app
def campaign_run_now(app: App) -> None:
    """Look for due callbacks at once (calling windows still apply)."""
    engine = app.engine()
    if state.state(engine).paused:
        fail("the campaign is paused: resume it first")
    state.request_run_now(engine, _actor(), local_now())
    out.print("已请求 requested: the dialers look for due work at their next tick",
              highlight=False)


@click.group()
def dnc() -> None:
    """The do-not-call list (免打扰): numbers never called."""


@dnc.command("add")
@click.argument("phone")
@click.option("--reason", required=True)
@pass_app
def dnc_add(app: App, phone: str, reason: str) -> None:
    try:
        added = state.add_do_not_call(app.engine(), phone, reason, _actor(), local_now(),
                                      app.settings.phone.default_area_code)
    except (PhoneError, ValueError) as exc:
        fail(f"{phone!r}: {exc}")
    out.print(("已加入 added " if added else "已在名单 already listed ") + mask_phone(phone),
              highlight=False)


@dnc.command("remove")
@click.argument("phone")
@pass_app
def dnc_remove(app: App, phone: str) -> None:
    try:
        removed = state.remove_do_not_call(app.engine(), phone,
                                           app.settings.phone.default_area_code)
    except PhoneError as exc:
        fail(f"{phone!r}: {exc}")
    if not removed:
        fail(f"{mask_phone(phone)} is not on the list")
    out.print(f"已移除 removed {mask_phone(phone)}", highlight=False)


@dnc.command("list")
@pass_app
def dnc_list(app: App) -> None:
    for phone, reason, by, at in state.do_not_call(app.engine()):
        out.print(f"{mask_phone(phone)}  {at:%Y-%m-%d %H:%M}  {by}  {reason}", highlight=False)
