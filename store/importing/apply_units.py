"""Write unit rows. The whole file is read first, so a parent may follow its children."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from store.enums import UnitKind
from store.importing.base import Context, Outcome, RowResult, ValidRow
from store.importing.columns import UNIT_COLUMNS, Column
from store.importing.values import parse_unit_kind, text
from store.models import Unit


@dataclass(frozen=True, slots=True)
class UnitRecord:
    name: str
    parent: str | None
    group: str | None
    kind: UnitKind | None
    code: str | None


class UnitHandler:
    kind = "units"
    columns: tuple[Column, ...] = UNIT_COLUMNS
    whole_file = True

    def validate(self, values: dict[str, Any], ctx: Context) -> tuple[Any, list[tuple[str, str]]]:
        errors: list[tuple[str, str]] = []
        name = text(values.get("name"))
        if name is None:
            errors.append(("name", "empty"))
        elif len(name) > 200:
            errors.append(("name", "longer than 200 characters"))
        parent = text(values.get("parent"))
        if parent is not None and parent == name:
            errors.append(("parent", "a unit cannot be its own parent"))
        try:
            kind = parse_unit_kind(values.get("kind"))
        except ValueError as exc:
            errors.append(("kind", str(exc)))
            kind = None
        if errors or name is None:
            return None, errors
        record = UnitRecord(name, parent, text(values.get("group")), kind,
                            text(values.get("code")))
        return record, errors

    def key(self, record: UnitRecord) -> str:
        return record.name

    def apply(self, conn: Connection, rows: list[ValidRow], ctx: Context) -> list[RowResult]:
        existing = {r.name: r for r in conn.execute(
            select(Unit.id, Unit.name, Unit.parent_id, Unit.ranking_group, Unit.kind, Unit.code))}
        ids = {name: r.id for name, r in existing.items()}
        in_file = {row.record.name for row in rows}
        results: dict[int, RowResult] = {}
        pending = list(rows)
        # Resolve parents in rounds: a unit is written once its parent exists.
        while pending:
            progressed, waiting = False, []
            for row in pending:
                rec: UnitRecord = row.record
                if rec.parent is not None and rec.parent not in ids:
                    if rec.parent in in_file:
                        waiting.append(row)
                        continue
                    results[row.row_no] = RowResult(
                        Outcome.REJECTED, "parent", f"unknown parent unit {rec.parent!r}")
                    progressed = True
                    continue
                results[row.row_no] = self._upsert(conn, rec, existing.get(rec.name), ids, ctx)
                progressed = True
            if not progressed:
                for row in waiting:
                    results[row.row_no] = RowResult(
                        Outcome.REJECTED, "parent",
                        f"parent {row.record.parent!r} is in a cycle or was rejected")
                break
            pending = waiting
        return [results[row.row_no] for row in rows]

    def _upsert(self, conn: Connection, rec: UnitRecord, old: Any, ids: dict[str, int],
                ctx: Context) -> RowResult:
        parent_id = ids.get(rec.parent) if rec.parent else None
        values = {"parent_id": parent_id, "ranking_group": rec.group,
                  "kind": rec.kind or UnitKind.OTHER, "code": rec.code}
        if old is None:
            conn.execute(insert(Unit), {"name": rec.name, **values, "created_at": ctx.now,
                                        "updated_at": ctx.now})
            ids[rec.name] = conn.execute(select(Unit.id).where(Unit.name == rec.name)).scalar_one()
            return RowResult(Outcome.INSERTED)
        if rec.kind is None:
            values["kind"] = old.kind  # an absent kind column keeps what is stored
        if all(getattr(old, k) == v for k, v in
               (("parent_id", parent_id), ("ranking_group", rec.group),
                ("kind", values["kind"]), ("code", rec.code))):
            return RowResult(Outcome.UNCHANGED)
        if parent_id is not None and _is_descendant(conn, parent_id, old.id):
            return RowResult(Outcome.REJECTED, "parent",
                             f"{rec.parent!r} is below {rec.name!r}; that would make a cycle")
        conn.execute(update(Unit).where(Unit.id == old.id), {**values, "updated_at": ctx.now})
        return RowResult(Outcome.UPDATED)


def _is_descendant(conn: Connection, unit_id: int, ancestor_id: int) -> bool:
    current: int | None = unit_id
    seen = set()
    while current is not None and current not in seen:
        if current == ancestor_id:
            return True
        seen.add(current)
        current = conn.execute(select(Unit.parent_id).where(Unit.id == current)).scalar()
    return False
