"""Canonical column names of each import kind and the Chinese headers real exports use."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    aliases: tuple[str, ...]
    required: bool = False
    label: str = ""


def _c(name: str, label: str, *aliases: str, required: bool = False) -> Column:
    return Column(name=name, aliases=(label, *aliases), required=required, label=label)


UNIT_COLUMNS = (
    _c("name", "单位名称", "承办单位", "单位", required=True),
    _c("parent", "上级单位", "所属单位", "上级"),
    _c("group", "考核分组", "分组", "排名分组"),
    _c("kind", "单位类型", "类型", "层级"),
    _c("code", "单位编码", "编码"),
)

TICKET_COLUMNS = (
    _c("ticket_no", "工单编号", "工单号", "工单编码", required=True),
    _c("unit", "承办单位", "主办单位", "责任单位", required=True),
    _c("type", "诉求类型", "工单类型", "类型", required=True),
    _c("channel", "来源渠道", "渠道", "受理渠道"),
    _c("category", "诉求分类", "问题分类", "分类"),
    _c("summary", "诉求内容", "诉求摘要", "内容", "问题描述"),
    _c("phone", "来电号码", "联系电话", "电话", "联系方式", required=True),
    _c("name", "来电人", "联系人", "诉求人", "姓名"),
    _c("received_at", "受理时间", "来电时间", "登记时间", required=True),
    _c("dispatched_at", "派单时间", "派发时间"),
    _c("signed_at", "签收时间"),
    _c("closed_at", "办结时间", "回复时间"),
    _c("deadline_at", "办理时限", "截止时间", "办结时限"),
    _c("reopened_at", "退回时间", "重办时间", "退回重办时间"),
    _c("reply_summary", "办理结果", "答复内容", "回复内容", "办结意见"),
)

EVALUATION_COLUMNS = (
    _c("ticket_no", "工单编号", "工单号", "工单编码", required=True),
    _c("evaluated_at", "回访时间", required=True),
    _c("resolved", "是否解决", "解决情况", required=True),
    _c("satisfaction", "满意度", "满意情况", "评价", required=True),
    _c("source", "回访方式", "回访类型"),
    _c("evaluated_by", "回访人", "回访员", "坐席"),
    _c("note", "回访备注", "备注", "不满意原因"),
)

EXCLUSION_COLUMNS = (
    _c("ticket_no", "工单编号", "工单号", "工单编码", required=True),
    _c("reason", "剔除原因", "原因", required=True),
    _c("approved_by", "审批人", "审核人", required=True),
    _c("approved_at", "审批时间", "剔除时间"),
)

_SPACES = re.compile(r"[\s\u3000\ufeff*＊:：]+")


def normalize_header(header: str) -> str:
    return _SPACES.sub("", str(header)).lower()


class HeaderError(ValueError):
    pass


@dataclass(frozen=True)
class HeaderMap:
    """Position of each canonical column in the file, plus the headers we ignore."""

    positions: dict[str, int]
    ignored: tuple[str, ...]


def map_headers(headers: list[str], columns: tuple[Column, ...]) -> HeaderMap:
    """Match a file's headers to canonical columns; missing required ones are an error."""
    lookup: dict[str, str] = {}
    for column in columns:
        lookup[normalize_header(column.name)] = column.name
        for alias in column.aliases:
            lookup.setdefault(normalize_header(alias), column.name)
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, header in enumerate(headers):
        name = lookup.get(normalize_header(header or ""))
        if name is None:
            if header:
                ignored.append(str(header))
            continue
        if name in positions:
            raise HeaderError(
                f"columns {headers[positions[name]]!r} and {header!r} both mean '{name}'"
            )
        positions[name] = index
    missing = [c for c in columns if c.required and c.name not in positions]
    if missing:
        wanted = ", ".join(f"{c.name} ({c.label})" for c in missing)
        found = repr(headers)
        found = found if len(found) <= 300 else found[:300] + "…"
        raise HeaderError(f"missing required column(s): {wanted}; found {found}")
    return HeaderMap(positions=positions, ignored=tuple(ignored))
