"""The console as a twisted.web resource: a route table, sessions and roles, CSRF, and
every handler run in the reactor's thread pool (the dialer's media must never wait for a
page), its plain `Response` written back on the reactor thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from klein import Klein
from sqlalchemy import Engine, exc
from twisted.internet.defer import CancelledError, Deferred
from twisted.python.failure import Failure
from twisted.web import resource, server
from werkzeug.exceptions import MethodNotAllowed, NotFound

from huifang.config import Settings
from huifang.web import auth
from huifang.web.http import (
    BadInput,
    RequestInfo,
    Response,
    cookie,
    parse_form,
    problem,
    redirect,
    with_query,
)
from huifang.web.labels import actor, change, event, label, ok_banner, phrase
from store import accounts, review
from store.db import StoreError, describe_db_error
from store.enums import ROLE_LABELS, Role
from store.phones import mask_phone

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
SESSION_COOKIE = "hf_session"
LOGIN_COOKIE = "hf_login"  # the CSRF token of the login form, before any session
RANK = {Role.VIEWER: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}
MAX_BODY = 1 << 20
MAX_ID = (1 << 63) - 1  # SQLite's and PostgreSQL's bigint: a larger id is no row's
# a page may load only this console's own files: no inline script or style, no frames
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
SECURITY_HEADERS = [("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
                    ("X-Frame-Options", "DENY"), ("Referrer-Policy", "same-origin"),
                    ("Cross-Origin-Opener-Policy", "same-origin"),
                    ("Cross-Origin-Resource-Policy", "same-origin"),
                    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
                    ("Cache-Control", "no-store")]
PHONE_SEARCHES = 30  # per account and hour: the whole number, or (supervisors) its end
PHONE_SEARCH_WINDOW = timedelta(hours=1)


def console_request(secure: bool) -> type[server.Request]:
    """The site's request: every response, whatever made it (a page, a static file,
    a 404 or 405 of the router, a 500), carries the security headers, and none says
    which server software it is."""
    headers = [*SECURITY_HEADERS, *([("Strict-Transport-Security", "max-age=31536000")]
                                    if secure else [])]

    class ConsoleRequest(server.Request):
        def process(self) -> None:
            for name, value in headers:
                self.setHeader(name.encode(), value.encode())
            super().process()

        def setHeader(self, name: Any, value: Any) -> None:
            if (name.lower() if isinstance(name, bytes) else name.lower().encode()
                    ) == b"server":
                return
            super().setHeader(name, value)

    return ConsoleRequest


@cache
def static_files() -> type[Any]:
    """/static/'s resource: files only; no directory listing, nothing odd in a name.
    (twisted.web.static is imported when first served: importing it warns.)"""
    from twisted.web.static import File  # noqa: PLC0415

    class StaticFiles(File):  # its childNotFound is the console's Chinese 404 page
        def directoryListing(self) -> Any:
            return self.childNotFound

        def getChild(self, path: bytes, request: Any) -> Any:
            if b"\x00" in path or b"\\" in path or path.startswith(b"."):
                return self.childNotFound
            return super().getChild(path, request)

    return StaticFiles


@dataclass(frozen=True)
class Ctx:
    """One request as a handler sees it."""

    web: ConsoleWeb
    info: RequestInfo
    user: accounts.Account | None
    csrf: str
    now: datetime

    def page(self, template: str, status: int = 200, **values: Any) -> Response:
        if "ok" in values:  # the green banner says only what the table says
            values["ok"] = ok_banner(self.info.arg("ok"), self.info.arg("at"))
        body = self.web.templates.get_template(template).render(
            user=self.user, csrf=self.csrf, path=self.info.path, now=self.now,
            role_labels=ROLE_LABELS, can=self.can, **values)
        return Response(status, body.encode())

    def can(self, role: str) -> bool:
        return self.user is not None and RANK[self.user.role] >= RANK[Role(role)]

    @property
    def actor(self) -> str:
        return self.user.username if self.user else "anonymous"


Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # klein syntax: /calls/<int:callback_id>
    handler: Handler
    role: Role | None  # None: no session needed (login, API with its own tokens)


InStore = Callable[..., Deferred[Any]]


class ConsoleWeb:
    def __init__(self, engine: Engine, settings: Settings, clock: Callable[[], datetime],
                 routes: list[Route], in_store: InStore) -> None:
        """`in_store(fn, *args)` runs blocking store work on the process's store pool
        (shared with the campaign: one writer on SQLite) and returns a Deferred."""
        self.engine = engine
        self.in_store = in_store
        self.settings = settings
        self.clock = clock
        c = settings.console
        self.idle = timedelta(minutes=c.session_idle_minutes)
        self.lifetime = timedelta(hours=c.session_max_hours)
        lockout = timedelta(minutes=c.login_lockout_minutes)
        # a name from one address; one address over all names (see login.py)
        self.limiter = auth.LoginLimiter(c.login_max_failures, lockout, clock)
        self.address_limiter = auth.LoginLimiter(c.login_max_failures * 4, lockout, clock)
        self.phone_searches = auth.LoginLimiter(PHONE_SEARCHES, PHONE_SEARCH_WINDOW, clock)
        self.key = accounts.signing_key(engine, clock())
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                                     autoescape=select_autoescape(["html", "j2"]),
                                     trim_blocks=True, lstrip_blocks=True)
        self.templates.filters["masked"] = mask_phone
        self.templates.filters["label"] = label
        self.templates.filters["event"] = event
        self.templates.filters["actor"] = actor
        self.templates.filters["phrase"] = phrase
        self.templates.filters["change"] = change
        self.templates.filters["dt"] = lambda v, f="%Y-%m-%d %H:%M": v.strftime(f) if v else ""
        # key -> (computed at, value, the store's version then: see `cached`)
        self.cache: dict[Any, tuple[datetime, Any, Any]] = {}
        self._lock = threading.Lock()
        self._refreshing: set[Any] = set()
        self._generation = 0
        self.klein = Klein()
        for route in routes:
            self._add(route)
        self.klein.route("/static/", branch=True)(self._static)
        self.klein.handle_errors(NotFound)(self._router_error(404, "未找到", "没有这个页面。"))
        self.klein.handle_errors(MethodNotAllowed)(self._router_error(
            405, "不支持的请求方式", "该地址不接受这种请求方式。"))

    # -- plumbing ----------------------------------------------------------------------
    def resource(self) -> Any:
        return self.klein.resource()

    def _static(self, request: Any) -> Any:
        files = static_files()(str(HERE / "static"))
        files.childNotFound = _Page(404, STATIC_MISSING)
        return files

    def error_page(self, title: str, message: str) -> bytes:
        """An error page in Chinese for answers no handler wrote (the router's 404 and
        405, a missing static file): no session is looked up for them."""
        return self.templates.get_template("error.html.j2").render(
            user=None, csrf="", path="", now=self.clock(), role_labels=ROLE_LABELS,
            can=lambda _role: False, title=title, message=message).encode()

    def _router_error(self, status: int, title: str, message: str) -> Any:
        """klein's error handler (request, failure) for the router's own answers."""
        def handler(request: Any, failure: Failure) -> bytes:
            request.setResponseCode(status)
            request.setHeader(b"content-type", b"text/html; charset=utf-8")
            if status == 405:
                allowed = getattr(failure.value, "valid_methods", None) or []
                request.setHeader(b"allow", ", ".join(allowed).encode())
            return self.error_page(title, message)
        return handler

    def _add(self, route: Route) -> None:
        def endpoint(request: Any, **params: Any) -> Any:
            info = _info(request)
            d = self.in_store(self.dispatch, route, info, params)
            d.addCallback(_write, request)
            d.addErrback(self._failed, request, info)
            return d

        endpoint.__name__ = f"{route.method}_{route.path}"
        self.klein.route(route.path, methods=[route.method], endpoint=endpoint.__name__
                         )(endpoint)

    def _failed(self, failure: Failure, request: Any, info: RequestInfo) -> bytes:
        if failure.check(CancelledError):  # the client went away before its answer
            log.info("%s %s: the client disconnected before the answer", info.method,
                     info.path)
            return b""
        log.error("%s %s failed: %s", info.method, info.path, failure.getTraceback())
        request.setResponseCode(500)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return "内部错误，已记入服务日志。".encode()

    def dispatch(self, route: Route, info: RequestInfo, params: dict[str, Any]) -> Response:
        """Authenticate, authorise, check CSRF, run the handler. In a worker thread."""
        started = time.perf_counter()
        user: accounts.Account | None = None
        try:
            if len(info.body) > MAX_BODY:
                response = Response(413, f"请求过大：超过 {MAX_BODY} 字节。".encode(),
                                    "text/plain; charset=utf-8")
            else:
                response, user = self._gated(route, info, params, self.clock())
        except (StoreError, exc.DBAPIError) as error:
            # the database went away (a restart, a failover, a locked SQLite file): say
            # so; a change that was being made was not made, and the page can be retried
            text = str(error) if isinstance(error, StoreError) else describe_db_error(
                error, str(self.engine.url))
            log.error("%s %s: %s", info.method, info.path, text)
            response = Response(503, "数据库暂时不可用，请稍后重试（详情已记入服务日志）。"
                                .encode(), "text/plain; charset=utf-8",
                                headers=[("Retry-After", "5")])
        if user is not None and user.role is Role.ADMIN:  # the others learn no timings
            elapsed = 1000 * (time.perf_counter() - started)
            response.headers.append(("Server-Timing", f"app;dur={elapsed:.1f}"))
        return response

    def _gated(self, route: Route, info: RequestInfo, params: dict[str, Any],
               now: datetime) -> tuple[Response, accounts.Account | None]:
        user, csrf = self._session(info, now)
        ctx = Ctx(self, info, user, csrf, now)
        if route.role is not None:
            if user is None:
                return redirect(with_query("/login", next=info.path) if info.method == "GET"
                                else "/login"), None
            if RANK[user.role] < RANK[route.role]:
                return ctx.page("error.html.j2", 403, title="无权限",
                                message="您的角色无权进行此操作。"), user
            if info.method == "POST" and not auth.same(info.field("csrf"), csrf):
                return ctx.page("error.html.j2", 403, title="请求已失效",
                                message="表单令牌无效（CSRF），请返回页面刷新后重试。"), user
        if any(isinstance(v, int) and not 0 <= v <= MAX_ID for v in params.values()):
            return self._refused(ctx, 404, "没有这条记录。"), user
        try:
            return route.handler(ctx, **params), user
        except BadInput as error:
            return self._refused(ctx, 400, str(error)), user
        except OverflowError:  # a number past what the database keeps
            return self._refused(ctx, 400, "数值超出范围。"), user

    @staticmethod
    def _refused(ctx: Ctx, status: int, message: str) -> Response:
        if ctx.info.path.startswith("/api/"):
            return problem(status, message)
        title = "未找到" if status == 404 else "请求有误"
        return ctx.page("error.html.j2", status, title=title, message=message)

    @property
    def secure(self) -> bool:
        return self.settings.console.secure_cookies

    def _session(self, info: RequestInfo, now: datetime) -> tuple[accounts.Account | None, str]:
        """The account and CSRF token of the request's live session, if it has one."""
        token = auth.unsign(self.key, info.cookies.get(SESSION_COOKIE))
        if token is None:
            return None, ""
        row = accounts.session(self.engine, auth.token_hash(token), now, self.idle)
        if row is None:
            return None, ""
        return row.user, row.csrf

    def open_session(self, user: accounts.Account, info: RequestInfo, now: datetime) -> str:
        """A new session for `user`; returns the Set-Cookie value."""
        token = auth.new_token()
        accounts.open_session(self.engine, auth.token_hash(token), user, auth.new_token(),
                              now, now + self.lifetime, info.address)
        return cookie(SESSION_COOKIE, auth.sign(self.key, token), max_age=None,
                      secure=self.secure)

    def close_session(self, info: RequestInfo) -> str:
        token = auth.unsign(self.key, info.cookies.get(SESSION_COOKIE))
        if token is not None:
            accounts.close_session(self.engine, auth.token_hash(token))
        return cookie(SESSION_COOKIE, "", max_age=0, secure=self.secure)

    def cached(self, key: Any, compute: Callable[[], Any],
               version: Callable[[], Any] | None = None) -> tuple[Any, datetime]:
        """A value and when it was computed. Younger than `rankings_cache_s`: as it is;
        older: as it is, while a worker thread computes it anew; never computed (or
        invalidated by `changed`): computed now. With `version` (a cheap reading of what
        the value depends on), a value computed before the store changed elsewhere (an
        import, a dialer's answers, another console) is computed now, not shown stale."""
        ttl = timedelta(seconds=self.settings.console.rankings_cache_s)
        with self._lock:
            hit = self.cache.get(key)
        current = version() if version is not None else None
        if hit is not None and (version is None or hit[2] == current):
            if self.clock() - hit[0] >= ttl:
                self._refresh(key, compute, version)
            return hit[1], hit[0]
        return self._compute(key, compute, version=current)

    def _compute(self, key: Any, compute: Callable[[], Any], generation: int | None = None,
                 version: Any = None) -> tuple[Any, datetime]:
        """`generation`: the one the work was asked in (a refresh waits in the pool's
        queue, and a change made meanwhile must still win); `version`: the store's, read
        before computing (a change made during the computation makes it stale)."""
        with self._lock:
            if generation is None:
                generation = self._generation
        at = self.clock()
        value = compute()
        with self._lock:
            if generation == self._generation:  # no change was made meanwhile
                self.cache[key] = (at, value, version)
        return value, at

    def _refresh(self, key: Any, compute: Callable[[], Any],
                 version: Callable[[], Any] | None = None) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)
            generation = self._generation

        def work() -> None:
            try:
                self._compute(key, compute, generation,
                              version() if version is not None else None)
            except Exception:  # the stale value stays; the next request tries again
                log.exception("refreshing %s failed", key)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        self.in_store(work)

    def warm(self, *work: tuple[Any, ...]) -> None:
        """Compute these (key, compute[, version]) in the background now, so that the
        first visitor does not wait."""
        for key, compute, *version in work:
            self._refresh(key, compute, *version)

    def units(self) -> list[tuple[int, str]]:
        return list(self.cached("units", lambda: review.unit_choices(self.engine))[0])

    def outcomes(self) -> list[str]:
        return list(self.cached("outcomes", lambda: review.outcome_choices(self.engine))[0])

    def changed(self) -> None:
        """Something a report counts was changed here: cached rankings are stale."""
        with self._lock:
            self._generation += 1
            self.cache.clear()


