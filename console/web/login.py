"""Logging in and out. Failed logins are limited per user name and per address."""

from __future__ import annotations

import logging

from console.web import auth
from console.web.app import LOGIN_COOKIE, Ctx
from console.web.http import Response, cookie, redirect
from store import accounts
from store.enums import Role

log = logging.getLogger(__name__)


def _safe_next(target: str) -> str:
    # only paths of this site: no //host or scheme, so a login link cannot send you away
    return target if target.startswith("/") and not target.startswith("//") else "/"


def login_form(ctx: Ctx, error: str = "", status: int = 200) -> Response:
    token = ctx.info.cookies.get(LOGIN_COOKIE) or auth.new_token()
    response = ctx.page("login.html.j2", status, login_csrf=token, error=error,
                        next=_safe_next(ctx.info.arg("next", "/")))
    response.cookies.append(cookie(LOGIN_COOKIE, token, max_age=3600,
                                   secure=ctx.web.secure))
    return response


def login(ctx: Ctx) -> Response:
    info = ctx.info
    if not auth.same(info.field("csrf"), info.cookies.get(LOGIN_COOKIE)):
        return login_form(ctx, "登录表单已失效，请重试。", 403)
    username = info.field("username")
    keys = (f"user:{username}", f"addr:{info.address}")
    wait = ctx.web.limiter.locked_for(*keys)
    if wait is not None:
        minutes = max(1, int(wait.total_seconds() // 60) + 1)
        log.warning("login refused for %r from %s: too many failures", username,
                    info.address)
        return login_form(ctx, f"登录失败次数过多，请 {minutes} 分钟后再试。", 429)
    user = accounts.find_user(ctx.web.engine, username)
    if user is None or user.disabled or not auth.check_password(
            user.password_hash if user else None, info.field("password")):
        ctx.web.limiter.failed(*keys)
        log.warning("failed login for %r from %s", username, info.address)
        return login_form(ctx, "用户名或密码错误。", 401)
    ctx.web.limiter.succeeded(keys[0])
    log.info("%s logged in from %s", username, info.address)
    response = redirect(_safe_next(info.field("next") or home_of(user.role)))
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
