"""The audit log (审计日志): every change a person makes through the console or the
command line, with who, when, the before and the after, and the reason they gave.

Writers call `record` inside the transaction of the change itself, so a change is never
stored without its entry nor an entry without its change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from store.console_models import AuditEntry
from store.models import Ticket


class ReasonRequired(ValueError):
    """A change that touches a score needs a reason."""


def _json(value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def record(conn: Connection, *, at: datetime, actor: str, action: str, target: str,
           reason: str, ticket_id: int | None = None, before: dict[str, Any] | None = None,
           after: dict[str, Any] | None = None, address: str | None = None) -> int:
    if not reason.strip():
        raise ReasonRequired(f"{action}: a reason is required")
    return int(conn.execute(insert(AuditEntry).values(
        at=at, actor=actor, action=action, ticket_id=ticket_id, target=target[:200],
        before=_json(before), after=_json(after), reason=reason.strip(), address=address,
    ).returning(AuditEntry.id)).scalar_one())


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    target: str = ""  # a ticket number, a masked phone, a user name: exact match
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    ticket_no: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    address: str | None


def _query(f: AuditFilter) -> Any:
    query: Any = (select(AuditEntry, Ticket.ticket_no)
             .outerjoin(Ticket, Ticket.id == AuditEntry.ticket_id))
    if f.actor:
        query = query.where(AuditEntry.actor == f.actor)
    if f.action:
        query = query.where(AuditEntry.action == f.action)
    if f.target:
        query = query.where(AuditEntry.target == f.target)
    if f.since is not None:
        query = query.where(AuditEntry.at >= f.since)
    if f.until is not None:
        query = query.where(AuditEntry.at < f.until)
    return query


def _row(entry: Any) -> AuditRow:
    return AuditRow(entry.id, entry.at, entry.actor, entry.action, entry.target,
                    entry.ticket_no,
                    json.loads(entry.before) if entry.before else None,
                    json.loads(entry.after) if entry.after else None,
                    entry.reason, entry.address)


def entries(engine: Engine, f: AuditFilter, *, limit: int = 100, offset: int = 0
            ) -> tuple[list[AuditRow], int]:
    """Newest first, and how many match in all."""
    query = _query(f)
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(query.subquery()))
                    .scalar_one())
        rows = conn.execute(query.order_by(AuditEntry.id.desc()).limit(limit)
                            .offset(offset)).all()
    return [_row(r) for r in rows], total


def for_ticket(conn: Connection, ticket_id: int) -> list[AuditRow]:
    rows = conn.execute(_query(AuditFilter()).where(AuditEntry.ticket_id == ticket_id)
                        .order_by(AuditEntry.id)).all()
    return [_row(r) for r in rows]


def stream(engine: Engine, f: AuditFilter, batch: int = 1000) -> Iterator[AuditRow]:
    """Every matching entry, oldest first, for exports."""
    last = 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(_query(f).where(AuditEntry.id > last)
                                .order_by(AuditEntry.id).limit(batch)).all()
        if not rows:
            return
        for r in rows:
            yield _row(r)
        last = rows[-1].id


def actions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [str(a) for a in conn.execute(
            select(AuditEntry.action).distinct().order_by(AuditEntry.action)).scalars()]
