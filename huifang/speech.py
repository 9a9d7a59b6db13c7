"""Speech for the command line: the configured engine and policy, and one clip decoded
the way a live call decodes it (20 ms frames, endpointing, understanding)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

from huifang.config import RecognitionSettings
from huifang.models import model_path
from ivr.endpoint import FRAME_BYTES, Endpointer, EndpointSettings, Event
from ivr.engines import load_engine
from ivr.intents import Intent, Policy, Question, Understanding
from ivr.recognition import (
    Engine,
    Hypothesis,
    RecognitionError,
    Rejection,
    grammar_for,
    passes,
)
from ivr.second_opinion import Combination, SecondOpinionEngine, combined
from ivr.understand import understand_hypotheses
from ivr.whisper import WhisperEngine, WhisperGuards, hypothesis_of
from ivr.whisper_model import model_directory
from prompts.audio import read_wav

log = logging.getLogger(__name__)
RATE = 8000


def engine_from(settings: RecognitionSettings, *, second_opinion: bool | None = None,
                always_ask: bool = False, **overrides: float | str | None) -> Engine:
    """The configured engine (`overrides` replace settings: asr-tune decodes with
    rejection off), with Whisper behind it when `[recognition] second_opinion` is
    "whisper" (or `second_opinion` says so). A Whisper model that cannot be had leaves
    the grammar engine alone, with a warning that says why."""
    if settings.engine == "whisper":
        return whisper_from(settings)
    options: dict[str, float | str | None] = {"min_coverage": settings.min_coverage,
                                              "rival_margin": settings.rival_margin}
    if settings.engine == "vosk":
        options["min_score"] = settings.vosk_min_score
    else:
        options.update(min_coverage_non_answer=settings.min_coverage_non_answer,
                       min_voiced_s=settings.min_voiced_s, vad=settings.vad)
    options.update(overrides)
    primary = load_engine(settings.engine, model_path(settings), **options)
    wanted = settings.second_opinion == "whisper" if second_opinion is None else second_opinion
    if not wanted:
        return primary
    try:
        second = whisper_from(settings)
    except RecognitionError as exc:
        log.warning("second opinion off: %s; %s decides alone", exc, primary.name)
        return primary
    return SecondOpinionEngine(primary, second, combination_from(settings),
                               policy_from(settings), settings.accept,
                               settings.whisper_timeout_s, settings.workers, always_ask)


def whisper_from(settings: RecognitionSettings) -> WhisperEngine:
    """The Whisper engine of `[recognition] whisper_model` (empty: the packaged base
    model, joined into `whisper_cache` and checked the first time)."""
    directory = model_directory(settings.whisper_model, Path(settings.whisper_cache))
    engine = load_engine("whisper", directory, beam_size=settings.whisper_beam_size,
                         cpu_threads=settings.whisper_threads, workers=settings.workers,
                         max_compression=settings.whisper_max_compression,
                         min_text_coverage=settings.whisper_min_text_coverage)
    assert isinstance(engine, WhisperEngine)
    return engine


def combination_from(settings: RecognitionSettings) -> Combination:
    s = settings
    agree = WhisperGuards(s.second_agree_no_speech, s.second_agree_logprob,
                          s.whisper_max_compression, s.whisper_min_text_coverage)
    alone = None if s.second_alone_logprob is None else WhisperGuards(
        s.second_alone_no_speech, s.second_alone_logprob, s.whisper_max_compression,
        s.whisper_min_text_coverage)
    return Combination(s.second_doubt_below, agree, alone, s.second_veto,
                       frozenset(Question(q) for q in s.second_questions))


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
    understanding = judge(hypothesis, question, engine.rival_margin, policy)
    return Decoded(hypothesis, understanding, (started, ended), len(pcm) / 2 / RATE, elapsed)


def judge(hypothesis: Hypothesis, question: Question, margin: float, policy: Policy,
          rejection: Rejection | None = None, combination: Combination | None = None,
          accept: float = 0.5, guards: WhisperGuards | None = None) -> Understanding:
    """What a final hypothesis is taken as: exactly what a live call does with it
    (`dialer.callsession` calls `understand_hypotheses` the same way; a second opinion is
    already folded into the hypothesis by `ivr.second_opinion.combined`).

    Replays, for asr-tune and asr-eval on stored evidence: with `rejection`, the grammar
    engine's rejection test is applied first (decoded once with rejection off); with
    `combination`, the second-opinion rule is applied again to the grammar engine's result
    and Whisper's stored opinion (decoded once with Whisper always asked); with `guards`,
    a Whisper-only hypothesis is judged again by those guards."""
    if guards is not None and hypothesis.primary is None and hypothesis.opinion is not None:
        hypothesis = hypothesis_of(hypothesis.opinion, guards)
    elif rejection is not None or combination is not None:
        opinion = hypothesis.opinion
        base = replace(hypothesis.primary or hypothesis, opinion=None, primary=None)
        if rejection is not None and not passes(rejection, base.heard, base.coverage,
                                                base.voiced_s, question):
            base = Hypothesis("", 0.0, True, base.heard, base.coverage, voiced_s=base.voiced_s)
        hypothesis = base if combination is None else combined(
            base, opinion, question, margin, policy, accept, combination)
    return understand_hypotheses(hypothesis.text, hypothesis.confidence,
                                 hypothesis.alternatives, question, margin, policy)
