"""The background job in the service's real reactor, with the service's real pools and the
engine's real child process (fake engines): a reason is transcribed and stored; a hung
engine is killed at its timeout while the reactor goes on serving; stopping the job stops
the child."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, select, update

from dialer.workers import Workers
from huifang.config import Settings
from huifang.reasons import ReasonJob
from huifang.reasons_engine import ProcessTranscriber
from huifang.service import local_now
from store.campaign_models import CallAttempt
from tests.campaign_support import wait_until
from tests.console_support import seed
from tests.peers import on_reactor, reactor
from tests.reason_support import hangs_factory, reason_attempt, says_factory, stereo_wav, tone


@pytest.fixture
def hotline(sqlite_engine: Engine, tmp_path: Path) -> tuple[Engine, Path]:
    seed(sqlite_engine, tmp_path, tmp_path / "seed")
    with sqlite_engine.begin() as conn:
        conn.execute(update(CallAttempt).values(reason_from_s=None, reason_to_s=None))
    left = np.concatenate([np.zeros(8000, "<i2"), tone(2.0)])
    return sqlite_engine, stereo_wav(tmp_path / "rec" / "call.wav", left)


@pytest.fixture
def workers(sqlite_engine: Engine) -> Iterator[Workers]:
    made = on_reactor(lambda: Workers(reactor, single_writer=True, engine_threads=2))
    yield made
    on_reactor(made.stop)


def settings(recording: Path, **reasons: Any) -> Settings:
    return Settings.model_validate({"campaign": {"recordings_dir": str(recording.parent)},
                                    "reasons": {"every_s": 1, **reasons}})


def status(engine: Engine, attempt: int) -> tuple[Any, ...]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(CallAttempt.reason_status, CallAttempt.reason_text,
                                         CallAttempt.reason_error)
                                  .where(CallAttempt.id == attempt)).one())


def test_the_job_transcribes_in_the_background_and_stops_its_engine(
        hotline: tuple[Engine, Path], workers: Workers) -> None:
    engine, recording = hotline
    attempt = reason_attempt(engine, "Q001", recording, (1.0, 3.0))
    transcriber = ProcessTranscriber(says_factory, "fake")
    job = ReasonJob(engine, settings(recording), workers, local_now, clock=reactor,
                    make=lambda: transcriber)
    on_reactor(job.start)
    wait_until(lambda: status(engine, attempt)[0] is not None, 60, "the reason transcribed")
    assert status(engine, attempt) == ("done", "没人来处理（16000 个样本）", None)
    on_reactor(job.stop)
    assert transcriber._process is None  # the child is gone


def test_a_hung_engine_never_holds_the_reactor(hotline: tuple[Engine, Path],
                                               workers: Workers) -> None:
    engine, recording = hotline
    attempt = reason_attempt(engine, "Q002", recording, (1.0, 3.0))
    transcriber = ProcessTranscriber(hangs_factory, "fake")
    job = ReasonJob(engine, settings(recording, timeout_s=3), workers, local_now,
                    clock=reactor, make=lambda: transcriber)
    on_reactor(job.start)
    wait_until(lambda: transcriber._process is not None, 60, "the engine started")
    assert on_reactor(lambda: "served") == "served"  # while the engine hangs
    wait_until(lambda: status(engine, attempt)[0] is not None, 60, "the try ended")
    assert status(engine, attempt) == ("failed", None,
                                       "转写超时：3 秒内没有结果，引擎已重启")
    on_reactor(job.stop)
