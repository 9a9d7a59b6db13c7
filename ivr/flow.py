"""The callback call flow (DESIGN §4) as a pure state machine:
`step(state, event) -> (state, actions)`.

Greeting, then for each ticket on the call: question 1 (resolved?), question 2
(satisfied?), a recorded reason when either answer is negative; then thanks. Speech or
a key while a prompt plays stops the prompt and is taken as the answer (barge-in). No
input: re-prompt once, then keys only, then unclear. No match or a confidence below
`accept`: the key menu once, then unclear; but an answer the recogniser doubts whose
words name one answer is read back first, once per question (`ivr/confirm.py`): a spoken
对 stores it, a key answers as always, anything else goes on to the key menu. Never a
guess. Answers are saved the moment
they are understood, so a hang-up after question 1 keeps question 1. Wrong person, call
later, an early hang-up and a media failure are outcomes of their own.

No IO and no clock: timers are the dialer's, reported back as NoInput.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from ivr.intents import ANSWERS, Intent, Question
from ivr.understand import understand_keys


class Phase(enum.StrEnum):
    WAITING = "waiting"  # not answered yet
    GREETING = "greeting"
    INTRO = "intro"  # which ticket, when the call covers several
    ASKING = "asking"
    CONFIRMING = "confirming"  # a doubted answer read back: 您是说……，对吗？
    REASON = "reason"
    CLOSING = "closing"
    ENDED = "ended"


class CallOutcome(enum.StrEnum):
    COMPLETED = "completed"  # every question of every ticket answered or marked unclear
    UNCLEAR = "unclear"  # a question could not be settled: to review
    WRONG_PERSON = "wrong_person"
    CALL_LATER = "call_later"
    HUNG_UP_EARLY = "hung_up_early"
    MEDIA_FAILURE = "media_failure"


# -- events ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Answered:
    pass


@dataclass(frozen=True)
class PromptFinished:
    prompt: str


@dataclass(frozen=True)
class SpeechStarted:
    pass


@dataclass(frozen=True)
class Recognised:
    intent: Intent
    confidence: float
    also: tuple[Intent, ...] = ()
    text: str = ""
    candidate: Intent | None = None  # a doubted answer worth reading back (ivr/confirm.py)


@dataclass(frozen=True)
class Confirmation:
    """What the citizen said to the read-back: True 对, False 不对, None unclear."""

    yes: bool | None
    text: str = ""


@dataclass(frozen=True)
class Digit:
    digit: str


@dataclass(frozen=True)
class NoInput:
    pass


@dataclass(frozen=True)
class HungUp:
    pass


@dataclass(frozen=True)
class MediaFailure:
    reason: str = ""


Event = (Answered | PromptFinished | SpeechStarted | Recognised | Confirmation | Digit
         | NoInput | HungUp | MediaFailure)


# -- actions ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Play:
    prompt: str
    ticket: int | None = None  # which ticket's fields fill the prompt
    barge_in: bool = True


@dataclass(frozen=True)
class StopPlayback:
    pass


@dataclass(frozen=True)
class Listen:
    question: Question | None  # None: the reason, free speech
    keys_only: bool = False
    confirming: bool = False  # a read-back: listen for 对 / 不对 (and the question's keys)


@dataclass(frozen=True)
class StartRecording:
    ticket: int


@dataclass(frozen=True)
class StopRecording:
    ticket: int


@dataclass(frozen=True)
class SaveAnswer:
    ticket: int
    question: Question
    intent: Intent  # UNCLEAR when it could not be settled
    confidence: float
    source: str  # "speech", "keys", "speech, same breath" or "speech, confirmed"
    heard: str = ""


@dataclass(frozen=True)
class EndCall:
    outcome: CallOutcome


Action = Play | StopPlayback | Listen | StartRecording | StopRecording | SaveAnswer | EndCall


@dataclass(frozen=True)
class FlowState:
    tickets: int  # how many tickets this call covers (one pair of questions each)
    accept: float = 0.5
    phase: Phase = Phase.WAITING
    ticket: int = 0
    question: Question = Question.RESOLVED
    no_inputs: int = 0
    no_matches: int = 0
    keys_only: bool = False
    playing: str | None = None
    answered: tuple[tuple[int, Question, Intent], ...] = ()
    unclear: bool = False
    candidate: Intent | None = None  # the answer being read back
    candidate_heard: str = ""
    confirms: int = 0  # read-backs for this question (at most one)


CONFIRMED_CONFIDENCE = 0.9  # a doubted answer the citizen then said was right


def start(tickets: int, accept: float = 0.5) -> FlowState:
    if tickets < 1:
        raise ValueError("a callback covers at least one ticket")
    return FlowState(tickets=tickets, accept=accept)


def _answer_of(state: FlowState, ticket: int, question: Question) -> Intent | None:
    return next((i for t, q, i in state.answered if t == ticket and q == question), None)


def _prompt(kind: str, question: Question) -> str:
    return f"{kind}_{question.value}"


def _ask(state: FlowState, question: Question) -> tuple[FlowState, list[Action]]:
    prompt = _prompt("ask", question)
    state = replace(state, phase=Phase.ASKING, question=question, no_inputs=0,
                    no_matches=0, keys_only=False, playing=prompt, candidate=None,
                    candidate_heard="", confirms=0)
    return state, [Play(prompt, state.ticket), Listen(question)]


def _end(state: FlowState, outcome: CallOutcome) -> tuple[FlowState, list[Action]]:
    return replace(state, phase=Phase.ENDED, playing=None), [EndCall(outcome)]


def _close(state: FlowState) -> tuple[FlowState, list[Action]]:
    return replace(state, phase=Phase.CLOSING, playing="thanks"), [Play("thanks",
                                                                      barge_in=False)]


def step(state: FlowState, event: Event) -> tuple[FlowState, list[Action]]:
    if state.phase is Phase.ENDED:
        return state, []
    if isinstance(event, HungUp):
        return _hung_up(state)
    if isinstance(event, MediaFailure):
        return _end(state, CallOutcome.MEDIA_FAILURE)
    if state.phase is Phase.WAITING:
        if isinstance(event, Answered):
            prompt = "greeting" if state.tickets == 1 else "greeting_multi"
            return replace(state, phase=Phase.GREETING, playing=prompt), [
                Play(prompt, 0 if state.tickets == 1 else None)]
        return state, []
    if isinstance(event, PromptFinished):
        return _prompt_finished(state, event)
    if state.phase in (Phase.GREETING, Phase.INTRO):
        if isinstance(event, (SpeechStarted, Recognised, Digit)) and state.phase is Phase.GREETING:
            return _early_words(state, event)
        return state, []
    if state.phase is Phase.ASKING:
        return _asking(state, event)
    if state.phase is Phase.CONFIRMING:
        return _confirming(state, event)
    if state.phase is Phase.REASON:
        if isinstance(event, (Recognised, NoInput)):  # the reason ended (or never came)
            ticket = state.ticket
            state, actions = _next_ticket(replace(state, playing=None))
            return state, [StopRecording(ticket), *actions]
        return state, []
    return state, []


def _early_words(state: FlowState, event: Event) -> tuple[FlowState, list[Action]]:
    """During the greeting only wrong person / call later are taken (barge-in)."""
    if isinstance(event, Recognised) and event.confidence >= state.accept:
        if event.intent is Intent.WRONG_PERSON:
            return _leave(state, "wrong_person", CallOutcome.WRONG_PERSON)
        if event.intent is Intent.CALL_LATER:
            return _leave(state, "call_later", CallOutcome.CALL_LATER)
    return state, []


def _leave(state: FlowState, prompt: str, outcome: CallOutcome
           ) -> tuple[FlowState, list[Action]]:
    actions: list[Action] = [StopPlayback()] if state.playing else []
    actions += [Play(prompt, barge_in=False), EndCall(outcome)]
    return replace(state, phase=Phase.ENDED, playing=None), actions


def _prompt_finished(state: FlowState, event: PromptFinished
                     ) -> tuple[FlowState, list[Action]]:
    if event.prompt != state.playing:
        return state, []  # a stale notice for a prompt that was stopped
    state = replace(state, playing=None)
    if state.phase is Phase.GREETING:
        if state.tickets > 1:
            return replace(state, phase=Phase.INTRO, playing="ticket_intro"), [
                Play("ticket_intro", state.ticket)]
        return _ask(state, Question.RESOLVED)
    if state.phase is Phase.INTRO:
        return _ask(state, Question.RESOLVED)
    if state.phase is Phase.CLOSING:
        return _end(state, CallOutcome.UNCLEAR if state.unclear else CallOutcome.COMPLETED)
    return state, []  # asking: the Listen already runs; the reason prompt likewise


def _asking(state: FlowState, event: Event) -> tuple[FlowState, list[Action]]:
    if isinstance(event, SpeechStarted):
        if state.playing:  # barge-in: stop the prompt, the answer is coming
            return replace(state, playing=None), [StopPlayback()]
        return state, []
    stop: list[Action] = [StopPlayback()] if state.playing else []
    if isinstance(event, Digit):
        return _key(state, event, stop)
    if isinstance(event, NoInput):
        return _no_input(state)
    if isinstance(event, Recognised):
        if state.keys_only:
            return state, []  # speech is not listened to any more
        state = replace(state, playing=None)
        if event.confidence >= state.accept:
            if event.intent is Intent.WRONG_PERSON:
                return _leave(state, "wrong_person", CallOutcome.WRONG_PERSON)
            if event.intent is Intent.CALL_LATER:
                return _leave(state, "call_later", CallOutcome.CALL_LATER)
            if event.intent is Intent.REPEAT:
                state, actions = _reprompt(state, "ask")
                return state, stop + actions
            if event.intent in ANSWERS[state.question]:
                state, actions = _save(state, event.intent, event.confidence, "speech",
                                       event.text, also=event.also)
                return state, stop + actions
        if event.candidate in ANSWERS[state.question] and state.confirms == 0:
            return _read_back(state, event.candidate, event.text, stop)
        state, actions = _no_match(state)  # unclear, not sure, or too little confidence
        return state, stop + actions
    return state, []


def _key(state: FlowState, event: Digit, stop: list[Action]
         ) -> tuple[FlowState, list[Action]]:
    """A key answers the question asked, whatever prompt it was pressed over."""
    understood = understand_keys(event.digit, state.question)
    if understood.intent is Intent.REPEAT:
        state, actions = _reprompt(state, "ask")
        return state, stop + actions
    if understood.intent in ANSWERS[state.question]:
        state, actions = _save(replace(state, playing=None), understood.intent, 1.0,
                               "keys", event.digit)
        return state, stop + actions
    state, actions = _no_match(replace(state, playing=None))
    return state, stop + actions


def _read_back(state: FlowState, candidate: Intent, heard: str, stop: list[Action]
               ) -> tuple[FlowState, list[Action]]:
    prompt = f"confirm_{candidate.value}"
    state = replace(state, phase=Phase.CONFIRMING, candidate=candidate,
                    candidate_heard=heard, confirms=state.confirms + 1, playing=prompt)
    return state, [*stop, Play(prompt, state.ticket),
                   Listen(state.question, confirming=True)]


def _confirming(state: FlowState, event: Event) -> tuple[FlowState, list[Action]]:
    if isinstance(event, SpeechStarted):
        if state.playing:  # barge-in
            return replace(state, playing=None), [StopPlayback()]
        return state, []
    stop: list[Action] = [StopPlayback()] if state.playing else []
    asking = replace(state, phase=Phase.ASKING, playing=None, candidate=None,
                     candidate_heard="")
    if isinstance(event, Digit):
        return _key(asking, event, stop)
    if isinstance(event, Confirmation) and event.yes is True and state.candidate is not None:
        heard = f"{state.candidate_heard} → {event.text}".strip(" →")
        new_state, actions = _save(asking, state.candidate, CONFIRMED_CONFIDENCE,
                                   "speech, confirmed", heard)
        return new_state, stop + actions
    if isinstance(event, (Confirmation, NoInput)):  # 不对, unclear or silence: the keys
        new_state, actions = _no_match(asking)
        return new_state, stop + actions
    return state, []


def _reprompt(state: FlowState, kind: str) -> tuple[FlowState, list[Action]]:
    prompt = _prompt(kind, state.question)
    return replace(state, playing=prompt), [Play(prompt, state.ticket),
                                            Listen(state.question, state.keys_only)]


def _no_input(state: FlowState) -> tuple[FlowState, list[Action]]:
    count = state.no_inputs + 1
    state = replace(state, no_inputs=count)
    if count == 1:
        return _reprompt(state, "no_input")
    if count == 2:
        return _reprompt(replace(state, keys_only=True), "keys_only")
    return _give_up(state, "no input")


def _no_match(state: FlowState) -> tuple[FlowState, list[Action]]:
    count = state.no_matches + 1
    state = replace(state, no_matches=count)
    if count == 1:
        return _reprompt(state, "no_match")
    return _give_up(state, "no match")


def _give_up(state: FlowState, why: str) -> tuple[FlowState, list[Action]]:
    save = SaveAnswer(state.ticket, state.question, Intent.UNCLEAR, 0.0, "none", why)
    state = replace(state, unclear=True,
                    answered=(*state.answered, (state.ticket, state.question, Intent.UNCLEAR)))
    state, actions = _next(state)
    return state, [save, *actions]


def _save(state: FlowState, intent: Intent, confidence: float, source: str, heard: str,
          also: tuple[Intent, ...] = ()) -> tuple[FlowState, list[Action]]:
    actions: list[Action] = [SaveAnswer(state.ticket, state.question, intent, confidence,
                                        source, heard)]
    answered = (*state.answered, (state.ticket, state.question, intent))
    if state.question is Question.RESOLVED:  # both answers in one breath
        other = next((i for i in also if i in ANSWERS[Question.SATISFIED]), None)
        if other is not None:
            actions.append(SaveAnswer(state.ticket, Question.SATISFIED, other, confidence,
                                      "speech, same breath", heard))
            answered = (*answered, (state.ticket, Question.SATISFIED, other))
    state, more = _next(replace(state, answered=answered))
    return state, actions + more


def _needs_reason(state: FlowState, ticket: int) -> bool:
    return (_answer_of(state, ticket, Question.RESOLVED) is Intent.UNRESOLVED
            or _answer_of(state, ticket, Question.SATISFIED) is Intent.UNSATISFIED)


def _next(state: FlowState) -> tuple[FlowState, list[Action]]:
    """After a question is settled: the other question, the reason, the next ticket, or
    the thanks."""
    if _answer_of(state, state.ticket, Question.SATISFIED) is None:
        return _ask(state, Question.SATISFIED)
    if _needs_reason(state, state.ticket):
        return replace(state, phase=Phase.REASON, playing="ask_reason"), [
            Play("ask_reason", state.ticket), StartRecording(state.ticket), Listen(None)]
    return _next_ticket(state)


def _next_ticket(state: FlowState) -> tuple[FlowState, list[Action]]:
    if state.ticket + 1 < state.tickets:
        state = replace(state, ticket=state.ticket + 1, phase=Phase.INTRO,
                        playing="ticket_intro")
        return state, [Play("ticket_intro", state.ticket)]
    return _close(replace(state, ticket=state.ticket + 1))


def _hung_up(state: FlowState) -> tuple[FlowState, list[Action]]:
    actions: list[Action] = []
    if state.phase is Phase.REASON:
        actions.append(StopRecording(state.ticket))
    everything = all(_answer_of(state, t, q) is not None for t in range(state.tickets)
                     for q in Question)
    if state.phase is Phase.CLOSING or (everything and state.phase is Phase.REASON):
        outcome = CallOutcome.UNCLEAR if state.unclear else CallOutcome.COMPLETED
    else:
        outcome = CallOutcome.HUNG_UP_EARLY
    state, end = _end(state, outcome)
    return state, actions + end
