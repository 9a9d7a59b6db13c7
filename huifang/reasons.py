"""The citizen's reason for dissatisfaction in words: the citizen's channel of the reason's
slice is cut from the call's stereo recording, transcribed by a free-form engine in a
process of its own (`huifang.reasons_engine`), judged (words, or 未听清), sorted into a
category (`scoring.reasons`) and stored (`store.reasons`). Never on the call path:
`ReasonJob` runs in the service every `[reasons] every_s`, its store work on the store
pool and the engine's on the engines pool; `huifang reasons transcribe` does the same
now, in the foreground.

Failure is a result like any other: no recording, a recording missing, corrupt or
shorter than the reason, an engine that fails, crashes or hangs (killed after
`timeout_s`) make the reason FAILED with the error in words, tried again later a bounded
number of times; an engine that hears nothing makes it EMPTY (未听清). The recording is
only read.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine
from twisted.internet.defer import Deferred, inlineCallbacks, maybeDeferred, succeed
from twisted.internet.task import LoopingCall

from dialer.workers import Workers
from huifang.config import ReasonsSection, Settings
from huifang.reasons_engine import EngineError, ProcessTranscriber, WhisperFactory
from ivr.recognition import Opinion, RecognitionError
from ivr.whisper import looped
from ivr.whisper_model import model_directory
from scoring.reasons import categorize
from store import reasons as store
from store.enums import ReasonStatus
from store.reasons import ReasonResult, ReasonTodo

log = logging.getLogger(__name__)
RATE = 8000
SILENT_PEAK = 64  # below this peak (of 32767) the slice holds no voice at all


class RecordingError(ValueError):
    """The reason's audio cannot be had from the recording; the message says why."""


class Transcriber(Protocol):
    name: str

    def transcribe(self, pcm: bytes, timeout_s: float) -> Opinion: ...

    def close(self) -> None: ...


def _chunks(data: bytes) -> dict[bytes, tuple[int, int]]:
    """RIFF chunk id -> (offset of its data, declared size)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RecordingError("录音文件已损坏：不是 WAV 文件")
    found: dict[bytes, tuple[int, int]] = {}
    at = 12
    while at + 8 <= len(data):
        name, size = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])[0]
        found.setdefault(name, (at + 8, size))
        if name == b"data":
            break  # the recorder's last chunk; a crash may leave its size stale
        at += 8 + size + size % 2
    return found


def citizen_slice(data: bytes, from_s: float, to_s: float) -> bytes:
    """The left channel (the citizen) of a 16-bit 8 kHz stereo WAV between two offsets, as
    mono PCM. A recording whose header undercounts its data (the process died between two
    header updates) is read to its end; a reason running past the end is cut there."""
    chunks = _chunks(data)
    if b"fmt " not in chunks or b"data" not in chunks:
        raise RecordingError("录音文件已损坏：缺少格式或数据段")
    at, size = chunks[b"fmt "]
    if size < 16 or at + 16 > len(data):
        raise RecordingError("录音文件已损坏：格式段不完整")
    kind, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[at:at + 16])
    if (kind, channels, rate, bits) != (1, 2, RATE, 16):
        raise RecordingError(f"录音格式不符：应为 8 kHz 16 位双声道 PCM，实为 {rate} Hz "
                             f"{bits} 位 {channels} 声道（格式 {kind}）")
    start, _ = chunks[b"data"]
    frames = (len(data) - start) // 4
    duration = frames / RATE
    if not 0 <= from_s < to_s:
        raise RecordingError(f"原因时段无效：{from_s:.1f}–{to_s:.1f} 秒")
    if from_s >= duration:
        raise RecordingError(f"原因时段（{from_s:.1f}–{to_s:.1f} 秒）超出录音（长 "
                             f"{duration:.1f} 秒）")
    first, last = int(from_s * RATE), min(frames, int(to_s * RATE))
    stereo = data[start + first * 4:start + last * 4]
    left = bytearray(len(stereo) // 2)
    left[0::2], left[1::2] = stereo[0::4], stereo[1::4]
    return bytes(left)


class OutsideRecordings(RecordingError):
    """A recording path that is not inside the recordings directory: never read."""


def read_recording(recording: str, root: Path) -> bytes:
    """A recording's bytes; it must be inside `root`."""
    path = Path(recording).resolve()
    if not path.is_relative_to(root.resolve()):
        raise OutsideRecordings(f"录音不在录音目录内：{path.name}")
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise RecordingError(f"录音文件不存在：{path.name}") from exc
    except OSError as exc:
        raise RecordingError(f"录音文件无法读取：{path.name}（{exc.strerror}）") from exc


