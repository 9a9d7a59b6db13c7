"""Passwords, signed cookies, CSRF tokens and login rate limiting. Pure but for argon2;
time comes from the caller."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# verifying against this keeps an unknown user as slow as a wrong password
_DUMMY = _hasher.hash(secrets.token_hex(8))
MIN_PASSWORD = 8
MAX_KEYS = 10_000


class WeakPassword(ValueError):
    pass


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"a password has at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def sign(key: str, value: str) -> str:
    mac = hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{value}.{mac}"


def unsign(key: str, signed: str | None) -> str | None:
    """The value, if the signature is ours; None for anything else."""
    if not signed or "." not in signed:
        return None
    value, _, mac = signed.rpartition(".")
    good = hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]
    return value if hmac.compare_digest(mac, good) else None


def same(a: str | None, b: str | None) -> bool:
    """Equal and not empty, compared in constant time; any text (compare_digest refuses
    a str that is not ASCII, so both are compared as UTF-8)."""
    return bool(a) and bool(b) and hmac.compare_digest(
        str(a).encode("utf-8", "surrogatepass"), str(b).encode("utf-8", "surrogatepass"))


@dataclass
class LoginLimiter:
    """At most `max_failures` events per key (failed logins of a name from an address,
    of an address; phone searches of an account) within `window`; past that the key is
    refused until its oldest event ages out. Keys are the caller's (an attacker's) text:
    past `MAX_KEYS` the keys with nothing recent are dropped."""

    max_failures: int
    window: timedelta
    clock: Callable[[], datetime]
    _failures: dict[str, deque[datetime]] = field(default_factory=dict)

    def _recent(self, key: str) -> deque[datetime]:
        now = self.clock()
        failures = self._failures.setdefault(key, deque())
        while failures and now - failures[0] >= self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return deque()
        return failures

    def locked_for(self, *keys: str) -> timedelta | None:
        """How long until one of these keys may try again; None if none is locked."""
        now = self.clock()
        waits = [self.window - (now - f[0]) for f in map(self._recent, keys)
                 if len(f) >= self.max_failures]
        return max(waits) if waits else None

    def failed(self, *keys: str) -> None:
        if len(self._failures) > MAX_KEYS:
            for key in list(self._failures):
                self._recent(key)
        for key in keys:
            self._failures.setdefault(key, deque()).append(self.clock())

    counted = failed  # a phone search spends one of the account's budget

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)
