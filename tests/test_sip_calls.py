"""Outbound calls against sipp callees on 127.0.0.1: every outcome, the ring timeout's
CANCEL, a 407 challenge, early media, and hang-ups both ways. The sipp process's exit
status says whether it saw the messages its scenario expects (our ACKs, CANCEL, BYE)."""

from __future__ import annotations

import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dialer.sipactions import CallSettings, Credentials
from dialer.sipudp import CallResult, SipEndpoint
from huifang.speech import to_8k
from prompts.audio import read_wav, ulaw_encode, write_wav
from tests.peers import SCENARIOS, free_udp_port, on_reactor, reactor, sipp
from tests.speech import MODEL
from tests.test_cli import huifang

REAL = MODEL.parents[2] / "speech/real"


def place(port: int, ring_timeout: float = 5.0, credentials: Credentials | None = None,
          hangup_after: float | None = None) -> tuple[CallResult, list[Any], SipEndpoint]:
    media: list[Any] = []

    def go() -> Any:
        endpoint = SipEndpoint(reactor)
        listening = reactor.listenUDP(0, endpoint, interface="127.0.0.1")
        settings = CallSettings(target=f"sip:1001@127.0.0.1:{port}",
                                local=("127.0.0.1", listening.getHost().port),
                                media_port=free_udp_port(), ring_timeout=ring_timeout,
                                credentials=credentials)

        def answered(description: Any) -> None:
            media.append(("answered", description))
            if hangup_after is not None:
                reactor.callLater(hangup_after, runner.hangup)

        runner = endpoint.place_call(settings, on_answered=answered,
                                     on_early_media=lambda d: media.append(("early", d)))

        def stop(result: CallResult) -> Any:
            reactor.callLater(0.3, listening.stopListening)  # absorb retransmissions
            return result, media, endpoint

        return runner.done.addCallback(stop)

    return on_reactor(go)  # type: ignore[no-any-return]


def finished(process: Any) -> None:
    code = process.wait(30)
    assert code == 0, f"sipp scenario did not complete (exit {code}): {process.stderr.read()}"


@pytest.mark.parametrize(("scenario", "outcome", "code"), [
    ("busy", "busy", 486), ("reject", "rejected", 603), ("notfound", "invalid_number", 404),
    ("unavailable", "congestion", 503)])
def test_failures_are_classified_and_acked(scenario: str, outcome: str, code: int) -> None:
    with sipp(scenario) as (port, process):
        result, media, _ = place(port)
        finished(process)  # sipp saw our ACK
    assert (result.outcome, result.code, result.by) == (outcome, code, "remote")
    assert media == [] and result.first_response_s is not None


def test_ringing_for_ever_is_cancelled_at_the_ring_timeout() -> None:
    with sipp("ringforever") as (port, process):
        result, _, _ = place(port, ring_timeout=1.5)
        finished(process)  # CANCEL, then our ACK of the 487
    assert (result.outcome, result.code) == ("no_answer", 487)


def test_answered_and_we_hang_up() -> None:
    with sipp("we_hang_up") as (port, process):
        result, media, _ = place(port, hangup_after=0.5)
        finished(process)  # ACK to the 200 reached it, and our BYE
    assert (result.outcome, result.by) == ("answered", "local")
    assert media[0][0] == "answered" and media[0][1].codec_name == "PCMU"
    assert media[0][1].telephone_event == 101 and result.answered_s is not None


@pytest.mark.timeout(60)
def test_the_callee_hangs_up() -> None:
    with sipp("callee_hangs_up", "-d", "800") as (port, process):
        result, _, _ = place(port)
        finished(process)  # our 200 to its BYE
    assert (result.outcome, result.by) == ("answered", "remote")
    assert result.duration_s >= 0.5


def test_a_401_challenge_is_answered_with_digest() -> None:
    """sipp's verifyauth checks Authorization (not Proxy-Authorization): the 407 case is
    tested against kamailio."""
    with sipp("auth401") as (port, process):
        result, _, _ = place(port, credentials=Credentials("huifang", "s3cret"),
                             hangup_after=0.3)
        finished(process)
    assert (result.outcome, result.code) == ("answered", 200)


