"""Migrations: the models and the migrated schema agree, and every step goes both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

import store.bulletins  # registers the bulletins table
import store.campaign_models  # registers the campaign tables
import store.console_models  # registers the console tables (and binds `store`)
import store.spot_checks  # noqa: F401 - registers the spot checks table
from store.db import current_revision, head_revision, make_engine, upgrade
from store.models import Base
from store.search_index import include_name


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based")
def test_models_match_migrations(engine: Engine) -> None:
    with engine.connect() as conn:
        # the search indexes are the migration's own (store/search_index.py)
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        assert compare_metadata(context, Base.metadata) == []
    assert current_revision(engine) == head_revision()


def test_upgrade_step_by_step_and_down(tmp_path: Path) -> None:
    from alembic import command

    from store.db import alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    command.downgrade(alembic_config(engine), "0001")
    assert current_revision(engine) == "0001"


def test_0004_brings_the_campaigns_review_callbacks_into_the_queue(tmp_path: Path) -> None:
    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0003")
    at = "2026-11-20 10:00:00.000000"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO units (id, name, kind, created_at, updated_at) "
                          "VALUES (1, '青石街道', 'street', :at, :at)"), {"at": at})
        conn.execute(text(
            "INSERT INTO tickets (id, ticket_no, unit_id, type, phone, phone_kind, "
            "received_at, status, closure_count, created_at, updated_at) VALUES "
            "(1, 'T1', 1, 'complaint', '+8614507310001', 'mobile', :at, 'closed', 1, :at, :at)"),
            {"at": at})
        conn.execute(text("INSERT INTO closures (id, ticket_id, seq, closed_at, reopened, "
                          "created_at) VALUES (1, 1, 1, :at, 0, :at), (2, 1, 2, :at, 0, :at)"),
                     {"at": at})
        for cid, status, outcome in ((1, "review", "wrong_person"), (2, "review", "busy")):
            conn.execute(text(
                "INSERT INTO callbacks (id, closure_id, ticket_id, phone, status, due_at, "
                "deadline_at, attempts, last_outcome, created_at, updated_at) VALUES "
                "(:id, :id, 1, '+8614507310001', :s, :at, :at, 3, :o, :at, :at)"),
                {"id": cid, "s": status, "o": outcome, "at": at})
    upgrade(engine)
    with engine.connect() as conn:
        kinds = conn.execute(text("SELECT id, review_kind FROM callbacks ORDER BY id")).all()
    assert [tuple(k) for k in kinds] == [(1, "wrong_person"), (2, "unreachable")]
