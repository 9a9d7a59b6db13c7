"""A second opinion from Whisper where the grammar engine doubts, and the one rule that
combines the two (`combined`).

PocketSphinx with a grammar either rejects an answer (coverage, calibrated) or accepts it
with a confidence that understanding lowers for bare yes/no, hedges and a contested n-best.
When it doubts (nothing accepted, a confidence below `doubt_below`, or a non-answer such as
啥意思, which it hears for 满意), Whisper transcribes the same audio, and:

1. the two **agree** (Whisper's text means what the grammar matched, even a match the
   rejection threw away) and Whisper's evidence passes the `agree` guards: that answer is
   taken, at the understanding's confidence of Whisper's words;
2. else, when the grammar engine accepted nothing, Whisper **alone** may decide if its
   evidence passes the stricter `alone` guards (None: never);
3. else, when the grammar engine accepted an answer and Whisper, passing the `agree`
   guards, means the **opposite** (满意 against 不满意), the answer becomes unclear (`veto`);
4. else the grammar engine's result stands.
Whisper is asked only on the questions in `questions` (the tune split may show it safe on
one question and not on the other: its prompt words are written back when little is heard).

A failed or late second opinion (model missing, an exception, no answer within
`timeout_s`) leaves the decision with the grammar engine, and the hypothesis says so
(`Opinion.error`). The thresholds are chosen by `huifang asr-tune --second-opinion` on the
tune split so that no answer is reversed there.

`combined` is the decision: the live call gets its result from `CombinedRecogniser.finish`,
and `huifang.speech.judge` replays it on stored evidence (asr-tune, asr-eval): one function.
Its result is encoded as a Hypothesis whose `understand_hypotheses` is the combined
understanding, so the call flow needs nothing new; `primary` and `opinion` keep the
evidence of both engines for the review screen and for replay.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from typing import Protocol

from ivr.intents import Intent, Policy, Question
from ivr.recognition import Engine, Grammar, Hypothesis, Opinion, Recogniser, question_of
from ivr.understand import OPPOSITES, understand, understand_hypotheses
from ivr.whisper import WhisperGuards, admissible

log = logging.getLogger(__name__)
NON_ANSWERS = frozenset({Intent.WRONG_PERSON, Intent.CALL_LATER, Intent.REPEAT,
                         Intent.NOT_SURE})


@dataclass(frozen=True)
class Combination:
    """When to ask Whisper and how much its evidence must show (README: "Second opinion")."""

    doubt_below: float = 0.9  # an accepted answer below this confidence is doubted
    agree: WhisperGuards = field(default_factory=lambda: WhisperGuards(
        max_no_speech=0.8, min_avg_logprob=-1.0, max_compression=2.4, min_text_coverage=0.5))
    alone: WhisperGuards | None = None  # Whisper deciding on its own: never by default
    veto: bool = True
    questions: frozenset[Question] = frozenset(Question)  # where Whisper is asked at all


class SecondEngine(Protocol):
    name: str
    free_form: bool

    def opinion(self, pcm: bytes, question: Question | None) -> Opinion: ...

    def transcribe(self, pcm: bytes) -> str | None: ...


def asks(understood_intent: Intent, confidence: float, accept: float,
         combination: Combination, question: Question | None = None) -> bool:
    """Whether the grammar engine's understanding is doubted (Whisper is asked)."""
    if question is not None and question not in combination.questions:
        return False
    if understood_intent is Intent.UNCLEAR or understood_intent in NON_ANSWERS:
        return True
    return confidence < max(accept, combination.doubt_below)


