"""The recogniser process pool's own faults: a worker's message damaged after a result
still settles that result (then the worker is replaced); the watchdog outlives a check
that fails; restarts and lost turns are exported to Prometheus."""

from __future__ import annotations

import pickle

import pytest
from prometheus_client import generate_latest

from dialer.metrics import Metrics
from huifang.recognition_processes import ProcessRecognitionPool, WorkerLost
from ivr.decoding_wire import Op, pack
from ivr.recognition import Grammar, Hypothesis
from tests.campaign_support import wait_until
from tests.recogniser_factories import StuckFactory
from tests.test_recognition_processes import Clock


def test_a_result_before_a_damaged_part_of_a_message_is_still_settled() -> None:
    pool = ProcessRecognitionPool(StuckFactory("finish"), 1, check_every_s=3600)
    try:
        stream = pool.open("call1", Grammar("g", ("x",)))
        stream.feed(b"\0\0" * 160)
        owed = stream.finish()  # the stuck worker never answers it
        (worker,) = [w for w in pool._workers if w.alive]
        (seq,) = list(worker.pending)
        heard = Hypothesis("已经解决了", 0.9, final=True)
        message = pack([(Op.RESULT, stream.sid, seq, pickle.dumps(heard))])
        with pytest.raises(ValueError, match="cut short"):  # the reader replaces the worker
            pool._received(worker, message + message[:5])
        assert owed.result(timeout=1) == heard  # not left waiting for ever
    finally:
        pool.shutdown()


def test_the_watchdog_outlives_a_check_that_fails() -> None:
    pool = ProcessRecognitionPool(StuckFactory("finish"), 1, check_every_s=0.05)
    checks: list[int] = []
    real = pool.check

    def failing_once() -> None:
        checks.append(1)
        if len(checks) == 1:
            raise RuntimeError("a bug in one check")
        real()

    pool.check = failing_once  # type: ignore[method-assign]
    try:
        wait_until(lambda: len(checks) >= 3, 30, "the watchdog checking after the failure")
        assert pool._watchdog.is_alive()
    finally:
        pool.shutdown()


def test_restarts_and_lost_turns_are_exported() -> None:
    clock = Clock()
    pool = ProcessRecognitionPool(StuckFactory("finish"), 1, timeout_s=5, clock=clock,
                                  check_every_s=3600)
    metrics = Metrics()
    metrics.watch_recognisers(lambda: pool.restarts, lambda: pool.turns_lost)
    try:
        stream = pool.open("call1", Grammar("g", ("x",)))
        stream.feed(b"\0\0" * 160)
        owed = stream.finish()
        clock.now += 6
        pool.check()
        with pytest.raises(WorkerLost):
            owed.result(timeout=30)
        text = generate_latest(metrics.registry).decode()
        assert 'huifang_recogniser_restarts_total{reason="hung"} 1.0' in text
        assert 'huifang_recognition_turns_lost_total{reason="hung"} 1.0' in text
    finally:
        pool.shutdown()
