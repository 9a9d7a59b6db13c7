"""报告: the bulletins made on schedule (日报、周报、月报), listed with their files to
download, for leaders (查看者) and above.

A file is served only when the store lists it for that bulletin (the id and the format
pick it: no name comes from the request), from the bulletin kind's folder inside
`[bulletins] dir`, resolved and checked to lie inside it; byte ranges as for recordings."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from huifang.bulletins import kind_dir
from huifang.web.app import Ctx
from huifang.web.http import Response, page_number
from huifang.web.labels import BULLETIN_KINDS, BULLETIN_MAIL, BULLETIN_STATES, FILE_FORMATS
from huifang.web.review import UNSATISFIABLE, byte_range
from store import bulletins
from store.bulletins import BulletinKind, BulletinRow, BulletinState

log = logging.getLogger(__name__)
TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "pdf": "application/pdf", "json": "application/json; charset=utf-8",
         "html": "text/html; charset=utf-8"}
SAFE_NAME = re.compile(r"^(daily|weekly|monthly)-[0-9W-]{7,10}\.(xlsx|pdf|json|html)$")


@dataclass(frozen=True)
class FileLink:
    format: str
    label: str
    href: str
    size: str


@dataclass(frozen=True)
class BulletinView:
    id: int
    kind: str
    kind_label: str
    period: str
    state_label: str
    made_at: datetime | None
    files: tuple[FileLink, ...]
    note: str  # the failure in words, or where the files are
    mail_label: str


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def view(row: BulletinRow) -> BulletinView:
    files = tuple(FileLink(f.format, FILE_FORMATS.get(f.format, f.format),
                           f"/bulletins/{row.id}/{f.format}", _size(f.bytes))
                  for f in row.files) if row.state is BulletinState.MADE else ()
    note = ""
    if row.state is BulletinState.FAILED:
        note = f"生成失败，稍后自动重试：{row.error or '原因不明'}"
    if row.mail_state is not None and row.mail_error:
        note = (note + "；" if note else "") + f"邮件发送失败：{row.mail_error}"
    return BulletinView(row.id, str(row.kind), BULLETIN_KINDS[str(row.kind)], row.period,
                        BULLETIN_STATES[str(row.state)], row.made_at, files, note,
                        BULLETIN_MAIL[str(row.mail_state)] if row.mail_state else "不发送")


def bulletins_page(ctx: Ctx) -> Response:
    """The bulletins, the newest first, by kind if asked."""
    wanted = ctx.info.arg("kind")
    kind = BulletinKind(wanted) if wanted in {k.value for k in BulletinKind} else None
    size = ctx.web.settings.console.page_size
    page = page_number(ctx.info.arg("page"))
    rows, total = bulletins.listing(ctx.web.engine, kind=kind, limit=size,
                                    offset=(page - 1) * size)
    b = ctx.web.settings.bulletins
    return ctx.page("bulletins.html.j2", rows=[view(r) for r in rows], total=total,
                    kind=str(kind) if kind else "", kinds=BULLETIN_KINDS, page=page,
                    pages=max(1, -(-total // size)), enabled=b.enabled,
                    times={"daily": b.daily_at, "weekly": b.weekly_at,
                           "monthly": b.monthly_at})


def _missing(message: str) -> Response:
    return Response(404, message.encode(), "text/plain; charset=utf-8")


def bulletin_file(ctx: Ctx, bulletin_id: int, fmt: str) -> Response:
    """One file of a made bulletin, as the store lists it."""
    row = bulletins.bulletin(ctx.web.engine, bulletin_id)
    if row is None or row.state is not BulletinState.MADE:
        return _missing("没有这份报告。")
    listed = [f for f in row.files if f.format == fmt]
    if not listed or not SAFE_NAME.match(listed[0].name):
        return _missing("这份报告没有该格式的文件。")
    root = Path(ctx.web.settings.bulletins.dir).resolve()
    file = (kind_dir(root, row.kind) / listed[0].name).resolve()
    if not file.is_relative_to(root) or not file.is_file():
        log.warning("bulletin %s %s not served: %s is outside %s or missing (made on %s)",
                    row.id, fmt, file, root, row.host)
        return _missing(f"报告文件不在本机（生成于 {row.host}）或已被删除。")
    size = file.stat().st_size
    headers = [("Content-Disposition", f'attachment; filename="{file.name}"'),
               ("Accept-Ranges", "bytes")]
    wanted = byte_range(ctx.info.headers.get("range", ""), size)
    if wanted is None:
        return Response(200, file.read_bytes(), TYPES[fmt], headers=headers)
    if wanted is UNSATISFIABLE:
        return Response(416, "请求的范围超出文件。".encode(), "text/plain; charset=utf-8",
                        headers=[*headers, ("Content-Range", f"bytes */{size}")])
    start, end = wanted
    with file.open("rb") as handle:
        handle.seek(start)
        part = handle.read(end + 1 - start)
    return Response(206, part, TYPES[fmt], headers=[
        *headers, ("Content-Range", f"bytes {start}-{end}/{size}")])
