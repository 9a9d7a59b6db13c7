"""Run one import: stream rows, validate, write in batches, report every bad row.

- Good rows go in and bad rows go to a rejects file beside the input (same columns, plus
  `_row`, `_column` and `_error`, so the file can be fixed and imported again).
- `strict=True` writes nothing if any row is bad.
- Re-importing a file changes nothing; a database failure mid-way leaves the batches
  already committed, and running the same import again completes it.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    exc,
    insert,
    update,
)
from sqlalchemy import text as sql

from store.bulk import insert_rows
from store.db import DatabaseUnavailable, describe_db_error
from store.importing.apply_callbacks import EvaluationHandler, ExclusionHandler
from store.importing.apply_tickets import TicketHandler
from store.importing.apply_units import UnitHandler
from store.importing.base import Context, Handler, Outcome, RowResult, ValidRow
from store.importing.readers import FileFormatError, JsonLinesReader, Reader, open_reader
from store.models import ImportBatch

log = logging.getLogger(__name__)

HANDLERS: dict[str, Callable[[], Handler]] = {
    "units": UnitHandler, "tickets": TicketHandler,
    "evaluations": EvaluationHandler, "exclusions": ExclusionHandler,
}
Progress = Callable[[int, int], None]
# Keys seen in the file being imported, for duplicate detection with flat memory. A
# temporary table of the import's own connection; not part of the schema.
SEEN = Table("import_seen", MetaData(), Column("k", String(200), primary_key=True),
             Column("row_no", Integer, nullable=False), prefixes=["TEMPORARY"])


class ImportFileError(ValueError):
    """The file as a whole is unusable; nothing was written."""


@dataclass(frozen=True)
class ImportOptions:
    strict: bool = False
    batch_size: int = 5000
    encoding: str | None = None
    sheet: str | None = None
    rejects_path: Path | None = None
    rejects_suffix: str = ".rejects.csv"
    default_area_code: str = ""
    max_errors_kept: int = 100


@dataclass(frozen=True)
class RowError:
    row_no: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row_no}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass
class ImportResult:
    kind: str
    source: Path
    import_id: int = 0
    status: str = "running"
    encoding: str | None = None
    ignored_headers: tuple[str, ...] = ()
    counts: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    errors: list[RowError] = field(default_factory=list)
    rejects_path: Path | None = None
    # rows imported with something to say (an empty answer cell read as unknown, ...)
    warnings: list[RowError] = field(default_factory=list)
    warned: int = 0

    @property
    def rows_read(self) -> int:
        return sum(self.counts.values())

    @property
    def rejected(self) -> int:
        return self.counts[Outcome.REJECTED]


class _Rejects:
    """Bad rows, written lazily in the input's own shape and encoding."""

    def __init__(self, path: Path, reader: Reader) -> None:
        self.path, self.reader = path, reader
        self._file: IO[str] | None = None
        self._csv: Any = None

    def write(self, original: list[Any] | dict[str, Any], row_no: int,
              errors: list[tuple[str, str]]) -> None:
        columns = "; ".join(c for c, _ in errors if c)
        reasons = "; ".join(r for _, r in errors)
        if self._file is None:
            encoding = self.reader.encoding or "utf-8-sig"
            self._file = self.path.open("w", encoding=encoding, errors="surrogateescape",
                                        newline="")
            if not isinstance(self.reader, JsonLinesReader):
                self._csv = csv.writer(self._file)
                self._csv.writerow([*self.reader.headers, "_row", "_column", "_error"])
        if isinstance(self.reader, JsonLinesReader):
            obj: dict[str, Any] = (dict(original) if isinstance(original, dict)
                                   else {"_cells": original})
            obj.update({"_row": row_no, "_column": columns, "_error": reasons})
            self._file.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
        else:
            cells = list(original) if isinstance(original, list) else []
            cells += [""] * (len(self.reader.headers) - len(cells))
            self._csv.writerow([*("" if c is None else c for c in cells), row_no, columns,
                                reasons])

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _rejects_path(path: Path, options: ImportOptions, reader: Reader) -> Path:
    if options.rejects_path is not None:
        return options.rejects_path
    suffix = options.rejects_suffix
    if isinstance(reader, JsonLinesReader) and suffix.endswith(".csv"):
        suffix = suffix[: -len(".csv")] + ".jsonl"
    return path.with_name(path.name + suffix)


