"""A year's 放假安排 read from a file, for `huifang calendar import`: either simple lines

    2027-01-01..2027-01-03,holiday,元旦
    2027-02-14,workday,春节调休

(a day or an inclusive range, `holiday`/`放假` or `workday`/`上班`/`调休`, a name; `#`
starts a comment; commas, full-width commas or tabs), or the State Council's notice as
published (国务院办公厅关于2027年部分节假日安排的通知), whose items read

    二、春节：2月6日（农历除夕、周六）至13日（农历正月初七、周六）放假调休，共8天。
    2月14日（周日）、2月20日（周六）上班。

Validated before anything is written: every day in the one year (a 元旦 running in from
the last days of December excepted), no day listed twice, and a make-up working day
(调休上班) only on a Saturday or Sunday. Errors name the line, in Chinese and English."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

WEEKDAYS_ZH = "一二三四五六日"


class Kind(StrEnum):
    HOLIDAY = "holiday"  # 放假
    WORKDAY = "workday"  # 调休上班


KIND_WORDS = {"holiday": Kind.HOLIDAY, "放假": Kind.HOLIDAY, "休": Kind.HOLIDAY,
              "workday": Kind.WORKDAY, "上班": Kind.WORKDAY, "班": Kind.WORKDAY,
              "调休": Kind.WORKDAY}


class NoticeError(ValueError):
    """The file cannot be imported; the message names the line."""


@dataclass(frozen=True)
class Entry:
    line: int
    first: date
    last: date
    kind: Kind
    name: str

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


@dataclass(frozen=True)
class Notice:
    year: int
    entries: tuple[Entry, ...]

    def days(self, kind: Kind) -> list[date]:
        return sorted(d for e in self.entries if e.kind is kind for d in e.days())


def _at(line: int, zh: str, en: str) -> NoticeError:
    return NoticeError(f"第 {line} 行 line {line}: {zh} {en}")


_SIMPLE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")


def parse(text: str, year: int | None = None) -> Notice:
    """The notice in `text` (either form), validated; NoticeError naming the line."""
    lines = text.lstrip("\ufeff").splitlines()
    simple = any(_SIMPLE.match(line.strip()) for line in lines)
    entries = _simple(lines) if simple else _notice(lines, year, text)
    if not entries:
        raise NoticeError("文件中没有找到放假安排 no holiday found in the file: use lines like "
                          "'2027-01-01,holiday,元旦' or the notice's own wording")
    return validate(entries, year)


def _simple(lines: list[str]) -> list[Entry]:
    entries = []
    for number, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f.strip() for f in re.split(r"[,，\t]", line)]
        if len(fields) < 2:
            raise _at(number, f"应为“日期,类型,名称”：{raw.strip()!r}",
                      "expected DATE,KIND[,NAME], e.g. 2027-02-14,workday,春节调休")
        kind = KIND_WORDS.get(fields[1].lower())
        if kind is None:
            raise _at(number, f"类型 {fields[1]!r} 应为 holiday/放假 或 workday/上班/调休",
                      f"kind {fields[1]!r} is not holiday (放假) or workday (上班, 调休)")
        first_text, sep, last_text = fields[0].partition("..")
        try:
            first = date.fromisoformat(first_text.strip())
            last = date.fromisoformat(last_text.strip()) if sep else first
        except ValueError:
            raise _at(number, f"{fields[0]!r} 不是日期（YYYY-MM-DD 或 YYYY-MM-DD..YYYY-MM-DD）",
                      f"{fields[0]!r} is not a date (YYYY-MM-DD or a range "
                      "YYYY-MM-DD..YYYY-MM-DD)") from None
        entries.append(Entry(number, first, last, kind, ",".join(fields[2:])))
    return entries


_DATE = re.compile(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日")
_RANGE = re.compile(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日(?:至(?:(\d{4})年)?(?:(\d{1,2})月)?"
                    r"(\d{1,2})日)?")
_ITEM = re.compile(r"^[一二三四五六七八九十]+[、.．]\s*(?P<name>[^：:]+)[：:](?P<rest>.*)$")
_ASIDE = re.compile(r"（[^）]*）|\([^)]*\)")  # （周五） （农历除夕、周六）


def _year_of(text: str) -> int:
    """The year of the title (关于2027年部分节假日安排的通知); not any year the text names
    (the notice is dated the year before)."""
    found = re.search(r"关于\s*(\d{4})\s*年", text)
    if found is None:
        raise NoticeError("通知标题中没有年份，请用 --year 指定 the notice's title names no "
                          "year: give --year")
    return int(found.group(1))


def _day(number: int, year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise _at(number, f"{year}年{month}月{day}日 不是日期", f"{year}-{month:02d}-{day:02d} "
                  "is not a date") from None


def _notice(lines: list[str], given: int | None, text: str) -> list[Entry]:
    entries: list[Entry] = []
    for number, raw in enumerate(lines, 1):
        item = _ITEM.match(_ASIDE.sub("", raw.strip()))
        if item is None:
            continue  # the title, the preamble, the closing lines
        year = given or _year_of(text)
        name = item.group("name").strip()
        for clause in re.split(r"[。，,；;]", item.group("rest")):
            if "放假" in clause:
                found = _RANGE.search(clause)
                if found is None:
                    raise _at(number, f"“{clause}”中没有放假日期",
                              "a 放假 (days off) clause without a date")
                y1, m1, d1, y2, m2, d2 = found.groups()
                first = _day(number, int(y1 or year), int(m1), int(d1))
                last = first if d2 is None else _day(
                    number, int(y2 or y1 or year), int(m2 or m1), int(d2))
                entries.append(Entry(number, first, last, Kind.HOLIDAY, name))
            elif "上班" in clause:
                for y, m, d in _DATE.findall(clause):
                    day = _day(number, int(y or year), int(m), int(d))
                    entries.append(Entry(number, day, day, Kind.WORKDAY, f"{name}调休"))
    return entries


def validate(entries: list[Entry], year: int | None = None) -> Notice:
    """One year, no day twice, 调休 on weekends only; NoticeError naming the line."""
    if year is None:  # the simple lines name their years: the one most days are in
        years = [d.year for e in entries for d in e.days()]
        year = max(set(years), key=years.count)
    seen: dict[date, Entry] = {}
    for e in entries:
        if e.last < e.first:
            raise _at(e.line, f"{e.first}..{e.last} 起止颠倒", "the range runs backwards")
        crossing = (e.kind is Kind.HOLIDAY and e.last.year == year
                    and e.first >= date(year - 1, 12, 25))  # 元旦 from the last days of 12月
        for day in e.days():
            if day.year != year and not crossing:
                raise _at(e.line, f"{day} 不在 {year} 年：一个文件只导入一年的安排",
                          f"{day} is not in {year}: a file holds one year's arrangement")
            if day in seen:
                raise _at(e.line, f"{day} 已在第 {seen[day].line} 行列出",
                          f"{day} is already listed on line {seen[day].line}")
            if e.kind is Kind.WORKDAY and day.weekday() < 5:
                raise _at(e.line, f"{day} 是星期{WEEKDAYS_ZH[day.weekday()]}，本来就是工作日："
                          "调休上班日应为周六或周日",
                          f"{day} is a {day:%A}, a working day already: a make-up working "
                          "day (调休) is a Saturday or Sunday")
            seen[day] = e
    if not any(e.kind is Kind.HOLIDAY for e in entries):
        raise NoticeError("只有调休上班日，没有放假日 only make-up working days, no holiday")
    return Notice(year, tuple(entries))
