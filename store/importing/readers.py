"""Streaming readers for CSV (UTF-8 or GBK), XLSX and JSON Lines.

A reader maps the file's headers to canonical columns once and yields rows one at a
time, so memory stays flat however large the file. Row numbers are those a person sees
in a spreadsheet: the header is row 1, the first data row is row 2 (for CSV, the line on
which the record starts; for JSON Lines, the line number).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from store.importing.columns import Column, HeaderError, HeaderMap, map_headers

SNIFF_BYTES = 1 << 20
_UNDECODABLE = re.compile("[\udc80-\udcff]")
ENCODING_NAMES = {"utf-8-sig": "UTF-8", "gb18030": "GBK/GB18030"}


class FileFormatError(ValueError):
    """The file as a whole cannot be read; nothing was imported from it."""


@dataclass
class SourceRow:
    row_no: int
    values: dict[str, Any]
    original: list[Any] | dict[str, Any]
    errors: list[tuple[str, str]] = field(default_factory=list)


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM) if the sample decodes as such, else GB18030 (GBK).

    If neither decodes cleanly, the one with fewer bad bytes wins as long as they are
    rare: the rows that hold them are rejected one by one and the rest is imported.
    """
    bad: dict[str, int] = {}
    for encoding in ("utf-8-sig", "gb18030"):
        decoded = codecs.getincrementaldecoder(encoding)(errors="replace").decode(
            sample, final=False)
        bad[encoding] = decoded.count("\ufffd")
        if bad[encoding] == 0:
            return encoding
    best = min(bad, key=lambda e: bad[e])
    if bad[best] * 20 > len(sample):  # over 5 % bad: not a text file we can read
        raise FileFormatError(
            f"the file is neither UTF-8 nor GBK ({bad[best]} undecodable bytes in the first "
            f"{len(sample)}); pass --encoding")
    return best


