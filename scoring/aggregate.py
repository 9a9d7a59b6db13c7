"""Counts per unit for a period, aggregated in the database, then rolled up the tree."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, select

from scoring.facts import closure_facts, excluded_tickets, response_facts
from scoring.periods import Period
from scoring.rates import Counts
from store.models import Unit


@dataclass(frozen=True)
class UnitInfo:
    id: int
    name: str
    parent_id: int | None
    group: str | None
    kind: str


def load_units(conn: Connection) -> dict[int, UnitInfo]:
    rows = conn.execute(select(Unit.id, Unit.name, Unit.parent_id, Unit.ranking_group,
                               Unit.kind).order_by(Unit.id))
    return {r.id: UnitInfo(r.id, r.name, r.parent_id, r.ranking_group, str(r.kind))
            for r in rows}


def own_counts(conn: Connection, period: Period, today: date) -> dict[int, Counts]:
    """Each unit's own tickets (not its descendants'), excluded tickets left out."""
    fields: dict[int, dict[str, int]] = defaultdict(dict)
    r = response_facts(period, today).subquery()
    for row in conn.execute(
            select(r.c.unit_id, func.count().label("dispatched"),
                   func.sum(r.c.due).label("response_due"),
                   func.sum(r.c.in_time).label("signed_in_time"))
            .where(r.c.excluded_reason.is_(None)).group_by(r.c.unit_id)):
        fields[row.unit_id].update(dispatched=row.dispatched, response_due=row.response_due,
                                   signed_in_time=row.signed_in_time)
    c = closure_facts(period).subquery()
    sums = {name: func.sum(getattr(c.c, column)).label(name) for name, column in (
        ("closed_on_time", "on_time"), ("evaluated", "evaluated"), ("resolved", "is_resolved"),
        ("unresolved", "is_unresolved"), ("satisfied", "is_satisfied"),
        ("basic_satisfied", "is_basic"), ("unsatisfied", "is_unsatisfied"),
        ("both_positive", "both_positive"), ("one_negative", "one_negative"),
        ("both_negative", "both_negative"))}
    for row in conn.execute(
            select(c.c.unit_id, func.count().label("closed"), *sums.values())
            .where(c.c.excluded_reason.is_(None)).group_by(c.c.unit_id)):
        values = row._mapping
        fields[row.unit_id].update({k: int(values[k] or 0) for k in ("closed", *sums)})
    return {unit_id: Counts(**{k: int(v or 0) for k, v in f.items()})
            for unit_id, f in fields.items()}


def roll_up(units: dict[int, UnitInfo], own: dict[int, Counts]) -> dict[int, Counts]:
    """A unit's figures with all its descendants' tickets added (sums of counts)."""
    children: dict[int | None, list[int]] = defaultdict(list)
    for unit in units.values():
        children[unit.parent_id].append(unit.id)
    total: dict[int, Counts] = {}

    def visit(unit_id: int) -> Counts:
        result = own.get(unit_id, Counts())
        for child in children.get(unit_id, []):
            result = result + visit(child)
        total[unit_id] = result
        return result

    for root in children.get(None, []):
        visit(root)
    return total


def descendants(units: dict[int, UnitInfo], unit_id: int) -> set[int]:
    found, frontier = {unit_id}, [unit_id]
    while frontier:
        current = frontier.pop()
        for unit in units.values():
            if unit.parent_id == current and unit.id not in found:
                found.add(unit.id)
                frontier.append(unit.id)
    return found


def excluded(conn: Connection, period: Period) -> list[dict[str, object]]:
    return [dict(row._mapping) for row in conn.execute(excluded_tickets(period))]