# a missing static file: a page of its own (no script, nothing of /static/ named in it)
STATIC_MISSING = ('<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>未找到'
                  '</title></head><body><h1>未找到</h1><p>没有这个文件。</p><p><a href="/">返回首页'
                  '</a></p></body></html>').encode()


class _Page(resource.Resource):
    """A fixed page with its status (the static files' 404)."""

    isLeaf = True

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__()
        self.status, self.body = status, body

    def render(self, request: Any) -> bytes:
        request.setResponseCode(self.status)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self.body


def _info(request: Any) -> RequestInfo:
    headers = {k.decode("latin-1").lower(): v[-1].decode("latin-1")
               for k, v in request.requestHeaders.getAllRawHeaders()}
    body = request.content.read(MAX_BODY + 1) if request.content is not None else b""
    cookies: dict[str, str] = {}
    try:
        jar: SimpleCookie = SimpleCookie(headers.get("cookie", ""))
        cookies = {k: m.value for k, m in jar.items()}
    except CookieError:
        pass
    # the URL's own query only: twisted's request.args mixes in the POSTed form
    query = parse_qs(urlsplit(request.uri.decode("utf-8", "replace")).query)
    peer = request.getClientAddress()
    return RequestInfo(
        method=request.method.decode(), path=request.path.decode("utf-8", "replace"),
        query=query, form=parse_form(headers.get("content-type", ""), body)
        if len(body) <= MAX_BODY else {},
        headers=headers, cookies=cookies, address=getattr(peer, "host", "") or "",
        body=body)  # one byte over MAX_BODY at most: dispatch refuses it


def _write(response: Response, request: Any) -> bytes:
    request.setResponseCode(response.status)
    request.setHeader(b"content-type", response.content_type.encode())
    for name, value in response.headers:
        request.setHeader(name.encode(), value.encode("utf-8"))
    for value in response.cookies:
        request.responseHeaders.addRawHeader(b"set-cookie", value.encode())
    return response.body
