"""The parent's side of a recogniser worker process and of a call's stream on one
(`huifang.recognition_processes` owns the pool and its threads): what a stream asks,
what a worker owes, and the two ways a turn is lost."""

from __future__ import annotations

import threading
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from ivr.decoding_wire import Op, Record
from ivr.pool import PartialHandler
from ivr.recognition import Grammar, Hypothesis, RecognitionError, check_pcm

if TYPE_CHECKING:
    from huifang.recognition_processes import ProcessRecognitionPool


class WorkerLost(RecognitionError):
    """The worker process decoding this stream died or hung: the turn it held is lost."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Backlogged(WorkerLost):
    """Decoding fell too far behind this stream: its turn's audio was let go."""


@dataclass
class Pending:
    stream: ProcessStream
    future: Future[Any]
    op: Op
    deadline: float | None  # a finish not answered by then: the worker is hung


@dataclass(frozen=True)
class WorkerStats:
    slot: int
    pid: int
    ready: bool
    streams: int
    backlog_bytes: int
    largest_backlog_bytes: int  # the stream furthest behind


class Worker:
    """The parent's side of one worker process."""

    def __init__(self, slot: int, failures: int, lock: threading.Lock) -> None:
        self.slot, self.failures = slot, failures
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None
        self.pid = 0
        self.alive = True
        self.info: tuple[str, float | None] | None = None  # engine name and margin: ready
        self.load_error: str | None = None
        self.settled = threading.Event()  # ready, failed to load, or gone
        self.started_at = 0.0
        self.wake = threading.Condition(lock)
        self.outbox: list[Record] = []
        self.feeds: dict[int, bytearray] = {}  # a stream's feed record still open
        self.streams: dict[int, ProcessStream] = {}  # assigned here, close not answered
        self.pending: dict[int, Pending] = {}
        self.backlog_bytes = 0
        self.reader: threading.Thread | None = None
        self.writer: threading.Thread | None = None

    def load(self) -> int:
        return sum(not s.closed for s in self.streams.values())


class ProcessStream:
    def __init__(self, pool: ProcessRecognitionPool, sid: int, call_id: str,
                 grammar: Grammar, on_partial: PartialHandler | None) -> None:
        self.pool, self.sid, self.call_id = pool, sid, call_id
        self.grammar = grammar  # the current one: a stream opened again gets it
        self.on_partial = on_partial
        self.worker: Worker | None = None
        self.closed = False
        self.lost: RecognitionError | None = None  # this turn's audio is let go
        self.dirty = False  # audio sent since the last reset or finish
        self._backlog = 0

    @property
    def backlog_bytes(self) -> int:
        return self._backlog

    def feed(self, pcm: bytes) -> None:
        self.pool._feed(self, check_pcm(pcm))

    def reset(self, grammar: Grammar) -> Future[None]:
        return self.pool._request(self, Op.RESET, grammar)

    def finish(self) -> Future[Hypothesis]:
        return self.pool._request(self, Op.FINISH)

    def close(self) -> Future[None]:
        return self.pool._request(self, Op.CLOSE)


def settle(future: Future[Any], value: Any = None, error: BaseException | None = None
            ) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
    except InvalidStateError:  # cancelled by whoever waited
        pass