def run_import(engine: Engine, kind: str, path: Path, *, now: datetime,
               options: ImportOptions = ImportOptions(),
               progress: Progress | None = None) -> ImportResult:
    if kind not in HANDLERS:
        raise ImportFileError(f"unknown import kind {kind!r}; one of {', '.join(HANDLERS)}")
    handler = HANDLERS[kind]()
    try:
        reader = open_reader(path, handler.columns, encoding=options.encoding,
                             sheet=options.sheet)
    except (FileFormatError, OSError) as error:
        raise ImportFileError(f"{path}: {error}") from error
    result = ImportResult(kind=kind, source=path, encoding=reader.encoding,
                          ignored_headers=reader.header_map.ignored)
    rejects_path = _rejects_path(path, options, reader)
    if not os.access(rejects_path.parent, os.W_OK):
        reader.close()
        raise ImportFileError(f"cannot write the rejects file in {rejects_path.parent}; "
                              "pass --rejects PATH")
    rejects = _Rejects(rejects_path, reader)
    url = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            result.import_id = _start_batch(conn, kind, path, options.strict, now)
            log.info("import %s started: %s from %s", result.import_id, kind, path)
            _Run(conn, handler, reader, rejects, result, options, now, progress).run()
    except (exc.OperationalError, exc.InterfaceError) as error:
        message = describe_db_error(error, url)
        _finish_batch(engine, result, "failed", now, message)
        log.error("import %s failed: %s", result.import_id, message)
        raise DatabaseUnavailable(
            f"{message}. Nothing of the failed batch was written"
            + ("" if options.strict else "; earlier batches were committed")
            + ". Run the same import again to complete it: rows already imported are "
            "left unchanged.") from error
    finally:
        reader.close()
        rejects.close()
    if result.rejected:
        result.rejects_path = rejects.path
    _finish_batch(engine, result, result.status, now, None)
    log.info("import %s %s: %s", result.import_id, result.status,
             ", ".join(f"{o} {n}" for o, n in result.counts.items() if n) or "no rows")
    return result


def _start_batch(conn: Connection, kind: str, path: Path, strict: bool, now: datetime) -> int:
    size = path.stat().st_size if path.exists() else None
    import_id = conn.execute(insert(ImportBatch).values(
        kind=kind, source=str(path), source_size=size, started_at=now, status="running",
        strict=strict, rows_read=0, rows_inserted=0, rows_updated=0, rows_unchanged=0,
        rows_rejected=0)).inserted_primary_key[0]  # type: ignore[index]
    conn.commit()
    return int(import_id)


def _finish_batch(engine: Engine, result: ImportResult, status: str, now: datetime,
                  error: str | None) -> None:
    if not result.import_id:
        return
    counts = result.counts
    try:
        with engine.begin() as conn:
            conn.execute(update(ImportBatch).where(ImportBatch.id == result.import_id).values(
                finished_at=now, status=status, error=error,
                rows_read=result.rows_read, rows_inserted=counts[Outcome.INSERTED],
                rows_updated=counts[Outcome.UPDATED],
                rows_unchanged=counts[Outcome.UNCHANGED] + counts[Outcome.STALE],
                rows_rejected=counts[Outcome.REJECTED]))
    except exc.SQLAlchemyError:
        log.warning("could not record the end of import %s", result.import_id)


