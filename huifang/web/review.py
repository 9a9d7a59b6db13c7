"""The review queue, one call's detail, and the supervisor's actions on it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from huifang.service import windows_of
from huifang.web import reasons
from huifang.web.app import Ctx, Handler
from huifang.web.http import (
    FIRST_YEAR,
    LAST_YEAR,
    BadInput,
    Response,
    day,
    page_number,
    redirect,
    small_int,
    with_query,
)
from huifang.web.labels import QUESTIONS, phrase, refusal
from store import corrections, retention, review
from store.audit import ReasonRequired
from store.enums import RESOLVED_LABELS, SATISFACTION_LABELS, Resolved, Satisfaction
from store.phones import mask_phone

log = logging.getLogger(__name__)
FILTERS = ("unit", "since", "until", "outcome", "category", "kind")
# actions that change what the reports count: computed rankings are stale after them
COUNTED = frozenset({"correct", "exclude", "reopen"})
# actions that settle an item: on an item a person has settled, only with an explicit
# 再次处理 (`again=1`), so that nobody overwrites a colleague's work without knowing
SETTLING = frozenset({"correct", "confirm", "schedule", "exclude", "reopen", "dnc"})
# actions that cannot be taken back from the call page: a confirmation step first
CONFIRMED = {"exclude": ("剔除工单", "剔除后该工单不计入两率和排名，它待呼叫的回访全部取消。"),
             "reopen": ("退回重办", "工单退回承办单位重新办理，再次办结后重新回访。"),
             "dnc": ("加入免打扰", "该号码加入免打扰名单，不再呼叫；它待呼叫的回访全部取消。")}


def _date(text: str) -> date | None:
    return day(text)


def queue_filter(ctx: Ctx) -> review.QueueFilter:
    a = ctx.info.arg
    unit = a("unit")
    return review.QueueFilter(
        unit_id=small_int(unit), since=_date(a("since")),
        until=_date(a("until")), outcome=a("outcome")[:40], category=a("category")[:100],
        kind=a("kind") if a("kind") in review.KIND_LABELS else "")


def _filter_args(ctx: Ctx) -> dict[str, str]:
    return {k: ctx.info.arg(k) for k in FILTERS if ctx.info.arg(k)}


def queue_page(ctx: Ctx, error: str = "", status: int = 200) -> Response:
    f = queue_filter(ctx)
    size = ctx.web.settings.console.page_size
    page = page_number(ctx.info.arg("page"))
    q = review.queue(ctx.web.engine, f, limit=size, offset=(page - 1) * size)
    return ctx.page("queue.html.j2", status, queue=q, f=f, filters=_filter_args(ctx), page=page,
                    ok=ctx.info.arg("ok"), error=error,
                    pages=max(1, -(-q.total // size)), kinds=review.KIND_LABELS,
                    units=ctx.web.units(), outcomes=ctx.web.outcomes(),
                    reasons=reasons.of_queue(ctx, [i.callback_id for i in q.items]))


@dataclass(frozen=True)
class TurnRow:
    """One line of a call's turn table: a question's answer with what was heard for it
    (the dialer writes what it heard and then the answer it took: one line, not two)."""

    question: str  # in Chinese; "" when the question goes on (a second try)
    heard: str
    confidence: float
    source: str
    intent: str
    seek: float | None = None  # where what was heard starts in the recording


def turn_rows(turns: list[review.Turn]) -> list[TurnRow]:
    rows: list[TurnRow] = []
    heard: review.Turn | None = None  # what was heard, until its answer comes
    last = ""

    def add(question: str, text: str, confidence: float, source: str, intent: str,
            seek: float | None = None) -> None:
        nonlocal last
        shown = "" if question == last else QUESTIONS.get(question, question)
        rows.append(TurnRow(shown or ("（再次询问）" if rows else ""), text, confidence,
                            source, intent, seek))
        last = question

    def add_heard(h: review.Turn) -> None:  # heard, and no answer taken from it
        add(h.question, phrase(h.heard), h.confidence, h.source, h.intent, h.from_s)

    for t in turns:
        if t.source.startswith("heard:"):
            if heard is not None:  # heard, and asked again: no answer was taken from it
                add_heard(heard)
            heard = t
            continue
        if heard is not None and heard.question == t.question:
            said = phrase(heard.heard)
            note = phrase(t.heard) if t.heard and t.heard != heard.heard else ""
            add(t.question, f"{said}（{note}）" if said and note else said or note,
                t.confidence, heard.source if t.source == "none" else t.source, t.intent,
                heard.from_s)
            heard = None
            continue
        if heard is not None:
            add_heard(heard)
            heard = None
        add(t.question, phrase(t.heard), t.confidence, t.source, t.intent)
    if heard is not None:
        add_heard(heard)
    return rows


def _position(ctx: Ctx) -> datetime | None:
    """`pos=`: the place an item had in the queue before it was settled (a link from the
    banner after an action carries it), so that 上一条/下一条 keep it."""
    text = ctx.info.arg("pos")
    try:
        at = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    return at if at is not None and FIRST_YEAR <= at.year <= LAST_YEAR else None


def call_page(ctx: Ctx, callback_id: int, error: str = "", status: int = 200) -> Response:
    engine = ctx.web.engine
    detail = review.call_detail(engine, callback_id)
    if detail is None:
        return ctx.page("error.html.j2", 404, title="未找到", message="没有这条回访任务。")
    f = queue_filter(ctx)
    pos = _position(ctx)
    if detail.in_queue or pos is not None:
        before, after = review.neighbours(engine, f, callback_id, pos)
    else:  # settled, its old place unknown: the queue's first item is the next to do
        before, after = None, _first(ctx, f, callback_id)
    done = small_int(ctx.info.arg("done"))
    settled = review.ticket_of(engine, done) if done is not None else None
    return ctx.page("call.html.j2", status, d=detail, kinds=review.KIND_LABELS,
                    resolved_labels=RESOLVED_LABELS, satisfaction_labels=SATISFACTION_LABELS,
                    filters=_filter_args(ctx), before=before, after=after, error=error,
                    ok=ctx.info.arg("ok"), rows={a.id: turn_rows(a.turns) for a in
                                                 detail.attempts},
                    done=(done, settled[0], ctx.info.arg("was")) if settled else None,
                    form=ctx.info.form if error else {}, reasons=reasons.of_call(ctx, detail))


def _first(ctx: Ctx, f: review.QueueFilter, but: int) -> int | None:
    items = review.queue(ctx.web.engine, f, limit=2).items
    return next((i.callback_id for i in items if i.callback_id != but), None)


def _who(ctx: Ctx) -> corrections.Who:
    return corrections.Who(ctx.actor, ctx.info.field("reason"), ctx.now, ctx.info.address)


def _guard(ctx: Ctx, callback_id: int) -> corrections.Unsettled:
    """The 再次处理 rule, for the store to check in the action's own transaction: `again`
    says the person knows the item is settled, `seen` which settlement their page showed
    (a 再次处理 over a settlement made after it is refused too)."""
    again = ctx.info.field("again") == "1"
    at, _, by = ctx.info.field("seen").partition("|")
    try:
        seen = (by, datetime.fromisoformat(at)) if again and at else None
    except ValueError:
        seen = None
    return corrections.Unsettled(callback_id, again, seen)


def _settled_error(by: str, at: datetime, again: bool) -> str:
    if again:
        return (f"该条在你打开页面之后已由 {by} 于 {at:%Y-%m-%d %H:%M} 再次处理，未改动。"
                f"请先查看最新的处理，如仍需改动，再点开“再次处理”并填写原因。")
    return (f"该条已由 {by} 于 {at:%Y-%m-%d %H:%M} 处理。如需再次处理，请点开“再次处理”"
            f"并填写原因。")


def _confirm_page(ctx: Ctx, callback_id: int, action: str, ticket_no: str,
                  masked: str) -> Response:
    title, what = CONFIRMED[action]
    return ctx.page("confirm.html.j2", title=title, what=what, ticket_no=ticket_no,
                    masked=masked, action=action, callback_id=callback_id,
                    reason=ctx.info.field("reason"), again=ctx.info.field("again"),
                    seen=ctx.info.field("seen"), filters=_filter_args(ctx))


def _act(ctx: Ctx, callback_id: int, action: str) -> Response:
    """Run one action, then open the next item of the same filtered queue (or the
    queue, when none is left); on a refusal, the call again with the error."""
    engine = ctx.web.engine
    ok, extra = action, {}
    guard = _guard(ctx, callback_id)
    try:
        found = review.ticket_of(engine, callback_id)
        if found is None:
            return ctx.page("error.html.j2", 404, title="未找到", message="没有这条回访任务。")
        ticket_no, phone = found
        masked = mask_phone(phone)
        # only so that a settled item shows no confirmation step: the rule itself is
        # checked by the store, in the same transaction as the change (`guard`)
        settled = review.reviewed(engine, callback_id) if action in SETTLING else None
        if settled is not None and not guard.again:
            return call_page(ctx, callback_id, status=409, error=_settled_error(*settled, False))
        who = _who(ctx)
        if not who.reason.strip():
            raise ReasonRequired("a reason is required")
        if action in CONFIRMED and ctx.info.field("confirmed") != "1":
            return _confirm_page(ctx, callback_id, action, ticket_no, masked)
        here = review.position(engine, callback_id)  # before the action moves it
        if action == "correct":
            try:
                resolved = Resolved(ctx.info.field("resolved"))
                satisfaction = Satisfaction(ctx.info.field("satisfaction"))
            except ValueError:
                return call_page(ctx, callback_id, status=400,
                                 error="解决情况或满意度的取值无效：请从列表中选择，两项都要选。")
            corrections.correct_answer(engine, callback_id, resolved, satisfaction, who,
                                       guard=guard)
        elif action == "confirm":
            corrections.confirm_answer(engine, callback_id, who, guard=guard)
        elif action == "schedule":
            at = _schedule_time(ctx)
            corrections.schedule_call(engine, callback_id, at, who, guard=guard)
            extra["at"] = f"{at:%Y-%m-%dT%H:%M}"
        elif action == "exclude":
            corrections.exclude_ticket(engine, ticket_no, who, guard=guard)
        elif action == "reopen":
            corrections.reopen_ticket(engine, ticket_no, who, guard=guard)
        elif action == "dnc":
            if not corrections.do_not_call(engine, ticket_no, who, masked, guard=guard):
                return redirect(with_query(f"/calls/{callback_id}", ok="dnc_listed",
                                           **_filter_args(ctx)))
        elif action == "reveal":
            phone = corrections.reveal_phone(engine, ticket_no, who, masked)
            log.info("%s revealed the number of ticket %s", ctx.actor, ticket_no)
            return ctx.page("revealed.html.j2", ticket_no=ticket_no, phone=phone,
                            back=f"/calls/{callback_id}")
    except BadInput:
        raise
    except corrections.AlreadySettled as exc:  # settled meanwhile, found in the write
        return call_page(ctx, callback_id, status=409,
                         error=_settled_error(exc.by, exc.at, guard.again))
    except ValueError as exc:  # a missing reason, a refused correction
        message = "请填写原因。" if isinstance(exc, ReasonRequired) else refusal(str(exc))
        return call_page(ctx, callback_id, error=message, status=400)
    if action in COUNTED:
        ctx.web.changed()
    log.info("%s: %s on callback %s", ctx.actor, action, callback_id)
    return redirect(_next_item(ctx, callback_id, here, ok=ok, **extra))


def _next_item(ctx: Ctx, callback_id: int, here: datetime | None, **banner: Any) -> str:
    """Where the supervisor goes after settling an item: the item after it in the same
    filtered queue, else the queue's first (the older ones left), else the queue."""
    f = queue_filter(ctx)
    _, after = review.neighbours(ctx.web.engine, f, callback_id, here)
    after = after or _first(ctx, f, callback_id)
    filters = _filter_args(ctx)
    if after is None:
        return with_query("/queue", **banner, **filters)
    was = f"{here:%Y-%m-%dT%H:%M:%S.%f}" if here is not None else ""
    return with_query(f"/calls/{after}", **banner, done=callback_id, was=was, **filters)