def combined(primary: Hypothesis, opinion: Opinion | None, question: Question, margin: float,
             policy: Policy, accept: float, combination: Combination) -> Hypothesis:
    """The one combination rule (module docstring), as a hypothesis whose understanding
    is the decision. `primary` is the grammar engine's result after its rejection."""
    first = understand_hypotheses(primary.text, primary.confidence, primary.alternatives,
                                  question, margin, policy)
    kept = replace(primary, opinion=opinion, primary=primary)
    if not asks(first.intent, first.confidence, accept, combination, question) \
            or opinion is None \
            or opinion.error:
        return kept
    second = understand(opinion.text, question, policy)
    if second.intent is Intent.UNCLEAR:
        return kept
    matched = understand(primary.heard, question, policy).intent
    taken = replace(kept, text=opinion.text, confidence=second.confidence, alternatives=())
    if second.intent is matched and admissible(opinion, combination.agree):
        return taken
    accepted = first.intent is not Intent.UNCLEAR and first.confidence >= accept
    if not accepted:
        alone = combination.alone
        return taken if alone is not None and admissible(opinion, alone) else kept
    if combination.veto and second.intent in OPPOSITES.get(first.intent, set()) \
            and admissible(opinion, combination.agree):
        return replace(kept, text="", confidence=0.0, alternatives=())
    return kept


class SecondOpinionEngine:
    """The grammar engine with Whisper behind it: the same Engine interface."""

    def __init__(self, primary: Engine, second: SecondEngine, combination: Combination,
                 policy: Policy, accept: float, timeout_s: float = 10.0, workers: int = 2,
                 always_ask: bool = False) -> None:
        """`always_ask`: transcribe every answer (for calibration: the decision is replayed
        on the stored evidence with other thresholds)."""
        self.primary = primary
        self.second = second
        self.combination = combination
        self.policy = policy
        self.accept = accept
        self.timeout_s = timeout_s
        self.always_ask = always_ask
        self.name = f"{primary.name}+{second.name}"
        self.rival_margin = primary.rival_margin
        self.free_form = primary.free_form or second.free_form
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="second-opinion")
        self.asked = self.failed = 0

    def recogniser(self, grammar: Grammar) -> CombinedRecogniser:
        return CombinedRecogniser(self, self.primary.recogniser(grammar), grammar)

    def transcribe(self, pcm: bytes) -> str | None:
        text = self.primary.transcribe(pcm) if self.primary.free_form else None
        return text if text is not None else self.second.transcribe(pcm)

    def ask(self, pcm: bytes, question: Question | None) -> Opinion:
        """Whisper's opinion within `timeout_s`, or an Opinion that says why there is none
        (the engine thread of a hung transcription stays busy; later asks queue behind it
        and time out the same way, and the grammar engine decides)."""
        self.asked += 1
        future: Future[Opinion] = self._executor.submit(self.second.opinion, pcm, question)
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            future.cancel()
            error = f"{self.second.name} gave no opinion within {self.timeout_s:g} s"
        except Exception as exc:  # any failure leaves the decision to the grammar engine
            error = f"{self.second.name} failed: {exc}"
        self.failed += 1
        log.warning("second opinion unavailable, PocketSphinx decides alone: %s", error)
        return Opinion("", error=error)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class CombinedRecogniser:
    def __init__(self, engine: SecondOpinionEngine, primary: Recogniser, grammar: Grammar
                 ) -> None:
        self.engine = engine
        self._primary = primary
        self.grammar = grammar
        self._audio = bytearray()

    def reset(self, grammar: Grammar) -> None:
        self._primary.reset(grammar)
        self.grammar = grammar
        self._audio.clear()

    def feed(self, pcm: bytes) -> Hypothesis | None:
        partial = self._primary.feed(pcm)
        self._audio += pcm
        return partial

    def finish(self) -> Hypothesis:
        primary = self._primary.finish()
        audio, self._audio = bytes(self._audio), bytearray()
        question = question_of(self.grammar)
        if question is None:
            return primary
        e = self.engine
        first = understand_hypotheses(primary.text, primary.confidence, primary.alternatives,
                                      question, e.rival_margin, e.policy)
        opinion = None
        if e.always_ask or asks(first.intent, first.confidence, e.accept, e.combination,
                                question):
            opinion = e.ask(audio, question)
        return combined(primary, opinion, question, e.rival_margin, e.policy, e.accept,
                        e.combination)

    def close(self) -> None:
        self._audio.clear()
        self._primary.close()
