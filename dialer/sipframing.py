"""SIP messages out of a byte stream (TCP, TLS): RFC 3261 §18.3. Pure: bytes in, whole
messages out, nothing here touches a socket.

On a stream a message ends where its Content-Length says (the header is mandatory there);
CRLFs between messages are keep-alives (RFC 5626 §3.5.1: a double CRLF ping, a single
CRLF pong) and are skipped. Anything else cannot be resynchronised: once the framer has
lost the message boundaries it raises `FramingError`, and the connection must be closed.
A message that frames but does not parse is the parser's business (`SipMessage.parse`),
not the framer's: the stream stays in step, only that message is dropped.
"""

from __future__ import annotations

import re

from dialer.sipmessage import MAX_MESSAGE

MAX_HEAD = 16384  # header bytes before the blank line: more is not a SIP message
MAX_BODY = MAX_MESSAGE  # a Content-Length above it is a stream gone wrong
GARBLED = "stream_garbled"  # the drop counter's reasons (SipEndpoint.dropped)
OVERSIZED = "stream_oversized"
_START = re.compile(rb"SIP/2\.0 \d{3}( [^\r\n]*)?\r?|[A-Za-z!%*_+`'~.-]+ \S+ SIP/2\.0\r?")
_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)$",
                     re.IGNORECASE | re.MULTILINE)


class FramingError(ValueError):
    """The stream lost its message boundaries: `reason` is a drop counter label, the text
    says why (never what the stream held: it may carry a citizen's number)."""

    def __init__(self, reason: str, why: str) -> None:
        super().__init__(why)
        self.reason = reason


class StreamFramer:
    """Feed it what a connection received, in any pieces; it hands back whole messages,
    each as the bytes `SipMessage.parse` takes."""

    def __init__(self, max_head: int = MAX_HEAD, max_body: int = MAX_BODY) -> None:
        self.max_head, self.max_body = max_head, max_body
        self._buffer = bytearray()
        self._scanned = 0  # head bytes already searched for the blank line
        self._need: int | None = None  # total size of the message being read, once known
        self.keepalives = 0  # CRLFs skipped between messages

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message held."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        out: list[bytes] = []
        while True:
            message = self._next()
            if message is None:
                return out
            out.append(message)

    def _next(self) -> bytes | None:
        buffer = self._buffer
        if self._need is None:
            skipped = len(buffer) - len(buffer.lstrip(b"\r\n"))
            if skipped:
                self.keepalives += buffer[:skipped].count(b"\n") or 1
                del buffer[:skipped]
                self._scanned = 0
            if not buffer:
                return None
            self._check_start()
            end = self._head_end()
            if end is None:
                if len(buffer) > self.max_head:
                    raise FramingError(OVERSIZED, f"no end of headers in {len(buffer)} bytes")
                return None
            self._need = end + self._content_length(bytes(buffer[:end]))
        if len(buffer) < self._need:
            return None
        message = bytes(buffer[:self._need])
        del buffer[:self._need]
        self._need, self._scanned = None, 0
        return message

    def _check_start(self) -> None:
        """The first line must look like a request or a status line as soon as it is
        complete (or its first bytes already cannot start one)."""
        buffer = self._buffer
        newline = buffer.find(b"\n", 0, self.max_head)
        if newline < 0:
            if len(buffer) >= 8 and not (buffer.startswith(b"SIP/2.0 ")
                                         or re.match(rb"[A-Za-z!%*_+`'~.-]+( |$)", buffer)):
                raise FramingError(GARBLED, "the stream does not start a SIP message")
            return
        if _START.fullmatch(bytes(buffer[:newline])) is None:
            raise FramingError(GARBLED, "line 1 is neither a request nor a status line")

    def _head_end(self) -> int | None:
        """The offset just after the blank line that ends the headers, or None."""
        buffer = self._buffer
        start = max(0, self._scanned - 3)
        found = [i for i in (buffer.find(b"\r\n\r\n", start), buffer.find(b"\n\n", start))
                 if i >= 0]
        if not found:
            self._scanned = len(buffer)
            return None
        at = min(found)
        return at + (4 if buffer.startswith(b"\r\n\r\n", at) else 2)

    def _content_length(self, head: bytes) -> int:
        found = _LENGTH.findall(head.replace(b"\r\n", b"\n"))
        if not found:
            raise FramingError(GARBLED, "no Content-Length on a stream (RFC 3261 §18.3)")
        values = {v.strip() for v in found}
        if len(values) != 1:
            raise FramingError(GARBLED, "Content-Length given twice, differently")
        value = values.pop()
        if not value.isdigit():
            raise FramingError(GARBLED, "Content-Length is not a number")
        length = int(value)
        if length > self.max_body:
            raise FramingError(OVERSIZED, f"Content-Length {length} is over {self.max_body}")
        return length
