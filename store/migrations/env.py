"""Alembic environment: the engine comes from store.db, never from an ini file."""

from __future__ import annotations

from alembic import context

from store.campaign_models import CampaignState  # noqa: F401 - registers the tables
from store.console_models import User  # noqa: F401 - registers the tables
from store.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
