"""Engines, schema versions and database errors people can act on."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, exc, make_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


class StoreError(RuntimeError):
    """An error of the store that the operator can act on; the message says how."""


class DatabaseUnavailable(StoreError):
    pass


class SchemaMismatch(StoreError):
    pass


def masked_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, *, busy_timeout_ms: int = 5000, echo: bool = False) -> Engine:
    """An engine for `url`. SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"timeout": busy_timeout_ms / 1000}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def describe_db_error(error: exc.DBAPIError | exc.SQLAlchemyError, url: str) -> str:
    """One sentence for a database failure: what went wrong and where."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    where = masked_url(url)
    lowered = text.lower()
    if "database is locked" in lowered:
        return (
            f"the database {where} is locked by another process and stayed locked past the "
            "busy timeout; stop the other writer or raise database.busy_timeout_ms"
        )
    if "unable to open database file" in lowered:
        return f"cannot open the SQLite file of {where}: check the path and permissions"
    if "connection" in lowered or "server" in lowered or "terminat" in lowered:
        return f"the database {where} cannot be reached: {text}"
    return f"database error on {where}: {text}"


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:  # only migrations themselves need one (env.py)
        cfg.attributes["engine"] = engine
    return cfg


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)
    log.info("schema upgraded to %s on %s", revision, masked_url(str(engine.url)))


def check_schema(engine: Engine) -> None:
    """Refuse to work on a schema that does not match this code, naming the fix."""
    url = engine.url.render_as_string(hide_password=True)
    try:
        current = current_revision(engine)
    except exc.OperationalError as error:
        raise DatabaseUnavailable(describe_db_error(error, url)) from error
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise SchemaMismatch(
            f"the database {url} has no huifang schema; run `huifang db upgrade` to create it"
        )
    known = {rev.revision for rev in _scripts().walk_revisions()}
    if current not in known:
        raise SchemaMismatch(
            f"the database {url} is at schema {current}, newer than this code ({head}); "
            "upgrade huifang to a version that knows it"
        )
    raise SchemaMismatch(
        f"the database {url} is at schema {current} but this code needs {head}; "
        "run `huifang db upgrade`"
    )


@contextmanager
def translated_errors(url: str) -> Iterator[None]:
    """Turn driver errors into DatabaseUnavailable with a readable message."""
    try:
        yield
    except exc.OperationalError as error:
        raise DatabaseUnavailable(describe_db_error(error, url)) from error
    except exc.InterfaceError as error:
        raise DatabaseUnavailable(describe_db_error(error, url)) from error
