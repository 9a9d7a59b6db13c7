"""Migrations: the models and the migrated schema agree, and every step goes both ways."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

import store.campaign_models  # registers the campaign tables
import store.console_models  # noqa: F401 - registers the console tables (and binds `store`)
from store.db import current_revision, head_revision, make_engine, upgrade
from store.models import Base


def test_models_match_migrations(engine: Engine) -> None:
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
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
