"""Decoding out of the reactor's process: a pool of recogniser worker processes with the
thread pool's interface (`ivr.pool.Recognition`), so the dialer's calls do not know which
one they have.

Each worker is a process of its own (multiprocessing's spawn context: the service runs a
reactor and threads, and forking them is unsafe) holding its engine and models once
(`huifang.recognition_worker`). A stream is given to the worker with the fewest open
streams when it opens and stays there (sticky). Its audio is queued as bytes and sent by
the worker's writer thread, every call's frames that came meanwhile in one message; the
worker's reader thread acknowledges decoded audio, delivers partial hypotheses and
resolves the Futures. Nothing here waits on a worker on the caller's thread.

Back-pressure: a stream's `backlog_bytes` is its audio not decoded yet. Past
`max_backlog_s` the stream's audio is let go until its turn ends, and the turn fails
(`Backlogged`): a turn decoded from part of its audio could be a wrong answer.

A worker that dies, or gives no final hypothesis within `timeout_s` (hung: it is then
killed), is replaced by a fresh one. The Futures it owed fail with `WorkerLost`; a stream
that had audio there loses that turn (its audio is let go, its finish fails); the
stream's later work goes to a live worker, opened again with its current grammar. A
call session takes a failed turn as unclear, and the flow asks by keys.
"""

from __future__ import annotations

import functools
import itertools
import logging
import multiprocessing
import pickle
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from huifang.recognition_stream import (
    Backlogged,
    Pending,
    ProcessStream,
    Worker,
    WorkerLost,
    WorkerStats,
    settle,
)
from huifang.recognition_worker import EngineFactory, serve
from ivr.decoding_wire import Op, Record, grammar_bytes, pack, partial_of, unpack
from ivr.pool import PartialHandler
from ivr.recognition import Grammar, RecognitionError

log = logging.getLogger(__name__)
BYTES_PER_SECOND = 16000  # 8 kHz 16-bit mono
MAX_LOAD_FAILURES = 3  # a slot whose new workers die this often before ready is left empty
U32 = 0xFFFFFFFF


