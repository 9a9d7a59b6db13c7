"""The indexes behind ticket search, so that a search by words of the summary or by the
last digits of a number does not read the whole table (`LIKE '%x%'`). Created by
migration 0009; kept in step with every write to `tickets` by the database itself
(SQLite triggers, PostgreSQL expression indexes), whichever path writes (imports, the
API, bulk loads).

- **Summary, SQLite**: an FTS5 table with the trigram tokenizer (SQLite 3.34 and later;
  Chinese needs no word segmentation), contentless, fed by triggers with each summary
  followed by a sentinel character. Three or more characters are a phrase of trigrams
  (a substring); two characters, the most common length of a Chinese word, have no
  trigram of their own, so the index's vocabulary gives the trigrams that begin with
  them (the sentinel makes every occurrence begin one) and the search matches any.
- **Summary, PostgreSQL**: a GIN index over the summary's distinct character pairs
  (`huifang_bigrams`, an immutable SQL function): the tickets holding every pair of the
  query, then LIKE. Not pg_trgm: it extracts no trigram from Chinese in a database whose
  LC_CTYPE is C (`show_trgm('小区加装电梯')` is empty there), and none from a word of two
  characters in any database, so either would still scan.
- **Last digits of a number**, both: a B-tree over the number reversed, the suffix a
  prefix of it (a range).

Every hit is checked with the same LIKE as before, so the index only narrows the rows
read and the answers are those of the scan. Without FTS5's trigram tokenizer (an old
SQLite) or the function (a database not migrated by us), search falls back to the scan
and says so once in the log."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, text

log = logging.getLogger(__name__)

SENTINEL = "\x1f"  # follows every indexed summary (SQLite): no trigram ends a text early
PHONE_LENGTH = 20  # tickets.phone is String(20)
# SQLite has no reverse(): the number's characters from the 20th to the first (substr
# past the end is empty); the index and the query must spell it the same
SQLITE_REVERSED = " || ".join(f"substr(phone, {i}, 1)" for i in range(PHONE_LENGTH, 0, -1))
PG_REVERSED = "reverse(phone)"
FTS_TABLES = ("ticket_search", "ticket_search_terms")

_SQLITE_TRIGGERS = (
    """CREATE TRIGGER tickets_search_insert AFTER INSERT ON tickets
        WHEN new.summary IS NOT NULL BEGIN
        INSERT INTO ticket_search (rowid, summary) VALUES (new.id, new.summary || char(31));
    END""",
    """CREATE TRIGGER tickets_search_delete AFTER DELETE ON tickets
        WHEN old.summary IS NOT NULL BEGIN
        INSERT INTO ticket_search (ticket_search, rowid, summary)
            VALUES ('delete', old.id, old.summary || char(31));
    END""",
    """CREATE TRIGGER tickets_search_update AFTER UPDATE OF summary ON tickets BEGIN
        INSERT INTO ticket_search (ticket_search, rowid, summary)
            SELECT 'delete', old.id, old.summary || char(31) WHERE old.summary IS NOT NULL;
        INSERT INTO ticket_search (rowid, summary)
            SELECT new.id, new.summary || char(31) WHERE new.summary IS NOT NULL;
    END""",
)
TRIGGERS = ("tickets_search_insert", "tickets_search_delete", "tickets_search_update")
assert ord(SENTINEL) == 31  # char(31) in the triggers

BIGRAMS_FUNCTION = """
CREATE OR REPLACE FUNCTION huifang_bigrams(text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr($1, i, 2)), '{}')
    FROM generate_series(1, length($1) - 1) AS i
$$"""


def has_trigram(conn: Connection) -> bool:
    """Whether this SQLite has FTS5 with the trigram tokenizer."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE VIRTUAL TABLE temp.huifang_probe USING "
                                 "fts5(x, tokenize='trigram')")
            conn.exec_driver_sql("DROP TABLE temp.huifang_probe")
    except Exception:  # no FTS5, or no trigram tokenizer: the search scans
        return False
    return True


