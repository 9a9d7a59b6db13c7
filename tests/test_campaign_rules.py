"""Pure rules of the campaign: what an attempt came to, how a number is dialled, and the
configured windows and retries."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from dialer.callsession import CallReport
from dialer.campaign import dialled, route
from dialer.outcome_of import FLOW_OUTCOMES, stored_value, ticket_outcome
from dialer.outcomes import Outcome, unanswered_outcome
from dialer.sipudp import CallResult
from huifang.config import Settings
from huifang.service import campaign_settings, windows_of
from ivr import flow
from ivr.announcements import Announcement
from ivr.intents import Intent, Question
from store.enums import AttemptOutcome, Resolved, Satisfaction


def report(outcome: str = "answered", flow_outcome: flow.CallOutcome | None = None,
           announcement: Announcement | None = None) -> CallReport:
    sip = CallResult("c", outcome, 200 if outcome == "answered" else 486, "", "local", 0.0)
    return CallReport(sip=sip, flow_outcome=flow_outcome, announcement=announcement)


def answer(question: Question, intent: Intent) -> flow.SaveAnswer:
    return flow.SaveAnswer(0, question, intent, 1.0, "keys")


def test_ticket_outcomes() -> None:
    both = [answer(Question.RESOLVED, Intent.RESOLVED),
            answer(Question.SATISFIED, Intent.BASIC_SATISFIED)]
    assert ticket_outcome(report(flow_outcome=flow.CallOutcome.HUNG_UP_EARLY), both) \
        is AttemptOutcome.COMPLETED  # both answers were saved before the hang-up
    assert ticket_outcome(report(flow_outcome=flow.CallOutcome.HUNG_UP_EARLY), both[:1]) \
        is AttemptOutcome.HUNG_UP_EARLY
    assert ticket_outcome(report(flow_outcome=flow.CallOutcome.UNCLEAR),
                          [both[0], answer(Question.SATISFIED, Intent.UNCLEAR)]) \
        is AttemptOutcome.UNCLEAR
    assert ticket_outcome(report("busy"), []) is AttemptOutcome.BUSY
    assert ticket_outcome(report("timeout"), []) is AttemptOutcome.TIMEOUT
    assert ticket_outcome(report("no_answer", announcement=Announcement.SWITCHED_OFF), []) \
        is AttemptOutcome.ANNOUNCEMENT
    assert ticket_outcome(report("no_answer", announcement=Announcement.NO_SUCH_NUMBER), []) \
        is AttemptOutcome.INVALID_NUMBER
    assert ticket_outcome(report(flow_outcome=flow.CallOutcome.WRONG_PERSON), []) \
        is AttemptOutcome.WRONG_PERSON
    assert ticket_outcome(report(flow_outcome=flow.CallOutcome.CALL_LATER), []) \
        is AttemptOutcome.CALL_LATER  # the flow's end is the only call-later signal
    assert ticket_outcome(report(), []) is AttemptOutcome.FAILED  # answered, flow never ran
    assert ticket_outcome(CallReport(), []) is AttemptOutcome.FAILED  # no call at all


def test_every_sip_and_flow_ending_has_its_attempt_outcome() -> None:
    """Explicit maps, not spelling: each SIP outcome but ANSWERED, and each flow ending."""
    for sip in Outcome:
        if sip is Outcome.ANSWERED:
            with pytest.raises(ValueError, match="call flow"):
                unanswered_outcome(sip)
        else:
            assert isinstance(unanswered_outcome(sip), AttemptOutcome)
    assert set(FLOW_OUTCOMES) == set(flow.CallOutcome)


def test_stored_values_never_invent() -> None:
    assert stored_value(answer(Question.RESOLVED, Intent.UNRESOLVED)) is Resolved.NO
    assert stored_value(answer(Question.SATISFIED, Intent.UNSATISFIED)) \
        is Satisfaction.UNSATISFIED
    for intent in (Intent.UNCLEAR, Intent.NOT_SURE, Intent.REPEAT):
        assert stored_value(answer(Question.SATISFIED, intent)) is None


def test_numbers_as_dialled_and_routed() -> None:
    assert dialled("+8613812345678") == "13812345678"
    assert dialled("+867318456123") == "07318456123"
    assert dialled("+8613812345678", "9") == "913812345678"
    routes = (("1450002", "sip:{number}@127.0.0.1:6002"), ("145", "sip:{number}@b:1"))
    assert route("14500021234", routes, "sip:{number}@d:5") == "sip:14500021234@127.0.0.1:6002"
    assert route("14500031234", routes, "sip:{number}@d:5") == "sip:14500031234@b:1"
    assert route("13800000000", routes, "sip:{number}@d:5") == "sip:13800000000@d:5"


def test_configured_windows_and_retries() -> None:
    settings = Settings(campaign={"windows": ["09:00-12:00"],
                                  "weekday_windows": {"sun": []},
                                  "retry_minutes": {"busy": 30}, "max_attempts": 4})
    windows = windows_of(settings.campaign)
    assert windows.allows(datetime(2026, 11, 20, 9, 30))  # Friday
    assert not windows.allows(datetime(2026, 11, 20, 14, 30))
    assert not windows.allows(datetime(2026, 11, 22, 9, 30))  # Sunday: closed
    c = campaign_settings(settings)
    assert c.retry.delays[AttemptOutcome.BUSY] == timedelta(minutes=30)
    assert c.retry.max_attempts == 4 and c.retry.caps.max_attempts == 4
    assert c.retry.delays[AttemptOutcome.NO_ANSWER] == timedelta(hours=2)  # defaults kept
    always = windows_of(Settings(campaign={"windows": ["00:00-24:00"]}).campaign)
    assert always.allows(datetime.combine(datetime(2026, 11, 20), time(23, 59, 59)))


@pytest.mark.parametrize("bad", [["12:00-09:00"], ["9:00-12:00"], ["09:00-25:00"]])
def test_bad_windows_are_refused(bad: list[str]) -> None:
    with pytest.raises(ValueError, match="window"):
        Settings(campaign={"windows": bad})
