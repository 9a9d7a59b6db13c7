"""Vosk engine, for operators who install a Chinese vosk model (vosk-model-small-cn-0.22
takes grammars; the big models do not, and are only good for free-form transcription).

- One `vosk.Model` per process, shared; one `KaldiRecognizer` per live call, fed by one
  thread at a time (vosk's own rule).
- Grammars are JSON lists of phrases in the model's words. Chinese phrases are segmented
  into the model's vocabulary by longest match; words the model does not know are left
  out with a warning (vosk would drop them silently). The list must be JSON with the
  characters themselves: vosk does not decode `\\uXXXX` escapes, and an ASCII-escaped
  grammar silently matches nothing (found by the Korean test).
- Vosk decodes a grammar as a loop over its words, not as whole phrases, so off-script
  speech comes out as a string of grammar words. Rejection: `[unk]` in the result (models
  that have it); words that are not one grammar phrase or two in a row; words covering
  too little of the voiced time (as for PocketSphinx); a low mean word confidence (only
  without alternatives: vosk gives word confidences or n-best, not both).
- Alternatives carry vosk's total scores; `rival_margin` says how close a rival must be
  to put an answer in doubt. It is a starting value: measure it on your own recordings
  with `huifang asr-eval`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.recognition import (
    Grammar,
    Hypothesis,
    RecognitionError,
    VoicedTime,
    check_pcm,
    coverage,
)

log = logging.getLogger(__name__)
UNKNOWN = "[unk]"
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass
class VoskEngine:
    model_dir: Path
    min_coverage: float = 0.5
    min_score: float = 50.0
    rival_margin: float = 1.0
    alternatives: int = 5
    free_form: bool = True
    name: str = "vosk"
    model: Any = field(init=False, repr=False)
    has_unknown: bool = field(init=False)
    _phrases: dict[Grammar, tuple[tuple[str, ...], ...]] = field(
        init=False, repr=False, default_factory=dict)  # per grammar, worked out once

    def __post_init__(self) -> None:
        try:
            import vosk  # noqa: PLC0415 - optional, only when configured
        except ImportError as error:
            raise RecognitionError("the vosk engine needs the vosk package: "
                                   "pip install 'huifang[vosk]'") from error
        self.model_dir = Path(self.model_dir)
        if not (self.model_dir / "am/final.mdl").exists():
            raise RecognitionError(f"{self.model_dir} is not a vosk model (no am/final.mdl)")
        vosk.SetLogLevel(-1)
        self.model = vosk.Model(str(self.model_dir))
        self.has_unknown = self.knows(UNKNOWN)

    def knows(self, word: str) -> bool:
        return bool(self.model.vosk_model_find_word(word) != -1)

    def words(self, phrase: str) -> list[str] | None:
        """The phrase in the model's words, or None if one cannot be said."""
        out: list[str] = []
        for token in phrase.split():
            if self.knows(token):
                out.append(token)
                continue
            if not _CJK.search(token):
                return None
            i = 0
            while i < len(token):  # longest match over the model's Chinese words
                for n in range(min(4, len(token) - i), 0, -1):
                    if self.knows(token[i:i + n]):
                        out.append(token[i:i + n])
                        i += n
                        break
                else:
                    return None
        return out

    def grammar_json(self, grammar: Grammar) -> str:
        return json.dumps([*(" ".join(p) for p in self.phrases(grammar)),
                           *([UNKNOWN] if self.has_unknown else [])], ensure_ascii=False)

    def phrases(self, grammar: Grammar) -> tuple[tuple[str, ...], ...]:
        """The grammar's phrases as word sequences the model can say (every call uses
        them twice: worked out once per grammar)."""
        if grammar not in self._phrases:
            self._phrases[grammar] = self._segment(grammar)
        return self._phrases[grammar]

    def _segment(self, grammar: Grammar) -> tuple[tuple[str, ...], ...]:
        phrases: list[tuple[str, ...]] = []
        skipped = []
        for phrase in dict.fromkeys(grammar.phrases):
            words = self.words(phrase)
            if words is None:
                skipped.append(phrase)
            else:
                phrases.append(tuple(words))
        if skipped:
            log.warning("grammar %s: phrases not in the model's vocabulary, left out: %s",
                        grammar.name, skipped)
        if not phrases:
            raise RecognitionError(f"grammar {grammar.name}: no phrase can be said with this "
                                   "model's vocabulary")
        return tuple(dict.fromkeys(phrases))

    def recogniser(self, grammar: Grammar) -> VoskRecogniser:
        return VoskRecogniser(self, grammar)

    def transcribe(self, pcm: bytes) -> str | None:
        if not self.free_form:
            return None
        import vosk  # noqa: PLC0415

        recogniser = vosk.KaldiRecognizer(self.model, 8000)
        texts = []
        data = check_pcm(pcm)
        data = data[:len(data) - len(data) % 2]
        for i in range(0, len(data), 8000):
            if recogniser.AcceptWaveform(data[i:i + 8000]):
                texts.append(json.loads(recogniser.Result()).get("text", ""))
        texts.append(json.loads(recogniser.FinalResult()).get("text", ""))
        return " ".join(t for t in texts if t)


