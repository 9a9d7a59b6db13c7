"""The contract between the import runner and the per-kind handlers."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from store.importing.columns import Column


class Outcome(enum.StrEnum):
    INSERTED = "inserted"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    STALE = "stale"  # older than what the store knows; nothing changed
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class RowResult:
    outcome: Outcome
    column: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ValidRow:
    row_no: int
    key: str
    record: Any


@dataclass(frozen=True, slots=True)
class Context:
    import_id: int
    now: datetime
    default_area_code: str


class Handler(Protocol):
    kind: str
    columns: tuple[Column, ...]
    #: apply rows only once the whole file is read (units: parents may come later)
    whole_file: bool

    def validate(self, values: dict[str, Any], ctx: Context) -> tuple[Any, list[tuple[str, str]]]:
        """A record and no errors, or None and the row's (column, reason) list."""
        ...

    def key(self, record: Any) -> str:
        """The identity of a record within one file, for duplicate detection."""
        ...

    def apply(self, conn: Connection, rows: list[ValidRow], ctx: Context) -> list[RowResult]:
        """Write a batch; one result per row, in order."""
        ...
