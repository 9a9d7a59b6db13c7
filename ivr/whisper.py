"""Whisper engine (faster-whisper, CTranslate2 weights): free-form transcripts mapped to an
intent by the same understanding as every other engine.

Whisper has no grammar: it writes what it hears, and the answer is what `understand` finds
in it. That makes it a different witness from PocketSphinx (whose grammar force-fits
anything to some answer), which is the point of a second opinion (`ivr.second_opinion`).
It also means it invents: on silence or noise it writes the prompt back or a phrase
repeated until the token limit, and it drops short syllables (没, 不) that decide an
answer. Guards, all measured on the tune split (`WhisperGuards`):
- the audio it sees is gated by its own voice detector (silero, `vad_filter`): nothing
  voiced, no transcript;
- `no_speech_prob` (the model's probability that nobody spoke), the segment's
  `avg_logprob`, the gzip `compression_ratio` (loops compress), a repeated unit four or
  more times in a row, and `text_coverage` (the share of the transcript that is answer
  words, particles and fillers: 今天天气不错 contains 不错 but is not an answer);
- at most `MAX_TOKENS` tokens are decoded: an answer is a few words, and a loop stops there.

It may write traditional characters (滿意, 沒解決): OpenCC (`opencc`, t2s) converts them;
without OpenCC a small table covers the answer vocabulary only (`_T2S`).

The prompt (`PROMPTS`) is made of the question's answer phrases, both poles and the hedge,
so that the model expects those words; the measurement in the README shows what it costs
(a prompt word can be written back when little was heard).

Threads: one `WhisperModel` per engine, shared by all calls; `workers` transcriptions can
run at once (CTranslate2's `num_workers`), each on `cpu_threads` threads.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ivr.intents import Question
from ivr.recognition import (
    RATE,
    Grammar,
    Hypothesis,
    Opinion,
    RecognitionError,
    check_pcm,
    question_of,
)
from ivr.understand import text_coverage

log = logging.getLogger(__name__)
MAX_TOKENS = 24
REPEATS = 4  # a unit of 1-4 characters this many times in a row is a loop, not an answer
PROMPTS = {
    Question.RESOLVED: "问题解决了吗？已经解决了，还没有解决，没解决，解决了。",
    Question.SATISFIED: "满意吗？很满意，不满意，基本满意，还行，满意。",
}
PLAIN = "以下是普通话的句子。"  # sets the language and simplified script, no answer words
PROMPT_KINDS = ("answers", "plain", "none")
_LOOP = re.compile(r"(.{1,4}?)\1{" + str(REPEATS - 1) + ",}")
_NOT_TEXT = re.compile(r"[^\u4e00-\u9fffA-Za-z0-9，。？！,.?!、 ]")
# Traditional forms of the answer vocabulary, for a machine without OpenCC.
_T2S = str.maketrans("滿沒決處問題還說這個對錯嗎聽遍謝覺會麼樣幫辦時間請開車見現",
                     "满没决处问题还说这个对错吗听遍谢觉会么样帮办时间请开车见现")


def _simplifier() -> Any:
    try:
        import opencc  # noqa: PLC0415 - optional: the table below covers the answers

        return opencc.OpenCC("t2s")
    except (ImportError, OSError, RuntimeError) as exc:  # pragma: no cover - opencc absent
        log.warning("OpenCC unavailable (%s): traditional characters are simplified for the "
                    "answer vocabulary only", exc)
        return None


def simplified(text: str, converter: Any = None) -> str:
    """Simplified characters, with stray bytes (a token cut in half) left out."""
    text = converter.convert(text) if converter is not None else text.translate(_T2S)
    return _NOT_TEXT.sub("", text).strip()


def looped(text: str) -> bool:
    return bool(_LOOP.search(re.sub(r"[\s，。？！,.?!、]", "", text)))


@dataclass(frozen=True)
class WhisperGuards:
    """When a transcript counts as evidence. Chosen by `huifang asr-tune` on the tune split."""

    max_no_speech: float = 0.6
    min_avg_logprob: float = -1.0
    max_compression: float = 2.4
    min_text_coverage: float = 0.6


def admissible(opinion: Opinion, guards: WhisperGuards) -> bool:
    """Whether a transcript is evidence at all: something written, the model sure enough
    that someone spoke and of its words, no loop, and mostly answer words."""
    if opinion.error or not opinion.text or opinion.speech_s <= 0:
        return False
    return (opinion.no_speech_prob <= guards.max_no_speech
            and opinion.avg_logprob >= guards.min_avg_logprob
            and opinion.compression_ratio <= guards.max_compression
            and not looped(opinion.text)
            and text_coverage(opinion.text) >= guards.min_text_coverage)


@dataclass
class WhisperEngine:
    """One per process: the CTranslate2 model, shared by every call."""

    model: Path
    beam_size: int = 1
    cpu_threads: int = 1
    workers: int = 2
    max_no_speech: float = 0.6
    min_avg_logprob: float = -1.0
    max_compression: float = 2.4
    min_text_coverage: float = 0.6
    prompt: str = "answers"  # PROMPT_KINDS: the question's answers, a plain sentence, none
    rival_margin: float = 0.0  # no n-best: nothing to contest
    name: str = "whisper"
    free_form: bool = True
    _model: Any = field(init=False, repr=False)
    _converter: Any = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.model = Path(self.model)
        if not (self.model / "model.bin").is_file():
            raise RecognitionError(f"Whisper model incomplete: {self.model / 'model.bin'} "
                                   "is missing")
        try:
            from faster_whisper import WhisperModel  # noqa: PLC0415 - heavy, when configured
        except ImportError as exc:
            raise RecognitionError("faster-whisper is not installed (pip install "
                                   "'huifang[whisper]')") from exc
        try:
            self._model = WhisperModel(str(self.model), device="cpu", compute_type="int8",
                                       cpu_threads=self.cpu_threads, num_workers=self.workers,
                                       local_files_only=True)
        except (RuntimeError, ValueError, OSError) as exc:
            raise RecognitionError(f"Whisper model {self.model} cannot be loaded: {exc}"
                                   ) from exc
        self._converter = _simplifier()
        if self.prompt not in PROMPT_KINDS:
            raise RecognitionError(f"unknown Whisper prompt {self.prompt!r}: choose "
                                   f"{', '.join(PROMPT_KINDS)}")

    @property
    def guards(self) -> WhisperGuards:
        return WhisperGuards(self.max_no_speech, self.min_avg_logprob, self.max_compression,
                             self.min_text_coverage)

    def recogniser(self, grammar: Grammar) -> WhisperRecogniser:
        return WhisperRecogniser(self, grammar)

    def transcribe(self, pcm: bytes) -> str | None:
        """A reason, free-form (no prompt, a longer token limit)."""
        return self.opinion(pcm, None, max_tokens=200).text

    def opinion(self, pcm: bytes, question: Question | None, max_tokens: int = MAX_TOKENS
                ) -> Opinion:
        """Transcribe 8 kHz 16-bit PCM; the transcript with the model's own evidence."""
        import soxr  # noqa: PLC0415

        x = np.frombuffer(check_pcm(pcm)[:len(pcm) - len(pcm) % 2], dtype="<i2")
        audio = soxr.resample(x.astype(np.float32) / 32768, RATE, 16000).astype(np.float32)
        prompt = (PROMPTS.get(question) if self.prompt == "answers" and question else
                  PLAIN if self.prompt == "plain" else None)
        started = time.process_time()
        segments, info = self._model.transcribe(
            audio, language="zh", task="transcribe", beam_size=self.beam_size,
            temperature=0.0, condition_on_previous_text=False, without_timestamps=True,
            initial_prompt=prompt, max_new_tokens=max_tokens, vad_filter=True,
            no_speech_threshold=None, log_prob_threshold=None,
            compression_ratio_threshold=None)
        segments = list(segments)  # decoding happens here
        cpu = time.process_time() - started
        speech_s = float(getattr(info, "duration_after_vad", info.duration) or 0.0)
        if not segments:
            return Opinion("", speech_s=speech_s, cpu_s=cpu)
        text = simplified("".join(s.text for s in segments), self._converter)
        return Opinion(text, min(float(s.avg_logprob) for s in segments),
                       max(float(s.no_speech_prob) for s in segments),
                       max(float(s.compression_ratio) for s in segments), speech_s, cpu)


