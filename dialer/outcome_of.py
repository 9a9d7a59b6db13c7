"""What one ticket's attempt came to, from the call's report and the answers saved for it.
Pure: the scheduler turns the result into a retry, the review queue or done."""

from __future__ import annotations

from dialer.callsession import CallReport
from ivr import flow
from ivr.announcements import Announcement
from ivr.intents import Intent, Question
from store.enums import Resolved, Satisfaction

RESOLVED = {Intent.RESOLVED: Resolved.YES, Intent.UNRESOLVED: Resolved.NO}
SATISFIED = {Intent.SATISFIED: Satisfaction.SATISFIED,
             Intent.BASIC_SATISFIED: Satisfaction.BASIC,
             Intent.UNSATISFIED: Satisfaction.UNSATISFIED}


def stored_value(answer: flow.SaveAnswer) -> Resolved | Satisfaction | None:
    """The evaluation value of an answer; None when it is unclear (nothing is counted)."""
    if answer.question is Question.RESOLVED:
        return RESOLVED.get(answer.intent)
    return SATISFIED.get(answer.intent)


def ticket_outcome(report: CallReport, answers: list[flow.SaveAnswer]) -> str:
    """`answers` are this ticket's. Outcomes are RetryPolicy's keys."""
    if report.announcement is not None:
        return ("invalid_number" if report.announcement is Announcement.NO_SUCH_NUMBER
                else "announcement")
    if not report.answered:
        return report.sip.outcome if report.sip is not None else "failed"
    clear = {a.question for a in answers if stored_value(a) is not None}
    if clear == set(Question):
        return "completed"
    if any(a.intent is Intent.UNCLEAR for a in answers):
        return "unclear"
    outcome = report.flow_outcome
    if outcome is None:
        return "failed"  # answered, but the flow never ran (no common codec)
    if outcome is flow.CallOutcome.COMPLETED:
        return "completed"
    return outcome.value
