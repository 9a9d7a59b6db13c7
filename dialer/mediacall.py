"""One call's SIP dialog and its RTP port, glued: the port is bound from the trunk's range
before the INVITE (its number goes in the offer), the media is pointed where the early
media's or the answer's SDP says, started on the answer, and the port is closed when the
call ends. With `trunk.rtcp` on, the odd port above it carries the call's RTCP
(`dialer.rtcpsession`), started with the media and ended with a BYE; its figures are
`rtcp_summary` once the call is over. A callback call (`CallSession`) and an operator's
test call (`huifang call`) both go through here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, succeed

from dialer.leftdialog import DialogRecord, record_of
from dialer.media import MediaSession
from dialer.outcomes import Outcome
from dialer.rtcpsession import RtcpSession, RtcpSummary, listen_pair
from dialer.sdp import MediaDescription
from dialer.sipudp import CallResult, CallRunner
from dialer.trunk import Dialer
from dialer.uac import OutboundCall

log = logging.getLogger(__name__)


class MediaCall:
    def __init__(self, dialer: Dialer, media: MediaSession, target: str, *,
                 call_id: str = "",
                 on_answered: Callable[[], None] = lambda: None) -> None:
        self.dialer, self.media, self.target = dialer, media, target
        self.call_id = call_id
        self.on_answered = on_answered
        self.runner: CallRunner | None = None
        # what would end the call after a crash, each time it changes (None: ended)
        self.on_dialog: Callable[[DialogRecord | None], None] | None = None
        self._rtp: Any = None
        self._rtcp_port: Any = None
        self.rtcp: RtcpSession | None = None
        self.rtcp_summary: RtcpSummary | None = None

    def start(self) -> Deferred[CallResult]:
        """Place the call; fires with its result when it has ended. With no free RTP port
        nothing is sent: the result is a transport failure on our side of the trunk."""
        self.media.latching = self.dialer.config.rtp_latching
        if self.dialer.config.rtcp:
            self.rtcp = RtcpSession(self.media.clock, self.media)
            pair = listen_pair(self.dialer.ports, self.dialer.reactor, self.media, self.rtcp,
                               self.dialer.config.bind, self.dialer.clock.seconds())
            self._rtp, self._rtcp_port = pair or (None, None)
        else:
            self._rtp = self.dialer.bind_media(self.media)
        if self._rtp is None:
            reason = f"no free RTP port on {self.dialer.config.bind}"
            log.error("call not placed: %s", reason)
            return succeed(CallResult(self.call_id, Outcome.TRANSPORT_FAILURE.value, 0, reason,
                                      "local", self.dialer.clock.seconds()))
        port = self._rtp.getHost().port
        self.media.refused_ssrcs = self.dialer.ports.refused_on(port, self.dialer.clock.seconds())
        settings = self.dialer.call_settings(self.target, port, self.call_id)
        self.runner = self.dialer.endpoint.place_call(
            settings, on_answered=self._answered, on_early_media=self._point_media,
            on_digit=self._info_digit, on_media_changed=self._point_media,
            on_dialog=self._dialog_changed if self.on_dialog else None)
        self.call_id = self.media.call_id = self.runner.call.call_id
        return self.runner.done.addCallback(self._ended)

    def hangup(self, reason: str = "") -> None:
        if self.runner is not None:
            self.runner.hangup(reason)

    def _dialog_changed(self, call: OutboundCall) -> None:
        if self.on_dialog is not None and self._rtp is not None:
            self.on_dialog(record_of(call, self._rtp.getHost().port))

    def _point_media(self, description: MediaDescription) -> None:
        codec = description.codec
        if codec is None:
            log.warning("call %s: early media in no codec we speak; not heard", self.call_id)
            return
        self.media.configure((description.address, description.port), codec,
                             description.telephone_event)
        if self.rtcp is not None:
            self.rtcp.configure(description)

    def _info_digit(self, digit: str) -> None:
        """A key pressed as SIP INFO: delivered where RFC 4733 keys go, as if the media
        session had heard it (its digit list and its `on_digit`)."""
        self.media.digits.digits.append(digit)
        if self.media.on_digit is not None:
            self.media.on_digit(digit)

    def _answered(self, description: MediaDescription | None) -> None:
        if description is None:
            return  # no common codec: the call engine hangs up
        self._point_media(description)
        self.media.start()
        if self.rtcp is not None:
            self.rtcp.start()
        self.on_answered()

    def _ended(self, result: CallResult) -> CallResult:
        if self.rtcp is not None:  # the BYE goes before its port closes
            self.rtcp_summary = self.rtcp.stop()
        for port in (self._rtp, self._rtcp_port):
            if port is not None:
                port.stopListening()
        self._rtp = self._rtcp_port = None
        return result
