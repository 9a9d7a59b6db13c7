"""Endpointing on real synthetic speech with known leading and trailing silence."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ivr.endpoint import FRAME_BYTES, Endpointer, EndpointError, EndpointSettings, Event
from prompts.cache import PromptCache
from prompts.catalog import load_catalog
from prompts.render import PromptRenderer
from prompts.tts import EspeakWorker, Voice
from tests.conftest import need


@pytest.fixture(scope="module")
def answer(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """'挺满意的' spoken by espeak, at 8 kHz, trimmed to the speech itself."""
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    worker = EspeakWorker()
    try:
        renderer = PromptRenderer(load_catalog(), PromptCache(tmp_path_factory.mktemp("c")),
                                  worker, Voice(), hotline="12345", city="示例市")
        said = renderer.say("挺满意的")
        return renderer.cache.load(said.audio)
    finally:
        worker.close()


def silence(ms: int, noise: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.normal(0, noise, 8 * ms)).astype(np.int16)


def test_start_and_end_found_near_the_truth(answer: np.ndarray) -> None:
    lead, tail = 1000, 1500
    audio = np.concatenate([silence(lead, 30), answer, silence(tail, 30)])
    events = Endpointer().feed_all(audio.tobytes())
    assert [e.event for e in events] == [Event.SPEECH_STARTED, Event.SPEECH_ENDED]
    spoken = len(answer) // 8
    assert abs(events[0].at_ms - lead) <= 160  # the trimmed clip keeps an 80 ms margin
    assert abs(events[1].at_ms - (lead + spoken)) <= 200


def test_silence_times_out_as_no_input() -> None:
    events = Endpointer(EndpointSettings(no_input_ms=2000)).feed_all(silence(3000, 30).tobytes())
    assert [(e.event, e.at_ms) for e in events] == [(Event.TIMEOUT, 2000)]


def test_a_click_is_not_speech() -> None:
    click = np.zeros(8 * 500, dtype=np.int16)
    click[2000:2040] = 20000
    assert Endpointer().feed_all(click.tobytes()) == []


def test_endless_speech_is_cut_at_max(answer: np.ndarray) -> None:
    long = np.concatenate([answer] * 12)
    events = Endpointer(EndpointSettings(max_ms=3000, end_ms=2000)).feed_all(long.tobytes())
    assert events[0].event is Event.SPEECH_STARTED and events[-1].event is Event.TIMEOUT


def test_garbage_and_empty_input_fail_cleanly() -> None:
    endpointer = Endpointer()
    with pytest.raises(EndpointError, match="320 bytes"):
        endpointer.feed(b"\x01\x02\x03")
    assert endpointer.feed_all(b"") == [] and endpointer.now_ms == 0
    assert endpointer.feed_all(b"\x00" * (FRAME_BYTES + 7)) == []  # partial frame ignored
    assert endpointer.now_ms == 20


def test_after_the_end_nothing_more_happens(answer: np.ndarray) -> None:
    e = Endpointer()
    audio = np.concatenate([answer, silence(1000), answer, silence(1000)])
    events = e.feed_all(audio.tobytes())
    assert [x.event for x in events] == [Event.SPEECH_STARTED, Event.SPEECH_ENDED]
    assert e.done and e.feed(bytes(FRAME_BYTES)) is None


def test_a_whole_answer_ends_after_the_shorter_silence_a_hesitation_does_not(
        answer: np.ndarray) -> None:
    """`complete()` (the partial is a whole answer) shortens the silence that ends the
    turn from 700 to 550 ms: a 400 ms hesitation after it is not an end; 600 ms is."""
    def ended_after(pause_ms: int, whole: bool) -> int | None:
        endpointer = Endpointer()
        audio = np.concatenate([silence(300, 30), answer, silence(pause_ms, 30), answer,
                                silence(1500, 30)])
        frames = [audio.tobytes()[i:i + FRAME_BYTES]
                  for i in range(0, len(audio) * 2 - FRAME_BYTES + 1, FRAME_BYTES)]
        first_end = (300 + len(answer) // 8) // 20  # the frame where the first word ends
        for n, frame in enumerate(frames):
            if whole and n == first_end:
                endpointer.complete()
            point = endpointer.feed(frame)
            if point is not None and point.event is Event.SPEECH_ENDED:
                return point.at_ms
        return None

    first_end_ms = 300 + len(answer) // 8
    whole_too = first_end_ms + 400 + len(answer) // 8
    assert EndpointSettings().complete_ms == 550
    assert ended_after(400, whole=True) > whole_too - 100  # the hesitation is not an end
    assert ended_after(400, whole=False) > whole_too - 100
    cut = ended_after(600, whole=True)  # a whole answer and 600 ms: the turn is over
    assert cut is not None and cut < first_end_ms + 200
    assert ended_after(600, whole=False) > whole_too - 100  # 700 ms without complete()