class Reader:
    """Base of the readers: headers, mapping, progress."""

    encoding: str | None = None

    def __init__(self, path: Path, columns: tuple[Column, ...]) -> None:
        self.path = path
        self.columns = columns
        self.headers: list[str] = []
        self.header_map = HeaderMap(positions={}, ignored=())
        self.total = path.stat().st_size

    def rows(self) -> Iterator[SourceRow]:
        raise NotImplementedError

    def position(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _map(self, headers: list[str]) -> None:
        self.headers = headers
        try:
            self.header_map = map_headers(headers, self.columns)
        except HeaderError as exc:
            raise FileFormatError(str(exc)) from exc

    def _values(self, cells: list[Any]) -> dict[str, Any]:
        return {
            name: cells[index] if index < len(cells) else None
            for name, index in self.header_map.positions.items()
        }


class CsvReader(Reader):

    def __init__(self, path: Path, columns: tuple[Column, ...], encoding: str | None) -> None:
        super().__init__(path, columns)
        self._raw: IO[bytes] = path.open("rb")
        sample = self._raw.read(SNIFF_BYTES)
        self._raw.seek(0)
        if not sample.strip():
            self._raw.close()
            raise FileFormatError("the file is empty")
        if b"\x00" in sample and encoding is None:
            self._raw.close()
            raise FileFormatError("a binary file, not CSV text (is it an .xls, a zip or "
                                  "UTF-16? save it as CSV UTF-8 or .xlsx)")
        self.encoding = encoding or detect_encoding(sample)
        self._text = io.TextIOWrapper(
            self._raw, encoding=self.encoding, errors="surrogateescape", newline=""
        )
        dialect = _sniff_dialect(sample)
        self._reader = csv.reader(self._text, dialect)
        try:
            headers = next(self._reader)
        except StopIteration:
            raise FileFormatError("the file is empty") from None
        except csv.Error as exc:
            raise FileFormatError(f"the header line is not valid CSV: {exc}") from exc
        self._map([h.strip() for h in headers])

    def rows(self) -> Iterator[SourceRow]:
        reader = self._reader
        line_end = reader.line_num
        while True:
            start = line_end + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line_end = reader.line_num
                yield SourceRow(start, {}, [], [("", f"malformed CSV: {exc}")])
                continue
            line_end = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            row = SourceRow(start, self._values(cells), cells)
            if len(cells) > len(self.headers):
                row.errors.append(("", f"{len(cells)} cells but {len(self.headers)} headers"))
            for name, value in row.values.items():
                if value is not None and _UNDECODABLE.search(value):
                    label = ENCODING_NAMES.get(self.encoding or "", self.encoding)
                    row.errors.append((name, f"bytes that are not valid {label}"))
            yield row

    def position(self) -> int:
        return self._raw.tell() if not self._raw.closed else self.total

    def close(self) -> None:
        self._text.close()


def _sniff_dialect(sample: bytes) -> type[csv.Dialect]:
    head = sample[:4096]
    first_line = head.split(b"\n", 1)[0]
    if first_line.count(b"\t") > first_line.count(b","):
        return csv.excel_tab
    return csv.excel


class XlsxReader(Reader):

    def __init__(self, path: Path, columns: tuple[Column, ...], sheet: str | None) -> None:
        super().__init__(path, columns)
        import openpyxl  # noqa: PLC0415 - heavy import only for spreadsheets

        try:
            self._book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises zipfile, XML, key and value errors alike
            raise FileFormatError(f"not a readable XLSX workbook: {exc}") from exc
        if sheet is not None and sheet not in self._book.sheetnames:
            raise FileFormatError(f"no sheet {sheet!r}; sheets are {self._book.sheetnames}")
        self._sheet = self._book[sheet] if sheet else self._book.worksheets[0]
        self._iter = self._sheet.iter_rows(values_only=True)
        self._row_no = 0
        self.total = self._sheet.max_row or 0
        for cells in self._iter:
            self._row_no += 1
            if any(c is not None and str(c).strip() for c in cells):
                self._map([str(c).strip() if c is not None else "" for c in cells])
                break
        else:
            raise FileFormatError("the workbook's first sheet is empty")

    def rows(self) -> Iterator[SourceRow]:
        for cells in self._iter:
            self._row_no += 1
            if not any(c is not None and str(c).strip() for c in cells):
                continue
            values = list(cells)
            yield SourceRow(self._row_no, self._values(values), values)

    def position(self) -> int:
        return self._row_no

    def close(self) -> None:
        self._book.close()


class JsonLinesReader(Reader):
    """One JSON object per line. Keys are matched to columns like CSV headers, per line."""


    def __init__(self, path: Path, columns: tuple[Column, ...]) -> None:
        super().__init__(path, columns)
        self._raw: IO[bytes] = path.open("rb")
        if not self._raw.read(SNIFF_BYTES).strip():
            self._raw.close()
            raise FileFormatError("the file is empty")
        self._raw.seek(0)
        self._maps: dict[tuple[str, ...], HeaderMap | str] = {}
        self.headers = [c.name for c in columns]

    def rows(self) -> Iterator[SourceRow]:
        for line_no, line in enumerate(self._raw, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield SourceRow(line_no, {}, {"_line": line.decode("utf-8", "replace")},
                                [("", f"not valid JSON: {exc}")])
                continue
            if not isinstance(obj, dict):
                yield SourceRow(line_no, {}, {"_line": obj}, [("", "not a JSON object")])
                continue
            keys = tuple(str(k) for k in obj)
            header_map = self._maps.get(keys)
            if header_map is None:
                try:
                    header_map = map_headers(list(keys), self.columns)
                except HeaderError as exc:
                    header_map = str(exc)
                self._maps[keys] = header_map
            if isinstance(header_map, str):
                yield SourceRow(line_no, {}, obj, [("", header_map)])
                continue
            values = {name: obj[keys[i]] for name, i in header_map.positions.items()}
            yield SourceRow(line_no, values, obj)

    def position(self) -> int:
        return self._raw.tell() if not self._raw.closed else self.total

    def close(self) -> None:
        self._raw.close()


def open_reader(
    path: Path,
    columns: tuple[Column, ...],
    *,
    encoding: str | None = None,
    sheet: str | None = None,
) -> Reader:
    """Pick the reader from the file name: .xlsx, .jsonl/.ndjson, otherwise CSV."""
    if not path.exists():
        raise FileFormatError(f"{path} does not exist")
    if path.is_dir():
        raise FileFormatError(f"{path} is a directory")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return XlsxReader(path, columns, sheet)
    if suffix in (".jsonl", ".ndjson"):
        return JsonLinesReader(path, columns)
    if suffix == ".xls":
        raise FileFormatError("old .xls workbooks are not supported; save as .xlsx or CSV")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise FileFormatError(f"unknown encoding {encoding!r}") from exc
    return CsvReader(path, columns, encoding)