def create_sqlite(conn: Connection) -> bool:
    """The SQLite indexes and triggers, filled from the tickets already there; False
    (and only the number's index) without FTS5's trigram tokenizer."""
    conn.exec_driver_sql(f"CREATE INDEX ix_tickets_phone_reversed ON tickets ({SQLITE_REVERSED})")
    if not has_trigram(conn):
        log.warning("this SQLite has no FTS5 trigram tokenizer: ticket search by words "
                    "of the summary reads the whole table")
        return False
    conn.exec_driver_sql("CREATE VIRTUAL TABLE ticket_search USING fts5(summary, "
                         "content='', tokenize='trigram')")
    conn.exec_driver_sql("CREATE VIRTUAL TABLE ticket_search_terms USING "
                         "fts5vocab(ticket_search, 'row')")
    conn.exec_driver_sql("INSERT INTO ticket_search (rowid, summary) SELECT id, "
                         "summary || char(31) FROM tickets WHERE summary IS NOT NULL")
    create_sqlite_triggers(conn)
    return True


def create_sqlite_triggers(conn: Connection) -> None:
    """The triggers that keep ticket_search in step. A migration that rebuilds `tickets`
    (SQLite's batch mode copies it into a new table) drops them: it must call this
    again (tests/test_ticket_search.py checks they exist at head)."""
    for ddl in _SQLITE_TRIGGERS:
        conn.exec_driver_sql(ddl)


def drop_sqlite(conn: Connection) -> None:
    for name in TRIGGERS:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    for name in reversed(FTS_TABLES):
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_tickets_phone_reversed")


def create_postgresql(conn: Connection) -> None:
    conn.exec_driver_sql(BIGRAMS_FUNCTION)
    conn.exec_driver_sql("CREATE INDEX ix_tickets_summary_bigrams ON tickets "
                         "USING gin (huifang_bigrams(summary))")
    conn.exec_driver_sql(f"CREATE INDEX ix_tickets_phone_reversed ON tickets "
                         f"({PG_REVERSED} text_pattern_ops)")


def drop_postgresql(conn: Connection) -> None:
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_tickets_phone_reversed")
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_tickets_summary_bigrams")
    conn.exec_driver_sql("DROP FUNCTION IF EXISTS huifang_bigrams(text)")


INDEXES = ("ix_tickets_phone_reversed", "ix_tickets_summary_bigrams")


def include_name(name: str | None, type_: str, _parent: Any) -> bool:
    """For Alembic's comparison of the models with the database: these objects are the
    migration's own (FTS5's virtual and shadow tables, expression indexes), not the
    models'."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(FTS_TABLES)
    return not (type_ == "index" and name in INDEXES)


# -- what a search may use -------------------------------------------------------------
_known: dict[str, tuple[bool, bool]] = {}  # database URL -> (summary index, phone index)


def available(conn: Connection) -> tuple[bool, bool]:
    """Whether this database has the summary index and the number's index; looked up
    once per database, and a missing one logged once."""
    url = conn.engine.url.render_as_string(hide_password=True)
    if url not in _known:
        if conn.dialect.name == "sqlite":
            names = set(conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE name IN ('ticket_search', "
                "'ix_tickets_phone_reversed')").scalars())
            found = ("ticket_search" in names, "ix_tickets_phone_reversed" in names)
        else:
            found = (bool(conn.execute(text(
                        "SELECT count(*) FROM pg_proc WHERE proname = 'huifang_bigrams'"))
                        .scalar()),
                     bool(conn.execute(text(
                         "SELECT count(*) FROM pg_indexes WHERE indexname = "
                         "'ix_tickets_phone_reversed'")).scalar()))
        if not all(found):
            log.warning("ticket search on %s has no index for %s: it reads the whole table "
                        "(run `huifang db upgrade`; on SQLite, one with FTS5's trigram "
                        "tokenizer, 3.34 or later)", url,
                        " and ".join(w for w, ok in zip(("summary words", "number endings"),
                                                        found, strict=True) if not ok))
        _known[url] = found
    return _known[url]


def forget() -> None:
    """Look again (a test that drops or adds the indexes)."""
    _known.clear()
