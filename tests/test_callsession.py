"""Real calls through the whole call path: SIP, RTP, endpointing, PocketSphinx with the
shared Mandarin model, and the call flow, against the loopback citizen simulator.
Answers by keys and speech, reasons, a wrong person and two tickets in one call are
covered by the campaign tests (tests/test_campaign.py), which make the same calls."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from dialer.callsession import CallReport, CallSession, SessionSettings
from dialer.trunk import Dialer, TrunkConfig
from huifang.demo.simulator import Behaviour, Citizen, CitizenSimulator, Turn
from ivr import flow
from ivr.announcements import Announcement
from ivr.intents import Intent, Question
from ivr.pool import RecognitionPool
from ivr.sphinx import SphinxEngine
from tests.conftest import need
from tests.peers import free_udp_port, on_reactor, reactor
from tests.speech import MODEL, espeak

VOICE = "sit/cmn-latn-pinyin+f3"
PROMPTS = {
    "greeting": "您好，这里是热线回访。", "greeting_multi": "您好，您有两件诉求已经办结。",
    "ticket_intro": "第一件，关于电梯的问题。", "ask_resolved": "请问问题解决了吗？",
    "ask_satisfied": "请问您满意吗？", "no_input_resolved": "没有听到，解决了吗？",
    "no_input_satisfied": "没有听到，满意吗？", "no_match_resolved": "没有听清，请按键。",
    "no_match_satisfied": "没有听清，请按键。", "keys_only_resolved": "请按键回答。",
    "keys_only_satisfied": "请按键回答。", "ask_reason": "请说明原因。", "thanks": "谢谢，再见。",
    "wrong_person": "抱歉打扰了。", "call_later": "好的，稍后联系。",
    "confirm_resolved": "您是说解决了，对吗？", "confirm_unresolved": "您是说没解决，对吗？",
    "confirm_satisfied": "您是说满意，对吗？", "confirm_basic_satisfied": "您是说基本满意，对吗？",
    "confirm_unsatisfied": "您是说不满意，对吗？"}


@functools.cache
def prompts() -> dict[tuple[str, int | None], bytes]:
    return {(pid, None): espeak(text, VOICE, speed=190, pad_s=0.2) for pid, text in PROMPTS.items()}


@functools.cache
def pool() -> RecognitionPool:
    need(MODEL.exists(), f"the shared Mandarin model is missing at {MODEL}")
    return RecognitionPool(SphinxEngine(MODEL), workers=2)


def say(text: str) -> Turn:
    return Turn("say", espeak(text, VOICE, speed=170, pad_s=0.1), label=text)


def key(digit: str) -> Turn:
    return Turn("key", digit=digit)


def loopback_dialer(rtp_ports: int = 18, ring_timeout: float = 5.0, channels: int = 4,
                    calls_per_second: float = 20.0) -> Dialer:
    """A listening dialer on 127.0.0.1 with `rtp_ports` free RTP ports (reactor thread)."""
    low = free_udp_port(rtp_ports + 2)
    dialer = Dialer(reactor, TrunkConfig(
        bind="127.0.0.1", sip_port=0, rtp_low=low, rtp_high=low + rtp_ports,
        ring_timeout=ring_timeout, max_channels=channels, calls_per_second=calls_per_second))
    dialer.listen()
    return dialer


def run_call(citizen: Citizen, tmp_path: Path, tickets: int = 1, number: str = "13800000001",
             ring_timeout: float = 5.0, settings: SessionSettings | None = None
             ) -> tuple[CallReport, list[flow.SaveAnswer], list[str]]:
    answers: list[flow.SaveAnswer] = []
    simulator = CitizenSimulator(reactor, {number: citizen})

    def go() -> Any:
        uas = reactor.listenUDP(0, simulator, interface="127.0.0.1")
        dialer = loopback_dialer(rtp_ports=18, ring_timeout=ring_timeout)
        session = CallSession(reactor, dialer, f"sip:{number}@127.0.0.1:{uas.getHost().port}",
                              tickets, prompts(), recognition=pool(),
                              recording=tmp_path / "call.wav", on_answer=answers.append,
                              session=settings or SessionSettings(no_input_s=2.0))

        def stop(report: CallReport) -> CallReport:
            reactor.callLater(0.5, dialer.stop)
            reactor.callLater(0.5, uas.stopListening)
            return report

        return session.start().addCallback(stop)

    report: CallReport = on_reactor(go)
    return report, answers, simulator.history.get(number, [])


def intents(answers: list[flow.SaveAnswer]) -> list[tuple[Question, Intent]]:
    return [(a.question, a.intent) for a in answers]


@pytest.mark.timeout(120)
def test_silence_falls_back_to_keys_then_unclear(tmp_path: Path) -> None:
    report, answers, _ = run_call(Citizen(turns=(Turn("silence"), Turn("silence"), key("1"),
                                                 Turn("silence"), Turn("silence"),
                                                 Turn("silence"))), tmp_path)
    assert intents(answers) == [(Question.RESOLVED, Intent.RESOLVED),
                                (Question.SATISFIED, Intent.UNCLEAR)]
    assert report.flow_outcome is flow.CallOutcome.UNCLEAR


@pytest.mark.timeout(120)
def test_hang_up_after_question_one_keeps_it(tmp_path: Path) -> None:
    report, answers, _ = run_call(Citizen(turns=(key("1"), Turn("hangup"))), tmp_path)
    assert intents(answers) == [(Question.RESOLVED, Intent.RESOLVED)]
    assert report.flow_outcome is flow.CallOutcome.HUNG_UP_EARLY
    assert report.sip is not None and report.sip.by == "remote"


@pytest.mark.timeout(120)
def test_busy_and_no_answer_are_not_answered(tmp_path: Path) -> None:
    report, answers, _ = run_call(Citizen(Behaviour.BUSY), tmp_path)
    assert report.sip is not None and (report.sip.outcome, report.sip.code) == ("busy", 486)
    report, _, _ = run_call(Citizen(Behaviour.NO_ANSWER), tmp_path, ring_timeout=1.5)
    assert report.sip is not None and report.sip.outcome == "no_answer"
    assert report.flow_outcome is None and answers == []


@pytest.mark.timeout(120)
def test_carrier_announcement_on_early_media(tmp_path: Path) -> None:
    audio = espeak("您拨打的电话已关机", VOICE)
    report, answers, _ = run_call(Citizen(Behaviour.ANNOUNCEMENT, announcement=audio),
                                  tmp_path)
    # the simulator sends 480 once its announcement has played; we may have judged it
    # and cancelled first (487): either way the call is the announcement's, not answered
    assert report.sip is not None and report.sip.code in (480, 487)
    assert report.announcement is Announcement.SWITCHED_OFF, report.heard
    assert answers == []
