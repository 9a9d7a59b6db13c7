"""Cell values as hotline exports write them, parsed into the store's types.

Every parser raises ValueError with a message fit for the rejects file.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from store.enums import EvaluationSource, Resolved, Satisfaction, TicketType, UnitKind
from store.models import HOTLINE_TZ

_CN_DATE = str.maketrans({"年": "-", "月": "-", "/": "-", ".": "-", "时": ":", "分": ":"})
_LOOSE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?$"
)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?$")
MIN_YEAR, MAX_YEAR = 1990, 2100


def text(value: Any) -> str | None:
    """Trimmed text, or None for an empty cell."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    result = str(value).replace("\u3000", " ").strip()
    return result or None


def parse_datetime(value: Any) -> datetime | None:
    """A timestamp in the hotline's zone (naive), or None for an empty cell."""
    if value is None:
        return None
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime(value.year, value.month, value.day)
    else:
        raw = str(value).strip()
        if not raw:
            return None
        result = _parse_text_datetime(raw)
    if result.tzinfo is not None:
        result = result.astimezone(HOTLINE_TZ).replace(tzinfo=None)
    if not MIN_YEAR <= result.year <= MAX_YEAR:
        raise ValueError(f"implausible year in {value!r}")
    return result


def _parse_text_datetime(raw: str) -> datetime:
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        pass
    loose = raw.translate(_CN_DATE).replace("日", " ").replace("秒", "").strip()
    loose = re.sub(r"\s+", " ", loose).rstrip(":").replace("- ", " ")
    match = _LOOSE.match(loose) or _COMPACT.match(raw)
    if not match:
        raise ValueError(f"unparseable date/time {raw!r} (expected e.g. 2026-11-03 10:22:11)")
    parts = [int(p) if p else 0 for p in match.groups()]
    try:
        return datetime(*parts)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"impossible date/time {raw!r}: {exc}") from exc


def _lookup(table: dict[str, Any], value: Any, what: str) -> Any:
    key = text(value)
    if key is None:
        return None
    found = table.get(key.lower())
    if found is None:
        choices = "/".join(k for k in table if not k.isascii() or k.isdigit())
        raise ValueError(f"unknown {what} {key!r} (expected one of {choices} or the English name)")
    return found


def _table(enum_cls: type[Any], extra: dict[str, Any]) -> dict[str, Any]:
    table = {member.value: member for member in enum_cls}
    table.update(extra)
    return table


TICKET_TYPES = _table(TicketType, {
    "投诉": TicketType.COMPLAINT, "咨询": TicketType.CONSULTATION, "求助": TicketType.HELP,
    "举报": TicketType.REPORT, "建议": TicketType.SUGGESTION, "其他": TicketType.OTHER,
    "意见建议": TicketType.SUGGESTION, "求助类": TicketType.HELP, "投诉类": TicketType.COMPLAINT,
})
RESOLVED = _table(Resolved, {
    "已解决": Resolved.YES, "解决": Resolved.YES, "是": Resolved.YES, "1": Resolved.YES,
    "未解决": Resolved.NO, "没解决": Resolved.NO, "否": Resolved.NO, "2": Resolved.NO,
    "未知": Resolved.UNKNOWN, "未回答": Resolved.UNKNOWN, "0": Resolved.UNKNOWN,
})
SATISFACTION = _table(Satisfaction, {
    "满意": Satisfaction.SATISFIED, "非常满意": Satisfaction.SATISFIED,
    "1": Satisfaction.SATISFIED, "基本满意": Satisfaction.BASIC, "2": Satisfaction.BASIC,
    "不满意": Satisfaction.UNSATISFIED, "3": Satisfaction.UNSATISFIED,
    "未知": Satisfaction.UNKNOWN, "未评价": Satisfaction.UNKNOWN, "0": Satisfaction.UNKNOWN,
})
SOURCES = _table(EvaluationSource, {
    "人工回访": EvaluationSource.AGENT, "人工": EvaluationSource.AGENT,
    "电话回访": EvaluationSource.AGENT, "智能回访": EvaluationSource.AUTO,
    "自动回访": EvaluationSource.AUTO, "质检修正": EvaluationSource.SUPERVISOR,
    "质检": EvaluationSource.SUPERVISOR,
})
UNIT_KINDS = _table(UnitKind, {
    "区县": UnitKind.DISTRICT, "区": UnitKind.DISTRICT, "县": UnitKind.DISTRICT,
    "街道": UnitKind.STREET, "乡镇": UnitKind.STREET, "镇": UnitKind.STREET,
    "社区": UnitKind.COMMUNITY, "村": UnitKind.COMMUNITY, "部门": UnitKind.BUREAU,
    "市直部门": UnitKind.BUREAU, "委办局": UnitKind.BUREAU, "其他": UnitKind.OTHER,
})


def parse_ticket_type(value: Any) -> TicketType | None:
    return _lookup(TICKET_TYPES, value, "ticket type")  # type: ignore[no-any-return]


def parse_resolved(value: Any) -> Resolved | None:
    return _lookup(RESOLVED, value, "resolved answer")  # type: ignore[no-any-return]


def parse_satisfaction(value: Any) -> Satisfaction | None:
    return _lookup(SATISFACTION, value, "satisfaction answer")  # type: ignore[no-any-return]


def parse_source(value: Any) -> EvaluationSource | None:
    return _lookup(SOURCES, value, "callback source")  # type: ignore[no-any-return]


def parse_unit_kind(value: Any) -> UnitKind | None:
    return _lookup(UNIT_KINDS, value, "unit kind")  # type: ignore[no-any-return]
