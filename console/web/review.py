"""The review queue, one call's detail, and the supervisor's actions on it."""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

from console.service import windows_of
from console.web.app import Ctx, Handler
from console.web.http import Response, redirect, with_query
from store import corrections, review
from store.audit import ReasonRequired
from store.enums import RESOLVED_LABELS, SATISFACTION_LABELS, Resolved, Satisfaction
from store.phones import mask_phone

log = logging.getLogger(__name__)
FILTERS = ("unit", "since", "until", "outcome", "category", "kind")
# actions that change what the reports count: computed rankings are stale after them
COUNTED = frozenset({"correct", "exclude", "reopen"})


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def queue_filter(ctx: Ctx) -> review.QueueFilter:
    a = ctx.info.arg
    unit = a("unit")
    return review.QueueFilter(
        unit_id=int(unit) if unit.isdigit() else None, since=_date(a("since")),
        until=_date(a("until")), outcome=a("outcome")[:40], category=a("category")[:100],
        kind=a("kind") if a("kind") in review.KIND_LABELS else "")


def _filter_args(ctx: Ctx) -> dict[str, str]:
    return {k: ctx.info.arg(k) for k in FILTERS if ctx.info.arg(k)}


def queue_page(ctx: Ctx) -> Response:
    f = queue_filter(ctx)
    size = ctx.web.settings.console.page_size
    page = max(1, int(ctx.info.arg("page", "1"))) if ctx.info.arg("page").isdigit() else 1
    q = review.queue(ctx.web.engine, f, limit=size, offset=(page - 1) * size)
    return ctx.page("queue.html.j2", queue=q, f=f, filters=_filter_args(ctx), page=page,
                    pages=max(1, -(-q.total // size)), kinds=review.KIND_LABELS,
                    units=ctx.web.units(), outcomes=ctx.web.outcomes())


def call_page(ctx: Ctx, callback_id: int, error: str = "", status: int = 200) -> Response:
    detail = review.call_detail(ctx.web.engine, callback_id)
    if detail is None:
        return ctx.page("error.html.j2", 404, title="未找到", message="没有这条回访任务。")
    before, after = review.neighbours(ctx.web.engine, queue_filter(ctx), callback_id)
    return ctx.page("call.html.j2", status, d=detail, kinds=review.KIND_LABELS,
                    resolved_labels=RESOLVED_LABELS, satisfaction_labels=SATISFACTION_LABELS,
                    filters=_filter_args(ctx), before=before, after=after, error=error,
                    ok=ctx.info.arg("ok"))


def _who(ctx: Ctx) -> corrections.Who:
    return corrections.Who(ctx.actor, ctx.info.field("reason"), ctx.now, ctx.info.address)


def _act(ctx: Ctx, callback_id: int, action: str, done: str) -> Response:
    """Run one action; back to the call with a note, or the call with the error."""
    try:
        found = review.ticket_of(ctx.web.engine, callback_id)
        if found is None:
            return ctx.page("error.html.j2", 404, title="未找到", message="没有这条回访任务。")
        ticket_no, phone = found
        masked = mask_phone(phone)
        who = _who(ctx)
        if action == "correct":
            resolved = Resolved(ctx.info.field("resolved"))
            satisfaction = Satisfaction(ctx.info.field("satisfaction"))
            corrections.correct_answer(ctx.web.engine, callback_id, resolved, satisfaction,
                                       who)
        elif action == "confirm":
            corrections.confirm_answer(ctx.web.engine, callback_id, who)
        elif action == "schedule":
            at = _schedule_time(ctx)
            corrections.schedule_call(ctx.web.engine, callback_id, at, who)
            done = f"已安排 {at:%Y-%m-%d %H:%M} 重新呼叫"
        elif action == "exclude":
            corrections.exclude_ticket(ctx.web.engine, ticket_no, who)
        elif action == "reopen":
            corrections.reopen_ticket(ctx.web.engine, ticket_no, who)
        elif action == "dnc":
            if not corrections.do_not_call(ctx.web.engine, ticket_no, who, masked):
                done = "该号码已在免打扰名单中"
        elif action == "reveal":
            phone = corrections.reveal_phone(ctx.web.engine, ticket_no, who, masked)
            log.info("%s revealed the number of ticket %s", ctx.actor, ticket_no)
            return ctx.page("revealed.html.j2", ticket_no=ticket_no, phone=phone,
                            back=f"/calls/{callback_id}")
    except ValueError as exc:  # a bad value, a missing reason, a refused correction
        message = "请填写原因。" if isinstance(exc, ReasonRequired) else str(exc)
        return call_page(ctx, callback_id, error=message, status=400)
    if action in COUNTED:
        ctx.web.changed()
    log.info("%s: %s on callback %s", ctx.actor, action, callback_id)
    return redirect(with_query(f"/calls/{callback_id}", ok=done, **_filter_args(ctx)))


def _schedule_time(ctx: Ctx) -> datetime:
    text = ctx.info.field("at")
    try:
        wanted = datetime.fromisoformat(text) if text else ctx.now
    except ValueError as exc:
        raise corrections.CorrectionError(f"时间格式不对: {text!r}") from exc
    wanted = max(wanted, ctx.now)
    at = windows_of(ctx.web.settings.campaign).earliest(wanted)
    if at is None:
        raise corrections.CorrectionError("该时间之后没有可呼叫的时段")
    return at


def action(name: str, done: str) -> Handler:
    def handler(ctx: Ctx, callback_id: int) -> Response:
        return _act(ctx, callback_id, name, done)
    handler.__name__ = f"action_{name}"
    return handler


def recording(ctx: Ctx, attempt_id: int) -> Response:
    """The stereo WAV of an attempt, only from inside the recordings directory."""
    path = review.recording_of(ctx.web.engine, attempt_id)
    root = Path(ctx.web.settings.campaign.recordings_dir).resolve()
    if not path:
        return Response(404, "没有录音 no recording".encode(), "text/plain; charset=utf-8")
    file = Path(path).resolve()
    if not file.is_relative_to(root) or not file.is_file():
        log.warning("recording of attempt %s not served: %s is outside %s or missing",
                    attempt_id, file, root)
        return Response(404, "录音文件不存在 recording missing".encode(),
                        "text/plain; charset=utf-8")
    size = file.stat().st_size
    headers = [("Content-Disposition", f'inline; filename="{file.name}"'),
               ("Accept-Ranges", "bytes")]
    wanted = byte_range(ctx.info.headers.get("range", ""), size)
    if wanted is None:
        return Response(200, file.read_bytes(), "audio/wav", headers=headers)
    start, end = wanted  # the player seeks (to the reason) by asking for a part
    with file.open("rb") as handle:
        handle.seek(start)
        part = handle.read(end + 1 - start)
    return Response(206, part, "audio/wav", headers=[
        *headers, ("Content-Range", f"bytes {start}-{end}/{size}")])


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The first range of a `Range: bytes=a-b` header, clipped to the file; None for
    anything else (then the whole file is sent)."""
    unit, _, spec = header.partition("=")
    first, _, last = spec.split(",")[0].strip().partition("-")
    if unit.strip() != "bytes" or not (first.isdigit() or last.isdigit()) or size == 0:
        return None
    if not first:  # the last N bytes
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last.isdigit() else size - 1
    return (start, end) if start <= end else None
