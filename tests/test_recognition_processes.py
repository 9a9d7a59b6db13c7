"""Decoding in recogniser worker processes (`huifang.recognition_processes`): the real
PocketSphinx engine in spawned workers gives what it gives in the service's own process;
a worker killed with SIGKILL, or hung, costs the turn it held and is replaced; a model
that cannot load is said at once; a stream whose decoding falls too far behind loses its
turn rather than being decoded from part of its audio. The wire and the worker's side
are pure and tested without processes."""

from __future__ import annotations

import os
import pickle
import shutil
import signal
from collections.abc import Iterator

import pytest

from huifang.config import RecognitionSettings
from huifang.recognition_processes import Backlogged, ProcessRecognitionPool, WorkerLost
from huifang.recognition_worker import SettingsEngine
from ivr.decoding_wire import Decoding, Op, grammar_bytes, pack, unpack
from ivr.intents import Intent, Question
from ivr.recognition import Grammar, Hypothesis, RecognitionError, grammar_for
from ivr.sphinx import SphinxEngine
from ivr.understand import understand
from tests.campaign_support import wait_until
from tests.conftest import need
from tests.recogniser_factories import NoModelFactory, StuckFactory
from tests.speech import MODEL, espeak
from tests.test_pool import RecorderEngine

VOICE = "sit/cmn-latn-pinyin+f3"
FRAME = 320  # 20 ms of 8 kHz 16-bit audio


def frames(pcm: bytes) -> Iterator[bytes]:
    for at in range(0, len(pcm), FRAME):
        yield pcm[at:at + FRAME]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the wire and the worker's side (pure) --------------------------------------------

def test_a_message_round_trips_and_a_torn_one_is_refused() -> None:
    records = [(Op.OPEN, 7, 0, b"g"), (Op.FEED, 7, 0, b"\x01\x02" * 160),
               (Op.FINISH, 7, 42, b"")]
    message = pack(records)
    assert [(op, sid, arg, bytes(p)) for op, sid, arg, p in unpack(message)] == records
    with pytest.raises(ValueError, match="header is cut short"):
        list(unpack(message[:5]))
    with pytest.raises(ValueError, match="payload is cut short"):
        list(unpack(pack([(Op.FEED, 1, 0, b"abc")])[:-1]))
    with pytest.raises(ValueError):  # an op nobody defined
        list(unpack(pack([(99, 1, 0, b"")])))


def test_the_worker_decodes_in_order_acknowledges_audio_and_keeps_a_failure() -> None:
    decoding = Decoding(RecorderEngine())  # type: ignore[arg-type]
    grammar = grammar_bytes(Grammar("g", ("x",)))
    reply = list(unpack(decoding.handle(pack([
        (Op.OPEN, 1, 0, grammar), (Op.FEED, 1, 0, b"a"), (Op.FEED, 1, 0, b"b"),
        (Op.FINISH, 1, 5, b""), (Op.FINISH, 2, 6, b"")]))))
    kinds = [(op, sid, arg) for op, sid, arg, _ in reply]
    assert (Op.RESULT, 1, 5) in kinds and (Op.ERROR, 2, 6) in kinds  # 2 was never opened
    result = next(p for op, _, arg, p in reply if op is Op.RESULT and arg == 5)
    assert pickle.loads(result) == Hypothesis("ab", 1.0, True)
    assert (Op.ACK, 1, 2) in kinds  # two bytes of stream 1 decoded
    assert [op for op, *_ in reply].count(Op.PARTIAL) == 2
    reply = list(unpack(decoding.handle(pack([
        (Op.FEED, 1, 0, b"boom"), (Op.FINISH, 1, 8, b""), (Op.CLOSE, 1, 9, b"")]))))
    error = next(p for op, _, arg, p in reply if op is Op.ERROR and arg == 8)
    assert "garbled audio" in bytes(error).decode()
    assert any(op is Op.RESULT and arg == 9 for op, _, arg, _ in reply)  # close still works
    with pytest.raises(ValueError, match="not for the worker"):
        decoding.handle(pack([(Op.READY, 0, 0, b"")]))


# -- real worker processes ------------------------------------------------------------

def sphinx_settings() -> RecognitionSettings:
    need(MODEL.exists(), f"the shared Mandarin model is missing at {MODEL}")
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    return RecognitionSettings(model=str(MODEL))