class WhisperRecogniser:
    """Buffers the answer's audio and transcribes it at `finish` (Whisper is not a
    streaming decoder: no partial hypotheses)."""

    def __init__(self, engine: WhisperEngine, grammar: Grammar) -> None:
        self.engine = engine
        self.grammar = grammar
        self._audio = bytearray()
        self._closed = False

    def reset(self, grammar: Grammar) -> None:
        self.grammar = grammar
        self._audio.clear()

    def feed(self, pcm: bytes) -> Hypothesis | None:
        if self._closed:
            raise RecognitionError("recogniser used after close()")
        self._audio += check_pcm(pcm)
        return None

    def finish(self) -> Hypothesis:
        if self._closed:
            raise RecognitionError("recogniser used after close()")
        opinion = self.engine.opinion(bytes(self._audio), question_of(self.grammar))
        self._audio.clear()
        return hypothesis_of(opinion, self.engine.guards)

    def close(self) -> None:
        self._closed = True
        self._audio.clear()


def hypothesis_of(opinion: Opinion, guards: WhisperGuards) -> Hypothesis:
    """Whisper as the only engine: the transcript when the guards admit it (confidence 1,
    as a PocketSphinx result that passed its rejection test; understanding then says how
    sure the words are), else nothing."""
    ok = admissible(opinion, guards)
    return Hypothesis(opinion.text if ok else "", 1.0 if ok else 0.0, True, opinion.text,
                      text_coverage(opinion.text), voiced_s=opinion.speech_s, opinion=opinion)