def _schedule_time(ctx: Ctx) -> datetime:
    text = ctx.info.field("at")
    try:
        wanted = datetime.fromisoformat(text) if text else ctx.now
    except ValueError as exc:
        raise corrections.CorrectionError("时间格式不对，应为 YYYY-MM-DD HH:MM。") from exc
    if not FIRST_YEAR <= wanted.year <= LAST_YEAR:
        raise corrections.CorrectionError(f"时间应在 {FIRST_YEAR} 至 {LAST_YEAR} 年之间。")
    wanted = max(wanted, ctx.now)
    at = windows_of(ctx.web.settings.campaign).earliest(wanted)
    if at is None:
        raise corrections.CorrectionError("该时间之后没有可呼叫的时段")
    return at


def action(name: str) -> Handler:
    def handler(ctx: Ctx, callback_id: int) -> Response:
        return _act(ctx, callback_id, name)
    handler.__name__ = f"action_{name}"
    return handler


def recording(ctx: Ctx, attempt_id: int) -> Response:
    """The stereo WAV of an attempt, only from inside the recordings directory."""
    path = review.recording_of(ctx.web.engine, attempt_id)
    deleted = retention.deleted_at(ctx.web.engine, attempt_id)
    if deleted is not None:  # the path is kept; the file went with its retention
        return Response(410, f"录音已按保留期限删除（{deleted:%Y-%m-%d}）".encode(),
                        "text/plain; charset=utf-8")
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
    if wanted is UNSATISFIABLE:
        return Response(416, "请求的范围超出录音文件。".encode(), "text/plain; charset=utf-8",
                        headers=[*headers, ("Content-Range", f"bytes */{size}")])
    start, end = wanted  # the player seeks (to the reason) by asking for a part
    with file.open("rb") as handle:
        handle.seek(start)
        part = handle.read(end + 1 - start)
    return Response(206, part, "audio/wav", headers=[
        *headers, ("Content-Range", f"bytes {start}-{end}/{size}")])


UNSATISFIABLE = (-1, -1)


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The first range of a `Range: bytes=a-b` header, clipped to the file; None for a
    header that is absent or not a valid range (then the whole file is sent, RFC 9110
    §14.2); `UNSATISFIABLE` for a valid one that asks for nothing of the file (a start
    past its end, `bytes=-0`, any range of an empty file): a 416."""
    unit, _, spec = header.partition("=")
    first, _, last = spec.split(",")[0].strip().partition("-")
    digits = (first == "" or (first.isascii() and first.isdigit())) and (
        last == "" or (last.isascii() and last.isdigit()))
    if unit.strip() != "bytes" or not digits or not (first or last):
        return None
    if not first:  # the last N bytes
        return (size - min(int(last), size), size - 1) if int(last) and size else \
            UNSATISFIABLE
    start = int(first)
    if last and int(last) < start:
        return None  # not a valid range: ignored
    if start >= size:
        return UNSATISFIABLE
    end = min(int(last), size - 1) if last else size - 1
    return start, end
