"""账号与接口令牌: the admin's page for console accounts (add, disable and enable, reset
a password, change a role) and API tokens (create, shown once; revoke). Admins only,
every form with the session's CSRF token, every change with a reason and audited (who,
when, from which address, before and after) in the transaction that makes it, through
the same store functions as `huifang user` and `huifang token`."""

from __future__ import annotations

import logging
from collections.abc import Callable

from huifang.web.app import Ctx, Handler, Route
from huifang.web.auth import WeakPassword, hash_password, new_token, token_hash
from huifang.web.http import Response, redirect, with_query
from store import accounts
from store.audit import ReasonRequired
from store.enums import Role

log = logging.getLogger(__name__)

DONE = {"user_add": "已创建账号", "user_passwd": "已重置密码，该账号须重新登录",
        "user_disable": "已停用账号，其会话已结束", "user_enable": "已启用账号",
        "user_role": "已修改角色，该账号须重新登录", "token_revoke": "已吊销令牌"}


def accounts_page(ctx: Ctx, error: str = "", status: int = 200) -> Response:
    return ctx.page("admin_accounts.html.j2", status, users=accounts.users(ctx.web.engine),
                    roles=list(Role), error=error, done=DONE.get(ctx.info.arg("done"), ""))


def tokens_page(ctx: Ctx, error: str = "", status: int = 200) -> Response:
    return ctx.page("admin_tokens.html.j2", status, tokens=accounts.tokens(ctx.web.engine),
                    error=error, done=DONE.get(ctx.info.arg("done"), ""))


def _reason(ctx: Ctx) -> str:
    reason = ctx.info.field("reason")
    if not reason:
        raise ReasonRequired("admin: a reason is required")
    return reason[:500]


def _password(ctx: Ctx) -> str:
    password = ctx.info.field("password")
    if password != ctx.info.field("password2"):
        raise accounts.AccountError("两次输入的密码不一致。")
    return hash_password(password)


def _role(ctx: Ctx) -> Role:
    try:
        return Role(ctx.info.field("role"))
    except ValueError as exc:
        raise accounts.AccountError("角色无效。") from exc


def _refused(exc: Exception) -> str:
    """The store's and the hasher's refusals, in the console's words."""
    if isinstance(exc, ReasonRequired):
        return "请填写原因。"
    if isinstance(exc, WeakPassword):
        return "密码至少 8 个字符。"
    if isinstance(exc, accounts.LastAdmin):
        return "这是最后一个启用的管理员账号，不能停用或降级（请先另设一个管理员）。"
    text = str(exc)
    if text.startswith("no user"):
        return "没有这个账号。"
    if text.endswith("already exists"):
        return "该名称已被使用。"
    if text.startswith("no live token"):
        return "没有这个有效的令牌。"
    return {"a username is 1 to 64 characters": "用户名应为 1 至 64 个字符。",
            "a display name is at most 100 characters": "显示名至多 100 个字符。",
            "a token's name is 1 to 100 characters": "令牌名称应为 1 至 100 个字符。"
            }.get(text, text)


def _user_action(action: str, change: Callable[[Ctx, str, str], None]) -> Handler:
    def handler(ctx: Ctx) -> Response:
        username = ctx.info.field("username")
        try:
            change(ctx, username, _reason(ctx))
        except (accounts.AccountError, ReasonRequired, WeakPassword) as exc:
            return accounts_page(ctx, _refused(exc), 400)
        log.info("%s: %s %s", ctx.actor, action, username)
        return redirect(with_query("/admin/accounts", done=action))
    handler.__name__ = action
    return handler


def _add(ctx: Ctx, username: str, reason: str) -> None:
    accounts.add_user(ctx.web.engine, username, ctx.info.field("display_name"), _role(ctx),
                      _password(ctx), ctx.actor, ctx.now, reason=reason,
                      address=ctx.info.address)


def _passwd(ctx: Ctx, username: str, reason: str) -> None:
    accounts.set_password(ctx.web.engine, username, _password(ctx), ctx.actor, ctx.now,
                          reason=reason, address=ctx.info.address)


def _disabled(disabled: bool) -> Callable[[Ctx, str, str], None]:
    def change(ctx: Ctx, username: str, reason: str) -> None:
        accounts.set_disabled(ctx.web.engine, username, disabled, ctx.actor, ctx.now,
                              reason=reason, address=ctx.info.address, keep_admin=True)
    return change


def _set_role(ctx: Ctx, username: str, reason: str) -> None:
    accounts.set_role(ctx.web.engine, username, _role(ctx), ctx.actor, ctx.now,
                      reason=reason, address=ctx.info.address, keep_admin=True)


add_user = _user_action("user_add", _add)
reset_password = _user_action("user_passwd", _passwd)
disable_user = _user_action("user_disable", _disabled(True))
enable_user = _user_action("user_enable", _disabled(False))
change_role = _user_action("user_role", _set_role)


def create_token(ctx: Ctx) -> Response:
    """The new token on a page of its own, once (only its hash is kept; the response is
    never cached, as none is)."""
    name = ctx.info.field("name")
    secret = new_token()
    try:
        accounts.add_token(ctx.web.engine, name, token_hash(secret), ctx.actor, ctx.now,
                           reason=_reason(ctx), address=ctx.info.address)
    except (accounts.AccountError, ReasonRequired) as exc:
        return tokens_page(ctx, _refused(exc), 400)
    log.info("%s: token_add %s", ctx.actor, name)
    return ctx.page("admin_token_created.html.j2", name=name, secret=secret)


def revoke_token(ctx: Ctx) -> Response:
    name = ctx.info.field("name")
    try:
        accounts.revoke_token(ctx.web.engine, name, ctx.actor, ctx.now, reason=_reason(ctx),
                              address=ctx.info.address)
    except (accounts.AccountError, ReasonRequired) as exc:
        return tokens_page(ctx, _refused(exc), 400)
    log.info("%s: token_revoke %s", ctx.actor, name)
    return redirect(with_query("/admin/tokens", done="token_revoke"))


ROUTES = [
    Route("GET", "/admin/accounts", accounts_page, Role.ADMIN),
    Route("POST", "/admin/accounts/add", add_user, Role.ADMIN),
    Route("POST", "/admin/accounts/passwd", reset_password, Role.ADMIN),
    Route("POST", "/admin/accounts/disable", disable_user, Role.ADMIN),
    Route("POST", "/admin/accounts/enable", enable_user, Role.ADMIN),
    Route("POST", "/admin/accounts/role", change_role, Role.ADMIN),
    Route("GET", "/admin/tokens", tokens_page, Role.ADMIN),
    Route("POST", "/admin/tokens/create", create_token, Role.ADMIN),
    Route("POST", "/admin/tokens/revoke", revoke_token, Role.ADMIN),
]
