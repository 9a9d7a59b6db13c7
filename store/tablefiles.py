"""Write tables as CSV (UTF-8 with BOM, or GBK), XLSX or JSON Lines, one row at a time;
and the rule every export a person opens in a spreadsheet follows (`inert`)."""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

FORMATS = ("csv", "xlsx", "jsonl")
# what a spreadsheet takes for the start of a formula (OWASP's list: = + - @, tab, CR)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)%?$")


def inert(value: Any) -> Any:
    """A cell for an export someone opens in Excel or WPS: text that a spreadsheet
    would run as a formula (`=HYPERLINK(...)`, `+cmd|...`, `@SUM(...)`) gets a leading
    `'`, so it shows as the text it is. A plain number written as text (`-12.5`) and a
    lone `-` are left as they are; values that are not text are not touched."""
    if isinstance(value, str) and value.startswith(_FORMULA) and value != "-" \
            and not _NUMBER.match(value):
        return "'" + value
    return value


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else value


class TableWriter:
    def __init__(self, path: Path, headers: list[str], *, encoding: str = "utf-8-sig") -> None:
        self.path, self.headers = path, headers
        self.format = {".xlsx": "xlsx", ".jsonl": "jsonl"}.get(path.suffix.lower(), "csv")
        self._file: IO[str] | None = None
        self._book: Any = None
        if self.format == "xlsx":
            import openpyxl  # noqa: PLC0415 - heavy import only for spreadsheets

            self._book = openpyxl.Workbook(write_only=True)
            self._sheet = self._book.create_sheet("Sheet1")
            self._sheet.append(headers)
        elif self.format == "jsonl":
            self._file = path.open("w", encoding="utf-8")
        else:
            self._file = path.open("w", encoding=encoding, newline="")
            self._csv = csv.writer(self._file)
            self._csv.writerow(headers)

    def write(self, row: list[Any]) -> None:
        if self.format == "xlsx":
            self._sheet.append([None if v == "" else v for v in row])
        elif self.format == "jsonl":
            assert self._file is not None
            pairs = zip(self.headers, row, strict=True)
            obj = {h: _cell(v) for h, v in pairs if v not in ("", None)}
            self._file.write(json.dumps(obj, ensure_ascii=False) + "\n")
        else:
            self._csv.writerow([_cell(v) for v in row])

    def close(self) -> None:
        if self._book is not None:
            self._book.save(self.path)
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
