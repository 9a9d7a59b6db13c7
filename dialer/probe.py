"""Probes for `huifang doctor`, over a blocking UDP socket (no reactor): an OPTIONS ping
to the trunk, a REGISTER that only asks for the bindings (no Contact, RFC 3261 §10.2.3:
nothing is added or removed, the credentials are still checked), and whether RTP ports
can be bound. Messages are built and parsed by `dialer.sipmessage`, digest answered by
`dialer.digest`, as the call engine does.
"""

from __future__ import annotations

import logging
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

from dialer.digest import Challenge, DigestError, answer_header, authorization, challenge_header
from dialer.sipactions import T1, T2, Address
from dialer.sipmessage import SipMessage, SipParseError

log = logging.getLogger(__name__)
USER_AGENT = "huifang-doctor"


@dataclass(frozen=True)
class ProbeResult:
    status: int | None  # the final SIP status; None: no answer
    reason: str  # the reason phrase, or why there was no answer
    rtt_s: float | None = None
    server: str = ""  # the Server or User-Agent header of the answer


def _request(method: str, uri: str, local: Address, to: str, call_id: str, cseq: int,
             extra: Iterable[tuple[str, str]] = ()) -> SipMessage:
    m = SipMessage(method=method, uri=uri)
    m.add("Via", f"SIP/2.0/UDP {local[0]}:{local[1]};branch=z9hG4bK{secrets.token_hex(8)}"
                 ";rport")
    m.add("Max-Forwards", "70")
    m.add("From", f"<{to}>;tag={secrets.token_hex(4)}")
    m.add("To", f"<{to}>")
    m.add("Call-ID", call_id)
    m.add("CSeq", f"{cseq} {method}")
    for name, value in extra:
        m.add(name, value)
    m.add("User-Agent", USER_AGENT)
    return m


def _transact(sock: socket.socket, request: SipMessage, timeout_s: float
              ) -> tuple[SipMessage | None, str, float]:
    """Send `request` (retransmitted from T1, doubling to T2) until a final response to it
    or `timeout_s`: (response, why none, round trip)."""
    started = time.monotonic()
    end = started + timeout_s
    interval = T1
    data = request.serialize()
    while True:
        sock.send(data)
        resend = min(time.monotonic() + interval, end)
        interval = min(2 * interval, T2)
        while (left := resend - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                raw = sock.recv(65535)
            except TimeoutError:
                break
            except ConnectionRefusedError:
                return None, "refused: nothing listens there (ICMP port unreachable)", 0.0
            except OSError as exc:
                return None, f"cannot reach it: {exc.strerror or exc}", 0.0
            try:
                response = SipMessage.parse(raw)
                if response.is_request or response.branch != request.branch:
                    continue
            except SipParseError:
                continue
            if response.status >= 200:
                return response, "", time.monotonic() - started
        if time.monotonic() >= end:
            return None, f"no answer within {timeout_s:g} s", 0.0


def _socket(target: Address, local_host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((local_host if local_host not in ("", "0.0.0.0", "::") else "", 0))
        sock.connect(target)
    except OSError:
        sock.close()
        raise
    return sock


def _result(response: SipMessage | None, why: str, rtt: float) -> ProbeResult:
    if response is None:
        return ProbeResult(None, why)
    server = response.get("Server") or response.get("User-Agent") or ""
    return ProbeResult(response.status, response.reason, rtt, server)


def options_ping(target: Address, *, local_host: str = "", timeout_s: float = 2.0
                 ) -> ProbeResult:
    """OPTIONS to `target` (host, port): any final answer shows the trunk is there."""
    try:
        sock = _socket(target, local_host)
    except OSError as exc:
        return ProbeResult(None, f"cannot send to {target[0]}:{target[1]}: {exc}")
    with sock:
        local = sock.getsockname()[:2]
        uri = f"sip:{target[0]}:{target[1]}"
        request = _request("OPTIONS", uri, local, f"sip:{USER_AGENT}@{local[0]}",
                           secrets.token_hex(10), 1, [("Accept", "application/sdp")])
        return _result(*_transact(sock, request, timeout_s))


def register_probe(registrar: Address, aor: str, username: str, password: str, *,
                   local_host: str = "", timeout_s: float = 2.0) -> ProbeResult:
    """A REGISTER without Contact (asks for the bindings, changes none), a 401 or 407
    answered once with the credentials: 200 means the registrar accepts them."""
    try:
        sock = _socket(registrar, local_host)
    except OSError as exc:
        return ProbeResult(None, f"cannot send to {registrar[0]}:{registrar[1]}: {exc}")
    with sock:
        local = sock.getsockname()[:2]
        uri = f"sip:{registrar[0]}:{registrar[1]}"
        call_id = secrets.token_hex(10)
        request = _request("REGISTER", uri, local, aor, call_id, 1)
        response, why, rtt = _transact(sock, request, timeout_s)
        if response is None or response.status not in (401, 407) or not username:
            return _result(response, why, rtt)
        header = challenge_header(response.status)
        try:
            challenge = Challenge.parse(response.header(header))
        except (DigestError, SipParseError) as exc:
            return ProbeResult(response.status, f"{response.reason} (bad challenge: {exc})")
        name = answer_header(response.status)
        value = authorization(challenge, "REGISTER", uri, username, password,
                              cnonce=secrets.token_hex(8))
        request = _request("REGISTER", uri, local, aor, call_id, 2, [(name, value)])
        return _result(*_transact(sock, request, timeout_s))


def ports_in_use(host: str, ports: Iterable[int]) -> list[int]:
    """The UDP ports among `ports` that cannot be bound on `host` right now."""
    taken = []
    for port in ports:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                taken.append(port)
    return taken
