"""Console accounts, their sessions, API tokens and the shared signing key. Passwords
arrive here already hashed, tokens as their SHA-256: this room keeps, it does not hash."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from store import audit
from store.console_models import ApiToken, ConsoleSession, Secret, User
from store.enums import Role


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    display_name: str
    role: Role
    password_hash: str
    disabled: bool
    session_epoch: int


def _account(u: Any) -> Account:
    return Account(u.id, u.username, u.display_name, Role(u.role), u.password_hash,
                   u.disabled, u.session_epoch)


def add_user(engine: Engine, username: str, display_name: str, role: Role,
             password_hash: str, by: str, now: datetime, *, reason: str = "account created",
             address: str | None = None) -> int:
    if not username.strip() or len(username) > 64:
        raise AccountError("a username is 1 to 64 characters")
    if len(display_name) > 100:
        raise AccountError("a display name is at most 100 characters")
    with engine.begin() as conn:
        try:
            uid = int(conn.execute(insert(User).values(
                username=username, display_name=display_name or username, role=role,
                password_hash=password_hash, disabled=False, session_epoch=0,
                created_at=now, updated_at=now).returning(User.id)).scalar_one())
        except IntegrityError as exc:
            raise AccountError(f"user {username!r} already exists") from exc
        audit.record(conn, at=now, actor=by, action="user_add", target=username,
                     reason=reason, after={"role": str(role)}, address=address)
    return uid


def find_user(engine: Engine, username: str) -> Account | None:
    with engine.connect() as conn:
        u = conn.execute(select(User).where(User.username == username)).one_or_none()
    return None if u is None else _account(u)


def user_by_id(engine: Engine, user_id: int) -> Account | None:
    with engine.connect() as conn:
        u = conn.execute(select(User).where(User.id == user_id)).one_or_none()
    return None if u is None else _account(u)


def users(engine: Engine) -> list[Account]:
    with engine.connect() as conn:
        return [_account(u) for u in conn.execute(select(User).order_by(User.username))]


class LastAdmin(AccountError):
    """The change would leave no enabled admin account."""


def _change(engine: Engine, username: str, by: str, now: datetime, action: str,
            reason: str, *, address: str | None = None, keep_admin: bool = False,
            **values: object) -> None:
    """Change an account and end its sessions, audited; `keep_admin`: refuse a change
    that leaves no enabled admin (the console's; the command line can always add one)."""
    with engine.begin() as conn:
        u = conn.execute(select(User).where(User.username == username)).one_or_none()
        if u is None:
            raise AccountError(f"no user {username!r}")
        role, disabled = values.get("role", u.role), values.get("disabled", u.disabled)
        if keep_admin and u.role == Role.ADMIN and not u.disabled and (
                role != Role.ADMIN or disabled):
            others = conn.execute(select(func.count()).select_from(User).where(
                User.role == Role.ADMIN, User.disabled.is_(False), User.id != u.id)
            ).scalar_one()
            if not others:
                raise LastAdmin(f"{username} is the last enabled admin")
        conn.execute(update(User).where(User.id == u.id).values(
            session_epoch=User.session_epoch + 1, updated_at=now, **values))
        conn.execute(delete(ConsoleSession).where(ConsoleSession.user_id == u.id))
        audit.record(conn, at=now, actor=by, action=action, target=username, reason=reason,
                     before={"disabled": u.disabled, "role": str(u.role)},
                     after={"disabled": disabled, "role": str(role)}, address=address)


def set_password(engine: Engine, username: str, password_hash: str, by: str,
                 now: datetime, *, reason: str = "password changed",
                 address: str | None = None) -> None:
    """A new password ends every session of the account."""
    _change(engine, username, by, now, "user_passwd", reason, address=address,
            password_hash=password_hash)


def set_disabled(engine: Engine, username: str, disabled: bool, by: str, now: datetime,
                 *, reason: str = "", address: str | None = None,
                 keep_admin: bool = False) -> None:
    _change(engine, username, by, now, "user_disable" if disabled else "user_enable",
            reason or ("account disabled" if disabled else "account enabled"),
            address=address, keep_admin=keep_admin, disabled=disabled)


def set_role(engine: Engine, username: str, role: Role, by: str, now: datetime, *,
             reason: str = "role changed", address: str | None = None,
             keep_admin: bool = False) -> None:
    """A new role; the account's sessions end (it logs in again with the new one)."""
    _change(engine, username, by, now, "user_role", reason, address=address,
            keep_admin=keep_admin, role=role)


# -- sessions --------------------------------------------------------------------------
# how stale the last-use stamps of sessions and tokens may be: a page view or an API
# event writes at most once a minute, not once each (idle expiry is to the minute)
STAMP_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionRow:
    user: Account
    csrf: str


def open_session(engine: Engine, token_hash: str, user: Account, csrf: str, now: datetime,
                 expires_at: datetime, address: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
        conn.execute(insert(ConsoleSession).values(
            token_hash=token_hash, user_id=user.id, epoch=user.session_epoch, csrf=csrf,
            created_at=now, seen_at=now, expires_at=expires_at, address=address))


def session(engine: Engine, token_hash: str, now: datetime, idle: timedelta
            ) -> SessionRow | None:
    """The live session of this token, or None: past its absolute expiry, idle longer
    than `idle`, its account disabled or its password changed since (the epoch)."""
    with engine.begin() as conn:
        u = conn.execute(select(User, ConsoleSession.epoch.label("s_epoch"),
                                ConsoleSession.csrf.label("s_csrf"),
                                ConsoleSession.seen_at.label("s_seen"),
                                ConsoleSession.expires_at.label("s_expires"))
                         .join(User, User.id == ConsoleSession.user_id)
                         .where(ConsoleSession.token_hash == token_hash)).first()
        if u is None:
            return None
        if (u.s_expires <= now or now - u.s_seen > idle or u.disabled
                or u.s_epoch != u.session_epoch):
            conn.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash))
            return None
        if now - u.s_seen >= STAMP_EVERY:
            conn.execute(update(ConsoleSession)
                         .where(ConsoleSession.token_hash == token_hash).values(seen_at=now))
    return SessionRow(_account(u), u.s_csrf)


