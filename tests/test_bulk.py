"""The bulk path writes exactly what the ORM writes, so reads and comparisons agree."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, insert, select, text

from store.bulk import insert_rows
from store.enums import UnitKind
from store.models import Unit


def test_bulk_rows_equal_orm_rows(engine: Engine) -> None:
    at = datetime(2026, 11, 3, 10, 22, 11)
    row = {"kind": UnitKind.STREET, "parent_id": None, "ranking_group": "街道乡镇",
           "code": None, "created_at": at, "updated_at": at.replace(microsecond=5)}
    with engine.begin() as conn:
        conn.execute(insert(Unit), [{"name": "orm", **row}])
        insert_rows(conn, Unit.__table__, [{"name": "bulk", **row}])  # type: ignore[arg-type]
        raw = conn.execute(text("SELECT name, kind, created_at, updated_at FROM units "
                                "ORDER BY name")).all()
        later = conn.execute(select(Unit.name).where(Unit.created_at >= at)
                             .order_by(Unit.name)).scalars().all()
        typed = conn.execute(select(Unit.kind, Unit.updated_at)).all()
    assert raw[0][1:] == raw[1][1:]  # identical storage, byte for byte
    assert later == ["bulk", "orm"]
    assert typed == [(UnitKind.STREET, at.replace(microsecond=5))] * 2
