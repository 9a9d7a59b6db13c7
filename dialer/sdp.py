"""SDP offer/answer for one audio stream (RFC 3264, RFC 4566): PCMU, PCMA and
telephone-event; where the peer wants RTCP (RFC 3605 `a=rtcp:`, RFC 5761 `a=rtcp-mux`).
Pure."""

from __future__ import annotations

from dataclasses import dataclass, field

PCMU, PCMA = 0, 8
CODECS = {PCMU: "PCMU", PCMA: "PCMA"}
TELEPHONE_EVENT = 101


class SdpError(ValueError):
    pass


@dataclass(frozen=True)
class MediaDescription:
    address: str
    port: int
    payloads: tuple[int, ...]  # in the peer's order of preference
    rtpmap: dict[int, str] = field(default_factory=dict)  # pt -> "NAME/rate"
    direction: str = "sendrecv"
    ptime: int = 20
    rtcp_mux: bool = False  # RFC 5761: RTCP on the RTP port
    rtcp_port: int | None = None  # RFC 3605; None: the RTP port + 1
    rtcp_address: str | None = None  # RFC 3605's optional address; None: the stream's

    @property
    def rtcp(self) -> tuple[str, int]:
        """Where RTCP goes for this stream (RFC 3550 §11, RFC 3605, RFC 5761)."""
        if self.rtcp_mux:
            return self.address, self.port
        return self.rtcp_address or self.address, self.rtcp_port or self.port + 1

    @property
    def codec(self) -> int | None:
        """The first payload we can speak (static 0/8, or a dynamic one mapped to them)."""
        for pt in self.payloads:
            name = self.rtpmap.get(pt, CODECS.get(pt, "")).split("/")[0].upper()
            if name in ("PCMU", "PCMA"):
                return pt
        return None

    @property
    def telephone_event(self) -> int | None:
        for pt in self.payloads:
            if self.rtpmap.get(pt, "").lower().startswith("telephone-event/8000"):
                return pt
        return None

    @property
    def codec_name(self) -> str:
        pt = self.codec
        if pt is None:
            return ""
        return self.rtpmap.get(pt, CODECS.get(pt, "")).split("/")[0].upper()


def offer(address: str, port: int, session_id: int, version: int = 1,
          codecs: tuple[int, ...] = (PCMU, PCMA), rtcp_mux: bool = False) -> bytes:
    payloads = " ".join(str(p) for p in (*codecs, TELEPHONE_EVENT))
    lines = ["v=0", f"o=huifang {session_id} {version} IN IP4 {address}", "s=huifang",
             f"c=IN IP4 {address}", "t=0 0", f"m=audio {port} RTP/AVP {payloads}"]
    lines += [f"a=rtpmap:{p} {CODECS[p]}/8000" for p in codecs]
    lines += [f"a=rtpmap:{TELEPHONE_EVENT} telephone-event/8000",
              f"a=fmtp:{TELEPHONE_EVENT} 0-16", "a=ptime:20", "a=sendrecv"]
    lines += ["a=rtcp-mux"] if rtcp_mux else []
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def parse(body: bytes) -> MediaDescription:
    """The first audio stream of an SDP body."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SdpError("SDP is not UTF-8") from exc
    session_address = ""
    media: dict[str, object] | None = None
    rtpmap: dict[int, str] = {}
    direction, ptime = "sendrecv", 20
    rtcp_mux, rtcp_port, rtcp_address = False, None, ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            if line:
                raise SdpError(f"SDP line {number} is not type=value: {line[:60]!r}")
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            if media is not None:
                break  # only the first stream is ours
            parts = value.split()
            if len(parts) < 4 or parts[0] != "audio":
                continue
            try:
                media = {"port": int(parts[1].split("/")[0]),
                         "payloads": tuple(int(p) for p in parts[3:])}
            except ValueError as exc:
                raise SdpError(f"SDP line {number}: bad media line {value!r}") from exc
        elif kind == "c":
            parts = value.split()
            if len(parts) != 3 or parts[1] != "IP4":
                raise SdpError(f"SDP line {number}: only IPv4 connections: {value!r}")
            address = parts[2].split("/")[0]
            if media is None:
                session_address = address
            else:
                media["address"] = address
        elif kind == "a" and media is not None:
            name, _, rest = value.partition(":")
            if name == "rtpmap":
                pt, _, encoding = rest.partition(" ")
                if pt.isdigit():
                    rtpmap[int(pt)] = encoding.strip()
            elif name in ("sendrecv", "sendonly", "recvonly", "inactive"):
                direction = name
            elif name == "ptime" and rest.strip().isdigit():
                ptime = int(rest)
            elif name == "rtcp-mux":
                rtcp_mux = True
            elif name == "rtcp":  # port [IN IP4 address]
                parts = rest.split()
                if parts and parts[0].isdigit() and 0 < int(parts[0]) < 65536:
                    rtcp_port = int(parts[0])
                    if len(parts) == 4 and parts[1:3] == ["IN", "IP4"]:
                        rtcp_address = parts[3]
    if media is None:
        raise SdpError("SDP has no audio stream")
    address = str(media.get("address") or session_address)
    if not address:
        raise SdpError("SDP has no connection address")
    payloads = media["payloads"]
    assert isinstance(payloads, tuple)
    port = media["port"]
    assert isinstance(port, int)
    return MediaDescription(address, port, payloads, rtpmap, direction, ptime, rtcp_mux,
                            rtcp_port, rtcp_address or None)
