"""`huifang console` (the web console alone), `huifang user add|disable|enable|passwd|
list` and `huifang token create|list|revoke`."""

from __future__ import annotations

import getpass
import signal
from typing import Any

import click
from twisted.internet.error import CannotListenError

from huifang.cli.app import App, fail, out, pass_app
from huifang.service import local_now, serve_console
from huifang.web.auth import WeakPassword, hash_password, new_token, token_hash
from store import accounts
from store.enums import ROLE_LABELS, Role


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:
        return "cli:operator"


@click.command("console")
@click.option("--bind", default=None, help="host:port (default: console.bind).")
@pass_app
def console_command(app: App, bind: str | None) -> None:
    """Serve the supervisors' web console (also served by `huifang run`)."""
    from twisted.internet import reactor as _reactor  # noqa: PLC0415

    reactor: Any = _reactor
    engine = app.engine()
    address = bind or app.settings.console.bind
    if not address:
        fail("console.bind is empty: give --bind host:port")
    try:
        port = serve_console(app.settings, reactor, engine, address)
    except (OSError, CannotListenError, ValueError) as exc:
        fail(f"cannot listen on {address}: {exc}")
    host = port.getHost()
    out.print(f"回访质检台 console: http://{host.host}:{host.port}/", highlight=False)

    def stop(_n: int, _f: Any) -> None:
        reactor.callFromThread(reactor.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    reactor.run(installSignalHandlers=False)


def _password(given: str | None) -> str:
    if given:
        return given
    first = click.prompt("密码 password", hide_input=True)
    if click.prompt("再输一次 again", hide_input=True) != first:
        fail("the two passwords differ")
    return str(first)


@click.group()
def user() -> None:
    """Console accounts: admin, supervisor (质检员) and viewer (领导)."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", "display_name", default="", help="Shown in the console.")
@click.option("--password", envvar="HUIFANG_NEW_PASSWORD", default=None,
              help="(or $HUIFANG_NEW_PASSWORD; prompted when neither is given)")
@pass_app
def user_add(app: App, username: str, role: str, display_name: str,
             password: str | None) -> None:
    try:
        accounts.add_user(app.engine(), username, display_name, Role(role),
                          hash_password(_password(password)), _actor(), local_now())
    except (WeakPassword, accounts.AccountError) as exc:
        fail(str(exc))
    out.print(f"已创建 created {username} ({ROLE_LABELS[Role(role)]} {role})", highlight=False)


@user.command("passwd")
@click.argument("username")
@click.option("--password", envvar="HUIFANG_NEW_PASSWORD", default=None)
@pass_app
def user_passwd(app: App, username: str, password: str | None) -> None:
    """Set a new password; the account's sessions end."""
    try:
        accounts.set_password(app.engine(), username, hash_password(_password(password)),
                              _actor(), local_now())
    except (WeakPassword, accounts.AccountError) as exc:
        fail(str(exc))
    out.print(f"已修改 password changed for {username}; its sessions were ended",
              highlight=False)


@user.command("disable")
@click.argument("username")
@pass_app
def user_disable(app: App, username: str) -> None:
    """The account can no longer log in; its sessions end at once."""
    _set_disabled(app, username, True)


@user.command("enable")
@click.argument("username")
@pass_app
def user_enable(app: App, username: str) -> None:
    _set_disabled(app, username, False)


def _set_disabled(app: App, username: str, disabled: bool) -> None:
    try:
        accounts.set_disabled(app.engine(), username, disabled, _actor(), local_now())
    except accounts.AccountError as exc:
        fail(str(exc))
    out.print(f"已停用 disabled {username}" if disabled else f"已启用 enabled {username}",
              highlight=False)


@user.command("list")
@pass_app
def user_list(app: App) -> None:
    for a in accounts.users(app.engine()):
        state = "停用 disabled" if a.disabled else "启用 enabled"
        out.print(f"{a.username:20} {a.role.value:10} {state:12} {a.display_name}",
                  highlight=False)


@click.group()
def token() -> None:
    """API tokens for the hotline's ticket system."""


@token.command("create")
@click.argument("name")
@pass_app
def token_create(app: App, name: str) -> None:
    """Print a new token once; only its hash is stored."""
    secret = new_token()
    try:
        accounts.add_token(app.engine(), name, token_hash(secret), _actor(), local_now())
    except accounts.AccountError as exc:
        fail(str(exc))
    out.print(f"token {name}: {secret}", highlight=False)
    out.print("保存好它：不会再次显示 (it is not shown again)", highlight=False)


@token.command("list")
@pass_app
def token_list(app: App) -> None:
    for t in accounts.tokens(app.engine()):
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "live"
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
        out.print(f"{t.name:24} {state:18} by {t.created_by}, last used {used}",
                  highlight=False)


@token.command("revoke")
@click.argument("name")
@pass_app
def token_revoke(app: App, name: str) -> None:
    try:
        accounts.revoke_token(app.engine(), name, _actor(), local_now())
    except accounts.AccountError as exc:
        fail(str(exc))
    out.print(f"已吊销 revoked {name}", highlight=False)
