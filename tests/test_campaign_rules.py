"""Pure rules of the campaign: what an attempt came to, how a number is dialled, and the
configured windows and retries."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from console.config import Settings
from console.service import campaign_settings, windows_of
from dialer.callsession import CallReport
from dialer.campaign import dialled, route
from dialer.outcome_of import stored_value, ticket_outcome
from dialer.sipudp import CallResult
from ivr import flow
from ivr.announcements import Announcement
from ivr.intents import Intent, Question
from store.enums import Resolved, Satisfaction


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
        == "completed"  # both answers were saved before the hang-up
    assert ticket_outcome(report(flow_outcome=flow.CallOutcome.HUNG_UP_EARLY), both[:1]) \
        == "hung_up_early"
    assert ticket_outcome(report(flow_outcome=flow.CallOutcome.UNCLEAR),
                          [both[0], answer(Question.SATISFIED, Intent.UNCLEAR)]) == "unclear"
    assert ticket_outcome(report("busy"), []) == "busy"
    assert ticket_outcome(report("no_answer", announcement=Announcement.SWITCHED_OFF), []) \
        == "announcement"
    assert ticket_outcome(report("no_answer", announcement=Announcement.NO_SUCH_NUMBER), []) \
        == "invalid_number"
    assert ticket_outcome(report(flow_outcome=flow.CallOutcome.WRONG_PERSON), []) \
        == "wrong_person"
    assert ticket_outcome(report(), []) == "failed"  # answered, flow never ran


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
    c = campaign_settings(settings, "n")
    assert c.retry.delays["busy"] == timedelta(minutes=30) and c.retry.max_attempts == 4
    assert c.retry.delays["no_answer"] == timedelta(hours=2)  # defaults kept
    always = windows_of(Settings(campaign={"windows": ["00:00-24:00"]}).campaign)
    assert always.allows(datetime.combine(datetime(2026, 11, 20), time(23, 59, 59)))


@pytest.mark.parametrize("bad", [["12:00-09:00"], ["9:00-12:00"], ["09:00-25:00"]])
def test_bad_windows_are_refused(bad: list[str]) -> None:
    with pytest.raises(ValueError, match="window"):
        Settings(campaign={"windows": bad})
