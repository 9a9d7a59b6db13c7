"""Bulk inserts for imports: the one place that bypasses SQLAlchemy's per-value processing.

SQLAlchemy runs a Python bind processor for every enum and datetime value; at a million
tickets (six or seven rows each) that was three quarters of the import time. Here rows
go to the driver nearly as they are, in the same transaction:
- SQLite: `executemany`; datetimes go through the column type's own writer, because
  sqlite3's default adapter drops a zero microsecond part and the stored text would
  then compare differently from what the ORM writes (tests/test_bulk.py checks);
- PostgreSQL: `COPY ... FROM STDIN` through psycopg.
Enums are StrEnums, which both drivers take as the plain strings they are.
Every row must carry the same keys as the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, DateTime, Table, TypeDecorator


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (dicts keyed by column name) into `table`."""
    if not rows:
        return
    columns = [c for c in table.columns if c.name in rows[0]]
    names = [c.name for c in columns]
    quoted = ", ".join(f'"{n}"' for n in names)
    get = itemgetter(*names)
    single = len(names) == 1  # itemgetter of one name returns the value, not a tuple
    values = [[get(row)] if single else list(get(row)) for row in rows]
    if conn.dialect.name == "postgresql":
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(  # type: ignore[attr-defined]
                f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
            for row in values:
                copy.write_row(row)
        return
    for index, column in enumerate(columns):
        base = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
        if isinstance(base, DateTime):
            # The column type's own writer for aware values; naive ones (all that the
            # importers produce) take isoformat, which writes the same text 6x faster.
            write = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
            assert write is not None
            for row in values:
                value = row[index]
                if value is not None:
                    row[index] = (value.isoformat(" ", "microseconds")
                                  if value.tzinfo is None else write(value))
    marks = ", ".join("?" for _ in names)
    conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})',
                         [tuple(row) for row in values])
