"""Ticket search without reading the whole table: on SQLite an FTS5 trigram index of the
summaries kept in step by triggers, on PostgreSQL a GIN index of the summaries'
character pairs; on both a B-tree of the numbers reversed, for their last digits
(store/search_index.py says why these and not pg_trgm). Filled from the tickets already
there: on a large store this migration takes a while (about a minute per million tickets
on SQLite).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

from store import search_index

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        search_index.create_sqlite(conn)
    else:
        search_index.create_postgresql(conn)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        search_index.drop_sqlite(conn)
    else:
        search_index.drop_postgresql(conn)
