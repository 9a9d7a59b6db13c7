"""Table-driven tests of each normalisation rule."""

from __future__ import annotations

from datetime import date

import pytest

from prompts.normalize import (
    SpeechTextError,
    normalize,
    read_count,
    read_date,
    read_digits,
    shorten,
)

TODAY = date(2026, 11, 22)


@pytest.mark.parametrize(("day", "spoken"), [
    (date(2026, 11, 3), "十一月三日"), (date(2026, 1, 31), "一月三十一日"),
    (date(2026, 10, 10), "十月十日"), (date(2026, 11, 22), "今天"),
    (date(2026, 11, 21), "昨天"), (date(2026, 11, 20), "前天"),
    (date(2026, 11, 19), "十一月十九日"), (date(2025, 12, 30), "二零二五年十二月三十日"),
])
def test_dates(day: date, spoken: str) -> None:
    assert read_date(day, TODAY) == spoken


def test_date_without_a_today() -> None:
    assert read_date(date(2026, 11, 22)) == "十一月二十二日"


@pytest.mark.parametrize(("n", "spoken"), [(1, "一"), (2, "两"), (3, "三"), (10, "十"),
                                           (12, "十二"), (20, "二十"), (102, "一百零二")])
def test_counts(n: int, spoken: str) -> None:
    assert read_count(n) == spoken


@pytest.mark.parametrize(("digits", "spoken"), [
    ("12345", "幺二三四五"), ("13812345678", "幺三八幺二三四五六七八"), ("0731", "零七三幺"),
    ("GD20261103", "GD二零二六幺幺零三"),
])
def test_digit_by_digit(digits: str, spoken: str) -> None:
    assert read_digits(digits) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("小区3栋电梯坏了", "小区三栋电梯坏了"),
    ("工单号20261103001", "工单号二零二六幺幺零三零零幺"),
    ("水费涨了30%", "水费涨了百分之三十"),
    ("气温3.5℃", "气温三点五摄氏度"),
    ("9-12点施工", "九至十二点施工"),
    ("APP无法登录", "A P P无法登录"),
    ("噪音（夜间）扰民！！", "噪音夜间扰民。"),
    ("您好，这里是12345热线。", "您好，这里是幺二三四五热线。"),
    ("问题：路灯、井盖；已处理", "问题，路灯，井盖，已处理"),
    ("《通知》“紧急”", "通知紧急"),
    ("A&B", "A和B"),
])
def test_normalize(text: str, spoken: str) -> None:
    assert normalize(text) == spoken


@pytest.mark.parametrize("text", ["", "   ", "。。。", "（）", "123*"[:0]])
def test_nothing_to_say(text: str) -> None:
    with pytest.raises(SpeechTextError):
        normalize(text)


@pytest.mark.parametrize(("summary", "limit", "category", "short"), [
    ("小区加装电梯", 20, None, "小区加装电梯"),
    ("小区加装电梯进度缓慢，施工队长期不来，业主意见很大。", 12, None, "小区加装电梯进度缓慢"),
    ("一二三四五六七八九十一二三四五", 10, None, "一二三四五六七八九十"),
    ("", 20, "城乡建设/住房保障/加装电梯", "加装电梯"),
    ("???", 20, "城市管理/路灯", "路灯"),
    ("   噪音扰民。", 20, None, "噪音扰民"),
])
def test_shorten(summary: str, limit: int, category: str | None, short: str) -> None:
    assert shorten(summary, limit, category) == short


def test_shorten_without_anything() -> None:
    with pytest.raises(SpeechTextError, match="neither"):
        shorten("", 20, None)
