"""The call flow driven by events alone: every branch of DESIGN §4, and invariants over
random event sequences (never a guess, never an answer saved twice, nothing after the
end)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.flow import (
    Action,
    Answered,
    CallOutcome,
    Confirmation,
    Digit,
    EndCall,
    Event,
    FlowState,
    HungUp,
    Listen,
    MediaFailure,
    NoInput,
    Phase,
    Play,
    PromptFinished,
    Recognised,
    SaveAnswer,
    SpeechStarted,
    StartRecording,
    StopPlayback,
    StopRecording,
    start,
    step,
)
from ivr.intents import ANSWERS, Intent, Question


def run(events: list[Event], tickets: int = 1) -> tuple[FlowState, list[Action]]:
    state, actions = start(tickets), []
    for event in events:
        state, new = step(state, event)
        actions += new
    return state, actions


def saves(actions: list[Action]) -> list[tuple[int, Question, Intent, str]]:
    return [(a.ticket, a.question, a.intent, a.source) for a in actions
            if isinstance(a, SaveAnswer)]


def plays(actions: list[Action]) -> list[str]:
    return [a.prompt for a in actions if isinstance(a, Play)]


def said(intent: Intent, confidence: float = 0.9, *also: Intent) -> Recognised:
    return Recognised(intent, confidence, tuple(also))


GREETED = [Answered(), PromptFinished("greeting")]


def test_happy_path() -> None:
    state, actions = run([*GREETED, said(Intent.RESOLVED), said(Intent.SATISFIED),
                          PromptFinished("thanks")])
    assert plays(actions) == ["greeting", "ask_resolved", "ask_satisfied", "thanks"]
    assert saves(actions) == [(0, Question.RESOLVED, Intent.RESOLVED, "speech"),
                              (0, Question.SATISFIED, Intent.SATISFIED, "speech")]
    assert actions[-1] == EndCall(CallOutcome.COMPLETED) and state.phase is Phase.ENDED
    assert Listen(Question.RESOLVED) in actions and Listen(Question.SATISFIED) in actions


def test_barge_in_stops_the_prompt_once() -> None:
    _, actions = run([*GREETED, SpeechStarted(), said(Intent.RESOLVED)])
    assert actions.count(StopPlayback()) == 1
    assert actions.index(StopPlayback()) < actions.index(
        SaveAnswer(0, Question.RESOLVED, Intent.RESOLVED, 0.9, "speech", ""))
    _, keyed = run([*GREETED, Digit("2")])  # a key during the prompt: stop and take it
    assert keyed[3:5] == [StopPlayback(), SaveAnswer(0, Question.RESOLVED, Intent.UNRESOLVED,
                                                     1.0, "keys", "2")]


def test_both_answers_in_one_breath_skip_question_two() -> None:
    _, actions = run([*GREETED, said(Intent.RESOLVED, 0.9, Intent.SATISFIED)])
    assert [s[:3] for s in saves(actions)] == [(0, Question.RESOLVED, Intent.RESOLVED),
                                              (0, Question.SATISFIED, Intent.SATISFIED)]
    assert "ask_satisfied" not in plays(actions) and plays(actions)[-1] == "thanks"


def test_no_input_reprompts_then_keys_only_then_unclear() -> None:
    _, actions = run([*GREETED, NoInput(), NoInput(), said(Intent.RESOLVED), Digit("1")])
    assert plays(actions)[1:4] == ["ask_resolved", "no_input_resolved", "keys_only_resolved"]
    assert Listen(Question.RESOLVED, keys_only=True) in actions
    assert saves(actions) == [(0, Question.RESOLVED, Intent.RESOLVED, "keys")]  # speech ignored
    _state, actions = run([*GREETED, NoInput(), NoInput(), NoInput(), Digit("3"),
                          NoInput(), PromptFinished("thanks")])
    assert saves(actions) == [(0, Question.RESOLVED, Intent.UNCLEAR, "none"),
                              (0, Question.SATISFIED, Intent.UNSATISFIED, "keys")]
    assert EndCall(CallOutcome.UNCLEAR) in actions


def test_low_confidence_asks_once_more_then_unclear_never_a_guess() -> None:
    _, actions = run([*GREETED, said(Intent.RESOLVED, 0.3), said(Intent.RESOLVED, 0.4)])
    assert plays(actions)[2] == "no_match_resolved"
    assert saves(actions) == [(0, Question.RESOLVED, Intent.UNCLEAR, "none")]
    _, actions = run([*GREETED, said(Intent.UNCLEAR, 0.0), said(Intent.RESOLVED, 0.95)])
    assert saves(actions) == [(0, Question.RESOLVED, Intent.RESOLVED, "speech")]
    _, actions = run([*GREETED, said(Intent.SATISFIED, 0.99)])  # answers the wrong question
    assert saves(actions) == [] and plays(actions)[-1] == "no_match_resolved"


@pytest.mark.parametrize(("intent", "prompt", "outcome"), [
    (Intent.WRONG_PERSON, "wrong_person", CallOutcome.WRONG_PERSON),
    (Intent.CALL_LATER, "call_later", CallOutcome.CALL_LATER)])
def test_wrong_person_and_call_later(intent: Intent, prompt: str, outcome: CallOutcome) -> None:
    for events in ([Answered(), said(intent)], [*GREETED, said(intent)],
                   [*GREETED, said(Intent.RESOLVED), said(intent)]):
        state, actions = run(events)
        assert plays(actions)[-1] == prompt and actions[-1] == EndCall(outcome)
        assert state.phase is Phase.ENDED


def test_hang_up_after_question_one_keeps_it() -> None:
    _state, actions = run([*GREETED, said(Intent.UNRESOLVED), HungUp()])
    assert saves(actions) == [(0, Question.RESOLVED, Intent.UNRESOLVED, "speech")]
    assert actions[-1] == EndCall(CallOutcome.HUNG_UP_EARLY)
    assert run([Answered(), HungUp()])[1][-1] == EndCall(CallOutcome.HUNG_UP_EARLY)


def test_a_negative_answer_asks_for_the_reason_and_records_it() -> None:
    _, actions = run([*GREETED, said(Intent.RESOLVED), said(Intent.UNSATISFIED),
                      Recognised(Intent.UNCLEAR, 0.0, text="办事太慢了"), PromptFinished("thanks")])
    assert plays(actions)[-2:] == ["ask_reason", "thanks"]
    assert actions.index(StartRecording(0)) < actions.index(StopRecording(0))
    assert Listen(None) in actions and actions[-1] == EndCall(CallOutcome.COMPLETED)
    _, hung = run([*GREETED, said(Intent.UNRESOLVED), said(Intent.SATISFIED), HungUp()])
    assert StopRecording(0) in hung and hung[-1] == EndCall(CallOutcome.COMPLETED)


def test_several_tickets_one_call() -> None:
    events = [Answered(), PromptFinished("greeting_multi"), PromptFinished("ticket_intro"),
              Digit("1"), Digit("1"), PromptFinished("ticket_intro"), Digit("2"), Digit("2"),
              NoInput(), PromptFinished("thanks")]
    _, actions = run(events, tickets=2)
    assert plays(actions)[:3] == ["greeting_multi", "ticket_intro", "ask_resolved"]
    assert Play("ticket_intro", 1) in actions
    assert [(t, q, i) for t, q, i, _ in saves(actions)] == [
        (0, Question.RESOLVED, Intent.RESOLVED), (0, Question.SATISFIED, Intent.SATISFIED),
        (1, Question.RESOLVED, Intent.UNRESOLVED), (1, Question.SATISFIED, Intent.BASIC_SATISFIED)]
    assert StartRecording(1) in actions and StopRecording(1) in actions
    assert actions[-1] == EndCall(CallOutcome.COMPLETED)
    with pytest.raises(ValueError, match="at least one ticket"):
        start(0)


def test_keys_repeat_and_no_match() -> None:
    _, actions = run([*GREETED, Digit("*"), Digit("9"), Digit("9")])
    assert plays(actions)[1:4] == ["ask_resolved", "ask_resolved", "no_match_resolved"]
    assert saves(actions) == [(0, Question.RESOLVED, Intent.UNCLEAR, "none")]


def test_media_failure_and_nothing_after_the_end() -> None:
    state, actions = run([*GREETED, MediaFailure("rtp timeout")])
    assert actions[-1] == EndCall(CallOutcome.MEDIA_FAILURE)
    for event in (Digit("1"), said(Intent.RESOLVED), HungUp(), PromptFinished("thanks")):
        assert step(state, event) == (state, [])


def test_stale_prompt_finished_is_ignored() -> None:
    _, actions = run([*GREETED, SpeechStarted(), PromptFinished("ask_resolved")])
    assert actions[-1] == StopPlayback()  # the stopped prompt's late notice changes nothing


EVENTS = st.one_of(
    st.just(Answered()), st.just(SpeechStarted()), st.just(NoInput()), st.just(HungUp()),
    st.sampled_from([PromptFinished(p) for p in ("greeting", "greeting_multi",
                                                 "ticket_intro", "ask_resolved", "thanks")]),
    st.builds(Digit, st.sampled_from(list("0123456789*#"))),
    st.builds(Recognised, st.sampled_from(list(Intent)), st.floats(0, 1),
              st.lists(st.sampled_from(list(Intent)), max_size=2).map(tuple),
              st.just(""), st.none() | st.sampled_from(list(Intent))),
    st.builds(Confirmation, st.none() | st.booleans()))


@settings(max_examples=500, deadline=None)
@given(st.lists(EVENTS, max_size=40), st.integers(1, 3))
def test_invariants_over_any_event_sequence(events: list[Event], tickets: int) -> None:
    state, ended = start(tickets), False
    seen: Counter[tuple[int, Question]] = Counter()
    for event in events:
        before = state
        state, actions = step(state, event)
        if ended:
            assert actions == [] and state == before
        for a in actions:
            if isinstance(a, SaveAnswer):
                seen[(a.ticket, a.question)] += 1
                assert a.intent in (*ANSWERS[a.question], Intent.UNCLEAR)
                assert 0 <= a.ticket < tickets
                if a.source == "speech":  # a spoken answer is only ever a confident one
                    assert isinstance(event, Recognised) and event.confidence >= 0.5
                    assert event.intent == a.intent
                if a.source == "speech, confirmed":  # only what was read back, said right
                    assert isinstance(event, Confirmation) and event.yes is True
                    assert a.intent == before.candidate and before.phase is Phase.CONFIRMING
        ends = [a for a in actions if isinstance(a, EndCall)]
        assert len(ends) <= 1
        if ends:
            ended = True
            assert state.phase is Phase.ENDED
    assert all(n == 1 for n in seen.values())  # never an answer saved twice


# -- the read-back of a doubted answer ---------------------------------------------------
def doubted(candidate: Intent, text: str = "没解决") -> Recognised:
    """What the dialer reports for an answer the engine rejected but whose words name
    `candidate`."""
    return Recognised(Intent.UNCLEAR, 0.0, (), text, candidate)


def test_a_doubted_answer_is_read_back_and_stored_when_confirmed() -> None:
    state, actions = run([*GREETED, doubted(Intent.UNRESOLVED)])
    assert state.phase is Phase.CONFIRMING and plays(actions)[-1] == "confirm_unresolved"
    assert Listen(Question.RESOLVED, confirming=True) in actions and saves(actions) == []
    state, actions = step(state, Confirmation(True, "对"))
    assert saves(actions) == [(0, Question.RESOLVED, Intent.UNRESOLVED, "speech, confirmed")]
    save = next(a for a in actions if isinstance(a, SaveAnswer))
    assert save.heard == "没解决 → 对"
    assert plays(actions) == ["ask_satisfied"]


@pytest.mark.parametrize("reply", [Confirmation(False, "不对"), Confirmation(None, ""),
                                   NoInput()])
def test_a_read_back_not_confirmed_stores_nothing_and_goes_to_the_keys(reply: Event) -> None:
    state, actions = run([*GREETED, doubted(Intent.UNRESOLVED), reply])
    assert saves(actions) == [] and plays(actions)[-1] == "no_match_resolved"
    assert state.phase is Phase.ASKING and state.candidate is None
    # a second doubted answer is not read back again: the question is left unclear
    state, actions = step(state, doubted(Intent.RESOLVED, "解决了"))
    assert saves(actions) == [(0, Question.RESOLVED, Intent.UNCLEAR, "none")]


def test_a_key_over_the_read_back_means_what_it_means_in_the_question() -> None:
    """The read-back offers the question's own keys: 1 is 已解决 even when the read-back
    said 没有解决, never a "yes" to it."""
    _state, actions = run([*GREETED, doubted(Intent.UNRESOLVED), Digit("1")])
    assert saves(actions) == [(0, Question.RESOLVED, Intent.RESOLVED, "keys")]
    assert StopPlayback() in actions  # the read-back was still playing


def test_speech_over_the_read_back_stops_it_and_a_hang_up_stores_nothing() -> None:
    state, actions = run([*GREETED, doubted(Intent.RESOLVED, "解决了")])
    state, actions = step(state, SpeechStarted())
    assert actions == [StopPlayback()] and state.phase is Phase.CONFIRMING
    state, actions = step(state, HungUp())
    assert saves(actions) == [] and EndCall(CallOutcome.HUNG_UP_EARLY) in actions


def test_a_candidate_that_does_not_answer_the_question_is_not_read_back() -> None:
    state, actions = run([*GREETED, doubted(Intent.SATISFIED, "满意")])  # asked: resolved?
    assert state.phase is Phase.ASKING and plays(actions)[-1] == "no_match_resolved"


def test_an_answer_accepted_with_confidence_is_never_read_back() -> None:
    _, actions = run([*GREETED, Recognised(Intent.RESOLVED, 0.95, (), "解决了",
                                           Intent.RESOLVED)])
    assert saves(actions) == [(0, Question.RESOLVED, Intent.RESOLVED, "speech")]
