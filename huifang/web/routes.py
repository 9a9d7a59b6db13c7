"""Every URL of the console, with the role it needs, and the site that serves them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from twisted.web.server import Site

from huifang.config import Settings
from huifang.web import api, bulletins, citizen, login, pages, queue, reasons, review, spotchecks
from huifang.web.admin import ROUTES as ADMIN_ROUTES
from huifang.web.app import ConsoleWeb, InStore, Route, console_request
from scoring.periods import parse_period
from store.enums import Role

V, S, A = Role.VIEWER, Role.SUPERVISOR, Role.ADMIN


ROUTES = [
    Route("GET", "/login", login.login_form, None),
    Route("POST", "/login", login.login, None),
    Route("POST", "/logout", login.logout, V),
    Route("GET", "/", login.home, V),
    Route("GET", "/queue", review.queue_page, V),
    Route("GET", "/queue.csv", queue.export("csv"), V),
    Route("GET", "/queue.xlsx", queue.export("xlsx"), V),
    Route("POST", "/queue/bulk", queue.bulk, S),
    Route("GET", "/calls/<int:callback_id>", review.call_page, V),
    Route("GET", "/recordings/<int:attempt_id>", review.recording, S),
    Route("GET", "/reasons", reasons.reasons_page, S),
    *(Route("POST", f"/calls/<int:callback_id>/{name}", review.action(name), S)
      for name in ("correct", "confirm", "schedule", "exclude", "reopen", "dnc", "reveal")),
    Route("GET", "/spot-checks", spotchecks.list_page, S),  # 抽检
    Route("GET", "/spot-checks/<int:spot_id>", spotchecks.check_page, S),
    Route("POST", "/spot-checks/<int:spot_id>/check", spotchecks.submit, S),
    Route("GET", "/dashboard", pages.dashboard, V),
    Route("POST", "/campaign/pause", pages.campaign_switch(True), A),
    Route("POST", "/campaign/resume", pages.campaign_switch(False), A),
    Route("GET", "/rankings", pages.rankings, V),
    Route("GET", "/rankings/chart.png", pages.chart, V),
    Route("GET", "/rankings/report.xlsx", pages.download("xlsx"), V),
    Route("GET", "/rankings/report.pdf", pages.download("pdf"), V),
    Route("GET", "/bulletins", bulletins.bulletins_page, V),  # 报告: leaders and above
    Route("GET", "/bulletins/<int:bulletin_id>/<fmt>", bulletins.bulletin_file, V),
    Route("GET", "/tickets", pages.tickets, V),
    Route("GET", "/tickets/<ticket_no>", pages.ticket_page, V),
    Route("GET", "/tickets/<ticket_no>/citizen", citizen.citizen_page, S),  # 来电人画像
    Route("POST", "/tickets/<ticket_no>/citizen/reveal", citizen.reveal, S),
    Route("GET", "/audit", pages.audit_page, V),
    Route("GET", "/audit.csv", pages.audit_csv, V),
    Route("GET", "/dnc", pages.dnc_page, V),
    Route("POST", "/dnc/remove", pages.dnc_remove, S),
    Route("GET", "/api/openapi.json", api.openapi, None),
    Route("POST", "/api/v1/closures", api.closures, None),
    Route("POST", "/api/v1/reopenings", api.reopenings, None),
    Route("GET", "/api/v1/tickets/<ticket_no>", api.ticket, None),
    Route("GET", "/api/v1/tickets/<ticket_no>/evaluations", api.evaluations, None),
    *ADMIN_ROUTES,  # accounts and API tokens (admins)
]


def console_site(engine: Engine, settings: Settings, clock: Callable[[], datetime],
                 in_store: InStore) -> tuple[ConsoleWeb, Any]:
    web = ConsoleWeb(engine, settings, clock, ROUTES, in_store)
    this_month = parse_period(f"{clock():%Y-%m}")
    web.warm(pages.report_job(web, this_month), pages.report_job(web, this_month.previous()))
    site = Site(web.resource(), requestFactory=console_request(web.secure))
    site.displayTracebacks = False
    return web, site
