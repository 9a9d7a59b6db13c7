"""The citizen's reason for dissatisfaction, sorted: which category its words fall in.

A category is a name and the phrases that put a reason in it (`[reasons] categories`);
a reason is in the first category, in the table's order, that has one of its phrases in
the transcript, else in 未分类. Matching ignores spaces and punctuation (Whisper puts
them where it likes) and Latin case. Pure functions; the table is the configuration's,
and `huifang reasons categorize` sorts every stored transcript again when it changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, select

from store.campaign_models import CallAttempt, Callback
from store.enums import ReasonStatus
from store.models import Ticket
from store.phones import mask_phones_in_text

UNSORTED = "未分类"
# the default table, in its order: the first match wins, so the specific before the vague
# (没人来 is 上门 even though it also says nothing happened for a long time)
DEFAULT_CATEGORIES: dict[str, list[str]] = {
    "上门": ["没人来", "没有人来", "没上门", "没有上门", "不上门", "没来看", "没来现场",
           "没到现场", "没人到现场", "没见到人", "没看到人", "没派人", "没人处理",
           "没有人处理", "没人管", "没有人管"],
    "态度": ["态度", "不耐烦", "很凶", "太凶", "骂人", "骂我", "凶我", "敷衍", "不礼貌",
           "爱答不理", "爱理不理", "不理人", "不理我", "吼", "甩脸"],
    "推诿": ["推诿", "踢皮球", "推来推去", "推给", "互相推", "不归我们管", "不归他们管",
           "不归他们", "不是我们管", "不属于", "管不了", "让我找", "叫我找", "让我去找",
           "叫我去找", "自己解决"],
    "拖延": ["拖延", "拖着", "一直拖", "拖了", "太慢", "很慢", "好久", "很久", "太久",
           "迟迟", "一直没", "到现在还", "还没解决", "还没有解决", "等了", "说过几天"],
    "没回复": ["没回复", "没有回复", "没人回复", "不回复", "没回电话", "没有回电话",
            "没给我回", "没有给我回", "没联系我", "没有联系我", "没人联系", "没打电话",
            "没给答复", "没有答复", "没答复", "没反馈", "没有反馈", "没通知"],
    "费用": ["费用", "收费", "乱收", "多收", "交钱", "要钱", "给钱", "退钱", "退款", "赔偿",
           "赔钱", "罚款", "价格", "太贵"],
    "噪音": ["噪音", "噪声", "太吵", "很吵", "吵得", "吵死", "声音太大", "声音很大",
           "扰民", "施工", "半夜", "晚上还在"],
}
_NOT_WORD = re.compile(r"[\s\W_]+", re.UNICODE)


def normalized(text: str) -> str:
    """The text as it is matched: no spaces or punctuation, Latin in lower case."""
    return _NOT_WORD.sub("", text).lower()


def categorize(text: str | None, table: Mapping[str, Sequence[str]]) -> str:
    """The first category, in the table's order, one of whose phrases is in `text`; else
    UNSORTED (also for no text)."""
    words = normalized(text or "")
    if not words:
        return UNSORTED
    for category, phrases in table.items():
        for phrase in phrases:
            key = normalized(phrase)
            if key and key in words:
                return category
    return UNSORTED


def check_table(table: Mapping[str, Sequence[str]]) -> list[str]:
    """What is wrong with a category table, in words (empty: nothing): names of at most
    24 characters, not UNSORTED, each with at least one phrase of words, no phrase twice."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for category, phrases in table.items():
        if not category.strip() or len(category) > 24:
            problems.append(f"category {category!r}: a name of 1-24 characters is needed")
        if category == UNSORTED:
            problems.append(f"{UNSORTED!r} is what matches nothing; it cannot have phrases")
        if not phrases:
            problems.append(f"category {category!r} has no phrases")
        for phrase in phrases:
            key = normalized(phrase)
            if not key:
                problems.append(f"category {category!r}: phrase {phrase!r} has no words")
            elif key in seen:
                problems.append(f"phrase {phrase!r} is in both {seen[key]!r} and "
                                f"{category!r} (only the first would ever match)")
            else:
                seen[key] = category
    return problems


