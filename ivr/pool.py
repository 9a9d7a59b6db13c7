"""Decoding off the reactor thread: a bounded pool of worker threads shared by all calls,
one `Stream` per live call.

A stream's work (feed, reset, finish) runs in the order it was asked for, one task at a
time, on whichever worker is free; different calls decode in parallel up to the pool's
size. Nothing blocks the caller: `feed` queues audio, `finish` returns a Future. Partial
hypotheses and results are delivered on the worker thread; the dialer hands them to its
reactor (`reactor.callFromThread`). The backlog of a stream says how far decoding lags.

`Recognition` and `RecognitionStream` are what the dialer relies on; this pool of threads
provides them.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, Protocol

from ivr.recognition import Engine, Grammar, Hypothesis, Recogniser, check_pcm

log = logging.getLogger(__name__)
PartialHandler = Callable[[Hypothesis], None]


class RecognitionStream(Protocol):
    """One live call's decoding: work runs in the order asked, never on the caller's
    thread; partial hypotheses and Futures complete on a thread of the pool."""

    call_id: str

    @property
    def backlog_bytes(self) -> int:
        """Audio fed and not decoded yet."""

    def feed(self, pcm: bytes) -> None: ...

    def reset(self, grammar: Grammar) -> Future[None]: ...

    def finish(self) -> Future[Hypothesis]: ...

    def close(self) -> Future[None]: ...


class Recognition(Protocol):
    """Where calls decode: threads in this process or recogniser processes."""

    @property
    def rival_margin(self) -> float | None:
        """The engine's n-best margin (None: the engine has none)."""

    def open(self, call_id: str, grammar: Grammar,
             on_partial: PartialHandler | None = None) -> RecognitionStream: ...

    def shutdown(self) -> None: ...


class RecognitionPool:
    def __init__(self, engine: Engine, workers: int = 2,
                 executor: Executor | None = None) -> None:
        """`executor`: the process's pool for blocking engines, shared (and shut down by
        its owner); without one the pool has `workers` threads of its own."""
        if workers < 1:
            raise ValueError("a recognition pool needs at least one worker")
        self.engine = engine
        self.workers = workers
        self._owned = executor is None
        self._executor = executor or ThreadPoolExecutor(workers, thread_name_prefix="recognise")
        self._lock = threading.Lock()
        self.streams = 0

    @property
    def rival_margin(self) -> float | None:
        margin = getattr(self.engine, "rival_margin", None)
        return None if margin is None else float(margin)

    def open(self, call_id: str, grammar: Grammar,
             on_partial: PartialHandler | None = None) -> Stream:
        with self._lock:
            self.streams += 1
        return Stream(self, call_id, grammar, on_partial)

    def transcribe(self, pcm: bytes) -> Future[str | None]:
        """A recorded reason, transcribed free-form when the engine can (else None)."""
        return self._executor.submit(self.engine.transcribe, check_pcm(pcm))

    def _closed(self) -> None:
        with self._lock:
            self.streams -= 1

    def submit(self, fn: Callable[[], None]) -> None:
        self._executor.submit(fn)

    def shutdown(self) -> None:
        if self._owned:
            self._executor.shutdown(wait=True)


class Stream:
    def __init__(self, pool: RecognitionPool, call_id: str, grammar: Grammar,
                 on_partial: PartialHandler | None) -> None:
        self.pool = pool
        self.call_id = call_id
        self.on_partial = on_partial
        self._tasks: deque[tuple[Callable[[Recogniser], Any], Future[Any] | None]] = deque()
        self._lock = threading.Lock()
        self._running = False
        self._closed = False
        self._recogniser: Recogniser | None = None
        self._grammar = grammar
        self.backlog_bytes = 0
        self.error: BaseException | None = None  # the first failure; later work is refused

    def feed(self, pcm: bytes) -> None:
        data = check_pcm(pcm)
        with self._lock:
            self.backlog_bytes += len(data)
        self._queue(lambda r: self._feed(r, data), None)

    def _feed(self, recogniser: Recogniser, data: bytes) -> None:
        with self._lock:
            self.backlog_bytes -= len(data)
        partial = recogniser.feed(data)
        if partial is not None and self.on_partial is not None:
            self.on_partial(partial)

    def reset(self, grammar: Grammar) -> Future[None]:
        future: Future[None] = Future()
        self._queue(lambda r: r.reset(grammar), future)
        return future

    def finish(self) -> Future[Hypothesis]:
        future: Future[Hypothesis] = Future()
        self._queue(lambda r: r.finish(), future)
        return future

    def close(self) -> Future[None]:
        future: Future[None] = Future()
        self._queue(self._close, future)
        with self._lock:
            self._closed = True
        return future

    def _close(self, recogniser: Recogniser) -> None:
        recogniser.close()
        self._recogniser = None
        self.pool._closed()

    def _queue(self, task: Callable[[Recogniser], Any], future: Future[Any] | None) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"call {self.call_id}: recognition stream already closed")
            self._tasks.append((task, future))
            if self._running:
                return
            self._running = True
        self.pool.submit(self._drain)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._tasks:
                    self._running = False
                    return
                task, future = self._tasks.popleft()
            if future is not None and not future.set_running_or_notify_cancel():
                continue
            closing = task == self._close
            try:
                if self.error is not None and not closing:
                    raise self.error
                if self._recogniser is None:
                    if closing:
                        self.pool._closed()
                        if future is not None:
                            future.set_result(None)
                        continue
                    self._recogniser = self.pool.engine.recogniser(self._grammar)
                result = task(self._recogniser)
            except Exception as error:
                if self.error is None:
                    log.warning("call %s: recognition failed: %s", self.call_id, error)
                    self.error = error
                if future is not None:
                    future.set_exception(error)
            else:
                if future is not None:
                    future.set_result(result)
