"""The engine that writes a reason down, in a process of its own, so that a hung or
crashed engine never hangs or takes down the service: `ProcessTranscriber` starts the
child on first use (the model loads there, once), sends it one reason's audio at a time
and waits at most `timeout_s` for the transcript; past that the child is killed, the try
is an `EngineTimeout`, and the next reason starts a fresh child.

The child is a fresh interpreter (`python -m huifang.reasons_worker`: nothing of the
reactor's threads or sockets is inherited, and nothing depends on the parent's main
module), talks over a socket pair (multiprocessing's Connection: pickled messages), and
ignores SIGINT (Ctrl-C stops the service, which stops it).
What runs in the child is a factory: a picklable callable that loads the engine and
returns a function from 8 kHz 16-bit mono PCM to an `Opinion` (`WhisperFactory`; tests
pass fakes).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ivr.recognition import Opinion

log = logging.getLogger(__name__)
Engine = Callable[[bytes], Opinion]
Factory = Callable[[], Engine]
MAX_TOKENS = 224  # a reason is a few sentences; a loop stops here


class EngineError(RuntimeError):
    """The engine could not transcribe this reason; the message says why, in words."""


class EngineTimeout(EngineError):
    """The engine took longer than allowed and was stopped."""


@dataclass(frozen=True)
class WhisperFactory:
    """Loads faster-whisper with a CTranslate2 model, in the child."""

    model: Path
    threads: int = 1
    beam_size: int = 1

    def __call__(self) -> Engine:
        from ivr.whisper import WhisperEngine  # noqa: PLC0415 - in the child only

        engine = WhisperEngine(self.model, beam_size=self.beam_size, cpu_threads=self.threads,
                               workers=1, prompt="none")

        def transcribe(pcm: bytes) -> Opinion:
            return engine.opinion(pcm, None, max_tokens=MAX_TOKENS)
        return transcribe


def serve(conn: Connection) -> None:  # pragma: no cover - in the child
    """The child's loop: the factory first, then one reason's audio at a time."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        factory = conn.recv()
        engine = factory()
    except Exception as exc:  # any load failure is reported, in words
        conn.send(("error", f"模型无法加载：{exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            pcm = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            conn.send(("ok", engine(pcm)))
        except Exception as exc:  # one reason's failure, not the child's
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class ProcessTranscriber:
    """One engine child; `transcribe` is blocking and serialised (one reason at a time)."""

    def __init__(self, factory: Factory, name: str, *, load_timeout_s: float = 300.0) -> None:
        self.factory, self.name, self.load_timeout_s = factory, name, load_timeout_s
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self.started = 0  # children started so far
        self._closed = False

    def _start(self) -> Connection:
        parent, child = multiprocessing.Pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "huifang.reasons_worker", str(child.fileno())],
                stdin=subprocess.DEVNULL, pass_fds=(child.fileno(),), env=env)
        except OSError as exc:
            parent.close()
            raise EngineError(f"转写引擎进程无法启动：{exc}") from exc
        finally:
            child.close()
        self._process, self._conn = process, parent
        self.started += 1
        log.info("reasons: engine %s starting in process %s", self.name, process.pid)
        try:
            parent.send(self.factory)
        except (OSError, ValueError) as exc:
            self._kill()
            raise EngineError(f"转写引擎进程不可用：{exc}") from exc
        if not parent.poll(self.load_timeout_s):
            self._kill()
            raise EngineTimeout(f"转写引擎在 {self.load_timeout_s:g} 秒内未能加载模型")
        kind, value = self._receive(parent)
        if kind != "ready":
            self._kill()
            raise EngineError(str(value))
        return parent

    def _receive(self, conn: Connection) -> tuple[str, Any]:
        try:
            kind, value = conn.recv()
        except (EOFError, OSError) as exc:
            code = self._process.wait(5) if self._process is not None else None
            self._kill()
            raise EngineError(f"转写引擎进程意外退出（退出码 {code}）") from exc
        return str(kind), value

    def transcribe(self, pcm: bytes, timeout_s: float) -> Opinion:
        with self._lock:
            if self._closed:
                raise EngineError("转写引擎已关闭")
            conn = self._conn
            if conn is None or self._process is None or self._process.poll() is not None:
                self._kill()
                conn = self._start()
            try:
                conn.send_bytes(pcm)
            except (OSError, ValueError) as exc:
                self._kill()
                raise EngineError(f"转写引擎进程不可用：{exc}") from exc
            if not conn.poll(timeout_s):
                self._kill()
                raise EngineTimeout(f"转写超时：{timeout_s:g} 秒内没有结果，引擎已重启")
            kind, value = self._receive(conn)
            if kind == "error":
                raise EngineError(str(value))
            if not isinstance(value, Opinion):
                self._kill()
                raise EngineError(f"转写引擎返回了无法识别的结果：{type(value).__name__}")
            return value

    def _kill(self) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            log.info("reasons: engine process %s stopped", process.pid)

    def close(self) -> None:
        """Stop the child, without waiting for a transcription in progress (it then ends
        as an EngineError); no child is started afterwards."""
        self._closed = True
        if self._lock.acquire(blocking=False):
            try:
                self._kill()
            finally:
                self._lock.release()
        else:  # a transcription waits on the child: it ends, and that try cleans up
            process = self._process
            if process is not None and process.poll() is None:
                process.terminate()
