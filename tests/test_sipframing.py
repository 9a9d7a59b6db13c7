"""The stream framer on messages captured from sipp (tests/data/sip/): whatever pieces a
connection delivers them in, the same whole messages come out, keep-alives are skipped,
and a stream that loses its framing raises with a reason (the connection is closed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer.sipframing import GARBLED, OVERSIZED, FramingError, StreamFramer
from dialer.sipmessage import SipMessage

CAPTURED = sorted((Path(__file__).parent / "data" / "sip").glob("*.sip"))
MESSAGES = [p.read_bytes() for p in CAPTURED]
STREAM = b"\r\n\r\n".join(MESSAGES) + b"\r\n"  # with keep-alives between them
INVITE = (Path(__file__).parent / "data" / "sip" / "sipp-invite.sip").read_bytes()


def test_the_captures_have_bodies_and_compact_lengths() -> None:
    """What the split tests below rely on: SDP bodies, and the compact `l:`."""
    assert any(SipMessage.parse(m).body for m in MESSAGES)
    assert any(SipMessage.parse(m).get("l") is not None and b"\nl:" in m for m in MESSAGES)


def test_one_feed_gives_every_message() -> None:
    framer = StreamFramer()
    assert framer.feed(STREAM) == MESSAGES
    assert framer.pending == 0 and framer.keepalives == 2 * len(MESSAGES) - 1  # CRLFs


def test_split_at_every_offset() -> None:
    for offset in range(1, len(STREAM)):
        framer = StreamFramer()
        got = framer.feed(STREAM[:offset]) + framer.feed(STREAM[offset:])
        assert got == MESSAGES and framer.pending == 0, offset


def test_byte_by_byte() -> None:
    framer = StreamFramer()
    got = [m for i in range(len(STREAM)) for m in framer.feed(STREAM[i:i + 1])]
    assert got == MESSAGES
    assert [SipMessage.parse(m).serialize() for m in got] == [
        SipMessage.parse(m).serialize() for m in MESSAGES]


def test_a_body_with_blank_lines_is_read_by_its_length() -> None:
    body = b"v=0\r\n\r\n\r\nINVITE x SIP/2.0\r\n\r\n"  # looks like a message: it is not
    message = (b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
               b"Call-ID: c\r\nCSeq: 1 MESSAGE\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\n"
               b"l: %d\r\n\r\n" % len(body)) + body
    framer = StreamFramer()
    assert framer.feed(message + message) == [message, message]


def test_pings_and_pongs_alone_give_nothing() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == [] and framer.feed(b"\r\n") == []
    assert framer.pending == 0 and framer.keepalives == 3


@pytest.mark.parametrize(("stream", "reason"), [
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", GARBLED),  # a TLS hello on TCP
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", GARBLED),
    (INVITE.replace(b"Content-Length", b"Content-Lenxth"), GARBLED),  # none: §18.3
    (INVITE.replace(b"Content-Length: ", b"Content-Length: x"), GARBLED),
    (b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n", OVERSIZED),
    (b"INVITE sip:a@b SIP/2.0\r\n" + b"X-Pad: " + b"a" * 20000, OVERSIZED),
    (b"INVITE sip:a@b SIP/2.0\r\nl: 2\r\nContent-Length: 3\r\n\r\nabc", GARBLED),
])
def test_a_lost_framing_is_an_error_with_its_reason(stream: bytes, reason: str) -> None:
    framer = StreamFramer()
    with pytest.raises(FramingError) as caught:
        for i in range(0, len(stream), 7):  # in pieces: found as soon as it can be
            framer.feed(stream[i:i + 7])
    assert caught.value.reason == reason
    assert b"sip:" not in str(caught.value).encode()  # the text never quotes the stream


def test_after_a_good_message_a_garbled_one_still_fails() -> None:
    framer = StreamFramer()
    assert framer.feed(MESSAGES[0]) == [MESSAGES[0]]
    with pytest.raises(FramingError):
        framer.feed(b"\x00\x01garbage that is not SIP\r\n")
