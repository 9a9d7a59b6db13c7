"""A carrier announcement on early media (您拨打的电话已关机, 空号, 停机, 无法接通,
不在服务区) is recognised while the call still rings, and the call is CANCELled at once
with the reason; ring-back tone and 彩铃 music are not announcements."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from dialer.callsession import CallReport, CallSession
from dialer.outcome_of import ticket_outcome
from dialer.sipudp import CallResult
from ivr.announcements import Announcement, classify
from store.enums import AttemptOutcome
from tests.peers import SCENARIOS, on_reactor, reactor, sipp
from tests.rtp_pcap import stream, write_pcap
from tests.speech import espeak
from tests.test_sip_calls import finished
from tests.test_uac import endpoint, reply, settings

VOICE = "sit/cmn-latn-pinyin+f3"


def test_a_hangup_with_a_reason_cancels_with_it() -> None:
    ep, transport, _ = endpoint()
    runner = ep.place_call(settings())
    done: list[CallResult] = []
    runner.done.addCallback(done.append)
    invite = transport.sent()[0]
    reply(ep, invite, 183, "Session Progress")
    runner.hangup("carrier announcement: switched_off")
    cancel = transport.sent()[-1]
    assert cancel.method == "CANCEL" and cancel.branch == invite.branch
    reply(ep, cancel, 200, "OK")
    reply(ep, invite, 487, "Request Terminated")
    assert (done[0].outcome, done[0].code) == ("cancelled", 487)
    assert done[0].reason == "Request Terminated (carrier announcement: switched_off)"


# -- against sipp: a callee that rings with early media from a pcap ---------------------
def ringback(seconds: float) -> npt.NDArray[np.int16]:
    """The Chinese ring-back tone: 450 Hz, 1 s on, 4 s off."""
    t = np.arange(int(seconds * 8000)) / 8000
    on = (t % 5.0) < 1.0
    return (np.sin(2 * np.pi * 450 * t) * 6000 * on).astype(np.int16)


def music(seconds: float, seed: int = 7) -> npt.NDArray[np.int16]:
    """彩铃-like music: a melody of plucked notes with harmonics and a fifth, no gaps."""
    rng = np.random.default_rng(seed)
    notes = (261.6, 293.7, 329.6, 392.0, 440.0, 523.3)
    out: list[npt.NDArray[np.float64]] = []
    while sum(len(x) for x in out) < seconds * 8000:
        t = np.arange(int(8000 * rng.choice((0.25, 0.5)))) / 8000
        f = float(rng.choice(notes))
        x = sum(np.sin(2 * np.pi * f * k * t) / k for k in (1, 2, 3, 4)) \
            + 0.5 * np.sin(2 * np.pi * f * 1.5 * t)
        out.append(x * np.minimum(1, t * 40) * np.exp(-t * 3) * 4000)
    return np.concatenate(out)[:int(seconds * 8000)].astype(np.int16)


def ring_with(tmp_path: Path, pcm: npt.NDArray[np.int16], ring_timeout: float
              ) -> tuple[CallReport, int]:
    """A CallSession to a sipp callee that sends 183 with SDP and plays `pcm` as early
    media; the report, and how many stretches of it the recogniser judged."""
    from tests.test_callsession import loopback_dialer, pool, prompts

    pcm = pcm[:len(pcm) - len(pcm) % 160]
    write_pcap(tmp_path / "early.pcap", stream(pcm, ssrc=0xCA11, sequence=100,
                                                timestamp=8000, start=0.0))
    scenario = (SCENARIOS / "early_pcap.xml.in").read_text(encoding="utf-8")
    (tmp_path / "early.xml").write_text(
        scenario.replace("@PCAP@", str(tmp_path / "early.pcap")), encoding="utf-8")
    with sipp(str(tmp_path / "early")) as (port, process):
        def go() -> Any:
            dialer = loopback_dialer(ring_timeout=ring_timeout)
            session = CallSession(reactor, dialer, f"sip:1001@127.0.0.1:{port}", 1,
                                  prompts(), recognition=pool())

            def stop(report: CallReport) -> Any:
                reactor.callLater(0.5, dialer.stop)
                return report, session._early.judged

            return session.start().addCallback(stop)

        report, judged = on_reactor(go)
        finished(process)  # sipp got our CANCEL and the ACK of its 487, and no more
    return report, judged


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("text", "meaning"), [
    ("您拨打的电话已关机", Announcement.SWITCHED_OFF),
    ("您拨打的号码是空号", Announcement.NO_SUCH_NUMBER)])
def test_an_announcement_while_ringing_is_cancelled_at_once(
        tmp_path: Path, text: str, meaning: Announcement) -> None:
    spoken = np.frombuffer(espeak(text, VOICE), "<i2")
    # the announcement twice, then silence for much longer than it takes to judge it;
    # the ring timeout is later still, so only the announcement can have cancelled
    audio = np.concatenate([spoken, spoken, np.zeros(20 * 8000, np.int16)])
    report, judged = ring_with(tmp_path, audio, ring_timeout=40)
    assert report.sip is not None
    assert (report.sip.outcome, report.sip.code) == ("cancelled", 487)
    assert report.sip.reason == f"Request Terminated (carrier announcement: {meaning})"
    assert report.sip.answered_s is None and report.flow_outcome is None
    assert report.announcement is meaning and classify(report.heard) is meaning
    assert judged >= 1
    expected = AttemptOutcome.INVALID_NUMBER if meaning is Announcement.NO_SUCH_NUMBER \
        else AttemptOutcome.ANNOUNCEMENT
    assert ticket_outcome(report, []) is expected


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", ["ringback", "music"])
def test_ringback_tone_and_music_ring_until_the_ring_timeout(tmp_path: Path, kind: str
                                                             ) -> None:
    audio = ringback(16) if kind == "ringback" else music(16)
    report, judged = ring_with(tmp_path, audio, ring_timeout=12)
    assert report.sip is not None
    assert (report.sip.outcome, report.sip.code, report.sip.reason) == (
        "no_answer", 487, "Request Terminated")  # the ring timeout's CANCEL, not ours
    assert report.announcement is None
    assert judged >= 1  # the recogniser did hear it, and took it for no announcement
    assert ticket_outcome(report, []) is AttemptOutcome.NO_ANSWER


def test_a_ring_timeout_longer_than_timer_b_still_cancels() -> None:
    """Timer B (32 s) runs only until a provisional (RFC 3261 §17.1.1.2): before, a call
    ringing past it ended as `timeout` with no CANCEL, the callee still ringing."""
    ep, transport, clock = endpoint()
    runner = ep.place_call(settings(ring=60))
    done: list[CallResult] = []
    runner.done.addCallback(done.append)
    invite = transport.sent()[0]
    reply(ep, invite, 180, "Ringing")
    clock.advance(59.9)
    assert done == [] and "CANCEL" not in [m.method for m in transport.sent()]
    clock.advance(0.1)
    cancel = transport.sent()[-1]
    assert cancel.method == "CANCEL"
    reply(ep, cancel, 200, "OK")
    clock.advance(31.9)
    assert done == []
    clock.advance(0.1)  # no 487 within 64*T1 of the CANCEL: the call is over
    assert (done[0].outcome, done[0].reason) == ("no_answer", "no 487 after CANCEL")
