"""The review queue's bulk actions and its export.

A bulk action is the call page's action taken item by item with one reason: each item
in its own transaction with its own audit entry, each under the same rules (an item a
person has already settled is left alone and named; a refusal names its item and stops
nothing else). The export is the filtered queue, every page of it, through the export
helpers that keep a spreadsheet from running a cell as a formula, numbers masked."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from huifang.web.app import Ctx, Handler
from huifang.web.http import BadInput, Response, small_int
from huifang.web.labels import actor, label, refusal
from huifang.web.review import _filter_args, _schedule_time, queue_filter, queue_page
from store import corrections, review
from store.phones import mask_phone
from store.tablefiles import TableWriter, inert

log = logging.getLogger(__name__)
MAX_BULK = 200  # items in one bulk action: a page of the queue and more
MAX_EXPORT = 100_000  # rows in one export
BATCH = 1000
BULK = {"confirm": "批量确认机器答复", "schedule": "批量重新呼叫"}
HEADERS = ["复核原因", "工单编号", "承办单位", "诉求分类", "诉求摘要", "号码",
           "解决情况（机器答复）", "满意度（机器答复）", "办结时间", "回访截止", "呼叫次数",
           "最后结果", "更新时间"]
TYPES = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@dataclass(frozen=True)
class BulkResult:
    callback_id: int
    ticket_no: str
    done: bool
    message: str


def bulk(ctx: Ctx) -> Response:
    do = ctx.info.field("do")
    if do not in BULK:
        raise BadInput("批量操作无效：只能批量确认机器答复或批量重新呼叫。")
    ids = list(dict.fromkeys(i for i in map(small_int, ctx.info.form.get("ids", []))
                             if i is not None))
    reason = ctx.info.field("reason")
    if not ids:
        return queue_page(ctx, "请先勾选要处理的回访。", 400)
    if len(ids) > MAX_BULK:
        return queue_page(ctx, f"一次最多批量处理 {MAX_BULK} 条。", 400)
    if not reason:
        return queue_page(ctx, "请填写原因。", 400)
    try:
        at = _schedule_time(ctx) if do == "schedule" else None
    except ValueError as exc:
        return queue_page(ctx, refusal(str(exc)), 400)
    results = [_one(ctx, cid, do, reason, at) for cid in ids]
    log.info("%s: bulk %s on %d callbacks, %d done", ctx.actor, do, len(ids),
             sum(r.done for r in results))
    return ctx.page("bulk.html.j2", title=BULK[do], results=results, reason=reason,
                    done=sum(r.done for r in results), filters=_filter_args(ctx))


def _one(ctx: Ctx, callback_id: int, do: str, reason: str, at: datetime | None
         ) -> BulkResult:
    engine = ctx.web.engine
    found = review.ticket_of(engine, callback_id)
    if found is None:
        return BulkResult(callback_id, "", False, "没有这条回访任务。")
    ticket_no = found[0]
    who = corrections.Who(ctx.actor, reason, ctx.now, ctx.info.address)
    # a colleague's work is never overwritten in bulk: the store refuses a settled item
    # in the same transaction as the change
    guard = corrections.Unsettled(callback_id)
    try:
        if do == "confirm":
            corrections.confirm_answer(engine, callback_id, who, guard=guard, bulk=True)
            return BulkResult(callback_id, ticket_no, True, "已确认机器答复。")
        assert at is not None
        corrections.schedule_call(engine, callback_id, at, who, guard=guard)
        return BulkResult(callback_id, ticket_no, True, f"已安排 {at:%Y-%m-%d %H:%M} 重新呼叫。")
    except corrections.AlreadySettled as exc:
        return BulkResult(callback_id, ticket_no, False,
                          f"已由 {actor(exc.by)} 于 {exc.at:%Y-%m-%d %H:%M} 处理，未改动"
                          "（如需改动，请在该条页面“再次处理”）。")
    except ValueError as exc:
        return BulkResult(callback_id, ticket_no, False, refusal(str(exc)))


def _row(item: review.QueueItem) -> list[object]:
    def answer(code: str | None) -> str:
        return "" if code in (None, "unknown") else label(code)

    return [inert(v) for v in (
        review.KIND_LABELS.get(item.kind, item.kind), item.ticket_no, item.unit,
        item.category or "", item.summary or "", mask_phone(item.phone),
        answer(item.resolved), answer(item.satisfaction), item.closed_at,
        item.deadline_at or "", item.attempts, label(item.last_outcome) or "", item.updated_at)]


def export(kind: str) -> Handler:
    def handler(ctx: Ctx) -> Response:
        f = queue_filter(ctx)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"queue-{ctx.now:%Y%m%d-%H%M}.{kind}"
            with TableWriter(path, HEADERS) as writer:
                for offset in range(0, MAX_EXPORT, BATCH):
                    items = review.queue(ctx.web.engine, f, limit=BATCH, offset=offset).items
                    for item in items:
                        writer.write(_row(item))
                    if len(items) < BATCH:
                        break
            body = path.read_bytes()
        return Response(200, body, TYPES[kind], headers=[
            ("Content-Disposition", f'attachment; filename="{path.name}"')])
    handler.__name__ = f"queue_{kind}"
    return handler
