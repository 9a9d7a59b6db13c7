"""The callback campaign: jobs on the Twisted reactor pick due callbacks from the store
and drive calls through the channel pool, unattended.

Jobs (a `LoopingCall` each, on an injected clock: the reactor, or `task.Clock` in tests):
- `tick` at start and every `tick_s`: if the campaign is not paused and a calling window
  is open now, claim as many numbers' due callbacks as there are free channels and dial
  them;
- `plan` every `plan_every_s`: a due callback for every new closure;
- `heartbeat` every lease/3 (at least 1 s): keep this process's claims leased, recover
  claims of dead processes, report this node.

A job never runs twice at once: a run still going when the next one falls due makes
that one skipped, not queued (counted in `misfires`); a failed run is logged and the
job goes on. The job timers are the clock's; the calling windows are the wall clock's
(`now`), so tests move either without sleeping.

The window is checked again just before each INVITE, so a call held back by the
channel pool or the call rate never starts after its window closed. Store work runs in
a thread pool (one thread on SQLite); answers are written in the order they were taken.
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks, maybeDeferred
from twisted.internet.task import LoopingCall, deferLater
from twisted.python.failure import Failure

from dialer.callsession import CallReport, CallSession, Heard, Prompts, SessionSettings
from dialer.channels import Channel, PoolClosed
from dialer.defaults import DEFAULT_TARGET
from dialer.leftdialog import DialogRecord
from dialer.metrics import Metrics
from dialer.outcome_of import call_quality, stored_value, ticket_outcome
from dialer.processes import this_process
from dialer.recovery import Recovery, check_media_ports, end_left_calls, recover_claims
from dialer.trunk import Dialer
from dialer.windows import TRUNK_FAILURES, CallingWindows, RetryPolicy, first_due, next_attempt
from dialer.workers import Workers
from ivr import flow
from ivr.pool import Recognition
from store import campaign as state
from store.attempts import Answer, AttemptEnd, finish_attempt, save_answer, start_attempts
from store.callbacks import (
    Claimed,
    TicketDetails,
    claim,
    extend_leases,
    plan_callbacks,
    recover,
    release,
    ticket_details,
)
from store.caps import Counts, Decision
from store.dialogs import save_dialog
from store.enums import AttemptOutcome
from store.phones import mask_phone

log = logging.getLogger(__name__)
INFRASTRUCTURE = (OperationalError, InterfaceError, OSError)  # not a bug of ours
BUG_RETRY = timedelta(minutes=30)  # a call that failed by a bug is tried again this late
T = TypeVar("T")
PreparePrompts = Callable[[list[TicketDetails], date], Prompts]


@dataclass(frozen=True)
class CampaignSettings:
    windows: CallingWindows = field(default_factory=CallingWindows)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    delay_days: int = 1  # a closure is called from the first window this many days later
    within_days: int = 7  # ... and no later than this many days after closure
    tick_s: float = 5.0
    plan_every_s: float = 60.0
    lease: timedelta = timedelta(minutes=5)
    reopen_on_negative: bool = False  # 退回重办 on 未解决 / 不满意
    trunk_backoff_s: float = 30.0  # after a trunk failure, no new calls for this long
    store_retry_s: float = 300.0  # how long answers wait for a database that went away
    recordings: Path = Path("var/recordings")
    target: str = DEFAULT_TARGET  # {number}: the citizen's number, dialled
    dial_prefix: str = ""  # e.g. "0" for an outside line
    routes: tuple[tuple[str, str], ...] = ()  # (number prefix, target) before `target`
    node: str = field(default_factory=lambda: f"{socket.gethostname()}")


def dialled(e164: str, prefix: str = "") -> str:
    """+8613812345678 -> 13812345678; +867318456123 -> 07318456123 (as dialled in China)."""
    national = e164.removeprefix("+86")
    return prefix + (national if national.startswith("1") else "0" + national)


def route(number: str, routes: tuple[tuple[str, str], ...], default: str) -> str:
    """The request URI for a dialled number: the longest matching prefix's template."""
    for prefix, template in sorted(routes, key=lambda r: -len(r[0])):
        if number.startswith(prefix):
            return template.format(number=number)
    return default.format(number=number)


