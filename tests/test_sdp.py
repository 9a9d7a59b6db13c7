"""SDP offer and answer: what we offer, what peers answer (captured from sipp)."""

from __future__ import annotations

import pytest

from dialer import sdp
from dialer.sipmessage import SipMessage
from tests.test_sipmessage import DATA


def test_our_offer_parses_back() -> None:
    body = sdp.offer("127.0.0.1", 40000, session_id=42)
    media = sdp.parse(body)
    assert (media.address, media.port, media.payloads) == ("127.0.0.1", 40000, (0, 8, 101))
    assert media.codec == 0 and media.codec_name == "PCMU" and media.telephone_event == 101
    assert body.endswith(b"\r\n") and b"a=fmtp:101 0-16" in body


def test_sipp_answer() -> None:
    media = sdp.parse(SipMessage.parse((DATA / "sipp-200.sip").read_bytes()).body)
    assert (media.address, media.port, media.codec_name) == ("127.0.0.1", 6000, "PCMU")
    assert media.telephone_event is None


def test_answers_choosing_pcma_dynamic_and_session_level_address() -> None:
    body = (b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
            b"m=audio 5004 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\na=recvonly\r\n"
            b"m=video 5006 RTP/AVP 31\r\nc=IN IP4 10.0.0.2\r\n")
    media = sdp.parse(body)
    assert (media.address, media.codec_name, media.telephone_event) == ("10.0.0.1", "PCMA", 96)
    assert media.direction == "recvonly"


@pytest.mark.parametrize(("body", "reason"), [
    (b"v=0\r\nc=IN IP4 1.2.3.4\r\n", "no audio stream"),
    (b"v=0\r\nm=audio 5004 RTP/AVP 0\r\n", "no connection address"),
    (b"v=0\r\nc=IN IP6 ::1\r\nm=audio 5004 RTP/AVP 0\r\n", "only IPv4"),
    (b"v=0\r\nm=audio x RTP/AVP 0\r\n", "bad media line"),
    (b"garbage line\r\n", "not type=value"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_bad_sdp(body: bytes, reason: str) -> None:
    with pytest.raises(sdp.SdpError, match=reason):
        sdp.parse(body)


def test_no_common_codec() -> None:
    media = sdp.parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5004 RTP/AVP 18\r\n")
    assert media.codec is None and media.codec_name == ""