def test_a_stale_nonce_is_answered_again_with_the_new_nonce() -> None:
    """sipp sends stale=true with a new nonce to our right answer; its scenario checks
    that the next INVITE answers the new nonce with the right password (else 403)."""
    with sipp("auth_stale") as (port, process):
        result, _, _ = place(port, credentials=Credentials("huifang", "s3cret"),
                             hangup_after=0.3)
        finished(process)
    assert (result.outcome, result.code) == ("answered", 200)


def test_a_401_with_the_wrong_password_fails() -> None:
    with sipp("auth401") as (port, process):
        result, _, _ = place(port, credentials=Credentials("huifang", "wrong"))
        finished(process)
    assert (result.outcome, result.code) == ("failed", 403)


def test_a_challenge_without_credentials_is_an_auth_failure() -> None:
    with sipp("auth401") as (port, process):
        result, _, _ = place(port)
        process.kill()
    assert (result.outcome, result.code) == ("auth_failure", 401)


def test_early_media_then_480() -> None:
    with sipp("early183", "-d", "300") as (port, process):
        result, media, _ = place(port)
        finished(process)
    assert (result.outcome, result.code) == ("no_answer", 480)
    assert [kind for kind, _ in media] == ["early"] and media[0][1].codec_name == "PCMU"


def test_huifang_call_plays_records_and_hears_digits(tmp_path: Path) -> None:
    """`huifang call` against sipp sending recorded Mandarin and the digit 1."""
    samples, info = read_wav(REAL / "firered_IT0011W0001.wav")
    clip = np.frombuffer(to_8k(samples, info.rate), "<i2")
    (tmp_path / "callee.ulaw").write_bytes(ulaw_encode(np.tile(clip, 3)))
    scenario = (SCENARIOS / "answer_audio_dtmf.xml.in").read_text(encoding="utf-8")
    (tmp_path / "answer.xml").write_text(
        scenario.replace("@AUDIO@", str(tmp_path / "callee.ulaw")), encoding="utf-8")
    prompt = tmp_path / "prompt.wav"
    t = np.arange(8000 * 4) / 8000
    write_wav(prompt, (np.sin(2 * np.pi * 523 * t) * 6000).astype(np.int16))
    with sipp(str(tmp_path / "answer")) as (port, process):
        done = huifang("call", f"sip:1001@127.0.0.1:{port}", "--play", str(prompt),
                       "--record", str(tmp_path / "call.wav"), "--rtp-ports",
                       f"{free_udp_port(span=2)}-{65000}", "--json", cwd=tmp_path,
                       db=f"sqlite:///{tmp_path / 'x.db'}")
        finished(process)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["outcome"], report["code"], report["by"]) == ("answered", 200, "local")
    assert report["digits"] == "1"
    assert report["rtp_sent"] >= 200 and report["rtp_received"] >= 150
    with wave.open(str(tmp_path / "call.wav")) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2).astype(float)
    assert w.getnchannels() == 2 and len(x) >= 8000 * 4
    heard, ours = x[:, 0], x[:, 1]
    assert np.sqrt(np.mean(heard ** 2)) > 300  # the callee's Mandarin, left
    onset = int(np.argmax(np.abs(ours) > 1000))
    second = ours[onset:onset + 8000]
    assert len(second) == 8000 and abs(int(np.abs(np.fft.rfft(second)).argmax()) - 523) <= 2
    assert np.sqrt(np.mean(second ** 2)) > 3000  # our 523 Hz prompt, right, at its level


def test_the_callee_hangs_up_mid_prompt(tmp_path: Path) -> None:
    prompt = tmp_path / "long.wav"
    write_wav(prompt, (np.sin(np.arange(8000 * 8) / 5) * 5000).astype(np.int16))
    with sipp("callee_hangs_up", "-d", "1000") as (port, process):
        done = huifang("call", f"sip:1001@127.0.0.1:{port}", "--play", str(prompt),
                       "--rtp-ports", f"{free_udp_port(span=2)}-65000", "--json",
                       cwd=tmp_path, db=f"sqlite:///{tmp_path / 'x.db'}")
        finished(process)
    report = json.loads(done.stdout)
    assert (report["outcome"], report["by"]) == ("answered", "remote")
    assert report["duration_s"] < 4 and report["rtp_sent"] < 8 * 50  # cut short, not played out
