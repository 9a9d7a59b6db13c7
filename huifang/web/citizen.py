"""来电人画像: one citizen's tickets, answers, calls and reasons on one page, reached from
any of their tickets (`/tickets/<ticket_no>/citizen`). The number is masked, and so is
any number said in a reason; the full number only through 查看完整号码, with a reason, in
the audit log."""

from __future__ import annotations

import logging

from huifang.web.app import Ctx
from huifang.web.http import Response
from scoring.reasons import shown
from store import corrections
from store.audit import ReasonRequired
from store.citizen import REPEAT_DAYS, citizen_of
from store.phones import mask_phone

log = logging.getLogger(__name__)


def citizen_page(ctx: Ctx, ticket_no: str, error: str = "", status: int = 200) -> Response:
    found = citizen_of(ctx.web.engine, ticket_no, ctx.now)
    if found is None:
        return ctx.page("error.html.j2", 404, title="未找到", message="没有这张工单。")
    return ctx.page("citizen.html.j2", status, c=found, ticket_no=ticket_no,
                    masked=mask_phone(found.phone), shown=shown, repeat_days=REPEAT_DAYS,
                    error=error)


def reveal(ctx: Ctx, ticket_no: str) -> Response:
    found = citizen_of(ctx.web.engine, ticket_no, ctx.now)
    if found is None:
        return ctx.page("error.html.j2", 404, title="未找到", message="没有这张工单。")
    who = corrections.Who(ctx.actor, ctx.info.field("reason"), ctx.now, ctx.info.address)
    try:
        phone = corrections.reveal_phone(ctx.web.engine, ticket_no, who,
                                         mask_phone(found.phone))
    except ReasonRequired:
        return citizen_page(ctx, ticket_no, error="请填写原因。", status=400)
    log.info("%s revealed the number of ticket %s (citizen page)", ctx.actor, ticket_no)
    return ctx.page("revealed.html.j2", ticket_no=ticket_no, phone=phone,
                    back=f"/tickets/{ticket_no}/citizen")
