"""Text normalisation for Mandarin speech: what the citizen should hear, in characters.

Dates are read 十一月三日 (or 今天/昨天/前天), counts with cn2an (两 for two of a thing),
ticket and phone numbers digit by digit with 幺 for 1, Latin capitals letter by letter,
symbols in words, and full-width punctuation turned into the two pauses espeak knows
(，short and 。long).
"""

from __future__ import annotations

import re
from datetime import date

import cn2an

DIGITS = dict(zip("0123456789", "零幺二三四五六七八九", strict=True))
SHORT_PAUSE = "，"
LONG_PAUSE = "。"
_PAUSES = {**dict.fromkeys("，、：；,:;—…～~·", SHORT_PAUSE),
           **dict.fromkeys("。！？!?.\n", LONG_PAUSE)}
_DROP = set("“”‘’\"'《》<>「」『』【】[]（）(){}*_=|\\^`")
_SYMBOLS = {"%": "百分之", "％": "百分之", "+": "加", "＋": "加", "&": "和", "＃": "号",
            "#": "号", "@": "艾特", "/": "或", "／": "或", "℃": "摄氏度", "㎡": "平方米"}
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LONG_NUMBER = re.compile(r"\d{5,}")
_DECIMAL = re.compile(r"\d+\.\d+")
_INTEGER = re.compile(r"\d+")
_CAPITALS = re.compile(r"(?<![A-Za-z])[A-Z]{2,}(?![A-Za-z])")  # \b fails beside CJK
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*[%％]")
_RANGE = re.compile(r"(\d)\s*[-~～]\s*(\d)")
_CLAUSE_END = re.compile(r"[，。；！？、,;!?]")


class SpeechTextError(ValueError):
    """The text cannot be spoken (it normalises to nothing)."""


def syllables(text: str) -> int:
    """Mandarin syllables in spoken text: one per Chinese character."""
    return len(_CJK.findall(text))


def read_digits(text: str) -> str:
    """Each digit on its own, 1 as 幺: ticket numbers, phone numbers, codes."""
    return "".join(DIGITS.get(ch, ch) for ch in text)


def read_count(n: int) -> str:
    """A quantity: 两 for exactly two of something, otherwise cn2an's reading."""
    return "两" if n == 2 else str(cn2an.an2cn(n))


def read_date(day: date, today: date | None = None) -> str:
    """十一月三日; 今天, 昨天 or 前天 when the call is that close; the year when not this one."""
    if today is not None:
        delta = (today - day).days
        if delta in (0, 1, 2):
            return ("今天", "昨天", "前天")[delta]
    month_day = f"{cn2an.an2cn(day.month)}月{cn2an.an2cn(day.day)}日"
    if today is not None and day.year != today.year:
        return f"{read_digits(str(day.year)).replace('幺', '一')}年{month_day}"
    return month_day


def _spell(match: re.Match[str]) -> str:
    return " ".join(match.group(0))


def normalize(text: str) -> str:
    """Characters espeak's cmn-latn-pinyin voice reads as intended Mandarin."""
    out = _PERCENT.sub(lambda m: "百分之" + m.group(1), text)
    out = _RANGE.sub(lambda m: f"{m.group(1)}至{m.group(2)}", out)
    out = _LONG_NUMBER.sub(lambda m: read_digits(m.group(0)), out)
    out = _DECIMAL.sub(lambda m: str(cn2an.an2cn(m.group(0))), out)
    out = _INTEGER.sub(lambda m: str(cn2an.an2cn(m.group(0))), out)
    out = _CAPITALS.sub(_spell, out)
    pieces: list[str] = []
    for ch in out:
        if ch in _DROP:
            continue
        if ch in _PAUSES:
            pause = _PAUSES[ch]
            if pieces and pieces[-1] in (SHORT_PAUSE, LONG_PAUSE):
                if pause == LONG_PAUSE:
                    pieces[-1] = LONG_PAUSE
                continue
            if pieces:
                pieces.append(pause)
            continue
        pieces.append(_SYMBOLS.get(ch, ch))
    result = re.sub(r"\s+", " ", "".join(pieces)).strip(" " + SHORT_PAUSE)
    if not _CJK.search(result) and not re.search(r"[A-Za-z]", result):
        raise SpeechTextError(f"nothing to say in {text!r}")
    return result


def shorten(summary: str | None, max_chars: int, category: str | None) -> str:
    """A citizen's summary fit for a prompt: cut at a clause boundary within max_chars;
    empty or unreadable summaries fall back to the last part of the category."""
    text = re.sub(r"\s+", "", summary or "")
    if not _CJK.search(text):
        fallback = (category or "").split("/")[-1].strip()
        if not fallback:
            raise SpeechTextError("the ticket has neither a readable summary nor a category")
        return fallback
    text = text.rstrip("，。；！？、,;!?.")
    if len(text) <= max_chars:
        return text
    cut = 0
    for match in _CLAUSE_END.finditer(text):
        if match.start() <= max_chars:
            cut = match.start()
    return text[:cut] if cut >= max_chars // 3 else text[:max_chars]
