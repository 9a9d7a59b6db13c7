"""Optional REGISTER with refresh (RFC 3261 §10), for trunks that want it; others
authenticate by IP and need none. A pure state machine like the call's: `step(event)
-> actions`, the same Send / SetTimer / StopTimer actions, the non-INVITE transaction's
timers E and F, digest on 401/407 (once more on `stale=true`), refresh before expiry,
retry after failure. Responses count only from the registrar, for our open REGISTER.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field

from dialer.dialog import Drop, from_any
from dialer.digest import Challenge, DigestError, answer_header, authorization, challenge_header
from dialer.sipactions import (
    T1,
    T2,
    Action,
    Address,
    Credentials,
    Dropped,
    Ids,
    Received,
    Send,
    SetTimer,
    StopTimer,
    TimerFired,
)
from dialer.sipmessage import SipMessage, SipParseError, param

log = logging.getLogger(__name__)
RETRY_S = 30.0


class RegState(enum.StrEnum):
    UNREGISTERED = "unregistered"
    REGISTERING = "registering"
    REGISTERED = "registered"
    FAILED = "failed"  # retried after RETRY_S
    STOPPED = "stopped"


@dataclass(frozen=True)
class Register:
    pass


@dataclass(frozen=True)
class Unregister:
    pass


@dataclass
class RegistrationSettings:
    registrar: Address
    aor: str  # sip:huifang@trunk.example
    local: Address
    expires: int = 300
    credentials: Credentials | None = None
    user_agent: str = "huifang"


@dataclass
class Registration:
    settings: RegistrationSettings
    ids: Ids
    state: RegState = RegState.UNREGISTERED
    call_id: str = ""
    tag: str = ""
    cseq: int = 0
    granted: int = 0  # seconds the registrar granted
    last_status: int = 0
    auth_tried: bool = False
    stale_retried: bool = False
    _pending: SipMessage | None = None
    _timer_e: float = T1
    _expires: int = field(default=0)

    def step(self, event: object) -> list[Action]:
        if isinstance(event, Register):
            if not self.call_id:
                self.call_id = self.ids.call_id(self.settings.local[0])
                self.tag = self.ids.tag()
            self.auth_tried = self.stale_retried = False
            return self._send(self.settings.expires)
        if isinstance(event, Unregister):
            if self.state in (RegState.REGISTERED, RegState.REGISTERING):
                self.state = RegState.STOPPED
                return [StopTimer("refresh"), *self._send(0)]
            self.state = RegState.STOPPED
            return [StopTimer("refresh"), StopTimer("E"), StopTimer("F")]
        if isinstance(event, TimerFired):
            return self._on_timer(event.name)
        if isinstance(event, Received) and not event.message.is_request:
            if not from_any(event.source, [self.settings.registrar]):
                return [Dropped(Drop.FOREIGN_SOURCE)]
            return self._on_response(event.message)
        return []

    def _send(self, expires: int, auth: tuple[str, str] | None = None) -> list[Action]:
        s = self.settings
        self.cseq += 1
        self._expires = expires
        host, port = s.local
        m = SipMessage(method="REGISTER", uri=f"sip:{s.registrar[0]}:{s.registrar[1]}")
        m.add("Via", f"SIP/2.0/UDP {host}:{port};branch={self.ids.branch()};rport")
        m.add("Max-Forwards", "70")
        m.add("From", f"<{s.aor}>;tag={self.tag}")
        m.add("To", f"<{s.aor}>")
        m.add("Call-ID", self.call_id)
        m.add("CSeq", f"{self.cseq} REGISTER")
        m.add("Contact", f"<sip:huifang@{host}:{port}>")
        m.add("Expires", str(expires))
        if auth:
            m.add(*auth)
        m.add("User-Agent", s.user_agent)
        if self.state is not RegState.STOPPED:
            self.state = RegState.REGISTERING
        self._pending = m
        self._timer_e = T1
        return [Send(m, s.registrar), SetTimer("E", T1), SetTimer("F", 64 * T1)]

    def _on_timer(self, name: str) -> list[Action]:
        if name == "E" and self._pending is not None:
            self._timer_e = min(2 * self._timer_e, T2)
            return [Send(self._pending, self.settings.registrar), SetTimer("E", self._timer_e)]
        if name == "F" and self._pending is not None:
            self._pending = None
            log.warning("registration to %s:%d: no response", *self.settings.registrar)
            return self._failed(408)
        if name in ("refresh", "retry") and self.state is not RegState.STOPPED:
            self.auth_tried = self.stale_retried = False
            return self._send(self.settings.expires)
        return []

    def _failed(self, status: int) -> list[Action]:
        self.last_status = status
        if self.state is RegState.STOPPED:
            return [StopTimer("E"), StopTimer("F")]
        self.state = RegState.FAILED
        return [StopTimer("E"), StopTimer("F"), SetTimer("retry", RETRY_S)]

    def _on_response(self, m: SipMessage) -> list[Action]:
        pending = self._pending
        try:
            if pending is None or m.cseq != pending.cseq or m.branch != pending.branch:
                return [Dropped(Drop.NO_TRANSACTION)]
            if m.status < 200:
                return []  # a provisional: timer E goes on (at T2), F still runs
        except SipParseError:
            return [Dropped(Drop.DAMAGED)]
        self._pending = None
        stops: list[Action] = [StopTimer("E"), StopTimer("F")]
        if m.status in (401, 407) and self.settings.credentials:
            header = challenge_header(m.status)
            try:
                challenge = Challenge.parse(m.header(header))
            except (DigestError, SipParseError) as exc:
                log.warning("registration: bad challenge: %s", exc)
                return stops + self._failed(m.status)
            # a second challenge is a refusal, unless it says our nonce went stale
            # (RFC 2617 §3.2.1): then one more try with the new nonce
            if self.auth_tried and (not challenge.stale or self.stale_retried):
                log.warning("registration refused: %d %s", m.status, m.reason)
                return stops + self._failed(m.status)
            self.stale_retried = self.auth_tried
            self.auth_tried = True
            c = self.settings.credentials
            r = self.settings.registrar
            value = authorization(challenge, "REGISTER", f"sip:{r[0]}:{r[1]}", c.username,
                                  c.password, cnonce=self.ids.token(8))
            name = answer_header(m.status)
            return stops + self._send(self._expires, (name, value))
        if 200 <= m.status < 300:
            self.last_status = m.status
            if self.state is RegState.STOPPED:
                return stops
            granted = self._granted(m)
            self.granted = granted
            self.state = RegState.REGISTERED
            log.info("registered at %s:%d for %d s", *self.settings.registrar, granted)
            return [*stops, SetTimer("refresh", max(5.0, granted * 0.8))]
        log.warning("registration refused: %d %s", m.status, m.reason)
        return stops + self._failed(m.status)

    def _granted(self, m: SipMessage) -> int:
        for contact in m.values("Contact"):
            value = param(contact, "expires")
            if value and value.isdigit():
                return int(value)
        header = m.get("Expires")
        return int(header) if header and header.isdigit() else self._expires
