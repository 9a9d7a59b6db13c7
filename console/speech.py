"""Speech for the command line: the configured engine and policy, and one clip decoded
the way a live call decodes it (20 ms frames, endpointing, understanding)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

from console.config import RecognitionSettings
from ivr.endpoint import FRAME_BYTES, Endpointer, EndpointSettings, Event
from ivr.engines import load_engine
from ivr.intents import Intent, Policy, Question, Understanding
from ivr.recognition import Engine, Hypothesis, grammar_for
from ivr.understand import understand_hypotheses
from prompts.audio import read_wav

RATE = 8000


def engine_from(settings: RecognitionSettings) -> Engine:
    options: dict[str, float | None] = {"min_coverage": settings.min_coverage,
                                        "rival_margin": settings.rival_margin}
    if settings.engine == "vosk":
        options["min_score"] = settings.vosk_min_score
    return load_engine(settings.engine, settings.model, **options)


def policy_from(settings: RecognitionSettings) -> Policy:
    return Policy(hedge=Intent(settings.hedge), partly_resolved=Intent(settings.partly_resolved),
                  basically_resolved=Intent(settings.basically_resolved))


FULL_SCALE = {np.dtype(np.uint8): 128.0, np.dtype(np.int16): 32768.0,
              np.dtype(np.int32): 2.0**31}


def to_float_8k(samples: npt.NDArray[np.generic], rate: int) -> npt.NDArray[np.float64]:
    """Mono 8 kHz audio in [-1, 1], without trimming or normalising: silence stays
    silence."""
    x = samples.astype(np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if samples.dtype == np.uint8:
        x = x - 128
    x = x / FULL_SCALE.get(samples.dtype, 1.0)
    if rate != RATE:
        x = soxr.resample(x, rate, RATE, quality="HQ")
    return np.asarray(x, dtype=np.float64)


def pcm16(x: npt.NDArray[np.float64]) -> npt.NDArray[np.int16]:
    """[-1, 1] audio as 16-bit samples, rounded and clipped."""
    return np.clip(np.round(x * 32768), -32768, 32767).astype("<i2")


def to_8k(samples: npt.NDArray[np.generic], rate: int) -> bytes:
    """Mono 16-bit 8 kHz PCM bytes, as a call hears it."""
    return bytes(pcm16(to_float_8k(samples, rate)).tobytes())


def read_8k(path: Path) -> bytes:
    samples, info = read_wav(path)
    return to_8k(samples, info.rate)


@dataclass(frozen=True)
class Decoded:
    hypothesis: Hypothesis
    understanding: Understanding
    speech_ms: tuple[int | None, int | None]  # start and end as the endpointer saw them
    audio_s: float
    decode_s: float


def decode(engine: Engine, pcm: bytes, question: Question, policy: Policy) -> Decoded:
    """Feed a clip in 20 ms frames as RTP would, then understand the final hypothesis."""
    endpointer = Endpointer(EndpointSettings(no_input_ms=10**9, max_ms=10**9))
    started = ended = None
    recogniser = engine.recogniser(grammar_for(question))
    t0 = time.perf_counter()
    try:
        for i in range(0, len(pcm), FRAME_BYTES):
            frame = pcm[i:i + FRAME_BYTES]
            recogniser.feed(frame)
            if len(frame) == FRAME_BYTES and not endpointer.done:
                event = endpointer.feed(frame)
                if event is not None and event.event is Event.SPEECH_STARTED:
                    started = event.at_ms
                elif event is not None and event.event is Event.SPEECH_ENDED:
                    ended = event.at_ms
        hypothesis = recogniser.finish()
    finally:
        recogniser.close()
    elapsed = time.perf_counter() - t0
    understanding = understand_hypotheses(hypothesis.text, hypothesis.confidence,
                                          hypothesis.alternatives, question,
                                          engine.rival_margin, policy)
    return Decoded(hypothesis, understanding, (started, ended), len(pcm) / 2 / RATE, elapsed)
