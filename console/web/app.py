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
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from klein import Klein
from sqlalchemy import Engine, exc
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from console.config import Settings
from console.web import auth
from console.web.http import RequestInfo, Response, cookie, parse_form, redirect, with_query
from console.web.labels import label
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


@dataclass(frozen=True)
class Ctx:
    """One request as a handler sees it."""

    web: ConsoleWeb
    info: RequestInfo
    user: accounts.Account | None
    csrf: str
    now: datetime

    def page(self, template: str, status: int = 200, **values: Any) -> Response:
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


class ConsoleWeb:
    def __init__(self, engine: Engine, settings: Settings, clock: Callable[[], datetime],
                 routes: list[Route]) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        c = settings.console
        self.idle = timedelta(minutes=c.session_idle_minutes)
        self.lifetime = timedelta(hours=c.session_max_hours)
        self.limiter = auth.LoginLimiter(c.login_max_failures,
                                         timedelta(minutes=c.login_lockout_minutes), clock)
        self.key = accounts.signing_key(engine, clock())
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                                     autoescape=select_autoescape(["html", "j2"]),
                                     trim_blocks=True, lstrip_blocks=True)
        self.templates.filters["masked"] = mask_phone
        self.templates.filters["label"] = label
        self.templates.filters["dt"] = lambda v, f="%Y-%m-%d %H:%M": v.strftime(f) if v else ""
        self.cache: dict[Any, tuple[datetime, Any]] = {}
        self._lock = threading.Lock()
        self._refreshing: set[Any] = set()
        self._generation = 0
        self.klein = Klein()
        for route in routes:
            self._add(route)
        self.klein.route("/static/", branch=True)(self._static)

    # -- plumbing ----------------------------------------------------------------------
    def resource(self) -> Any:
        return self.klein.resource()

    def _static(self, request: Any) -> Any:
        from twisted.web.static import File  # noqa: PLC0415

        return File(str(HERE / "static"))

    def _add(self, route: Route) -> None:
        def endpoint(request: Any, **params: Any) -> Any:
            info = _info(request)
            d = deferToThread(self.dispatch, route, info, params)
            d.addCallback(_write, request)
            d.addErrback(self._failed, request, info)
            return d

        endpoint.__name__ = f"{route.method}_{route.path}"
        self.klein.route(route.path, methods=[route.method], endpoint=endpoint.__name__
                         )(endpoint)

    def _failed(self, failure: Failure, request: Any, info: RequestInfo) -> bytes:
        log.error("%s %s failed: %s", info.method, info.path, failure.getTraceback())
        request.setResponseCode(500)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return "内部错误 internal error; see the service log".encode()

    def dispatch(self, route: Route, info: RequestInfo, params: dict[str, Any]) -> Response:
        """Authenticate, authorise, check CSRF, run the handler. In a worker thread."""
        started = time.perf_counter()
        try:
            if len(info.body) > MAX_BODY:
                response = Response(413, f"请求过大 the body is over {MAX_BODY} bytes".encode(),
                                    "text/plain; charset=utf-8")
            else:
                response = self._gated(route, info, params, self.clock())
        except (StoreError, exc.DBAPIError) as error:
            # the database went away (a restart, a failover, a locked SQLite file): say
            # so; a change that was being made was not made, and the page can be retried
            text = str(error) if isinstance(error, StoreError) else describe_db_error(
                error, str(self.engine.url))
            log.error("%s %s: %s", info.method, info.path, text)
            response = Response(503, f"数据库暂时不可用，请稍后重试。the database is "
                                f"unavailable: {text}".encode(), "text/plain; charset=utf-8",
                                headers=[("Retry-After", "5")])
        elapsed = 1000 * (time.perf_counter() - started)
        response.headers += [("Server-Timing", f"app;dur={elapsed:.1f}"),
                             ("X-Content-Type-Options", "nosniff"),
                             ("X-Frame-Options", "DENY"),
                             ("Referrer-Policy", "same-origin"),
                             ("Cache-Control", "no-store")]
        return response

    def _gated(self, route: Route, info: RequestInfo, params: dict[str, Any],
               now: datetime) -> Response:
        user, csrf = self._session(info, now)
        ctx = Ctx(self, info, user, csrf, now)
        if route.role is None:
            return route.handler(ctx, **params)
        if user is None:
            return redirect(with_query("/login", next=info.path) if info.method == "GET"
                            else "/login")
        if RANK[user.role] < RANK[route.role]:
            return ctx.page("error.html.j2", 403, title="无权限",
                            message="您的角色无权进行此操作。")
        if info.method == "POST" and not auth.same(info.field("csrf"), csrf):
            return ctx.page("error.html.j2", 403, title="请求已失效",
                            message="表单令牌无效（CSRF），请返回页面刷新后重试。")
        return route.handler(ctx, **params)

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

    def cached(self, key: Any, compute: Callable[[], Any]) -> tuple[Any, datetime]:
        """A value and when it was computed. Younger than `rankings_cache_s`: as it is;
        older: as it is, while a worker thread computes it anew; never computed (or
        invalidated by `changed`): computed now."""
        ttl = timedelta(seconds=self.settings.console.rankings_cache_s)
        with self._lock:
            hit = self.cache.get(key)
        if hit is not None:
            if self.clock() - hit[0] >= ttl:
                self._refresh(key, compute)
            return hit[1], hit[0]
        return self._compute(key, compute)

    def _compute(self, key: Any, compute: Callable[[], Any]) -> tuple[Any, datetime]:
        with self._lock:
            generation = self._generation
        at = self.clock()
        value = compute()
        with self._lock:
            if generation == self._generation:  # no change was made meanwhile
                self.cache[key] = (at, value)
        return value, at

    def _refresh(self, key: Any, compute: Callable[[], Any]) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def work() -> None:
            try:
                self._compute(key, compute)
            except Exception:  # the stale value stays; the next request tries again
                log.exception("refreshing %s failed", key)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        threading.Thread(target=work, name=f"refresh {key}", daemon=True).start()

    def warm(self, *work: tuple[Any, Callable[[], Any]]) -> None:
        """Compute these in the background now, so that the first visitor does not wait."""
        for key, compute in work:
            self._refresh(key, compute)

    def units(self) -> list[tuple[int, str]]:
        return list(self.cached("units", lambda: review.unit_choices(self.engine))[0])

    def outcomes(self) -> list[str]:
        return list(self.cached("outcomes", lambda: review.outcome_choices(self.engine))[0])

    def changed(self) -> None:
        """Something a report counts was changed here: cached rankings are stale."""
        with self._lock:
            self._generation += 1
            self.cache.clear()


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
