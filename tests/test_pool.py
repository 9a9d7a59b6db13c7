"""The recognition pool: calls decode in parallel on a few workers, each call's work in
order, off the caller's thread, and failures reach whoever waits for the result."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field

import pytest

from ivr.intents import Question
from ivr.pool import RecognitionPool
from ivr.recognition import Grammar, Hypothesis, grammar_for
from ivr.sphinx import SphinxEngine
from tests.conftest import need
from tests.speech import MODEL, espeak


@dataclass
class Recorder:
    """A recogniser that records what it was asked, in order (pure logic of the pool)."""

    log: list[str] = field(default_factory=list)
    threads: set[str] = field(default_factory=set)

    def reset(self, grammar: Grammar) -> None:
        self.log.append(f"reset {grammar.name}")

    def feed(self, pcm: bytes) -> Hypothesis | None:
        self.threads.add(threading.current_thread().name)
        if pcm == b"boom":
            raise ValueError("garbled audio")
        self.log.append(pcm.decode())
        return Hypothesis(pcm.decode(), 0.0, final=False)

    def finish(self) -> Hypothesis:
        return Hypothesis("".join(x for x in self.log if len(x) == 1), 1.0, True)

    def close(self) -> None:
        self.log.append("closed")


@dataclass
class RecorderEngine:
    name: str = "recorder"
    rival_margin: float = 0.0
    free_form: bool = False
    made: list[Recorder] = field(default_factory=list)

    def recogniser(self, grammar: Grammar) -> Recorder:
        self.made.append(Recorder())
        return self.made[-1]

    def transcribe(self, pcm: bytes) -> str | None:
        return None


def test_each_call_in_order_off_the_callers_thread() -> None:
    engine = RecorderEngine()
    pool = RecognitionPool(engine, workers=3)
    partials: dict[str, list[str]] = {}
    streams = [pool.open(f"c{i}", Grammar("g", ("x",)),
                         lambda h, i=i: partials.setdefault(f"c{i}", []).append(h.text))
               for i in range(6)]
    assert pool.streams == 6
    for letter in "abcdefghij":
        for s in streams:
            s.feed(letter.encode())
    reset = streams[0].reset(Grammar("next", ("y",)))
    finals = [s.finish() for s in streams]
    for s in streams:
        s.close().result(timeout=30)
    reset.result(timeout=30)
    assert [f.result(timeout=30).text for f in finals] == ["abcdefghij"] * 6
    assert all(p == list("abcdefghij") for p in partials.values())
    assert all(r.log[-1] == "closed" for r in engine.made)
    assert "reset next" in engine.made[0].log
    threads = set().union(*(r.threads for r in engine.made))
    assert threading.current_thread().name not in threads and len(threads) <= 3
    assert pool.streams == 0 and all(s.backlog_bytes == 0 for s in streams)
    with pytest.raises(RuntimeError, match="already closed"):
        streams[0].feed(b"z")
    pool.shutdown()


def test_a_failure_reaches_the_result_and_the_call_still_closes() -> None:
    engine = RecorderEngine()
    pool = RecognitionPool(engine, workers=1)
    s = pool.open("c1", Grammar("g", ("x",)))
    s.feed(b"a")
    s.feed(b"boom")
    s.feed(b"b")
    with pytest.raises(ValueError, match="garbled"):
        s.finish().result(timeout=30)
    s.close().result(timeout=30)
    assert engine.made[0].log == ["a", "closed"] and pool.streams == 0
    with pytest.raises(TypeError, match="bytes of 8 kHz"):
        s.feed("text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one worker"):
        RecognitionPool(engine, workers=0)
    pool.shutdown()


def test_real_decoding_in_parallel_matches_one_at_a_time() -> None:
    need(MODEL.exists(), f"shared Mandarin model missing at {MODEL}")
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    engine = SphinxEngine(MODEL)
    clips = {t: espeak(t, "sit/cmn-latn-pinyin+f3") for t in ("不满意", "很满意", "基本满意")}
    grammar = grammar_for(Question.SATISFIED)
    alone = {}
    for text, pcm in clips.items():
        r = engine.recogniser(grammar)
        r.feed(pcm)
        alone[text] = r.finish().text
        r.close()
    pool = RecognitionPool(engine, workers=2)
    jobs = list(clips.items()) * 3
    streams = [pool.open(f"call{i}", grammar) for i in range(len(jobs))]
    for offset in range(0, max(len(p) for _, p in jobs), 320):  # frames interleaved
        for s, (_, pcm) in zip(streams, jobs, strict=True):
            if offset < len(pcm):
                s.feed(pcm[offset:offset + 320])
    results = [s.finish().result(timeout=60).text for s in streams]
    assert results == [alone[text] for text, _ in jobs]
    assert alone["不满意"] == "不满意"
    for s in streams:
        s.close().result(timeout=30)
    transcript = pool.transcribe(clips["不满意"]).result(timeout=30)
    assert transcript is None  # PocketSphinx here has no free-form model: audio is kept
    pool.shutdown()
