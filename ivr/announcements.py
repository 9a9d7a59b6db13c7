"""Carrier announcements (运营商提示音) heard on early media or right after the answer:
您拨打的电话已关机 / 是空号 / 已停机 / 暂时无法接通 / 不在服务区. Such a call is
unreachable with a reason, not an answered callback.

`announcement_grammar()` gives the recogniser the phrases (with the common carrier
wordings); `classify(text)` maps what was recognised to the reason. Pure.
"""

from __future__ import annotations

import enum
import re

from ivr.recognition import Grammar


class Announcement(enum.StrEnum):
    SWITCHED_OFF = "switched_off"  # 已关机
    NO_SUCH_NUMBER = "no_such_number"  # 是空号
    SUSPENDED = "suspended"  # 已停机
    UNREACHABLE = "unreachable"  # 暂时无法接通
    OUT_OF_SERVICE_AREA = "out_of_service_area"  # 不在服务区


# Longer, more specific keys first; the values are what the carriers say.
KEYS: dict[str, Announcement] = {
    "关机": Announcement.SWITCHED_OFF,
    "空号": Announcement.NO_SUCH_NUMBER,
    "不存在": Announcement.NO_SUCH_NUMBER,
    "停机": Announcement.SUSPENDED,
    "无法接通": Announcement.UNREACHABLE,
    "不在服务区": Announcement.OUT_OF_SERVICE_AREA,
}
PHRASES = (
    "您拨打的电话已关机", "您拨打的用户已关机", "对不起您拨打的电话已关机",
    "您拨打的号码是空号", "您拨打的电话是空号", "您拨打的号码不存在",
    "您拨打的电话已停机", "您拨打的号码已停机",
    "您拨打的电话暂时无法接通", "您拨打的用户暂时无法接通",
    "您拨打的用户不在服务区", "您拨打的电话不在服务区",
)


def announcement_grammar() -> Grammar:
    return Grammar("announcements", PHRASES)


def classify(text: str) -> Announcement | None:
    """The announcement a recognised text is, or None (a person, or nothing)."""
    cleaned = re.sub(r"[\s，。,.!！]", "", text)
    for key, meaning in KEYS.items():
        if key in cleaned:
            return meaning
    return None
