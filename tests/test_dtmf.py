"""RFC 4733 telephone events: parse and serialise round trip, one digit per key press."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.dtmf import DigitReceiver, DtmfError, TelephoneEvent
from ivr.intents import Intent, Question
from ivr.understand import understand_keys

# One press of "1" as a phone sends it: updates every 20 ms, then the end packet 3 times.
PRESS_1 = [bytes.fromhex(h) for h in ("010a00a0", "010a0140", "010a01e0", "018a0280",
                                      "018a0280", "018a0280")]


def test_parse_and_serialize_round_trip_on_captured_bytes() -> None:
    for payload in PRESS_1:
        assert TelephoneEvent.parse(payload).serialize() == payload
    end = TelephoneEvent.parse(PRESS_1[-1])
    assert (end.digit, end.end, end.volume, end.duration) == ("1", True, 10, 640)
    assert TelephoneEvent.parse(bytes.fromhex("0b0a0050")).digit == "#"
    assert TelephoneEvent.parse(bytes.fromhex("0a0a0050")).digit == "*"


@given(st.integers(0, 15), st.booleans(), st.integers(0, 63), st.integers(0, 0xFFFF))
def test_round_trip_any_event(event: int, end: bool, volume: int, duration: int) -> None:
    e = TelephoneEvent(event, end, volume, duration)
    assert TelephoneEvent.parse(e.serialize()) == e


def test_bad_payloads_are_refused() -> None:
    with pytest.raises(DtmfError, match="needs 4"):
        TelephoneEvent.parse(b"\x01\x0a")
    with pytest.raises(DtmfError, match="not a DTMF key"):
        TelephoneEvent.parse(bytes.fromhex("200a00a0"))  # 32: a tone, not a key
    with pytest.raises(DtmfError, match="cannot send"):
        TelephoneEvent(3, False, 64, 0).serialize()


def test_one_digit_per_press_whatever_arrives() -> None:
    r = DigitReceiver()
    got = [r.receive(1000, p) for p in PRESS_1]
    assert got == ["1", None, None, None, None, None]
    # the same key again is a new press: new timestamp
    assert [r.receive(3000, p) for p in PRESS_1] == ["1", None, None, None, None, None]
    # only the end packets survived the network
    assert [r.receive(5000, p) for p in PRESS_1[3:]] == ["1", None, None]
    # a late duplicate of the first press is still recognised as a duplicate
    assert r.receive(1000, PRESS_1[-1]) is None
    assert r.receive(7000, b"\x01") is None and r.errors == 1
    assert r.digits == ["1", "1", "1"]


def test_keys_are_understood_exactly() -> None:
    r = DigitReceiver()
    for i, (key, question, intent) in enumerate([
            ("1", Question.RESOLVED, Intent.RESOLVED), ("2", Question.RESOLVED, Intent.UNRESOLVED),
            ("1", Question.SATISFIED, Intent.SATISFIED),
            ("2", Question.SATISFIED, Intent.BASIC_SATISFIED),
            ("3", Question.SATISFIED, Intent.UNSATISFIED), ("*", Question.SATISFIED, Intent.REPEAT),
            ("9", Question.SATISFIED, Intent.UNCLEAR)]):
        payload = TelephoneEvent("0123456789*#".index(key), True, 10, 800).serialize()
        digit = r.receive(i * 2000, payload)
        assert digit == key
        assert understand_keys(digit, question).intent is intent
