"""Every URL of the console, with the role it needs, and the site that serves them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from twisted.web.server import Site

from console.config import Settings
from console.web import api, login, pages, review
from console.web.app import ConsoleWeb, Route
from scoring.periods import parse_period
from store.enums import Role

V, S, A = Role.VIEWER, Role.SUPERVISOR, Role.ADMIN


ROUTES = [
    Route("GET", "/login", login.login_form, None),
    Route("POST", "/login", login.login, None),
    Route("POST", "/logout", login.logout, V),
    Route("GET", "/", login.home, V),
    Route("GET", "/queue", review.queue_page, V),
    Route("GET", "/calls/<int:callback_id>", review.call_page, V),
    Route("GET", "/recordings/<int:attempt_id>", review.recording, S),
    *(Route("POST", f"/calls/<int:callback_id>/{name}", review.action(name, done), S)
      for name, done in (("correct", "已修正答复"), ("confirm", "已确认答复"),
                         ("schedule", "已安排重新呼叫"), ("exclude", "已剔除工单"),
                         ("reopen", "已退回重办"), ("dnc", "已加入免打扰名单"),
                         ("reveal", ""))),
    Route("GET", "/dashboard", pages.dashboard, V),
    Route("POST", "/campaign/pause", pages.campaign_switch(True), A),
    Route("POST", "/campaign/resume", pages.campaign_switch(False), A),
    Route("GET", "/rankings", pages.rankings, V),
    Route("GET", "/rankings/chart.png", pages.chart, V),
    Route("GET", "/rankings/report.xlsx", pages.download("xlsx"), V),
    Route("GET", "/rankings/report.pdf", pages.download("pdf"), V),
    Route("GET", "/tickets", pages.tickets, V),
    Route("GET", "/tickets/<ticket_no>", pages.ticket_page, V),
    Route("GET", "/audit", pages.audit_page, V),
    Route("GET", "/audit.csv", pages.audit_csv, V),
    Route("GET", "/dnc", pages.dnc_page, V),
    Route("POST", "/dnc/remove", pages.dnc_remove, S),
    Route("GET", "/api/openapi.json", api.openapi, None),
    Route("POST", "/api/v1/closures", api.closures, None),
    Route("POST", "/api/v1/reopenings", api.reopenings, None),
    Route("GET", "/api/v1/tickets/<ticket_no>", api.ticket, None),
    Route("GET", "/api/v1/tickets/<ticket_no>/evaluations", api.evaluations, None),
]


def console_site(engine: Engine, settings: Settings, clock: Callable[[], datetime]
                 ) -> tuple[ConsoleWeb, Any]:
    web = ConsoleWeb(engine, settings, clock, ROUTES)
    this_month = parse_period(f"{clock():%Y-%m}")
    web.warm(pages.report_job(web, this_month), pages.report_job(web, this_month.previous()))
    site = Site(web.resource())
    site.displayTracebacks = False
    return web, site


def listen_console(reactor: Any, engine: Engine, settings: Settings,
                   clock: Callable[[], datetime], address: str | None = None
                   ) -> tuple[ConsoleWeb, Any]:
    """Serve the console on host:port (settings.console.bind unless given)."""
    host, _, port = (address or settings.console.bind).rpartition(":")
    web, site = console_site(engine, settings, clock)
    return web, reactor.listenTCP(int(port), site, interface=host)
