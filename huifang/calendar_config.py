"""A year's imported 放假安排 into the `[calendar]` section of huifang.toml: merged with
the other years already there (the year's own entries are replaced), as TOML to paste
or written into the file. Writing rewrites the `[calendar]` section alone and refuses
unless the file, read back, differs from the old one in `[calendar]` only and validates;
the new file replaces the old one whole (written beside it, then renamed)."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import tomllib
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from huifang.calendar_notice import Kind, Notice
from huifang.config import ConfigError, load_settings
from store.workdays import parse_days


class CalendarWriteError(ValueError):
    """The configuration file cannot be edited safely; the message says what to do."""


def runs(days: Sequence[date]) -> list[str]:
    """Consecutive days as ranges: ["2027-02-06..2027-02-13", "2027-02-20"]."""
    out: list[str] = []
    ordered = sorted(days)
    start = prev = None
    for day in [*ordered, None]:
        if start is not None and prev is not None and (
                day is None or day != prev + timedelta(days=1)):
            out.append(str(start) if start == prev else f"{start}..{prev}")
            start = None
        if day is not None and start is None:
            start = day
        prev = day
    return out


def merged(holidays: list[str], workdays: list[str], notice: Notice
           ) -> tuple[list[str], list[str]]:
    """The entries of other years as they were, then the notice's year as ranges."""
    def others(entries: list[str]) -> list[str]:
        return [e for e in entries if all(d.year != notice.year for d in parse_days([e]))]

    return ([*others(holidays), *runs(notice.days(Kind.HOLIDAY))],
            [*others(workdays), *runs(notice.days(Kind.WORKDAY))])


def _array(values: list[str]) -> str:
    if len(values) <= 3:
        return "[" + ", ".join(f'"{v}"' for v in values) + "]"
    return "[\n" + "".join(f'    "{v}",\n' for v in values) + "]"


def section(holidays: list[str], workdays: list[str], comment: str) -> str:
    return (f"[calendar]\n# {comment}\nholidays = {_array(holidays)}\n"
            f"workdays = {_array(workdays)}\n")


_HEADER = re.compile(r"^\s*\[\s*calendar\s*\]\s*(#.*)?$")
_TABLE = re.compile(r"^\s*\[")


def replace_section(text: str, new_section: str) -> str:
    """`text` with its [calendar] table replaced by `new_section` (or it appended)."""
    lines = text.splitlines(keepends=True)
    headers = [i for i, line in enumerate(lines) if _HEADER.match(line)]
    if len(headers) > 1:
        raise CalendarWriteError("the file has [calendar] twice")
    if not headers:
        glue = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{glue}\n{new_section}"
    start = headers[0]
    end = next((i for i in range(start + 1, len(lines)) if _TABLE.match(lines[i])),
               len(lines))
    while end > start + 1 and not lines[end - 1].strip():  # keep the blank lines before
        end -= 1
    return "".join([*lines[:start], new_section, *lines[end:]])


def write(path: Path, holidays: list[str], workdays: list[str], comment: str) -> None:
    """Put the [calendar] section into the configuration file at `path`, safely."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        before: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalendarWriteError(f"{path} is not valid TOML ({exc}): fix it first") from exc
    new_text = replace_section(text, section(holidays, workdays, comment))
    try:
        after = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError:
        after = {}
    expected = {**before, "calendar": {"holidays": holidays, "workdays": workdays}}
    if after != expected:
        raise CalendarWriteError(
            f"cannot edit {path} safely (its calendar is not a plain [calendar] table); "
            "paste the section printed without --write instead")
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(new_text)
        try:
            load_settings(temp, {})  # the whole file must still validate
        except ConfigError as exc:
            raise CalendarWriteError(f"the new {path} would not validate: {exc}") from exc
        if path.exists():  # the same mode, and owner where we may (root:huifang 0640)
            st = path.stat()
            os.chmod(temp, st.st_mode & 0o7777)
            with contextlib.suppress(PermissionError):
                os.chown(temp, st.st_uid, st.st_gid)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