def test_worker_processes_decode_as_the_engine_does_in_this_process() -> None:
    settings = sphinx_settings()
    clips = {t: espeak(t, VOICE) for t in ("不满意", "很满意", "基本满意")}
    grammar = grammar_for(Question.SATISFIED)
    engine = SphinxEngine(MODEL)
    alone = {}
    for text, pcm in clips.items():
        recogniser = engine.recogniser(grammar)
        recogniser.feed(pcm)
        alone[text] = recogniser.finish().text
        recogniser.close()
    pool = ProcessRecognitionPool(SettingsEngine(settings), 2)
    try:
        assert len(set(pool.pids())) == 2 and os.getpid() not in pool.pids()
        assert pool.rival_margin == engine.rival_margin
        partials: list[str] = []
        jobs = list(clips.items()) * 3
        streams = [pool.open(f"call{i}", grammar, lambda h: partials.append(h.text))
                   for i in range(len(jobs))]
        assert {s.worker.slot for s in streams if s.worker} == {0, 1}  # spread over both
        longest = max(len(pcm) for _, pcm in jobs)
        for at in range(0, longest, FRAME):  # every call's frames interleaved, as live
            for stream, (_, pcm) in zip(streams, jobs, strict=True):
                if at < len(pcm):
                    stream.feed(pcm[at:at + FRAME])
        results = [s.finish().result(timeout=60).text for s in streams]
        assert results == [alone[text] for text, _ in jobs]
        assert alone["不满意"] == "不满意" and partials
        for stream in streams:
            stream.close().result(timeout=30)
        assert pool.streams == 0 and all(s.backlog_bytes == 0 for s in streams)
        with pytest.raises(RuntimeError, match="already closed"):
            streams[0].feed(b"\0\0")
        quick = pool.open("hung-up", grammar)  # fed, finished and closed in one go, as a
        for frame in frames(clips["很满意"]):  # call that hangs up does
            quick.feed(frame)
        quick.finish()
        quick.close().result(timeout=60)
        assert [w.backlog_bytes for w in pool.stats()] == [0, 0]  # every byte acknowledged
    finally:
        pool.shutdown()
    assert pool.pids() == []


def test_a_worker_killed_mid_turn_costs_that_turn_only() -> None:
    settings = sphinx_settings()
    grammar = grammar_for(Question.RESOLVED)
    answer = espeak("已经解决了", VOICE)
    pool = ProcessRecognitionPool(SettingsEngine(settings), 1)
    try:
        stream = pool.open("call1", grammar)
        other = pool.open("call2", grammar)  # open, but no audio there yet
        for frame in list(frames(answer))[:20]:
            stream.feed(frame)
        (dead,) = pool.pids()
        os.kill(dead, signal.SIGKILL)
        with pytest.raises(WorkerLost, match="turns it held are lost"):
            stream.finish().result(timeout=30)
        wait_until(lambda: [w.ready for w in pool.stats()] == [True], 60,
                   "a new worker in the dead one's place")
        assert pool.pids() != [dead] and pool.restarts == {"died": 1}
        assert pool.turns_lost == {"died": 1}
        for s in (stream, other):  # the next turn, on the new worker, with its grammar
            s.reset(grammar).result(timeout=30)
            for frame in frames(answer):
                s.feed(frame)
            heard = s.finish().result(timeout=60).text
            # PocketSphinx adapts its cepstral mean across a decoder's utterances, so a
            # later turn may hear 已经解决了挺: the meaning is what must come through
            assert heard.startswith("已经解决了")
            assert understand(heard, Question.RESOLVED).intent is Intent.RESOLVED
            s.close().result(timeout=30)
        assert pool.streams == 0
    finally:
        pool.shutdown()


def test_a_hung_worker_is_killed_and_replaced_and_its_turn_fails() -> None:
    clock = Clock()
    pool = ProcessRecognitionPool(StuckFactory("finish"), 1, timeout_s=5, clock=clock,
                                  check_every_s=3600)  # the test runs the watchdog's check
    try:
        stream = pool.open("call1", Grammar("g", ("x",)))
        stream.feed(b"\0\0" * 160)
        owed = stream.finish()
        (hung,) = pool.pids()
        pool.check()
        assert not owed.done() and pool.pids() == [hung]  # not past its deadline yet
        clock.now += 6
        pool.check()
        with pytest.raises(WorkerLost, match="hung; killed"):
            owed.result(timeout=30)
        assert pool.restarts == {"hung": 1} and pool.turns_lost == {"hung": 1}
        wait_until(lambda: [w.ready for w in pool.stats()] == [True], 60, "a replacement")
        assert pool.pids() != [hung]
        with pytest.raises(ProcessLookupError):
            os.kill(hung, 0)  # the hung process is gone, not left running
    finally:
        pool.shutdown()


def test_a_stream_too_far_behind_loses_its_turn_not_part_of_its_audio() -> None:
    pool = ProcessRecognitionPool(StuckFactory("feed"), 1, max_backlog_s=1.0)
    try:
        stream = pool.open("call1", Grammar("g", ("x",)))
        for _ in range(100):  # 2 s of audio to a worker that decodes none of it
            stream.feed(b"\0\0" * 160)
        assert stream.backlog_bytes <= 16000
        with pytest.raises(Backlogged, match="more than 1 s of audio behind"):
            stream.finish().result(timeout=30)
    finally:
        pool.shutdown()


def test_a_model_that_cannot_load_is_said_when_the_pool_starts() -> None:
    with pytest.raises(RecognitionError, match="no acoustic model at /nowhere"):
        ProcessRecognitionPool(NoModelFactory(), 2)
    with pytest.raises(ValueError, match="at least one"):
        ProcessRecognitionPool(NoModelFactory(), 0)