class ProcessRecognitionPool:
    """`processes` recogniser workers, each built by `factory` (picklable: it is called in
    the worker; `huifang.recognition_worker.SettingsEngine` in the service, fakes in
    tests). Waits until every worker has loaded its engine: a model that cannot load is a
    RecognitionError here, not in a call."""

    def __init__(self, factory: EngineFactory, processes: int, *, timeout_s: float = 10.0,
                 max_backlog_s: float = 8.0, load_timeout_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic,
                 check_every_s: float | None = None) -> None:
        if processes < 1:
            raise ValueError("a pool of recogniser processes needs at least one")
        self.factory, self.timeout_s, self.load_timeout_s = factory, timeout_s, load_timeout_s
        self.max_backlog_bytes = int(max_backlog_s * BYTES_PER_SECOND)
        self.clock = clock
        self.check_every_s = check_every_s or min(1.0, timeout_s / 4)
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._spawning = threading.Lock()
        self._ids, self._seqs = itertools.count(1), itertools.count(1)
        self._grammars: dict[Grammar, bytes] = {}
        self._running = self._closing = False
        self._stop = threading.Event()
        self.restarts: dict[str, int] = {}  # workers replaced, by why
        self.turns_lost: dict[str, int] = {}  # finishes failed, by why
        self.streams = 0
        self._workers = [Worker(slot, 0, self._lock) for slot in range(processes)]
        self._all = list(self._workers)
        self._watchdog = threading.Thread(target=self._watch, name="recognise-watchdog",
                                          daemon=True)
        try:
            for worker in self._workers:
                self._start(worker)
            for worker in self._workers:
                self._await_ready(worker)
        except BaseException:
            self.shutdown()
            raise
        self._running = True
        self._watchdog.start()

    # -- what the dialer uses ------------------------------------------------------------
    @property
    def rival_margin(self) -> float | None:
        info = next((w.info for w in self._all if w.info is not None), None)
        return None if info is None or info[1] is None else float(info[1])

    @property
    def engine_name(self) -> str:
        info = next((w.info for w in self._all if w.info is not None), None)
        return info[0] if info is not None else ""

    def open(self, call_id: str, grammar: Grammar,
             on_partial: PartialHandler | None = None) -> ProcessStream:
        with self._lock:
            self.streams += 1
            stream = ProcessStream(self, next(self._ids) & U32, call_id, grammar, on_partial)
            if self._worker_of(stream) is None:
                stream.lost = self._no_worker()
            return stream

    def pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._workers if w.alive and w.pid]

    def stats(self) -> list[WorkerStats]:
        with self._lock:
            return [WorkerStats(w.slot, w.pid, w.info is not None, w.load(), w.backlog_bytes,
                                max((s.backlog_bytes for s in w.streams.values()), default=0))
                    for w in self._workers if w.alive]

    # -- a stream's work (the caller's thread) -------------------------------------------
    def _feed(self, stream: ProcessStream, data: bytes) -> None:
        with self._lock:
            if stream.closed:
                raise RuntimeError(f"call {stream.call_id}: recognition stream already closed")
            if stream.lost is not None or not data:
                return
            if stream._backlog + len(data) > self.max_backlog_bytes:
                stream.lost = Backlogged(
                    f"call {stream.call_id}: decoding is more than "
                    f"{self.max_backlog_bytes / BYTES_PER_SECOND:g} s of audio behind; "
                    "this turn's audio is let go", "backlog")
                log.warning("%s", stream.lost)
                return
            worker = self._worker_of(stream)
            if worker is None:
                stream.lost = self._no_worker()
                return
            stream.dirty = True
            stream._backlog += len(data)
            worker.backlog_bytes += len(data)
            buffer = worker.feeds.get(stream.sid)
            if buffer is None:
                buffer = worker.feeds[stream.sid] = bytearray()
                self._enqueue(worker, (Op.FEED, stream.sid, 0, buffer))
            buffer += data

    def _request(self, stream: ProcessStream, op: Op, grammar: Grammar | None = None
                 ) -> Future[Any]:
        future: Future[Any] = Future()
        error: BaseException | None = None
        with self._lock:
            if stream.closed:
                raise RuntimeError(f"call {stream.call_id}: recognition stream already closed")
            lost = None
            if op is Op.RESET and grammar is not None:
                stream.grammar, stream.lost, stream.dirty = grammar, None, False
            elif op is Op.FINISH:
                lost, stream.lost, stream.dirty = stream.lost, None, False
            else:
                stream.closed = True
            worker = stream.worker if op is Op.CLOSE else self._worker_of(stream)
            if worker is None:
                if op is Op.CLOSE:
                    self.streams -= 1
                else:
                    error = lost or self._no_worker()
            else:
                seq = next(self._seqs) & U32
                deadline = self.clock() + self.timeout_s if op is Op.FINISH else None
                # a lost turn still ends in the worker, its result thrown away
                owed: Future[Any] = future if lost is None else Future()
                worker.pending[seq] = Pending(stream, owed, op, deadline)
                worker.feeds.pop(stream.sid, None)  # later audio after this request
                payload = self._grammar(grammar) if op is Op.RESET and grammar else b""
                self._enqueue(worker, (op, stream.sid, seq, payload))
                error = lost
            if isinstance(error, WorkerLost) and op is Op.FINISH:
                self._count(self.turns_lost, error.reason)
        if error is not None:
            settle(future, error=error)
        elif worker is None:
            settle(future)
        return future

    def _worker_of(self, stream: ProcessStream) -> Worker | None:
        """The stream's worker; a stream without one (new, or its worker was lost) is
        opened, with its current grammar, on the least loaded live worker. Lock held."""
        if stream.worker is not None and stream.worker.alive:
            return stream.worker
        live = [w for w in self._workers if w.alive]
        if not live:
            return None
        worker = min(live, key=lambda w: (w.info is None, w.load(), w.backlog_bytes))
        stream.worker = worker
        worker.streams[stream.sid] = stream
        self._enqueue(worker, (Op.OPEN, stream.sid, 0, self._grammar(stream.grammar)))
        return worker

    def _grammar(self, grammar: Grammar) -> bytes:
        if grammar not in self._grammars:
            self._grammars[grammar] = grammar_bytes(grammar)
        return self._grammars[grammar]

    def _enqueue(self, worker: Worker, record: Record) -> None:
        if not worker.outbox:
            worker.wake.notify()
        worker.outbox.append(record)

    def _no_worker(self) -> WorkerLost:
        return WorkerLost("no recogniser worker process is running", "no_worker")

    @staticmethod
    def _count(counts: dict[str, int], reason: str) -> None:
        counts[reason] = counts.get(reason, 0) + 1

    # -- the worker processes ------------------------------------------------------------
    def _start(self, worker: Worker) -> None:
        with self._spawning:
            if self._closing:
                worker.alive = False
                worker.settled.set()
                return
            parent, child = self._context.Pipe()
            process = self._context.Process(target=serve, args=(child, self.factory),
                                            name=f"recogniser-{worker.slot}", daemon=True)
            try:
                process.start()
            finally:
                child.close()
            worker.started_at = self.clock()  # before check() can see the process
            worker.process, worker.conn, worker.pid = process, parent, process.pid or 0
            worker.writer = threading.Thread(target=self._write, args=(worker,), daemon=True,
                                             name=f"recognise-write-{worker.slot}")
            worker.reader = threading.Thread(target=self._read, args=(worker,), daemon=True,
                                             name=f"recognise-read-{worker.slot}")
            worker.writer.start()
            worker.reader.start()
        log.info("recogniser worker %s starting in process %s", worker.slot, worker.pid)

    def _await_ready(self, worker: Worker) -> None:
        if not worker.settled.wait(self.load_timeout_s):
            raise RecognitionError(f"a recogniser worker did not load its engine within "
                                   f"{self.load_timeout_s:g} s")
        if worker.info is None:
            code = worker.process.exitcode if worker.process is not None else None
            raise RecognitionError(worker.load_error or "a recogniser worker exited while "
                                   f"loading its engine (exit code {code})")

    def _write(self, worker: Worker) -> None:
        conn = worker.conn
        assert conn is not None
        while True:
            with worker.wake:
                while worker.alive and not worker.outbox:
                    worker.wake.wait()
                if not worker.alive:
                    return
                records, worker.outbox = worker.outbox, []
                worker.feeds.clear()
            try:
                conn.send_bytes(pack(records))
            except (OSError, ValueError):
                return  # the reader finds the worker gone

    def _read(self, worker: Worker) -> None:
        conn, process = worker.conn, worker.process
        assert conn is not None and process is not None
        why = "exited"
        while True:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                break
            try:
                self._received(worker, message)
            except Exception:
                log.exception("recogniser worker %s: a message that cannot be read",
                              worker.slot)
                why = "sent a message that cannot be read"
                break
        process.join(2)
        code = process.exitcode
        self._lost(worker, f"{why} (exit code {code})" if code is not None else why,
                   "died")
        if worker.writer is not None:
            worker.writer.join()
        conn.close()

    def _received(self, worker: Worker, message: bytes) -> None:
        """One message of the worker's: results settle their Futures after the lock is let
        go; those read before a damaged part of the message are settled even so (then the
        error goes to the reader, which replaces the worker and fails the rest)."""
        done: list[Callable[[], None]] = []
        try:
            self._take(worker, message, done)
        finally:
            for call in done:
                try:
                    call()
                except Exception:
                    log.exception("recognition: a partial's or result's handler failed")

    def _take(self, worker: Worker, message: bytes, done: list[Callable[[], None]]) -> None:
        with self._lock:
            if not worker.alive:
                return
            for op, sid, arg, payload in unpack(message):
                stream = worker.streams.get(sid)
                if op is Op.READY:
                    name, margin = pickle.loads(payload)
                    worker.info, worker.failures = (str(name), margin), 0
                    worker.settled.set()
                    log.info("recogniser worker %s ready (%s, process %s)", worker.slot, name,
                             worker.pid)
                elif op is Op.LOAD_FAILED:
                    worker.load_error = bytes(payload).decode(errors="replace")
                    worker.settled.set()
                elif op is Op.ACK:  # the worker's count even for a stream closed since
                    worker.backlog_bytes -= arg
                    if stream is not None:
                        stream._backlog -= arg
                elif op in (Op.PARTIAL, Op.PARTIAL_OBJ) and stream is not None \
                        and stream.on_partial is not None:
                    done.append(functools.partial(stream.on_partial, partial_of(op, payload)))
                elif op in (Op.RESULT, Op.ERROR):
                    owed = worker.pending.pop(arg, None)
                    if owed is None:
                        continue
                    if owed.op is Op.CLOSE:
                        worker.streams.pop(sid, None)
                        self.streams -= 1
                    if op is Op.RESULT:
                        value = None if owed.op is Op.CLOSE else pickle.loads(payload)
                        done.append(functools.partial(settle, owed.future, value))
                    else:
                        error = RecognitionError(bytes(payload).decode(errors="replace"))
                        done.append(functools.partial(settle, owed.future, error=error))

    def _lost(self, worker: Worker, why: str, reason: str) -> None:
        """A worker died or hung: its Futures fail, its streams move on, it is replaced."""
        with self._lock:
            if not worker.alive:
                return
            worker.alive = False
            worker.wake.notify_all()
            worker.settled.set()
            error = WorkerLost(f"recogniser worker {worker.slot} (process {worker.pid}) "
                               f"{why}: the turns it held are lost", reason)
            owed = list(worker.pending.values())
            worker.pending.clear()
            for stream in worker.streams.values():
                stream.worker, stream._backlog = None, 0
                if stream.closed:
                    self.streams -= 1
                elif stream.dirty and stream.lost is None:
                    stream.lost = error
            worker.streams.clear()
            worker.outbox.clear()
            worker.feeds.clear()
            worker.backlog_bytes = 0
            for _ in range(sum(p.op is Op.FINISH for p in owed)):
                self._count(self.turns_lost, reason)
            replacement = None
            if self._running and not self._closing:
                self._count(self.restarts, reason)
                failures = 0 if worker.info is not None else worker.failures + 1
                if failures < MAX_LOAD_FAILURES:
                    replacement = Worker(worker.slot, failures, self._lock)
                    self._workers[worker.slot] = replacement
                    self._all.append(replacement)
        if self._running and not self._closing:
            log.warning("%s; %s", error, "starting another" if replacement else
                        "the slot is left empty: it failed to load too often")
        process = worker.process
        if process is not None and process.is_alive():
            process.kill()
            process.join(5)
        if replacement is not None:
            try:
                self._start(replacement)
            except Exception as exc:
                log.error("recogniser worker %s could not be started: %s", worker.slot, exc)
                self._lost(replacement, f"could not be started: {exc}", "start")
        for pending in owed:
            if pending.op is Op.CLOSE:
                settle(pending.future)
            else:
                settle(pending.future, error=error)

    def _watch(self) -> None:
        while not self._stop.wait(self.check_every_s):
            try:
                self.check()
            except Exception:  # the watchdog outlives a bug in one check
                log.exception("recognition: the watchdog's check failed; checking on")

    def check(self) -> None:
        """Kill and replace a worker that owes a final hypothesis past its deadline, or
        has not loaded its engine in time (the watchdog thread calls this)."""
        now = self.clock()
        hung: list[tuple[Worker, str]] = []
        with self._lock:
            for worker in self._workers:
                if not worker.alive or worker.process is None:
                    continue
                if worker.info is None and worker.load_error is None \
                        and now - worker.started_at > self.load_timeout_s:
                    hung.append((worker, f"did not load its engine within "
                                         f"{self.load_timeout_s:g} s"))
                elif worker.info is not None and any(
                        p.deadline is not None and p.deadline <= now
                        for p in worker.pending.values()):  # loading: its own timeout
                    hung.append((worker, f"gave no final hypothesis within "
                                         f"{self.timeout_s:g} s (hung; killed)"))
        for worker, why in hung:
            self._lost(worker, why, "hung")

    def shutdown(self) -> None:
        """Stop every worker process and wait for it; what was still owed fails."""
        owed: list[Pending] = []
        with self._lock:
            if self._closing:
                return
            self._closing = True
            for worker in self._workers:
                if worker.alive:
                    worker.alive = False
                    worker.wake.notify_all()
                    owed += worker.pending.values()
                    worker.pending.clear()
        self._stop.set()
        with self._spawning:  # a replacement being started is started, then stopped
            workers = list(self._all)
        for worker in workers:
            process = worker.process
            if process is None:
                continue
            if process.is_alive():
                process.terminate()
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)
        for worker in workers:
            if worker.reader is not None and worker.reader is not threading.current_thread():
                worker.reader.join(10)
        if self._watchdog.is_alive() and self._watchdog is not threading.current_thread():
            self._watchdog.join(10)
        error = RecognitionError("recognition is shutting down")
        for pending in owed:
            settle(pending.future, error=None if pending.op is Op.CLOSE else error)
