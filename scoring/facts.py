"""One row per counted ticket per measure: the facts behind every figure.

The aggregates (scoring.aggregate) are GROUP BYs over these selects, and
`huifang explain` prints them as they are, so a number and its explanation cannot
disagree.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, Select, and_, case, literal, or_, select

from scoring.calendar import CALENDAR
from scoring.periods import Period
from scoring.sql import day_of
from store.enums import Resolved, Satisfaction
from store.models import Closure, Evaluation, Exclusion, Ticket

T = Ticket.__table__
C = Closure.__table__
E = Evaluation.__table__
X = Exclusion.__table__


def _active_exclusion() -> ColumnElement[bool]:
    return and_(X.c.ticket_id == T.c.id, X.c.revoked_at.is_(None))


def response_facts(period: Period, today: date) -> Select[tuple[object, ...]]:
    """Tickets dispatched in the period and whether they were signed in time."""
    signed_in_time = and_(T.c.signed_at.is_not(None),
                          day_of(T.c.signed_at) <= CALENDAR.c.response_deadline)
    due = or_(T.c.signed_at.is_not(None), CALENDAR.c.response_deadline < today)
    return (
        select(T.c.id.label("ticket_id"), T.c.ticket_no, T.c.unit_id, T.c.dispatched_at,
               T.c.signed_at, CALENDAR.c.response_deadline,
               case((due, 1), else_=0).label("due"),
               case((signed_in_time, 1), else_=0).label("in_time"),
               X.c.reason.label("excluded_reason"))
        .select_from(T)
        .join(CALENDAR, CALENDAR.c.day == day_of(T.c.dispatched_at))
        .outerjoin(X, _active_exclusion())
        .where(T.c.dispatched_at >= period.start, T.c.dispatched_at < period.end)
    )


def closure_facts(period: Period) -> Select[tuple[object, ...]]:
    """Tickets whose latest closure is in the period, with that closure's evaluation."""
    yes, no = E.c.resolved == Resolved.YES, E.c.resolved == Resolved.NO
    happy = E.c.satisfaction.in_([Satisfaction.SATISFIED, Satisfaction.BASIC])
    unhappy = E.c.satisfaction == Satisfaction.UNSATISFIED
    on_time = case(
        (T.c.deadline_at.is_not(None), case((C.c.closed_at <= T.c.deadline_at, 1), else_=0)),
        else_=case((day_of(C.c.closed_at) <= CALENDAR.c.closure_deadline, 1), else_=0))

    def flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return case((condition, 1), else_=0)

    return (
        select(T.c.id.label("ticket_id"), T.c.ticket_no, T.c.unit_id, T.c.category,
               C.c.seq.label("closure_seq"), C.c.closed_at, T.c.deadline_at,
               CALENDAR.c.closure_deadline, on_time.label("on_time"),
               flag(E.c.id.is_not(None)).label("evaluated"),
               E.c.resolved, E.c.satisfaction,
               flag(yes).label("is_resolved"), flag(no).label("is_unresolved"),
               flag(E.c.satisfaction == Satisfaction.SATISFIED).label("is_satisfied"),
               flag(E.c.satisfaction == Satisfaction.BASIC).label("is_basic"),
               flag(unhappy).label("is_unsatisfied"),
               flag(and_(yes, happy)).label("both_positive"),
               flag(or_(and_(yes, unhappy), and_(no, happy))).label("one_negative"),
               flag(and_(no, unhappy)).label("both_negative"),
               X.c.reason.label("excluded_reason"))
        .select_from(T)
        .join(C, and_(C.c.ticket_id == T.c.id, C.c.seq == T.c.closure_count))
        .join(CALENDAR, CALENDAR.c.day == day_of(T.c.received_at))
        .outerjoin(E, E.c.closure_id == C.c.id)
        .outerjoin(X, _active_exclusion())
        .where(T.c.closed_at >= period.start, T.c.closed_at < period.end)
    )


def excluded_tickets(period: Period) -> Select[tuple[object, ...]]:
    """Active exclusions of tickets that the period would otherwise count."""
    in_period = or_(and_(T.c.dispatched_at >= period.start, T.c.dispatched_at < period.end),
                    and_(T.c.closed_at >= period.start, T.c.closed_at < period.end))
    return (
        select(T.c.ticket_no, T.c.unit_id, X.c.reason, X.c.approved_by, X.c.approved_at,
               literal(period.label).label("period"))
        .select_from(T).join(X, _active_exclusion()).where(in_period)
        .order_by(T.c.ticket_no)
    )