def close_session(engine: Engine, token_hash: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash))


# -- API tokens ------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def add_token(engine: Engine, name: str, token_hash: str, by: str, now: datetime, *,
              reason: str = "API token created", address: str | None = None) -> int:
    if not name.strip() or len(name) > 100:
        raise AccountError("a token's name is 1 to 100 characters")
    with engine.begin() as conn:
        try:
            tid = int(conn.execute(insert(ApiToken).values(
                name=name, token_hash=token_hash, created_by=by, created_at=now)
                .returning(ApiToken.id)).scalar_one())
        except IntegrityError as exc:
            raise AccountError(f"a token named {name!r} already exists") from exc
        audit.record(conn, at=now, actor=by, action="token_add", target=name,
                     reason=reason, address=address)
    return tid


def token_by_hash(engine: Engine, token_hash: str, now: datetime) -> str | None:
    """The name of the live token with this hash (its use is stamped), or None."""
    with engine.begin() as conn:
        row = conn.execute(select(ApiToken.id, ApiToken.name, ApiToken.last_used_at).where(
            ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))).first()
        if row is None:
            return None
        if row.last_used_at is None or now - row.last_used_at >= STAMP_EVERY:
            conn.execute(update(ApiToken).where(ApiToken.id == row.id)
                         .values(last_used_at=now))
    return str(row.name)


def tokens(engine: Engine) -> list[TokenRow]:
    with engine.connect() as conn:
        return [TokenRow(t.id, t.name, t.created_by, t.created_at, t.last_used_at,
                         t.revoked_at)
                for t in conn.execute(select(ApiToken).order_by(ApiToken.id))]


def revoke_token(engine: Engine, name: str, by: str, now: datetime, *,
                 reason: str = "API token revoked", address: str | None = None) -> None:
    with engine.begin() as conn:
        done = conn.execute(update(ApiToken).where(ApiToken.name == name,
                                                   ApiToken.revoked_at.is_(None))
                            .values(revoked_at=now)).rowcount
        if not done:
            raise AccountError(f"no live token named {name!r}")
        audit.record(conn, at=now, actor=by, action="token_revoke", target=name,
                     reason=reason, address=address)


# -- the signing key -------------------------------------------------------------------
def signing_key(engine: Engine, now: datetime) -> str:
    """The key every console process signs cookies with, made once per database."""
    with engine.begin() as conn:
        value = conn.execute(select(Secret.value).where(Secret.name == "cookie")).scalar()
        if value is not None:
            return str(value)
        try:
            with conn.begin_nested():
                conn.execute(insert(Secret).values(name="cookie",
                                                   value=secrets.token_hex(32),
                                                   created_at=now))
        except IntegrityError:
            pass  # another process made it first
        return str(conn.execute(select(Secret.value).where(Secret.name == "cookie"))
                   .scalar_one())
