from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from store.enums import EvaluationSource, Resolved, Satisfaction, TicketType
from store.importing.values import (
    parse_datetime,
    parse_resolved,
    parse_satisfaction,
    parse_source,
    parse_ticket_type,
    text,
)


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-11-03 10:22:11", datetime(2026, 11, 3, 10, 22, 11)),
    ("2026-11-03T10:22:11", datetime(2026, 11, 3, 10, 22, 11)),
    ("2026-11-03 10:22", datetime(2026, 11, 3, 10, 22)),
    ("2026-11-03", datetime(2026, 11, 3)),
    ("2026/11/3 9:05", datetime(2026, 11, 3, 9, 5)),
    ("2026/11/03 09:05:07", datetime(2026, 11, 3, 9, 5, 7)),
    ("2026.11.03 09:05", datetime(2026, 11, 3, 9, 5)),
    ("2026年11月3日", datetime(2026, 11, 3)),
    ("2026年11月3日 10:22", datetime(2026, 11, 3, 10, 22)),
    ("2026年11月3日10时22分", datetime(2026, 11, 3, 10, 22)),
    ("2026年11月3日10时22分05秒", datetime(2026, 11, 3, 10, 22, 5)),
    ("20261103102211", datetime(2026, 11, 3, 10, 22, 11)),
    ("20261103", datetime(2026, 11, 3)),
    ("2026-11-03T02:22:11+00:00", datetime(2026, 11, 3, 10, 22, 11)),  # UTC to Beijing
    (datetime(2026, 11, 3, 10, 22), datetime(2026, 11, 3, 10, 22)),
    (date(2026, 11, 3), datetime(2026, 11, 3)),
    (datetime(2026, 11, 3, 2, 0, tzinfo=timezone(timedelta(hours=0))), datetime(2026, 11, 3, 10)),
    ("", None), (None, None), ("   ", None),
])
def test_datetimes(raw: object, expected: datetime | None) -> None:
    assert parse_datetime(raw) == expected


@pytest.mark.parametrize("raw", ["2026-13-01", "2026-02-30 10:00", "昨天", "11/03/2026",
                                 "1899-01-01", "2026-11-03 25:00"])
def test_bad_datetimes(raw: str) -> None:
    with pytest.raises(ValueError, match=raw[:4]):
        parse_datetime(raw)


def test_answers_as_exports_write_them() -> None:
    words = ("已解决", "是", "1", "YES", "未解决", "否", "2", "未知")
    assert [parse_resolved(v) for v in words] == [
        Resolved.YES, Resolved.YES, Resolved.YES, Resolved.YES, Resolved.NO, Resolved.NO,
        Resolved.NO, Resolved.UNKNOWN]
    assert [parse_satisfaction(v) for v in ("满意", "1", "基本满意", "2", "不满意", "3")] == [
        Satisfaction.SATISFIED, Satisfaction.SATISFIED, Satisfaction.BASIC, Satisfaction.BASIC,
        Satisfaction.UNSATISFIED, Satisfaction.UNSATISFIED]
    assert parse_ticket_type("举报") is TicketType.REPORT
    assert parse_source("人工回访") is EvaluationSource.AGENT
    assert parse_source("") is None


def test_unknown_answer_names_the_choices() -> None:
    with pytest.raises(ValueError, match="满意"):
        parse_satisfaction("还行吧")


def test_text() -> None:
    assert text("\u3000 王先生 ") == "王先生"
    assert text(12.0) == "12"
    assert text("") is None