class Campaign:
    def __init__(self, reactor: Any, engine: Engine, settings: CampaignSettings, *,
                 dialer: Dialer, workers: Workers, prepare: PreparePrompts,
                 recognition: Recognition | None, session: SessionSettings,
                 now: Callable[[], datetime], metrics: Metrics | None = None,
                 clock: Any = None) -> None:
        self.reactor, self.engine, self.settings = reactor, engine, settings
        self.dialer, self.channels, self.workers = dialer, dialer.channels, workers
        self.prepare = prepare
        self.recognition, self.session, self.now = recognition, session, now
        self.metrics = metrics or Metrics()
        self.metrics.channels.set(self.channels.max_channels)
        self.clock: Any = reactor if clock is None else clock  # IReactorTime: job timers
        self.loops: dict[str, LoopingCall] = {}  # job name -> its loop, once started
        self.loops_done: list[Deferred[Any]] = []  # fire when a loop stopped and its run ended
        self.ticks = 0  # ticks completed since start
        self.calls: dict[str, Deferred[None]] = {}  # key -> finished
        self.work: set[Deferred[Any]] = set()  # every claimed group until it is settled
        self.dialling = 0  # claimed groups on their way to a channel
        self.paused = False
        self.stopping = False
        self.trunk_ok_at = 0.0
        self.finished: Deferred[None] = Deferred()
        self.on_call_done: Callable[[CallReport], None] = lambda _: None
        self.process = replace(this_process(),
                               media_ports=(dialer.ports.low, dialer.ports.high))
        self.left_calls: list[Deferred[Any]] = []  # hanging up calls a dead dialer left up
        self.registered = False  # this node's row written (dialer_nodes)

    # -- threads --------------------------------------------------------------------------
    def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        return self.workers.store(fn, *args, **kwargs)

    @inlineCallbacks
    def _db_retry(self, fn: Callable[..., T], *args: Any) -> Any:
        """A write that must not be lost (an answer, an attempt's end): while the database
        is away it is tried again, with backoff, for up to `store_retry_s`."""
        delay, waited = 0.5, 0.0
        while True:
            try:
                result = yield self._db(fn, *args)
                return result
            except (OperationalError, InterfaceError) as exc:
                if waited >= self.settings.store_retry_s:
                    self._failed_exc(exc, "store")
                    raise
                log.warning("the database is unavailable (%s); %s again in %.1f s",
                            type(exc.orig).__name__ if exc.orig else exc, fn.__name__, delay)
                self.metrics.errors.labels("store-retry").inc()
                yield deferLater(self.reactor, delay, lambda: None)
                waited += delay
                delay = min(delay * 2, 10.0)

    # -- life -----------------------------------------------------------------------------
    @inlineCallbacks
    def start(self) -> Any:
        node, now = self.settings.node, self.now()
        yield self._db(check_media_ports, self.engine, node, self.process)
        yield self._db(state.node_seen, self.engine, node, now, 0, "running", True,
                       self.process)
        self.registered = True
        yield self._db(check_media_ports, self.engine, node, self.process, now)
        found: Recovery = yield self._db(recover_claims, self.engine, now, node,
                                         self.process, restarting=True)
        recovered = found.recovered
        if recovered.interrupted or recovered.released:
            log.warning("start-up: %d attempts were in progress and closed as interrupted; "
                        "%d callbacks due again, %d already answered", *recovered)
        self.left_calls.extend(end_left_calls(self.dialer, found.left))
        yield self._db(self.plan)
        if self.stopping:  # stopped while starting: no jobs
            return
        s = self.settings
        self._every("tick", s.tick_s, self._tick_job, now=True)
        self._every("plan", s.plan_every_s, self._plan_job)
        self._every("heartbeat", max(1.0, s.lease.total_seconds() / 3), self._heartbeat)
        log.info("campaign started on node %s: %d channels", node, self.channels.max_channels)

    def stop(self) -> Deferred[None]:
        """Graceful stop: start no new calls, let the calls in progress finish."""
        if not self.stopping:
            self.stopping = True
            log.info("stopping: no new calls; %d in progress finish first", len(self.calls))
            for loop in self.loops.values():
                if loop.running:
                    loop.stop()
            self.channels.close()
            jobs: Deferred[Any] = DeferredList(list(self.loops_done))

            def calls(_: Any) -> Any:  # a tick still running may yet add work: after it
                return DeferredList(list(self.work))

            def last(_: Any) -> Any:
                if not self.registered:  # refused before it registered: no row to end
                    return None
                return self._db(state.node_seen, self.engine, self.settings.node,
                                self.now(), 0, "stopped")

            def close(_: Any) -> None:
                self.finished.callback(None)

            jobs.addCallback(calls).addCallback(last).addBoth(close)
        return self.finished

    def _every(self, name: str, interval_s: float, job: Callable[[], Deferred[Any]], *,
               now: bool = False) -> None:
        """Run `job` every `interval_s` seconds of the clock (at once too if `now`). The
        loop waits for a run's Deferred, so runs never overlap; the times that fell due
        meanwhile are skipped and counted, not queued."""
        loop: LoopingCall

        def run(due: int) -> Deferred[Any]:
            self._job_event(name, loop, due)
            return maybeDeferred(job).addErrback(self._failed, name)

        loop = LoopingCall.withCount(run)
        loop.clock = self.clock
        self.loops[name] = loop
        self.loops_done.append(loop.start(interval_s, now=now).addErrback(self._failed, name))

    def _job_event(self, name: str, loop: LoopingCall, due: int) -> None:
        """A run starts: `due` is how many of its times have come since the last run
        started (1 when on time); the lag is how late it starts after the latest one."""
        if due > 1:
            self.metrics.misfires.inc(due - 1)
            log.info("scheduler: %s fell due %d more time(s) while it ran or the reactor "
                     "was busy; skipped, not queued", name, due - 1)
        start, every, at = loop.starttime, loop.interval, self.clock.seconds()
        if start is not None and every:
            latest = start + math.floor((at - start) / every + 1e-9) * every
            self.metrics.scheduler_lag.set(max(0.0, at - latest))

    # -- jobs ------------------------------------------------------------------------------
    def plan(self) -> int:
        """Blocking: due callbacks for new closures."""
        windows, delay = self.settings.windows, self.settings.delay_days
        return plan_callbacks(self.engine, self.now(),
                              lambda closed: first_due(closed, windows, delay),
                              self.settings.within_days)

    def _tick_job(self) -> Deferred[Any]:
        def counted(result: Any) -> Any:
            self.ticks += 1
            return result

        return self.tick().addBoth(counted)

    def _plan_job(self) -> Deferred[Any]:
        return self._db(self.plan).addErrback(self._failed, "plan")

    def _heartbeat(self) -> Deferred[Any]:
        now, node, lease = self.now(), self.settings.node, self.settings.lease

        def beat() -> Recovery:
            extend_leases(self.engine, node, now, lease)
            found = recover_claims(self.engine, now, node, self.process, restarting=False)
            state.node_seen(self.engine, node, now, len(self.calls),
                            "paused" if self.paused else "running")
            return found

        def hang_up(found: Recovery) -> None:  # calls of processes that died
            self.left_calls.extend(end_left_calls(self.dialer, found.left))

        return self._db(beat).addCallback(hang_up).addErrback(self._failed, "heartbeat")

    def _failed(self, failure: Any, where: str) -> None:
        if isinstance(failure.value, INFRASTRUCTURE):
            self._failed_exc(failure.value, where)  # the database or the disk: one line
            return
        self.metrics.errors.labels(where).inc()  # a bug: its traceback, masked, to find it
        log.error("%s failed", where, exc_info=(failure.type, failure.value,
                                                 failure.getTracebackObject()))

    @inlineCallbacks
    def tick(self) -> Any:
        """Claim and dial what is due, if the campaign runs and a window is open."""
        if self.stopping:
            return 0
        try:
            current = yield self._db(state.state, self.engine)
            run_now = yield self._db(state.take_run_now, self.engine)
        except Exception as exc:  # the database is away: try again next tick
            self._failed_exc(exc, "tick")
            return 0
        self.paused = current.paused
        now = self.now()
        if current.paused or not self.settings.windows.allows(now):
            return 0
        if self.clock.seconds() < self.trunk_ok_at:
            return 0
        free = self.channels.max_channels - len(self.calls) - self.dialling
        if free <= 0:
            return 0
        try:
            groups = yield self._db(claim, self.engine, self.settings.node, now, limit=free,
                                    lease=self.settings.lease, caps=self.settings.retry.caps)
        except Exception as exc:
            self._failed_exc(exc, "claim")
            return 0
        if run_now:
            log.info("run-now requested: %d numbers due", len(groups))
        for group in groups:
            self.dialling += 1
            work = self._dial(group).addErrback(self._failed, "dial")
            self.work.add(work)
            work.addBoth(self._settled, work)
        return len(groups)

    def _settled(self, result: Any, work: Deferred[Any]) -> Any:
        self.work.discard(work)
        return result

    def _failed_exc(self, exc: Exception, where: str) -> None:
        self.metrics.errors.labels(where).inc()
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        log.error("%s failed: %s", where, first[0] if first else type(exc).__name__)

    # -- one call -------------------------------------------------------------------------
    @inlineCallbacks
    def _dial(self, group: list[Claimed]) -> Any:
        ids = [c.callback_id for c in group]
        phone = group[0].phone
        try:
            details = yield self._db(ticket_details, self.engine, [c.ticket_id for c in group])
            prompts = yield self.workers.engine(self.prepare, details, self.now().date())
            channel: Channel = yield self.channels.acquire()
        except (PoolClosed, Exception) as exc:
            self.dialling -= 1
            if not isinstance(exc, PoolClosed):
                self._failed_exc(exc, "prepare")
            yield self._db(release, self.engine, ids, self.now())
            return
        self.dialling -= 1
        now = self.now()
        if self.stopping or not self.settings.windows.allows(now):
            self.channels.release(channel)
            yield self._db(release, self.engine, ids, now)
            log.info("%s: the window closed before a channel was free; left for the next "
                     "window", mask_phone(phone))
            return
        finished: Deferred[None] = Deferred()
        key = f"{group[0].callback_id}"
        self.calls[key] = finished
        self.metrics.calls_in_progress.set(len(self.calls))
        try:
            yield self._call(group, prompts, now)
        except Exception as exc:  # the claims given back, and a bug's traceback logged
            self._failed(Failure(), "call")  # type: ignore[no-untyped-call]  # Twisted: untyped
            now = self.now()
            if isinstance(exc, INFRASTRUCTURE):  # the database or the disk went away: the
                # call is made again as soon as it is back, and this attempt does not count
                yield self._db_retry(recover, self.engine, now, self.settings.node, (), ids)
            else:
                yield self._db_retry(recover, self.engine, now, self.settings.node, (), ids,
                                     now + BUG_RETRY, True)  # the attempt counted
        finally:
            self.channels.release(channel)
            self.calls.pop(key, None)
            self.metrics.calls_in_progress.set(len(self.calls))
            finished.callback(None)

    @inlineCallbacks
    def _call(self, group: list[Claimed], prompts: Prompts, now: datetime) -> Any:
        s = self.settings
        number = dialled(group[0].phone, s.dial_prefix)
        call_id = self.dialer.new_call_id()
        target = route(number, s.routes, s.target)
        recording = s.recordings / now.strftime("%Y-%m-%d") / \
            f"{now:%H%M%S}-{group[0].callback_id}.wav"
        recording.parent.mkdir(parents=True, exist_ok=True)
        answers: list[flow.SaveAnswer] = []
        writes: list[Deferred[Any]] = []
        attempts: list[int] = []

        def on_answer(answer: flow.SaveAnswer) -> None:
            answers.append(answer)
            self.metrics.answers.labels(answer.question.value, answer.intent.value,
                                        answer.source).inc()
            if answer.source.startswith("speech"):
                self.metrics.confidence.observe(answer.confidence)
            stored = Answer(answer.question.value, answer.intent.value, stored_value(answer),
                            answer.confidence, answer.source, answer.heard)
            previous = writes[-1] if writes else None
            write = self._write_after(previous, save_answer, self.engine,
                                      attempts[answer.ticket], stored, self.now())
            writes.append(write)

        def on_heard(heard: Heard) -> None:
            question = heard.question.value if heard.question else "reason"
            stored = Answer(question, heard.intent.value, None, heard.confidence,
                            f"heard:{heard.kind}", heard.text, heard.span)
            previous = writes[-1] if writes else None
            writes.append(self._write_after(previous, save_answer, self.engine,
                                            attempts[heard.ticket], stored, self.now()))

        session = CallSession(self.reactor, self.dialer, target, len(group), prompts,
                              recognition=self.recognition, recording=recording,
                              call_id=call_id, on_answer=on_answer, on_heard=on_heard,
                              session=self.session)
        attempts.extend((yield self._db(start_attempts, self.engine, group, call_id, s.node,
                                        now)))
        dialog_writes: list[Deferred[Any]] = []

        def on_dialog(record: DialogRecord | None) -> None:  # what ends it after a crash
            if record is None:
                return  # ended: the last record stays, for the record
            previous = dialog_writes[-1] if dialog_writes else None
            dialog_writes.append(self._write_after(
                previous, save_dialog, self.engine, list(attempts), record.to_json()))

        session.call.on_dialog = on_dialog
        log.info("calling %s for %d ticket(s), attempts %s", mask_phone(group[0].phone),
                 len(group), attempts)
        report: CallReport = yield session.start()
        if writes or dialog_writes:
            yield DeferredList(writes + dialog_writes)
        if report.sip is not None and report.sip.outcome in TRUNK_FAILURES:
            self.trunk_ok_at = self.clock.seconds() + s.trunk_backoff_s
            log.warning("trunk failure (%s): no new calls for %g s", report.sip.outcome,
                        s.trunk_backoff_s)
        for index, claimed in enumerate(group):
            mine = [a for a in answers if a.ticket == index]
            outcome = ticket_outcome(report, mine)
            self.metrics.attempts.labels(outcome).inc()
            yield self._db_retry(self._close_attempt, attempts[index], claimed, outcome,
                                 report, index, recording)
        for latency in report.turn_latencies_ms:
            self.metrics.turn_latency.observe(latency / 1000)
        if report.rtcp is not None:
            self.metrics.observe_rtcp(report.rtcp)
        self.on_call_done(report)

    def _write_after(self, previous: Deferred[Any] | None, fn: Callable[..., Any],
                     *args: Any) -> Deferred[Any]:
        """Answers of one call are written in the order they were taken."""
        if previous is None:
            return self._db_retry(fn, *args)
        chained: Deferred[Any] = Deferred()
        previous.addBoth(lambda _: self._db_retry(fn, *args).chainDeferred(chained))
        return chained

    def _close_attempt(self, attempt_id: int, claimed: Claimed, outcome: AttemptOutcome,
                       report: CallReport, index: int, recording: Path) -> None:
        """Blocking: the attempt's end and the retry decision in one transaction, the
        decision made from the attempts and calls today the store reads there."""
        now, windows, retry = self.now(), self.settings.windows, self.settings.retry

        def decide(counts: Counts) -> Decision:
            return next_attempt(outcome, now, counts.attempts, counts.calls_today,
                                claimed.deadline_at, windows, retry)

        sip = report.sip
        heard = report.heard or (report.announcement.value if report.announcement else None)
        finish_attempt(self.engine, attempt_id, AttemptEnd(
            outcome, sip.code if sip else None, sip.reason if sip else None, heard or None,
            str(recording) if report.answered else None, report.reason_spans.get(index),
            sip.answered_s if sip else None, outcome not in TRUNK_FAILURES,
            call_quality(report)), now, decide,
            reopen_on_negative=self.settings.reopen_on_negative)
