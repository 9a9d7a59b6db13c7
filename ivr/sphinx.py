"""PocketSphinx answer recogniser: a JSGF grammar of the answer phrasings, and rejection
of off-script speech by coverage.

A closed grammar force-fits anything to some answer (a sentence about the weather came
out as 挺满意). Answers fill the citizen's speech; force-fitted sentences do not: the
recognised answer words span about all of the voiced time for an answer and a small part
of it for off-script speech (measured: about 1.0 against at most 0.3 on the shared real
clips and unrelated synthetic sentences). Each word counts for at most 0.45 s per
syllable, so one stretched 嗯 cannot cover a sentence. Below `min_coverage` (0.7) the
result is rejected, with confidence 0, and understanding gives UNCLEAR.

The n-best alternatives go with the result: `understand_hypotheses` doubts an answer
whose near rival means the opposite (很满意 against 很不满意).

Loads the model once per recogniser (0.1 s, about 20 MB); one recogniser per live call.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import webrtcvad

log = logging.getLogger(__name__)
FRAME_BYTES = 320  # 20 ms of 8 kHz 16-bit PCM
FRAMES_PER_SECOND = 100  # PocketSphinx frames


MAX_SECONDS_PER_CHARACTER = 0.45  # a word cannot "cover" more than this per syllable
NBEST = 10


@dataclass(frozen=True)
class Hypothesis:
    text: str  # "" when rejected
    confidence: float
    coverage: float
    heard: str  # what the grammar matched, even when rejected
    alternatives: tuple[tuple[str, float], ...] = ()  # n-best (text, score), best first


@lru_cache(maxsize=4)
def dictionary_words(dic: Path) -> frozenset[str]:
    lines = dic.read_text(encoding="utf-8").splitlines()
    return frozenset(line.partition("\t")[0] for line in lines)


def segment(text: str, words: frozenset[str]) -> list[str] | None:
    """Greedy longest match of text against the dictionary; None if a character is unknown."""
    out, i = [], 0
    text = re.sub(r"[\s，。？！,.!?]", "", text)
    while i < len(text):
        for n in (4, 3, 2, 1):
            if text[i:i + n] in words:
                out.append(text[i:i + n])
                i += n
                break
        else:
            return None
    return out


class SphinxRecogniser:
    def __init__(self, model: Path, phrases: Iterable[str], min_coverage: float = 0.7) -> None:
        from pocketsphinx import Decoder  # noqa: PLC0415 - heavy, only when configured

        dic = model / "lm/zh_CN/mandarin_notone.dic"
        words = dictionary_words(dic)
        alternatives, skipped = [], []
        for phrase in dict.fromkeys(phrases):
            segmented = segment(phrase, words)
            if segmented is None:
                skipped.append(phrase)
            else:
                alternatives.append(f"( {' '.join(segmented)} )")
        if skipped:
            log.warning("phrases not in the model's dictionary, left out: %s", skipped)
        if not alternatives:
            raise ValueError("no answer phrase can be said with this model's dictionary")
        self.min_coverage = min_coverage
        self.decoder = Decoder(hmm=str(model / "hmm/zh/tdt_sc_8k"), dict=str(dic),
                               samprate=8000, lm=None, loglevel="FATAL")
        self.decoder.add_jsgf_string("answers", "#JSGF V1.0;\ngrammar answers;\n"
                                     f"public <a> = {' | '.join(alternatives)};\n")
        self.decoder.activate_search("answers")
        self._vad = webrtcvad.Vad(2)
        self._voiced_frames = 0
        self._pending = b""
        self._started = False

    def start(self) -> None:
        self.decoder.start_utt()
        self._voiced_frames, self._pending, self._started = 0, b"", True

    def feed(self, pcm: bytes) -> None:
        """8 kHz 16-bit mono PCM, any length (odd trailing bytes wait for the next call)."""
        if not self._started:
            self.start()
        data = self._pending + pcm
        usable = len(data) - len(data) % 2
        self._pending = data[usable:]
        if usable:
            self.decoder.process_raw(data[:usable], False, False)
        for i in range(0, usable - FRAME_BYTES + 1, FRAME_BYTES):
            if self._vad.is_speech(data[i:i + FRAME_BYTES], 8000):
                self._voiced_frames += 1

    def finish(self) -> Hypothesis:
        if not self._started:
            self.start()
        self.decoder.end_utt()
        self._started = False
        hyp = self.decoder.hyp()
        heard = hyp.hypstr.replace(" ", "") if hyp else ""
        segments = self.decoder.seg() if hyp else None  # None when nothing was decoded
        words = [s for s in segments or () if not s.word.startswith(("<", "[", "+"))]
        # A single word stretched over a long sentence covers no more than it could say.
        covered = sum(min(s.end_frame - s.start_frame + 1,
                          len(s.word) * MAX_SECONDS_PER_CHARACTER * FRAMES_PER_SECOND)
                      for s in words) / FRAMES_PER_SECOND
        voiced = self._voiced_frames * 0.02
        coverage = covered / voiced if voiced else 0.0
        if not heard or coverage < self.min_coverage:
            return Hypothesis("", 0.0, coverage, heard)
        alternatives: list[tuple[str, float]] = []
        for nb in self.decoder.nbest():
            if len(alternatives) >= NBEST:
                break
            text = nb.hypstr.replace(" ", "")
            if text and (text, nb.score) not in alternatives:
                alternatives.append((text, nb.score))
        return Hypothesis(heard, min(1.0, coverage), coverage, heard, tuple(alternatives))
