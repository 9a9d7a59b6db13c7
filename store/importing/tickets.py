"""Ticket rows: validation, and the plan of what a row changes for a known ticket.

Pure functions: no database, no clock (the caller passes `now`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from store.enums import EventKind, TicketStatus, TicketType
from store.importing.values import parse_datetime, parse_ticket_type, text
from store.phones import Phone, PhoneError, normalize_phone

FUTURE_SLACK = timedelta(days=1)
LIMITS = {"ticket_no": 64, "unit": 200, "channel": 50, "category": 300, "name": 100}

RowErrors = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class TicketRecord:
    ticket_no: str
    unit: str
    type: TicketType
    channel: str | None
    category: str | None
    summary: str | None
    phone: Phone
    name: str | None
    received_at: datetime
    dispatched_at: datetime | None
    signed_at: datetime | None
    closed_at: datetime | None
    deadline_at: datetime | None
    reopened_at: datetime | None
    reply_summary: str | None


def validate_ticket(
    values: dict[str, Any], *, now: datetime, default_area_code: str = ""
) -> tuple[TicketRecord | None, RowErrors]:
    """A typed record, or the list of (column, reason) that make the row bad."""
    errors: RowErrors = []
    parsed: dict[str, Any] = {}
    for name in ("ticket_no", "unit", "channel", "category", "summary", "name",
                 "reply_summary"):
        value = text(values.get(name))
        limit = LIMITS.get(name)
        if limit and value and len(value) > limit:
            errors.append((name, f"longer than {limit} characters"))
        parsed[name] = value
    for name in ("ticket_no", "unit"):
        if parsed[name] is None:
            errors.append((name, "empty"))
    try:
        parsed["type"] = parse_ticket_type(values.get("type"))
        if parsed["type"] is None:
            errors.append(("type", "empty"))
    except ValueError as exc:
        errors.append(("type", str(exc)))
    raw_phone = text(values.get("phone"))
    if raw_phone is None:
        errors.append(("phone", "empty"))
    else:
        try:
            parsed["phone"] = normalize_phone(raw_phone, default_area_code)
        except PhoneError as exc:
            errors.append(("phone", str(exc)))
    for name in ("received_at", "dispatched_at", "signed_at", "closed_at", "deadline_at",
                 "reopened_at"):
        try:
            parsed[name] = parse_datetime(values.get(name))
        except ValueError as exc:
            errors.append((name, str(exc)))
            parsed[name] = None
    if parsed["received_at"] is None and not any(c == "received_at" for c, _ in errors):
        errors.append(("received_at", "empty"))
    errors.extend(check_time_order(parsed, now))
    if errors:
        return None, errors
    return TicketRecord(**parsed), errors


def check_time_order(t: dict[str, Any], now: datetime) -> RowErrors:
    errors: RowErrors = []
    received = t.get("received_at")
    chain = [("received_at", received), ("dispatched_at", t.get("dispatched_at")),
             ("signed_at", t.get("signed_at")), ("closed_at", t.get("closed_at"))]
    last_name, last_value = None, None
    for name, value in chain:
        if value is None:
            continue
        if last_value is not None and value < last_value:
            errors.append((name, f"{name} {value} is before {last_name} {last_value}"))
        last_name, last_value = name, value
    for name in ("received_at", "dispatched_at", "signed_at", "closed_at", "reopened_at"):
        value = t.get(name)
        if value is not None and value > now + FUTURE_SLACK:
            errors.append((name, f"{name} {value} is in the future"))
    if received is not None:
        for name in ("deadline_at", "reopened_at"):
            value = t.get(name)
            if value is not None and value < received:
                errors.append((name, f"{name} {value} is before received_at {received}"))
    return errors


@dataclass(frozen=True, slots=True)
class ClosureSnapshot:
    seq: int
    closed_at: datetime
    reopened: bool
    reopened_at: datetime | None


@dataclass(frozen=True, slots=True)
class TicketSnapshot:
    """What the store knows of a ticket, as far as an import needs it."""

    id: int
    unit_id: int
    values: dict[str, Any]
    closures: tuple[ClosureSnapshot, ...]

    @property
    def latest(self) -> ClosureSnapshot | None:
        return self.closures[-1] if self.closures else None


class PlannedEvent(NamedTuple):
    kind: EventKind
    at: datetime | None
    closure_seq: int | None = None
    detail: str | None = None


@dataclass(slots=True)
class TicketPlan:
    """What to write for one row. `stale` rows are older than the store and change nothing."""

    values: dict[str, Any] = field(default_factory=dict)
    reopen: list[tuple[int, datetime | None]] = field(default_factory=list)
    new_closure: tuple[int, datetime] | None = None
    events: list[PlannedEvent] = field(default_factory=list)
    stale: bool = False
    error: tuple[str, str] | None = None

    @property
    def changed(self) -> bool:
        return bool(self.values or self.reopen or self.new_closure or self.events)


COMPARED = ("type", "channel", "category", "summary", "phone", "phone_kind", "citizen_name",
            "received_at", "dispatched_at", "signed_at", "deadline_at", "reply_summary")
SENSITIVE = {"phone", "phone_kind", "citizen_name"}


def record_values(rec: TicketRecord, unit_id: int) -> dict[str, Any]:
    return {
        "unit_id": unit_id, "type": rec.type, "channel": rec.channel,
        "category": rec.category, "summary": rec.summary, "phone": rec.phone.e164,
        "phone_kind": rec.phone.kind, "citizen_name": rec.name,
        "received_at": rec.received_at, "dispatched_at": rec.dispatched_at,
        "signed_at": rec.signed_at, "deadline_at": rec.deadline_at,
        "reply_summary": rec.reply_summary,
    }


def derive_status(rec: TicketRecord, reopened: bool) -> TicketStatus:
    if rec.closed_at is not None:
        return TicketStatus.REOPENED if reopened else TicketStatus.CLOSED
    if reopened:
        return TicketStatus.REOPENED
    if rec.signed_at is not None:
        return TicketStatus.SIGNED
    if rec.dispatched_at is not None:
        return TicketStatus.DISPATCHED
    return TicketStatus.RECEIVED


def plan_new(rec: TicketRecord, unit_id: int) -> TicketPlan:
    """A ticket seen for the first time: its lifecycle so far is in the ticket's columns
    and its closure; one IMPORTED event records where and when the store learnt it."""
    plan = TicketPlan(values=record_values(rec, unit_id))
    reopened_after = bool(rec.closed_at and rec.reopened_at and rec.reopened_at > rec.closed_at)
    detail = None
    if rec.reopened_at and not reopened_after:
        # Reopened before the closure we see; the earlier closure is not in the file.
        detail = f"reopened at {rec.reopened_at}; earlier closure not in the imported file"
    plan.events.append(PlannedEvent(EventKind.IMPORTED, None, None, detail))
    if rec.closed_at:
        plan.new_closure = (1, rec.closed_at)
        if reopened_after:
            plan.reopen.append((1, rec.reopened_at))
    plan.values["status"] = derive_status(rec, reopened_after or
                                          (rec.closed_at is None and bool(rec.reopened_at)))
    plan.values["closed_at"] = rec.closed_at
    plan.values["closure_count"] = 1 if rec.closed_at else 0
    return plan


def plan_update(old: TicketSnapshot, rec: TicketRecord, unit_id: int) -> TicketPlan:
    """Compare a row with the stored ticket; a re-closure becomes a new closure."""
    plan = TicketPlan()
    latest = old.latest
    if rec.closed_at is not None and latest is not None and rec.closed_at < latest.closed_at:
        if any(c.closed_at == rec.closed_at for c in old.closures):
            plan.stale = True
            return plan
        plan.error = ("closed_at", f"closed_at {rec.closed_at} is before the ticket's latest "
                      f"known closure {latest.closed_at}")
        return plan
    reopened_since = bool(latest and rec.reopened_at and rec.reopened_at >= latest.closed_at)
    if rec.closed_at is None and latest is not None and not reopened_since:
        plan.error = ("closed_at", f"empty, but the ticket was closed at "
                      f"{latest.closed_at}; an older export? (give 退回时间 if reopened)")
        return plan
    new = record_values(rec, unit_id)
    if unit_id != old.unit_id:
        plan.values["unit_id"] = unit_id
        plan.events.append(PlannedEvent(EventKind.REASSIGNED, None, None,
                                        f"unit {old.unit_id} -> {unit_id}"))
    changed = [name for name in COMPARED if new[name] != old.values.get(name)]
    for name in changed:
        plan.values[name] = new[name]
    first_time = {"dispatched_at": EventKind.DISPATCHED, "signed_at": EventKind.SIGNED}
    corrected = []
    for name in changed:
        if name in first_time and old.values.get(name) is None:
            plan.events.append(PlannedEvent(first_time[name], new[name]))
        elif name in SENSITIVE:
            corrected.append(name)
        else:
            corrected.append(f"{name}: {old.values.get(name)} -> {new[name]}")
    if corrected:
        plan.events.append(PlannedEvent(EventKind.UPDATED, None, None, "; ".join(corrected)))
    reopened_now = latest.reopened if latest else False
    if rec.closed_at is not None and (latest is None or rec.closed_at > latest.closed_at):
        seq = 1
        if latest is not None:
            seq = latest.seq + 1
            if not latest.reopened:
                at = rec.reopened_at
                if at is None or at < latest.closed_at or at > rec.closed_at:
                    at = None
                plan.reopen.append((latest.seq, at))
                plan.events.append(PlannedEvent(EventKind.REOPENED, at, latest.seq))
        plan.new_closure = (seq, rec.closed_at)
        plan.events.append(PlannedEvent(EventKind.CLOSED, rec.closed_at, seq))
        plan.values["closed_at"] = rec.closed_at
        plan.values["closure_count"] = seq
        reopened_now = bool(rec.reopened_at and rec.reopened_at > rec.closed_at)
        if reopened_now:
            plan.reopen.append((seq, rec.reopened_at))
            plan.events.append(PlannedEvent(EventKind.REOPENED, rec.reopened_at, seq))
    elif (latest is not None and not latest.reopened and rec.reopened_at
          and rec.reopened_at >= latest.closed_at):
        plan.reopen.append((latest.seq, rec.reopened_at))
        plan.events.append(PlannedEvent(EventKind.REOPENED, rec.reopened_at, latest.seq))
        reopened_now = True
    status = derive_status(rec, reopened_now)
    if status != old.values.get("status"):
        plan.values["status"] = status
    return plan