def citizen_audio(todo: ReasonTodo, root: Path) -> bytes:
    """The reason's audio from its recording, which must be inside `root`."""
    if not todo.recording:
        raise RecordingError("没有录音")
    return citizen_slice(read_recording(todo.recording, root), todo.from_s, todo.to_s)


def silent(pcm: bytes) -> bool:
    samples = memoryview(pcm[:len(pcm) - len(pcm) % 2]).cast("h")
    return max((abs(s) for s in samples), default=0) < SILENT_PEAK


def judged(opinion: Opinion, section: ReasonsSection, engine: str) -> ReasonResult:
    """What a transcript counts as: the citizen's words, or 未听清 when the engine wrote
    nothing, was sure nobody spoke, or wrote a loop (Whisper invents on noise)."""
    text = opinion.text.strip()
    if opinion.error:
        return ReasonResult(ReasonStatus.FAILED, error=opinion.error, engine=engine)
    if not text or opinion.speech_s <= 0:
        return ReasonResult(ReasonStatus.EMPTY, error="引擎没有听到话语", engine=engine)
    if opinion.no_speech_prob > section.max_no_speech:
        return ReasonResult(ReasonStatus.EMPTY, error=f"模型判断无人说话（no_speech "
                            f"{opinion.no_speech_prob:.2f}）", engine=engine)
    if looped(text):
        return ReasonResult(ReasonStatus.EMPTY, error="转写结果是重复的循环，不是话语",
                            engine=engine)
    return ReasonResult(ReasonStatus.DONE, text=text,
                        category=categorize(text, section.categories), engine=engine)


def transcribe_one(todo: ReasonTodo, transcriber: Transcriber, section: ReasonsSection,
                   root: Path) -> ReasonResult:
    """One try at one reason; never raises for the reason's or the engine's faults."""
    try:
        pcm = citizen_audio(todo, root)
    except RecordingError as exc:
        return ReasonResult(ReasonStatus.FAILED, error=str(exc), engine=transcriber.name)
    if silent(pcm):
        return ReasonResult(ReasonStatus.EMPTY, error="原因录音中没有声音",
                            engine=transcriber.name)
    try:
        opinion = transcriber.transcribe(pcm, section.timeout_s)
    except EngineError as exc:
        return ReasonResult(ReasonStatus.FAILED, error=str(exc), engine=transcriber.name)
    except Exception as exc:  # an engine's fault is this reason's result
        return ReasonResult(ReasonStatus.FAILED, error=f"转写引擎出错：{type(exc).__name__}: "
                            f"{exc}", engine=transcriber.name)
    return judged(opinion, section, transcriber.name)


def logged(todo: ReasonTodo, result: ReasonResult, saved: bool) -> None:
    """Every state change, with the call id (never the text: it may hold a number)."""
    where = f"reason of attempt {todo.attempt_id} (call {todo.call_id}), try {todo.tries}"
    if not saved:
        log.warning("%s: %s, not saved (taken again meanwhile)", where, result.status)
    elif result.status is ReasonStatus.DONE:
        log.info("%s: done, %d characters, category %s", where, len(result.text or ""),
                 result.category)
    else:
        log.warning("%s: %s: %s", where, result.status, result.error)


def taken(engine: Engine, section: ReasonsSection, now: datetime, limit: int
          ) -> list[ReasonTodo]:
    todos = store.take(engine, now, limit=limit, max_tries=section.max_tries,
                       retry_after=timedelta(minutes=section.retry_minutes))
    for todo in todos:
        log.info("reason of attempt %d (call %s): try %d of %d", todo.attempt_id,
                 todo.call_id, todo.tries, section.max_tries)
    return todos


def engine_name(settings: Settings) -> str:
    r = settings.reasons
    configured = r.model or settings.recognition.whisper_model
    return f"{r.engine} {Path(configured).name if configured else 'whisper-base'}"


