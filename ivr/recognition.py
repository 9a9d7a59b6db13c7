"""The recogniser interface every speech engine implements, and the grammars it is given.

An `Engine` holds what is loaded once per process (a model) and is shared by all calls.
A `Recogniser` is one live call's decoder: fed 8 kHz 16-bit mono PCM as RTP delivers it,
it returns partial hypotheses as they change and a final one at the end of the answer.
`reset(grammar)` readies it for the next question. Engines are not thread-safe per
recogniser: one recogniser is fed by one thread at a time (`ivr.pool` sees to that).

Rejection is part of the contract: off-script speech must come back as an empty text
with confidence 0, never force-fitted to an answer. Both engines measure it the same
way, by coverage: how much of the voiced time the recognised answer words account for.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import webrtcvad

from ivr.intents import ANSWERS, Intent, Question
from ivr.understand import NO, PHRASES, YES

RATE = 8000
FRAME_BYTES = 320  # 20 ms of 8 kHz 16-bit PCM
MAX_SECONDS_PER_CHARACTER = 0.45  # a word cannot "cover" more than this per syllable


class RecognitionError(RuntimeError):
    """An engine or model that cannot be used: the message says what and where."""


class EngineKind(enum.StrEnum):
    POCKETSPHINX = "pocketsphinx"
    VOSK = "vosk"


@dataclass(frozen=True)
class Grammar:
    """What may be said: a flat list of whole phrases."""

    name: str
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class Hypothesis:
    text: str  # "" when nothing was heard or it was rejected
    confidence: float  # 0..1
    final: bool
    heard: str = ""  # what the grammar matched, even when rejected (for the review screen)
    coverage: float = 0.0  # answer words' time over voiced time
    alternatives: tuple[tuple[str, float], ...] = ()  # n-best (text, score), best first


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


def complete_phrases(grammar: Grammar) -> frozenset[str]:
    """Phrases that no longer phrase begins with: hearing one of them whole, the answer
    cannot turn into another (解决了 can still become 解决了一部分; 还没有解决 cannot)."""
    phrases = set(grammar.phrases)
    return frozenset(p for p in phrases
                     if not any(q != p and q.startswith(p) for q in phrases))


def grammar_for(question: Question) -> Grammar:
    extra = BOTH_IN_ONE_BREATH if question is Question.RESOLVED else ()
    return Grammar(str(question), tuple(dict.fromkeys((*phrases_for(question), *extra))))


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

