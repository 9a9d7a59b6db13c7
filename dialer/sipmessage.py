"""SIP messages (RFC 3261 §7, §20, §25): `SipMessage.parse(bytes)` and `serialize()`.

Header names are kept as written (compact `i:` stays `i:`), so a captured message
serialises back to the same bytes; lookups go through the canonical name, so `i` and
`Call-ID` are the same header. A header may appear several times and carry several
comma-separated values (`Via`, `Route`, `Record-Route`, `Contact`); `values()` gives them
in order, splitting on commas outside quotes and angle brackets. Content-Length is
checked when parsing and recomputed when serialising.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

COMPACT = {"i": "call-id", "m": "contact", "f": "from", "t": "to", "v": "via",
           "l": "content-length", "c": "content-type", "k": "supported", "s": "subject",
           "e": "content-encoding", "o": "event", "r": "refer-to", "u": "allow-events",
           "x": "session-expires", "a": "accept-contact", "b": "referred-by",
           "d": "request-disposition", "j": "reject-contact", "y": "identity"}
MAX_MESSAGE = 65535
_STATUS = re.compile(r"SIP/2\.0 (\d{3}) ?(.*)")
_REQUEST = re.compile(r"([A-Za-z!%*_+`'~.-]+) (\S+) SIP/2\.0")


class SipParseError(ValueError):
    """A message that is not SIP, or is damaged: the text says what and where, never what
    the message held (a URI or a header may hold a citizen's number)."""


def canonical(name: str) -> str:
    low = name.strip().lower()
    return COMPACT.get(low, low)


@dataclass
class SipMessage:
    method: str = ""  # requests
    uri: str = ""
    status: int = 0  # responses
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    # -- headers ---------------------------------------------------------------------
    def get(self, name: str, default: str | None = None) -> str | None:
        key = canonical(name)
        for n, v in self.headers:
            if canonical(n) == key:
                return v
        return default

    def header(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SipParseError(f"{self.method or self.status}: no {name} header")
        return value

    def values(self, name: str) -> list[str]:
        key = canonical(name)
        out: list[str] = []
        for n, v in self.headers:
            if canonical(n) == key:
                out.extend(split_values(v))
        return out

    def set(self, name: str, value: str) -> None:
        """Replace every occurrence with one value, in the first one's place."""
        key = canonical(name)
        for i, (n, _) in enumerate(self.headers):
            if canonical(n) == key:
                self.headers[i] = (n, value)
                self.headers = [h for j, h in enumerate(self.headers)
                                if j <= i or canonical(h[0]) != key]
                return
        self.headers.append((name, value))

    def add(self, name: str, value: str, first: bool = False) -> None:
        if first:
            self.headers.insert(0, (name, value))
        else:
            self.headers.append((name, value))

    def remove(self, name: str) -> None:
        key = canonical(name)
        self.headers = [h for h in self.headers if canonical(h[0]) != key]

    @property
    def call_id(self) -> str:
        return self.header("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = self.header("CSeq").strip().partition(" ")
        try:
            return int(number), method.strip().upper()
        except ValueError as exc:
            raise SipParseError("bad CSeq") from exc

    @property
    def branch(self) -> str:
        vias = self.values("Via")
        return param(vias[0], "branch") or "" if vias else ""

    # -- wire ------------------------------------------------------------------------
    def first_line(self) -> str:
        if self.is_request:
            return f"{self.method} {self.uri} SIP/2.0"
        return f"SIP/2.0 {self.status} {self.reason}".rstrip()

    def serialize(self) -> bytes:
        lines = [self.first_line()]
        length_written = False
        for n, v in self.headers:
            value = v
            if canonical(n) == "content-length":
                if length_written:
                    continue
                value = str(len(self.body))
                length_written = True
            lines.append(f"{n}: {value}")
        if not length_written:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body

    @classmethod
    def parse(cls, data: bytes) -> SipMessage:
        if len(data) > MAX_MESSAGE:
            raise SipParseError(f"message of {len(data)} bytes is larger than UDP allows")
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = data.partition(b"\n\n")  # bare LF: tolerated (RFC 3261 §7.5)
            if not sep:
                raise SipParseError("no blank line after the headers")
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SipParseError(f"headers are not UTF-8 (byte {exc.start})") from exc
        lines = text.replace("\r\n", "\n").split("\n")
        while lines and not lines[0].strip():  # keep-alive CRLFs before a message
            lines.pop(0)
        if not lines:
            raise SipParseError("empty message")
        message = cls()
        first = lines[0].strip()
        if (m := _STATUS.fullmatch(first)) is not None:
            message.status, message.reason = int(m.group(1)), m.group(2)
            if not 100 <= message.status <= 699:
                raise SipParseError(f"status {message.status} is out of range")
        elif (m := _REQUEST.fullmatch(first)) is not None:
            message.method, message.uri = m.group(1).upper(), m.group(2)
        else:
            raise SipParseError("line 1 is neither a request nor a status line")
        for number, line in enumerate(lines[1:], start=2):
            if line[:1] in (" ", "\t"):  # folded continuation
                if not message.headers:
                    raise SipParseError(f"line {number}: continuation before any header")
                name, value = message.headers[-1]
                message.headers[-1] = (name, f"{value} {line.strip()}")
                continue
            name, colon, value = line.partition(":")
            if not colon or not name.strip() or " " in name.strip():
                raise SipParseError(f"line {number}: not a header")
            message.headers.append((name.strip(), value.strip()))
        length = message.get("Content-Length")
        if length is not None:
            try:
                n = int(length)
            except ValueError as exc:
                raise SipParseError("Content-Length is not a number") from exc
            if n > len(body):
                raise SipParseError(f"Content-Length {n} but only {len(body)} body bytes")
            body = body[:n]
        message.body = body
        for required in ("Call-ID", "CSeq", "From", "To", "Via"):
            if message.get(required) is None:
                raise SipParseError(f"{message.method or message.status}: no {required} header")
        message.cseq  # noqa: B018 - validates
        return message


def split_values(value: str) -> list[str]:
    """Comma-separated header values, not splitting inside quotes or <...>."""
    out: list[str] = []
    current: list[str] = []
    quoted = angle = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif ch == "<" and not quoted:
            angle = True
        elif ch == ">" and not quoted:
            angle = False
        if ch == "," and not quoted and not angle:
            out.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        out.append("".join(current).strip())
    return out


def param(value: str, name: str) -> str | None:
    """A `;name=value` parameter of a header value (outside its <URI>)."""
    tail = value.rsplit(">", 1)[-1] if ">" in value else value
    for part in tail.split(";")[1:]:
        key, _, v = part.partition("=")
        if key.strip().lower() == name.lower():
            return v.strip().strip('"')
    return None


@dataclass(frozen=True)
class NameAddr:
    """`"Display" <sip:user@host>;tag=x`, or a bare URI with parameters."""

    uri: str
    display: str = ""
    params: str = ""  # ";tag=...;..." as written

    @classmethod
    def parse(cls, value: str) -> NameAddr:
        value = value.strip()
        if "<" in value:
            display, _, rest = value.partition("<")
            uri, close, params = rest.partition(">")
            if not close:
                raise SipParseError("unclosed <> in a name-addr")
            return cls(uri.strip(), display.strip().strip('"'), params.strip())
        uri, semi, params = value.partition(";")
        return cls(uri.strip(), "", f"{semi}{params}" if semi else "")

    @property
    def tag(self) -> str | None:
        return param(f"<{self.uri}>{self.params}", "tag")

    def with_tag(self, tag: str) -> NameAddr:
        return NameAddr(self.uri, self.display, f"{self.params};tag={tag}")

    def __str__(self) -> str:
        shown = f'"{self.display}" ' if self.display else ""
        return f"{shown}<{self.uri}>{self.params}"