def transcriber_from(settings: Settings) -> ProcessTranscriber:
    """The configured engine (not started: its process starts at the first reason).
    ModelFileError (a RecognitionError) when its model cannot be had."""
    directory = model_directory(settings.reasons.model or settings.recognition.whisper_model,
                                Path(settings.recognition.whisper_cache))
    r = settings.reasons
    return ProcessTranscriber(WhisperFactory(directory, r.threads, r.beam_size),
                              engine_name(settings))


@dataclass(frozen=True)
class BatchResult:
    todo: ReasonTodo
    result: ReasonResult
    saved: bool


def run_batch(engine: Engine, transcriber: Transcriber, settings: Settings,
              now: Callable[[], datetime], limit: int,
              each: Callable[[BatchResult], None] = lambda _: None) -> list[BatchResult]:
    """Blocking, in the foreground (`huifang reasons transcribe`): take up to `limit`
    reasons, transcribe and store each."""
    root = Path(settings.campaign.recordings_dir)
    done = []
    for todo in taken(engine, settings.reasons, now(), limit):
        result = transcribe_one(todo, transcriber, settings.reasons, root)
        saved = store.save_result(engine, todo, result, now())
        logged(todo, result, saved)
        done.append(BatchResult(todo, result, saved))
        each(done[-1])
    return done


class ReasonJob:
    """The service's background job: every `every_s` of the clock, a batch of reasons.
    The engine is made at the first run that has a reason to transcribe; a model that
    cannot be had turns the job off (logged once), the reasons stay pending."""

    def __init__(self, engine: Engine, settings: Settings, workers: Workers,
                 now: Callable[[], datetime], *, clock: Any,
                 make: Callable[[], Transcriber] | None = None) -> None:
        self.engine, self.settings, self.workers, self.now = engine, settings, workers, now
        self.clock = clock
        self.make: Callable[[], Transcriber] = make or (lambda: transcriber_from(settings))
        self.transcriber: Transcriber | None = None
        self.loop: LoopingCall | None = None
        self.stopping = False
        self.off = ""  # why the job turned itself off
        self.runs = 0
        self._done: Deferred[Any] = succeed(None)

    def start(self) -> None:
        loop = LoopingCall(lambda: maybeDeferred(self.run).addErrback(self._failed))
        loop.clock = self.clock
        self.loop = loop
        self._done = loop.start(self.settings.reasons.every_s, now=False)
        log.info("reasons: transcribed in the background every %.0f s, %d at a time",
                 self.settings.reasons.every_s, self.settings.reasons.batch)

    def _failed(self, failure: Any) -> None:
        log.error("reasons: the job failed (%s); it runs again next time",
                  failure.getErrorMessage())

    @inlineCallbacks
    def run(self) -> Any:
        """One batch; fires when its results are stored."""
        s, db = self.settings.reasons, self.workers.store
        todos: list[ReasonTodo] = yield db(taken, self.engine, s, self.now(), s.batch)
        if todos and self.transcriber is None:
            try:
                self.transcriber = yield self.workers.engine(self.make)
            except (RecognitionError, OSError, ValueError) as exc:
                self._turn_off(f"转写引擎不可用：{exc}")
                yield db(store.give_back, self.engine, todos)
                return
        root = Path(self.settings.campaign.recordings_dir)
        for i, todo in enumerate(todos):
            if self.stopping or self.transcriber is None:
                yield db(store.give_back, self.engine, todos[i:])
                return
            result = yield self.workers.engine(transcribe_one, todo, self.transcriber, s,
                                               root)
            if self.stopping:  # the engine was stopped under it: not the reason's fault
                yield db(store.give_back, self.engine, todos[i:])
                return
            saved = yield db(store.save_result, self.engine, todo, result, self.now())
            logged(todo, result, saved)
        self.runs += 1

    def _turn_off(self, why: str) -> None:
        self.off = why
        log.warning("reasons: background transcription is off: %s; the reasons stay "
                    "pending (huifang reasons transcribe once it is fixed)", why)
        if self.loop is not None and self.loop.running:
            self.loop.stop()

    def stop(self) -> Deferred[Any]:
        """No new batch; the engine's process is stopped; fires when the run in progress
        (if any) has given its reasons back."""
        self.stopping = True
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        if self.transcriber is not None:
            self.transcriber.close()
        return self._done
