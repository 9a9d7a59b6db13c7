"""Digest authentication for a SIP client (RFC 3261 §22, RFC 2617, RFC 7616 MD5 and
SHA-256), with `qop=auth`. Pure: the caller supplies the client nonce."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')
ALGORITHMS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


class DigestError(ValueError):
    pass


@dataclass(frozen=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @classmethod
    def parse(cls, header: str) -> Challenge:
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() != "digest":
            raise DigestError(f"unsupported authentication scheme {scheme!r}")
        params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
                  for m in _PARAM.finditer(rest)}
        if "nonce" not in params or "realm" not in params:
            raise DigestError("a digest challenge needs realm and nonce")
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm not in ALGORITHMS:
            raise DigestError(f"unsupported digest algorithm {algorithm}")
        qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
        if qop and "auth" not in qop:
            raise DigestError(f"only qop=auth is supported, the server offers {qop}")
        return cls(params["realm"], params["nonce"], algorithm, qop, params.get("opaque"),
                   params.get("stale", "").lower() == "true")


def _h(algorithm: str, text: str) -> str:
    return ALGORITHMS[algorithm](text.encode("utf-8")).hexdigest()


def authorization(challenge: Challenge, method: str, uri: str, username: str, password: str,
                  cnonce: str, nc: int = 1) -> str:
    """The Authorization / Proxy-Authorization header value answering a challenge."""
    alg = challenge.algorithm
    ha1 = _h(alg, f"{username}:{challenge.realm}:{password}")
    ha2 = _h(alg, f"{method}:{uri}")
    fields = [f'username="{username}"', f'realm="{challenge.realm}"',
              f'nonce="{challenge.nonce}"', f'uri="{uri}"']
    if "auth" in challenge.qop:
        count = f"{nc:08x}"
        response = _h(alg, f"{ha1}:{challenge.nonce}:{count}:{cnonce}:auth:{ha2}")
        fields += [f'response="{response}"', f"algorithm={alg}", f'cnonce="{cnonce}"',
                   "qop=auth", f"nc={count}"]
    else:
        response = _h(alg, f"{ha1}:{challenge.nonce}:{ha2}")
        fields += [f'response="{response}"', f"algorithm={alg}"]
    if challenge.opaque is not None:
        fields.append(f'opaque="{challenge.opaque}"')
    return "Digest " + ", ".join(fields)


def challenge_header(status: int) -> str:
    """Where a 401's or a 407's challenge is (RFC 3261 §22.2, §22.3)."""
    return "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"


def answer_header(status: int) -> str:
    """Where our answer to a 401's or a 407's challenge goes."""
    return "Authorization" if status == 401 else "Proxy-Authorization"
