"""What a recogniser worker process and the service say to each other, and the worker's
side of it, without the IO (`huifang.recognition_processes` owns the processes and pipes).

A message is a batch of records, each a 13-byte header (op, stream id, argument, payload
length) and its payload. Audio is the payload as it came, several calls' 20 ms frames in
one message and one call's consecutive frames in one record: nothing is pickled per
frame. Grammars (on open and reset) and final hypotheses are pickled: once a turn.

To the worker: OPEN (payload: the grammar), FEED (audio), RESET (argument: the request's
number; payload: the grammar), FINISH and CLOSE (the request's number). From it: READY
(payload: the engine's name and rival margin), LOAD_FAILED (why, in words), ACK (the
audio bytes of a stream decoded), PARTIAL (text and heard, UTF-8, NUL between), PARTIAL_OBJ
(a pickled partial that is more than text), RESULT (the request's number; payload: the
pickled result) and ERROR (the request's number; why, in words).
"""

from __future__ import annotations

import enum
import logging
import pickle
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ivr.recognition import Engine, Grammar, Hypothesis, Recogniser

log = logging.getLogger(__name__)
HEADER = struct.Struct("<BIII")


class Op(enum.IntEnum):
    OPEN = 1
    FEED = 2
    RESET = 3
    FINISH = 4
    CLOSE = 5
    READY = 10
    LOAD_FAILED = 11
    ACK = 12
    PARTIAL = 13
    PARTIAL_OBJ = 14
    RESULT = 15
    ERROR = 16


Record = tuple[int, int, int, bytes | bytearray | memoryview]


def pack(records: Iterable[Record]) -> bytes:
    """One message of records (op, stream, argument, payload)."""
    parts: list[bytes | bytearray | memoryview] = []
    for op, stream, arg, payload in records:
        parts.append(HEADER.pack(op, stream, arg, len(payload)))
        parts.append(payload)
    return b"".join(parts)


def unpack(message: bytes) -> Iterator[tuple[Op, int, int, memoryview]]:
    """The records of a message; a torn or unknown record is a ValueError."""
    view, at = memoryview(message), 0
    while at < len(view):
        if at + HEADER.size > len(view):
            raise ValueError("recognition message: a record header is cut short")
        op, stream, arg, size = HEADER.unpack_from(view, at)
        at += HEADER.size
        if at + size > len(view):
            raise ValueError("recognition message: a record's payload is cut short")
        yield Op(op), stream, arg, view[at:at + size]
        at += size


def grammar_bytes(grammar: Grammar) -> bytes:
    return pickle.dumps(grammar, protocol=pickle.HIGHEST_PROTOCOL)


def partial_record(stream: int, partial: Hypothesis) -> Record:
    if partial == Hypothesis(partial.text, 0.0, False, partial.heard):
        return Op.PARTIAL, stream, 0, f"{partial.text}\0{partial.heard}".encode()
    return Op.PARTIAL_OBJ, stream, 0, pickle.dumps(partial, protocol=pickle.HIGHEST_PROTOCOL)


def partial_of(op: Op, payload: memoryview) -> Hypothesis:
    if op is Op.PARTIAL:
        text, _, heard = bytes(payload).decode().partition("\0")
        return Hypothesis(text, 0.0, False, heard)
    partial = pickle.loads(payload)
    if not isinstance(partial, Hypothesis):
        raise ValueError(f"recognition message: a partial of type {type(partial).__name__}")
    return partial


def ready_record(engine: Engine, pid: int) -> Record:
    margin = getattr(engine, "rival_margin", None)
    return Op.READY, 0, pid, pickle.dumps((str(engine.name), margin))


class _Refused(RuntimeError):
    """Work of a stream that already failed."""


@dataclass
class _Stream:
    grammar: Grammar
    recogniser: Recogniser | None = None
    error: str | None = None  # the first failure; later work is refused, as in ivr.pool


class Decoding:
    """The worker's side: every stream's recogniser on one engine, one batch at a time.
    A stream's first failure is kept and refuses its later work (close excepted), as
    the thread pool does; the worker itself goes on."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.streams: dict[int, _Stream] = {}

    def handle(self, message: bytes) -> bytes:
        """The reply to one message: acknowledgements, partials and results."""
        out: list[Record] = []
        decoded: dict[int, int] = {}
        for op, sid, arg, payload in unpack(message):
            if op is Op.OPEN:
                self._open(sid, payload)
            elif op is Op.FEED:
                decoded[sid] = decoded.get(sid, 0) + len(payload)
                self._feed(sid, bytes(payload), out)
            elif op in (Op.RESET, Op.FINISH, Op.CLOSE):
                out.append(self._request(op, sid, arg, payload))
            else:
                raise ValueError(f"recognition message: {op.name} is not for the worker")
        # acknowledgements first: a stream closed in this message is still known then
        return pack([*((Op.ACK, sid, n, b"") for sid, n in decoded.items()), *out])

    def _open(self, sid: int, payload: memoryview) -> None:
        stream = _Stream(Grammar("", ()))
        self.streams[sid] = stream
        try:
            stream.grammar = self._grammar(payload)
        except Exception as error:
            self._fail(sid, stream, error)

    def _grammar(self, payload: memoryview) -> Grammar:
        grammar = pickle.loads(payload)
        if not isinstance(grammar, Grammar):
            raise ValueError(f"recognition message: a grammar of type {type(grammar).__name__}")
        return grammar

    def _recogniser(self, stream: _Stream) -> Recogniser:
        if stream.error is not None:
            raise _Refused(stream.error)
        if stream.recogniser is None:
            stream.recogniser = self.engine.recogniser(stream.grammar)
        return stream.recogniser

    def _fail(self, sid: int, stream: _Stream, error: Exception) -> str:
        if stream.error is None:
            stream.error = f"{type(error).__name__}: {error}"
            log.warning("stream %s: recognition failed: %s", sid, stream.error)
        return stream.error

    def _feed(self, sid: int, pcm: bytes, out: list[Record]) -> None:
        stream = self.streams.get(sid)
        if stream is None or stream.error is not None:
            return
        try:
            partial = self._recogniser(stream).feed(pcm)
        except Exception as error:
            self._fail(sid, stream, error)
            return
        if partial is not None:
            out.append(partial_record(sid, partial))

    def _request(self, op: Op, sid: int, seq: int, payload: memoryview) -> Record:
        stream = self.streams.get(sid)
        if stream is None:
            return Op.ERROR, sid, seq, f"stream {sid} was never opened".encode()
        result: object = None
        try:
            if op is Op.CLOSE:
                del self.streams[sid]
                if stream.recogniser is not None:
                    stream.recogniser.close()
            elif op is Op.RESET:
                grammar = self._grammar(payload)
                if stream.recogniser is not None or stream.error is not None:
                    self._recogniser(stream).reset(grammar)
                stream.grammar = grammar  # a recogniser not made yet is made with it
            else:
                result = self._recogniser(stream).finish()
            reply = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # one turn fails, not the worker and all its calls
            return Op.ERROR, sid, seq, self._fail(sid, stream, error).encode()
        return Op.RESULT, sid, seq, reply
