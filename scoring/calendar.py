"""A temporary calendar table for working-day deadlines in SQL.

For each day: the end of the Nth working day after it, for the response limit and for
the closure limit. Built per report from `chinese-calendar` (through store.workdays), so
a new year's holiday schedule takes effect with a package upgrade, not a migration.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Column, Connection, Date, MetaData, Table, func, insert, select

from scoring.rules import ScoringRules
from store.models import Ticket
from store.workdays import add_workdays

CALENDAR = Table(
    "report_calendar", MetaData(),
    Column("day", Date, primary_key=True),
    Column("response_deadline", Date, nullable=False),
    Column("closure_deadline", Date, nullable=False),
    prefixes=["TEMPORARY"],
)
MARGIN = timedelta(days=60)


def deadline_day(day: date, workdays: int) -> date:
    return add_workdays(datetime.combine(day, datetime.min.time()), workdays).date()


def build_calendar(conn: Connection, rules: ScoringRules, until: date) -> None:
    """(Re)create the calendar for every day a ticket in the store was received on."""
    CALENDAR.drop(conn, checkfirst=True)
    CALENDAR.create(conn)
    first = conn.execute(select(func.min(Ticket.received_at))).scalar()
    start = (first.date() if first else until) - MARGIN
    end = until + MARGIN
    rows, day = [], start
    while day <= end:
        rows.append({"day": day,
                     "response_deadline": deadline_day(day, rules.response_limit_workdays),
                     "closure_deadline": deadline_day(day, rules.closure_limit_workdays)})
        day += timedelta(days=1)
    conn.execute(insert(CALENDAR), rows)