class _Run:
    def __init__(self, conn: Connection, handler: Handler, reader: Reader, rejects: _Rejects,
                 result: ImportResult, options: ImportOptions, now: datetime,
                 progress: Progress | None) -> None:
        self.conn, self.handler, self.reader, self.rejects = conn, handler, reader, rejects
        self.result, self.options, self.progress = result, options, progress
        self.ctx = Context(result.import_id, now, options.default_area_code)
        self.originals: dict[int, Any] = {}
        self.batches = 0

    def run(self) -> None:
        conn = self.conn
        # A failed import can leave the table on a pooled connection: reuse and empty it.
        SEEN.create(conn, checkfirst=True)
        conn.execute(SEEN.delete())
        batch: list[ValidRow] = []
        for source_row in self.reader.rows():
            record, errors = (None, source_row.errors) if source_row.errors else \
                self.handler.validate(source_row.values, self.ctx)
            if errors:
                self._reject(source_row.original, source_row.row_no, errors)
            else:
                self._warn(source_row.row_no, getattr(record, "warnings", ()))
                batch.append(ValidRow(source_row.row_no, self.handler.key(record), record))
                self.originals[source_row.row_no] = source_row.original
            if len(batch) >= self.options.batch_size and not self.handler.whole_file:
                self._flush(batch)
                batch = []
        self._flush(batch)
        if self.options.strict and self.result.rejected:
            conn.rollback()
            self.result.status = "rejected"  # counts say what would have been written
        else:
            conn.commit()
            self.result.status = "partial" if self.result.rejected else "done"
        SEEN.drop(conn, checkfirst=True)  # a strict rollback already removed it on PG
        conn.commit()

    def _flush(self, batch: list[ValidRow]) -> None:
        if batch:
            unique = self._drop_duplicates(batch)
            results = self.handler.apply(self.conn, unique, self.ctx) if unique else []
            for row, outcome in zip(unique, results, strict=True):
                self._count(row.row_no, outcome)
            if not self.options.strict:
                self.conn.commit()
            self.originals.clear()
            self._refresh_statistics()
        if self.progress is not None:
            self.progress(self.reader.position(), self.reader.total)

    def _refresh_statistics(self) -> None:
        """PostgreSQL plans from statistics that a bulk load makes stale at once: with an
        empty `tickets` table it picks sequential scans and the import turns quadratic.
        ANALYZE after batches 1, 2, 4, 8, ... keeps the plans on the indexes for a cost
        that is logarithmic in the file's length. (Temporary tables are never analysed
        by autovacuum, so this matters for import_seen too.)"""
        self.batches += 1
        if self.conn.dialect.name == "postgresql" and self.batches & (self.batches - 1) == 0:
            self.conn.execute(sql("ANALYZE"))
            if not self.options.strict:
                self.conn.commit()

    def _drop_duplicates(self, batch: list[ValidRow]) -> list[ValidRow]:
        keys = list({row.key for row in batch})
        seen: dict[str, int] = {}
        mark = "?" if self.conn.dialect.paramstyle == "qmark" else "%s"
        for start in range(0, len(keys), 900):  # under SQLite's 999-parameter floor
            chunk = tuple(keys[start:start + 900])
            marks = ", ".join(mark for _ in chunk)
            for key, row_no in self.conn.exec_driver_sql(
                    f"SELECT k, row_no FROM import_seen WHERE k IN ({marks})", chunk):
                seen[key] = row_no
        unique, fresh = [], []
        for row in batch:
            first = seen.get(row.key)
            if first is not None:
                label = "ticket_no" if self.handler.kind != "units" else "name"
                self._reject(self.originals[row.row_no], row.row_no,
                             [(label, f"duplicate of row {first} of this file")])
                continue
            seen[row.key] = row.row_no
            fresh.append({"k": row.key, "row_no": row.row_no})
            unique.append(row)
        insert_rows(self.conn, SEEN, fresh)
        return unique

    def _count(self, row_no: int, outcome: RowResult) -> None:
        if outcome.outcome is Outcome.REJECTED:
            self._reject(self.originals[row_no], row_no, [(outcome.column, outcome.reason)])
        else:
            self.result.counts[outcome.outcome] += 1

    def _warn(self, row_no: int, warnings: tuple[tuple[str, str], ...]) -> None:
        """A row taken as it is, with what the operator should know about it."""
        if not warnings:
            return
        self.result.warned += 1
        if len(self.result.warnings) < self.options.max_errors_kept:
            self.result.warnings.extend(RowError(row_no, c, r) for c, r in warnings)

    def _reject(self, original: list[Any] | dict[str, Any], row_no: int,
                errors: list[tuple[str, str]]) -> None:
        self.result.counts[Outcome.REJECTED] += 1
        if len(self.result.errors) < self.options.max_errors_kept:
            self.result.errors.extend(RowError(row_no, c, r) for c, r in errors)
        self.rejects.write(original, row_no, errors)