class VoskRecogniser:
    def __init__(self, engine: VoskEngine, grammar: Grammar) -> None:
        import vosk  # noqa: PLC0415

        self.engine = engine
        self.grammar = grammar
        self._phrases = set(engine.phrases(grammar))
        self._rec: Any = vosk.KaldiRecognizer(engine.model, 8000, engine.grammar_json(grammar))
        self._rec.SetMaxAlternatives(max(1, engine.alternatives))
        self._rec.SetWords(True)
        self._voiced = VoicedTime()
        self._segments: list[dict[str, Any]] = []  # utterances vosk ended by itself
        self._pending = b""
        self._partial = ""

    def _live(self) -> Any:
        if self._rec is None:
            raise RecognitionError("recogniser used after close()")
        return self._rec

    def reset(self, grammar: Grammar) -> None:
        rec = self._live()
        if grammar != self.grammar:
            rec.SetGrammar(self.engine.grammar_json(grammar))
            self.grammar = grammar
            self._phrases = set(self.engine.phrases(grammar))
        rec.Reset()
        self._clear()

    def _clear(self) -> None:
        self._voiced.reset()
        self._segments, self._pending, self._partial = [], b"", ""

    def feed(self, pcm: bytes) -> Hypothesis | None:
        rec = self._live()
        data = self._pending + check_pcm(pcm)
        usable = len(data) - len(data) % 2
        self._pending = data[usable:]
        if not usable:
            return None
        self._voiced.feed(data[:usable])
        if rec.AcceptWaveform(data[:usable]):
            self._segments.append(json.loads(rec.Result()))
            text = self._joined()
        else:
            partial = json.loads(rec.PartialResult()).get("partial", "")
            text = " ".join(t for t in (self._joined(), partial) if t)
        if text == self._partial:
            return None
        self._partial = text
        return Hypothesis(text, 0.0, final=False, heard=text)

    def _joined(self) -> str:
        return " ".join(t for t in (_best(s)[0] for s in self._segments) if t)

    def finish(self) -> Hypothesis:
        rec = self._live()
        self._segments.append(json.loads(rec.FinalResult()))
        segments = [s for s in self._segments if _best(s)[0]]
        voiced = self._voiced.seconds
        self._clear()
        if not segments:
            return Hypothesis("", 0.0, True)
        heard = " ".join(_best(s)[0] for s in segments)
        words = [w for s in segments for w in _best(s)[1]]
        spans = [(w["word"], float(w["end"]) - float(w["start"]))
                 for w in words if w["word"] != UNKNOWN]
        share = coverage(spans, voiced)
        score = min(float(s["alternatives"][0].get("confidence", 0.0)) for s in segments)
        said = tuple(w["word"] for w in words)
        if (UNKNOWN in said or not self._is_phrases(said) or share < self.engine.min_coverage
                or score < self.engine.min_score):
            return Hypothesis("", 0.0, True, heard, share)
        alternatives: tuple[tuple[str, float], ...] = ()
        if len(segments) == 1:  # rivals are only comparable within one utterance
            alternatives = tuple((a.get("text", ""), float(a.get("confidence", 0.0)))
                                 for a in segments[0]["alternatives"])
        return Hypothesis(heard, min(1.0, share), True, heard, share, alternatives)

    def _is_phrases(self, words: tuple[str, ...]) -> bool:
        """One grammar phrase, or two in a row (an answer to each question). Vosk decodes
        a grammar as a loop over its words; a longer string of them is off-script speech
        forced onto the grammar."""
        return words in self._phrases or any(
            words[:i] in self._phrases and words[i:] in self._phrases
            for i in range(1, len(words)))

    def close(self) -> None:
        self._rec = None


def _best(result: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Text and words of vosk's best hypothesis (results come with alternatives)."""
    alternatives = result.get("alternatives") or [{}]
    return alternatives[0].get("text", ""), list(alternatives[0].get("result", ()))
