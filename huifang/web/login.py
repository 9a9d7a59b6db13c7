"""Logging in and out.

Failed logins are limited per user name *from one address* and per address over all
names, never per name alone: five wrong passwords for a name lock that name from that
address only, so nobody can lock a colleague out from elsewhere, and an address that
tries many names is stopped after `ADDRESS_FACTOR` times as many failures. A successful
login clears its address's count and its name-from-address count (the name-from-address
limit still bounds the guesses against any one name, even by someone who logs in to his
own account between them). Every attempt, known name or not, runs one argon2
verification, so the answer's time does not tell names apart."""

from __future__ import annotations

import logging
import unicodedata
from urllib.parse import unquote, urlsplit

from sqlalchemy import Engine

from huifang.web import auth
from huifang.web.app import LOGIN_COOKIE, Ctx
from huifang.web.http import Response, cookie, redirect
from store import accounts
from store.enums import Role

log = logging.getLogger(__name__)
ADDRESS_FACTOR = 4  # an address may fail this many times login_max_failures, all names


def _plain_path(text: str) -> bool:
    """A path of this site: starts with one `/`, no second `/` or `\\` after it (browsers
    read `/\\host` as `//host`), no scheme or host, no control or space character."""
    if not text.startswith("/") or text[1:2] in ("/", "\\") or "\\" in text:
        return False
    if any(unicodedata.category(ch)[0] in "CZ" for ch in text):  # controls, spaces
        return False
    parts = urlsplit(text)
    return not parts.scheme and not parts.netloc


def safe_next(target: str) -> str:
    """`target` if it is a path of this console, as given and after percent-decoding
    (repeatedly: `%252F` is `%2F` is `/`); otherwise `/`. A login link cannot send
    anyone to another site."""
    text = target
    for _ in range(5):
        if not _plain_path(text):
            return "/"
        decoded = unquote(text)
        if decoded == text:
            return target
        text = decoded
    return "/"  # still decoding after five rounds: nobody writes a link like that


def login_form(ctx: Ctx, error: str = "", status: int = 200) -> Response:
    # always a fresh token, signed: a cookie planted by someone else is never adopted
    token = auth.sign(ctx.web.key, auth.new_token())
    response = ctx.page("login.html.j2", status, login_csrf=token, error=error,
                        next=safe_next(ctx.info.arg("next", "/")))
    response.cookies.append(cookie(LOGIN_COOKIE, token, max_age=3600,
                                   secure=ctx.web.secure))
    return response


def _same_origin(ctx: Ctx) -> bool:
    """A browser's POST names the page it came from; a form on another site (or a
    sibling host that planted a cookie) is refused. No Origin header: not a browser."""
    origin = ctx.info.headers.get("origin")
    if origin is None:
        return True
    hosts = {ctx.info.headers.get("host", ""), ctx.info.headers.get("x-forwarded-host", "")}
    return urlsplit(origin).netloc in hosts - {""}


def authenticate(engine: Engine, username: str, password: str
                 ) -> accounts.Account | None:
    """The account if the password is right. The password is verified (argon2) whether
    or not the name exists or is disabled, so each answer takes as long."""
    user = accounts.find_user(engine, username)
    right = auth.check_password(user.password_hash if user is not None else None, password)
    return user if right and user is not None and not user.disabled else None


def login(ctx: Ctx) -> Response:
    info = ctx.info
    token = info.field("csrf")
    if (not auth.same(token, info.cookies.get(LOGIN_COOKIE))
            or auth.unsign(ctx.web.key, token) is None or not _same_origin(ctx)):
        return login_form(ctx, "登录表单已失效，请重试。", 403)
    username = info.field("username")[:200]
    pair, address = f"user:{username}@{info.address}", f"addr:{info.address}"
    limits = ctx.web.limiter, ctx.web.address_limiter
    waits = [w for w in (limits[0].locked_for(pair), limits[1].locked_for(address))
             if w is not None]
    if waits:
        minutes = max(1, int(max(waits).total_seconds() // 60) + 1)
        log.warning("login refused for %r from %s: too many failures", username,
                    info.address)
        return login_form(ctx, f"登录失败次数过多，请 {minutes} 分钟后再试。", 429)
    user = authenticate(ctx.web.engine, username, info.field("password"))
    if user is None:
        limits[0].failed(pair)
        limits[1].failed(address)
        log.warning("failed login for %r from %s", username, info.address)
        return login_form(ctx, "用户名或密码错误。", 401)
    limits[0].succeeded(pair)
    limits[1].succeeded(address)
    log.info("%s logged in from %s", username, info.address)
    response = redirect(safe_next(info.field("next") or home_of(user.role)))
    response.cookies.append(ctx.web.open_session(user, info, ctx.now))
    return response


def home_of(role: Role) -> str:
    return "/dashboard" if role is Role.VIEWER else "/queue"


def home(ctx: Ctx) -> Response:
    assert ctx.user is not None
    return redirect(home_of(ctx.user.role), 302)


def logout(ctx: Ctx) -> Response:
    response = redirect("/login")
    response.cookies.append(ctx.web.close_session(ctx.info))
    return response
