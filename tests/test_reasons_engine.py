"""The reasons engine's own process, for real (fake engines in the real child): a
transcript comes back; an engine that raises, crashes, hangs or cannot load is an
EngineError in words, never a hung or crashed service; after a kill the next reason
starts a fresh child."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from huifang.reasons_engine import EngineError, EngineTimeout, ProcessTranscriber
from tests.reason_support import (
    broken_factory,
    dies_factory,
    hangs_factory,
    raises_factory,
    says_factory,
)

PCM = b"\x10\x00" * 800  # 0.1 s


@pytest.fixture
def closing() -> Iterator[list[ProcessTranscriber]]:
    made: list[ProcessTranscriber] = []
    yield made
    for transcriber in made:
        transcriber.close()


def make(closing: list[ProcessTranscriber], factory: object, **kwargs: float
         ) -> ProcessTranscriber:
    transcriber = ProcessTranscriber(factory, "fake", **kwargs)  # type: ignore[arg-type]
    closing.append(transcriber)
    return transcriber


def test_a_transcript_comes_back_from_the_child_which_stays(
        closing: list[ProcessTranscriber]) -> None:
    t = make(closing, says_factory)
    assert t.transcribe(PCM, 30).text == "没人来处理（800 个样本）"
    assert t.transcribe(PCM * 2, 30).text == "没人来处理（1600 个样本）"
    assert t.started == 1  # the model loads once


def test_an_engine_that_raises_fails_that_reason_only(closing: list[ProcessTranscriber]
                                                      ) -> None:
    t = make(closing, raises_factory)
    with pytest.raises(EngineError, match="RuntimeError: CUDA 不可用：模型损坏"):
        t.transcribe(PCM, 30)
    with pytest.raises(EngineError, match="CUDA"):
        t.transcribe(PCM, 30)
    assert t.started == 1  # the child survived its engine's error


def test_a_hung_engine_is_killed_at_the_timeout_and_replaced(
        closing: list[ProcessTranscriber]) -> None:
    t = make(closing, hangs_factory)
    started = time.monotonic()
    with pytest.raises(EngineTimeout, match=r"转写超时：0\.5 秒内没有结果，引擎已重启"):
        t.transcribe(PCM, 0.5)
    assert time.monotonic() - started < 20  # the wait is bounded (a generous bound)
    first = t.started
    with pytest.raises(EngineTimeout):
        t.transcribe(PCM, 0.5)
    assert t.started == first + 1  # a fresh child for the next reason


def test_an_engine_that_dies_is_an_error_in_words(closing: list[ProcessTranscriber]) -> None:
    t = make(closing, dies_factory)
    with pytest.raises(EngineError, match="转写引擎进程意外退出（退出码 3）"):
        t.transcribe(PCM, 30)


def test_a_model_that_cannot_load_is_an_error_in_words(closing: list[ProcessTranscriber]
                                                       ) -> None:
    t = make(closing, broken_factory)
    with pytest.raises(EngineError, match=r"模型无法加载：model\.bin: 文件已损坏"):
        t.transcribe(PCM, 30)


def test_a_closed_transcriber_starts_no_child(closing: list[ProcessTranscriber]) -> None:
    t = make(closing, says_factory)
    assert t.transcribe(PCM, 30).text
    t.close()
    with pytest.raises(EngineError, match="转写引擎已关闭"):
        t.transcribe(PCM, 30)
    assert t.started == 1
