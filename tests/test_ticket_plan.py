"""The pure rules of what a ticket row means for a known ticket."""

from __future__ import annotations

from datetime import datetime

from store.enums import EventKind, TicketStatus
from store.importing.tickets import (
    COMPARED,
    ClosureSnapshot,
    TicketSnapshot,
    plan_new,
    plan_update,
    record_values,
    validate_ticket,
)

NOW = datetime(2026, 11, 20)
BASE = {"ticket_no": "GD1", "unit": "东湖区", "type": "投诉", "phone": "13812345678",
        "received_at": "2026-11-02 09:00", "dispatched_at": "2026-11-02 10:00",
        "signed_at": "2026-11-02 11:00", "closed_at": "2026-11-05 16:00"}


def record(**changes: str):  # type: ignore[no-untyped-def]
    rec, errors = validate_ticket({**BASE, **changes}, now=NOW)
    assert rec is not None, errors
    return rec


FIRST_CLOSURE = (ClosureSnapshot(1, datetime(2026, 11, 5, 16), False, None),)


def snapshot(rec, closures=FIRST_CLOSURE,  # type: ignore[no-untyped-def]
             status=TicketStatus.CLOSED) -> TicketSnapshot:
    values = record_values(rec, 1)
    return TicketSnapshot(1, 1, {**{k: values[k] for k in COMPARED}, "status": status},
                          tuple(closures))


def test_time_order_errors_name_both_columns() -> None:
    rec, errors = validate_ticket({**BASE, "signed_at": "2026-11-02 09:30",
                                   "dispatched_at": "2026-11-02 10:00"}, now=NOW)
    assert rec is None
    assert errors == [("signed_at", "signed_at 2026-11-02 09:30:00 is before dispatched_at "
                                    "2026-11-02 10:00:00")]


def test_future_and_multiple_errors_all_reported() -> None:
    _, errors = validate_ticket({**BASE, "closed_at": "2027-01-01", "phone": "1",
                                 "type": ""}, now=NOW)
    assert {c for c, _ in errors} == {"closed_at", "phone", "type"}


def test_new_closed_ticket() -> None:
    plan = plan_new(record(), 1)
    assert plan.new_closure == (1, datetime(2026, 11, 5, 16))
    assert [e.kind for e in plan.events] == [EventKind.IMPORTED]
    assert plan.values["status"] is TicketStatus.CLOSED


def test_same_row_is_unchanged() -> None:
    rec = record()
    assert not plan_update(snapshot(rec), rec, 1).changed


def test_reclosure_without_reopen_time() -> None:
    rec = record(closed_at="2026-11-09 10:00")
    plan = plan_update(snapshot(record()), rec, 1)
    assert plan.reopen == [(1, None)]
    assert plan.new_closure == (2, datetime(2026, 11, 9, 10))
    assert [e.kind for e in plan.events] == [EventKind.REOPENED, EventKind.CLOSED]
    assert "status" not in plan.values  # closed before, closed now


def test_field_corrections_are_recorded_without_the_phone() -> None:
    rec = record(phone="13900001111", summary="新的内容")
    plan = plan_update(snapshot(record()), rec, 2)
    assert plan.values["phone"] == "+8613900001111" and plan.values["unit_id"] == 2
    detail = " ".join(e.detail or "" for e in plan.events)
    assert "13900001111" not in detail and "phone" in detail and "summary" in detail
    assert EventKind.REASSIGNED in [e.kind for e in plan.events]


def test_earlier_unknown_closure_is_an_error_and_known_one_is_stale() -> None:
    closures = (ClosureSnapshot(1, datetime(2026, 11, 5, 16), True, None),
                ClosureSnapshot(2, datetime(2026, 11, 9, 10), False, None))
    old = snapshot(record(), closures)
    assert plan_update(old, record(), 1).stale
    plan = plan_update(old, record(closed_at="2026-11-07 10:00"), 1)
    assert plan.error is not None and plan.error[0] == "closed_at"


def test_missing_closure_time_for_a_closed_ticket() -> None:
    plan = plan_update(snapshot(record()), record(closed_at=""), 1)
    assert plan.error is not None and "older export" in plan.error[1]


def test_reopen_pending() -> None:
    plan = plan_update(snapshot(record()), record(closed_at="",
                                                  reopened_at="2026-11-06 09:00"), 1)
    assert plan.reopen == [(1, datetime(2026, 11, 6, 9))]
    assert plan.values["status"] is TicketStatus.REOPENED


def test_first_signing_is_an_event_not_a_correction() -> None:
    before = record(signed_at="", closed_at="")
    old = snapshot(before, closures=(), status=TicketStatus.DISPATCHED)
    plan = plan_update(old, record(closed_at=""), 1)
    assert [e.kind for e in plan.events] == [EventKind.SIGNED]
    assert plan.values["status"] is TicketStatus.SIGNED