def shown(text: str | None) -> str:
    """A transcript as people may see it: any phone number the citizen said masked."""
    return mask_phones_in_text(text or "")


def snippet(text: str | None, chars: int = 30) -> str:
    """The start of a masked transcript, cut at `chars` characters with an ellipsis."""
    masked = shown(text).strip()
    return masked if len(masked) <= chars else masked[:chars].rstrip() + "…"


EXAMPLES = 3  # example transcripts per unit and category in the reports
EXAMPLE_CHARS = 60


def reason_counts(conn: Connection, since: datetime, until: datetime,
                  parents: Mapping[int, int | None]) -> dict[int, dict[str, object]]:
    """Per unit (`parents`: unit id -> its parent's), the reasons of the calls placed in
    [since, until) on its tickets and its descendants' (as the report's counts roll up):
    how many, by category (of the transcribed ones) with up to `EXAMPLES` of the newest
    transcripts of each, masked and cut (`snippet`), and how many were not heard
    (未听清), failed or still wait for a transcript. A reason is one per call attempt: a
    ticket called again after reopening can have two."""
    rows = conn.execute(
        select(Ticket.unit_id, CallAttempt.reason_status, CallAttempt.reason_category,
               CallAttempt.reason_text)
        .join(Callback, Callback.id == CallAttempt.callback_id)
        .join(Ticket, Ticket.id == Callback.ticket_id)
        .where(and_(CallAttempt.reason_from_s.is_not(None),
                    CallAttempt.reason_to_s.is_not(None)),
               CallAttempt.started_at >= since, CallAttempt.started_at < until)
        .order_by(CallAttempt.started_at.desc(), CallAttempt.id.desc())
    ).all()
    states = ("done", "empty", "failed", "pending")
    by_status = {u: dict.fromkeys(states, 0) for u in parents}
    by_category: dict[int, dict[str, int]] = {u: {} for u in parents}
    examples: dict[int, dict[str, list[str]]] = {u: {} for u in parents}
    for unit_id, status, category, text in rows:
        kind = str(ReasonStatus(status)) if status else str(ReasonStatus.PENDING)
        unit: int | None = int(unit_id)
        seen: set[int] = set()
        while unit is not None and unit in parents and unit not in seen:
            seen.add(unit)
            by_status[unit][kind] += 1
            if kind == ReasonStatus.DONE:
                name = category or UNSORTED
                by_category[unit][name] = by_category[unit].get(name, 0) + 1
                said = examples[unit].setdefault(name, [])
                if len(said) < EXAMPLES and (shown_text := snippet(text, EXAMPLE_CHARS)):
                    said.append(shown_text)
            unit = parents[unit]
    return {u: {"reasons": sum(by_status[u].values()), "transcribed": by_status[u]["done"],
                "categories": dict(sorted(by_category[u].items(),
                                          key=lambda kv: (-kv[1], kv[0]))),
                "examples": {c: examples[u][c] for c in sorted(
                    examples[u], key=lambda c: (-by_category[u][c], c))},
                "unheard": by_status[u]["empty"], "failed": by_status[u]["failed"],
                "pending": by_status[u]["pending"]} for u in parents}


def reason_rows(units: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, object]]:
    """The reports' table of reasons: for each (unit name, its `reason_counts` entry) with
    any, a row per category, most said first (count, share of the transcribed ones, the
    examples), then 未听清 and 未转写 (failed or still waiting) when there are such: every
    reason of the period is in some row."""
    table: list[dict[str, object]] = []
    for name, said in units:
        transcribed = int(said.get("transcribed", 0))
        categories: Mapping[str, int] = said.get("categories", {})
        examples: Mapping[str, list[str]] = said.get("examples", {})
        for category, count in categories.items():
            table.append({"unit": name, "category": category, "count": count,
                          "share": count / transcribed if transcribed else None,
                          "examples": list(examples.get(category, []))})
        unheard = int(said.get("unheard", 0))
        waiting = int(said.get("failed", 0)) + int(said.get("pending", 0))
        for category, count in ((UNHEARD, unheard), (UNTRANSCRIBED, waiting)):
            if count:
                table.append({"unit": name, "category": category, "count": count,
                              "share": None, "examples": []})
    return table


UNHEARD = "未听清"
UNTRANSCRIBED = "未转写"
