"""What one ticket's attempt came to, from the call's report and the answers saved for it.
Pure: the scheduler turns the result into a retry, the review queue or done."""

from __future__ import annotations

from dialer.callsession import CallReport
from dialer.outcomes import Outcome, unanswered_outcome
from ivr import flow
from ivr.announcements import Announcement
from ivr.intents import Intent, Question
from store.attempts import CallQuality
from store.enums import AttemptOutcome, Resolved, Satisfaction

RESOLVED = {Intent.RESOLVED: Resolved.YES, Intent.UNRESOLVED: Resolved.NO}
SATISFIED = {Intent.SATISFIED: Satisfaction.SATISFIED,
             Intent.BASIC_SATISFIED: Satisfaction.BASIC,
             Intent.UNSATISFIED: Satisfaction.UNSATISFIED}
# how the call flow ended, as an attempt outcome (ivr may not know the store's types)
FLOW_OUTCOMES: dict[flow.CallOutcome, AttemptOutcome] = {
    flow.CallOutcome.COMPLETED: AttemptOutcome.COMPLETED,
    flow.CallOutcome.UNCLEAR: AttemptOutcome.UNCLEAR,
    flow.CallOutcome.WRONG_PERSON: AttemptOutcome.WRONG_PERSON,
    flow.CallOutcome.CALL_LATER: AttemptOutcome.CALL_LATER,
    flow.CallOutcome.HUNG_UP_EARLY: AttemptOutcome.HUNG_UP_EARLY,
    flow.CallOutcome.MEDIA_FAILURE: AttemptOutcome.MEDIA_FAILURE,
}


def call_quality(report: CallReport) -> CallQuality | None:
    """The call's RTCP figures, stored with each of its attempts; None: none measured."""
    r = report.rtcp
    quality = CallQuality() if r is None else CallQuality(r.packets_lost, r.jitter_ms,
                                                          r.rtt_ms)
    return None if quality == CallQuality() else quality


def stored_value(answer: flow.SaveAnswer) -> Resolved | Satisfaction | None:
    """The evaluation value of an answer; None when it is unclear (nothing is counted)."""
    if answer.question is Question.RESOLVED:
        return RESOLVED.get(answer.intent)
    return SATISFIED.get(answer.intent)


def ticket_outcome(report: CallReport, answers: list[flow.SaveAnswer]) -> AttemptOutcome:
    """`answers` are this ticket's."""
    if report.announcement is not None:
        return (AttemptOutcome.INVALID_NUMBER
                if report.announcement is Announcement.NO_SUCH_NUMBER
                else AttemptOutcome.ANNOUNCEMENT)
    if not report.answered:
        return (unanswered_outcome(Outcome(report.sip.outcome)) if report.sip is not None
                else AttemptOutcome.FAILED)
    clear = {a.question for a in answers if stored_value(a) is not None}
    if clear == set(Question):
        return AttemptOutcome.COMPLETED
    if any(a.intent is Intent.UNCLEAR for a in answers):
        return AttemptOutcome.UNCLEAR
    if report.flow_outcome is None:
        return AttemptOutcome.FAILED  # answered, but the flow never ran (no common codec)
    return FLOW_OUTCOMES[report.flow_outcome]
