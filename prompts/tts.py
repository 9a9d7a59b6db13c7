"""Text to speech through pyttsx3 and espeak-ng, in an isolated child process.

pyttsx3 and espeak keep process-global state and can hang; the worker is a separate
process with a timeout per render. A hung or crashed engine is an error for that prompt
and the worker is replaced, never a stuck service.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import shutil
import subprocess
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import numpy.typing as npt

from prompts.audio import AudioError, read_wav

log = logging.getLogger(__name__)


class TtsError(RuntimeError):
    """Rendering failed; the message says why."""


class TtsUnavailable(TtsError):
    pass


@dataclass(frozen=True)
class Voice:
    # cmn-latn-pinyin is the only espeak voice that reads 汉字 as Mandarin; the +f3
    # variant is the one PocketSphinx's Mandarin model recognises (tests/test_prompt_audio).
    name: str = "sit/cmn-latn-pinyin+f3"
    rate: int = 175
    pitch: int = 50


def engine_version() -> str:
    """espeak-ng's version, part of every cache key; TtsUnavailable if it is missing."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise TtsUnavailable("espeak-ng is not installed: apt-get install espeak-ng")
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.split("Data at")[0].strip() or "espeak-ng"


def _wait_complete(path: str, deadline: float) -> bool:
    """pyttsx3 can return before espeak has finished the file (notes/speech.md): wait
    until the WAV's header accounts for its size and the size holds still."""
    last = -1
    while time.monotonic() < deadline:
        size = os.path.getsize(path) if os.path.exists(path) else -1
        if size > 44 and size == last:
            try:
                with wave.open(path, "rb") as handle:
                    frames, width = handle.getnframes(), handle.getsampwidth()
                if frames > 0 and 44 + frames * width <= size:
                    return True
            except (wave.Error, EOFError):
                pass
        last = size
        time.sleep(0.02)
    return False


def _worker(conn: Connection, nice: int = 0) -> None:  # pragma: no cover - child process
    import sys  # noqa: PLC0415

    import pyttsx3  # noqa: PLC0415 - only the child loads the engine

    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - pyttsx3 prints "Audio saved to"
    if nice:
        os.nice(nice)  # background rendering yields the CPU to live calls
    engine = pyttsx3.init("espeak")
    while True:
        try:
            request = conn.recv()
        except EOFError:  # the parent closed the pipe: it gave up on us, or it is gone
            return
        if request is None:
            return
        text, path, voice, rate, pitch = request
        try:
            engine.setProperty("voice", voice)
            engine.setProperty("rate", rate)
            engine.setProperty("pitch", pitch)
            engine.save_to_file(text, path)
            engine.runAndWait()
            if not _wait_complete(path, time.monotonic() + 3):
                # The upstream save_to_file-in-a-loop fault: this engine is spent. Exit so
                # that the parent retries on a fresh process.
                conn.send(("retry", "no complete WAV file written"))
                return
            conn.send(("ok", None))
        except Exception as exc:  # reported to the parent, which names the prompt
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class EspeakWorker:
    """One child process rendering one text at a time; replaced after a failure. Safe to
    share between threads: a render holds the worker until its answer is read (the
    child has one pipe, and two requests in flight would read each other's answers)."""

    def __init__(self, timeout_s: float = 20.0,
                 target: Callable[[Connection, int], None] | None = None, nice: int = 0
                 ) -> None:
        self.timeout_s, self.nice = timeout_s, nice
        self.version = engine_version()
        self._target = target or _worker  # tests pass a worker that hangs or dies
        self._process: mp.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self._process = ctx.Process(target=self._target, args=(child, self.nice), daemon=True,
                                    name="huifang-tts")
        self._process.start()
        self._conn = parent

    def _kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._process, self._conn = None, None

    def render(self, text: str, voice: Voice) -> tuple[npt.NDArray[np.generic], int]:
        """Samples and rate of `text` spoken by `voice` (22.05 kHz from espeak). An engine
        that leaves its file unfinished is replaced and the text tried once more."""
        with self._lock:
            return self._render(text, voice)

    def _render(self, text: str, voice: Voice) -> tuple[npt.NDArray[np.generic], int]:
        for attempt in (1, 2):
            result = self._render_once(text, voice)
            if result is not None:
                return result
            log.warning("TTS engine left an unfinished file (attempt %d); restarting it",
                        attempt)
            self._kill()
        raise TtsError("the TTS engine left its file unfinished twice")

    def _render_once(self, text: str, voice: Voice
                     ) -> tuple[npt.NDArray[np.generic], int] | None:
        if self._process is None or not self._process.is_alive():
            self._start()
        assert self._conn is not None
        with tempfile.TemporaryDirectory(prefix="huifang-tts-") as tmp:
            path = str(Path(tmp) / "out.wav")
            try:
                self._conn.send((text, path, voice.name, voice.rate, voice.pitch))
                answered = self._conn.poll(self.timeout_s)
            except (EOFError, OSError):
                self._kill()
                raise TtsError("the TTS engine crashed (restarted)") from None
            if not answered:
                self._kill()
                raise TtsError(f"the TTS engine did not answer within {self.timeout_s:g} s "
                               "(restarted)")
            try:
                status, detail = self._conn.recv()
            except (EOFError, OSError):  # a dead child: EOF or a reset connection
                self._kill()
                raise TtsError("the TTS engine crashed (restarted)") from None
            if status == "retry":
                return None
            if status != "ok":
                raise TtsError(f"the TTS engine failed: {detail}")
            try:
                samples, info = read_wav(Path(path))
            except AudioError as exc:
                raise TtsError(f"the TTS engine wrote unusable audio: {exc}") from exc
            return samples, info.rate

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(BrokenPipeError, OSError):  # a dead worker is fine here
                self._conn.send(None)
        if self._process is not None:
            self._process.join(2)
        self._kill()
