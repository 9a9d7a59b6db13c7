"""A recogniser worker process's life (`huifang.recognition_processes` starts it with
multiprocessing's spawn context: a fresh interpreter, nothing of the reactor's threads or
sockets inherited): build the engine once from a picklable factory, say READY, then
decode one message of records at a time (`ivr.decoding_wire.Decoding`) until the service
closes its end of the pipe. SIGINT is ignored: Ctrl-C stops the service, which stops it.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

from huifang.config import RecognitionSettings
from ivr.decoding_wire import Decoding, Op, pack, ready_record
from ivr.recognition import Engine

log = logging.getLogger(__name__)
EngineFactory = Callable[[], Engine]


@dataclass(frozen=True)
class SettingsEngine:
    """The configured engine (`huifang.speech.engine_from`), built in the worker."""

    settings: RecognitionSettings

    def __call__(self) -> Engine:
        from huifang.speech import engine_from  # noqa: PLC0415 - in the worker only

        return engine_from(self.settings)


def serve(conn: Connection, factory: EngineFactory) -> None:  # pragma: no cover - child
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        engine = factory()
    except Exception as exc:  # any load failure is reported, in words
        conn.send_bytes(pack([(Op.LOAD_FAILED, 0, 0, f"{type(exc).__name__}: {exc}"
                               .encode())]))
        return
    decoding = Decoding(engine)
    conn.send_bytes(pack([ready_record(engine, os.getpid())]))
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        reply = decoding.handle(message)
        if reply:
            conn.send_bytes(reply)
