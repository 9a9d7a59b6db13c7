"""Ticket search for the console: by number, by phone (whole or its last digits), or by
words of the summary. Every value is a bound parameter; LIKE wildcards are escaped.
Whether a search may use the phone at all, and its last digits, is the caller's to
decide (a viewer may search a whole number only): `phone_query` says what a query would
search, so that the caller can limit and audit it first."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Select,
    and_,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from store.campaign_models import Callback
from store.models import Closure, Evaluation, Ticket, Unit
from store.phones import PhoneError, mask_phone, normalize_phone
from store.search_index import PG_REVERSED, SQLITE_REVERSED, available


@dataclass(frozen=True)
class TicketHit:
    ticket_no: str
    unit: str
    category: str | None
    summary: str | None
    phone: str
    status: str
    closed_at: datetime | None


@dataclass(frozen=True)
class PhoneQuery:
    whole: str | None  # the number as stored (E.164)
    suffix: str | None  # its last 4-6 digits

    @property
    def masked(self) -> str:
        """The query as the audit log may show it: no digit the mask hides."""
        if self.whole is not None:
            return mask_phone(self.whole)
        assert self.suffix is not None
        return f"尾号 {'*' * (len(self.suffix) - 4)}{self.suffix[-4:]}"

    @property
    def how(self) -> str:
        if self.suffix is not None and self.whole is None:
            return f"工单查询：按号码后 {len(self.suffix)} 位"
        return "工单查询：按完整号码" if self.suffix is None else "工单查询：按号码或其后几位"


def phone_query(q: str, default_area_code: str = "", *, suffix: bool = True
                ) -> PhoneQuery | None:
    """What of the phone a search for `q` would look for; None if nothing (letters, a
    number too short to be one)."""
    q = q.strip()[:100]
    digits = re.sub(r"\D", "", q)
    if not digits or len(digits) != len(re.sub(r"[\s\-+]", "", q)):
        return None
    whole = None
    with contextlib.suppress(PhoneError):
        whole = normalize_phone(q, default_area_code).e164
    tail = digits if suffix and 4 <= len(digits) <= 6 else None
    return None if whole is None and tail is None else PhoneQuery(whole, tail)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_tickets(engine: Engine, q: str, default_area_code: str = "", limit: int = 50, *,
                   by_phone: bool = True, by_suffix: bool = True,
                   indexed: bool = True) -> list[TicketHit]:
    """Tickets whose number starts with `q`, whose summary has it, and (`by_phone`)
    whose phone is it or (`by_suffix` too) ends with its 4-6 digits; newest first. With
    the indexes (store/search_index.py) each way is looked up on its index and at most
    `limit` of its newest tickets (by id) taken, then all shown by date received;
    `indexed=False` (or a database without them) reads the whole table as before."""
    q = "".join(ch for ch in q.strip()[:100] if ch.isprintable())
    if not q:
        return []
    phone = phone_query(q, default_area_code, suffix=by_suffix) if by_phone else None
    words = q if len(q) >= 2 and not re.search(r"\d", q) else None
    with engine.connect() as conn:
        summary_index, phone_index = available(conn) if indexed else (False, False)
        if not (summary_index or phone_index):
            return _scan(conn, q, phone, words, limit)
        ids = _ids(conn, select(Ticket.id).where(
            Ticket.ticket_no >= q, Ticket.ticket_no < q + "\U0010ffff"), limit)
        if phone is not None and phone.whole is not None:
            ids |= _ids(conn, select(Ticket.id).where(Ticket.phone == phone.whole), limit)
        if phone is not None and phone.suffix is not None:
            ids |= _ids(conn, select(Ticket.id).where(_suffix(conn, phone.suffix, phone_index)),
                        limit)
        if words is not None:
            ids |= _words(conn, words, limit) if summary_index else _ids(
                conn, select(Ticket.id).where(_summary_like(words)), limit)
        if not ids:
            return []
        return _hits(conn, Ticket.id.in_(sorted(ids)), limit)


RECENT = 5000  # newest tickets read first for words on PostgreSQL


def _ids(conn: Connection, query: Select[Any], limit: int) -> set[int]:
    """The newest `limit` ids a query finds (ids grow with each import)."""
    return {int(i) for i in conn.execute(query.order_by(Ticket.id.desc()).limit(limit))
            .scalars()}


def _summary_like(words: str) -> ColumnElement[bool]:
    return Ticket.summary.like(f"%{_like(words)}%", escape="\\")


def _suffix(conn: Connection, digits: str, indexed: bool) -> ColumnElement[bool]:
    """The number ends with `digits`: on the reversed number's index, a range of it."""
    if not indexed:
        return Ticket.phone.like(f"%{digits}")
    rev = digits[::-1]
    if conn.dialect.name == "postgresql":
        return literal_column(PG_REVERSED).like(f"{rev}%")
    reversed_phone: ColumnElement[str] = literal_column(SQLITE_REVERSED)
    return and_(reversed_phone >= rev, reversed_phone < rev + "\U0010ffff")


def _words(conn: Connection, words: str, limit: int) -> set[int]:
    """Tickets whose summary has `words`, looked up on the summary's index."""
    if conn.dialect.name == "postgresql":
        # a common word is in the newest tickets: `limit` of them there are the newest
        # of all (the GIN index would hand over every one of its tens of thousands)
        newest = select(Ticket.id, Ticket.summary).order_by(Ticket.id.desc()).limit(
            RECENT).subquery()
        ids = {int(i) for i in conn.execute(
            select(newest.c.id).where(newest.c.summary.like(f"%{_like(words)}%", escape="\\"))
            .order_by(newest.c.id.desc()).limit(limit)).scalars()}
        if len(ids) >= limit:
            return ids
        found = select(Ticket.id).where(
            func.huifang_bigrams(Ticket.summary).op("@>")(func.huifang_bigrams(words)),
            _summary_like(words))
        return _ids(conn, found, limit)
    if len(words) >= 3:
        match = _phrase(words)
    else:  # no trigram of its own: any trigram that begins with it (store/search_index)
        folded = words.lower()
        terms = conn.execute(text(
            "SELECT term FROM ticket_search_terms WHERE term >= :low AND term < :high"),
            {"low": folded, "high": folded + "\U0010ffff"}).scalars().all()
        if not terms:
            return set()
        match = " OR ".join(_phrase(str(t)) for t in terms)
    # the index's newest candidates, then the same LIKE as the scan on each
    candidates = text("SELECT rowid FROM ticket_search WHERE ticket_search MATCH :match "
                      "ORDER BY rowid DESC LIMIT :window").bindparams(
        match=match, window=limit * 4).columns(rowid=Integer).subquery()
    return _ids(conn, select(Ticket.id).where(Ticket.id.in_(select(candidates.c.rowid)),
                                              _summary_like(words)), limit)


def _phrase(words: str) -> str:
    """An FTS5 phrase: the words as a string (quotes doubled), its trigrams in order."""
    return '"' + words.replace('"', '""') + '"'


def _hits(conn: Connection, where: ColumnElement[bool], limit: int) -> list[TicketHit]:
    query = (select(Ticket.ticket_no, Unit.name, Ticket.category, Ticket.summary,
                    Ticket.phone, Ticket.status, Ticket.closed_at)
             .join(Unit, Unit.id == Ticket.unit_id).where(where)
             .order_by(Ticket.received_at.desc(), Ticket.id.desc()).limit(limit))
    return [TicketHit(r[0], r[1], r[2], r[3], r[4], str(r[5]), r[6])
            for r in conn.execute(query).all()]


def _scan(conn: Connection, q: str, phone: PhoneQuery | None, words: str | None,
          limit: int) -> list[TicketHit]:
    """Without the indexes: one query over the whole table (as before migration 0009)."""
    # a number prefix as a range, so that both stores search the unique index
    conditions = [and_(Ticket.ticket_no >= q, Ticket.ticket_no < q + "\U0010ffff")]
    if phone is not None and phone.suffix is not None:
        conditions.append(Ticket.phone.like(f"%{phone.suffix}"))
    if phone is not None and phone.whole is not None:
        conditions.append(Ticket.phone == phone.whole)
    if words is not None:
        conditions.append(_summary_like(words))
    return _hits(conn, or_(*conditions), limit)


def ticket_status(engine: Engine, ticket_no: str) -> dict[str, object] | None:
    """A ticket's state for the API: its closures, each with its evaluation and callback."""
    with Session(engine) as session:
        row = session.execute(select(Ticket, Unit.name).join(Unit, Unit.id == Ticket.unit_id)
                              .where(Ticket.ticket_no == ticket_no)).first()
        if row is None:
            return None
        t, unit = row
        closures = session.execute(
            select(Closure, Evaluation, Callback.status, Callback.attempts)
            .outerjoin(Evaluation, Evaluation.closure_id == Closure.id)
            .outerjoin(Callback, Callback.closure_id == Closure.id)
            .where(Closure.ticket_id == t.id).order_by(Closure.seq)).all()

    def stamp(value: datetime | None) -> str | None:
        return value.isoformat(sep=" ") if value else None

    return {
        "ticket_no": t.ticket_no, "unit": unit, "status": str(t.status),
        "closures": [{
            "seq": c.seq, "closed_at": stamp(c.closed_at), "reopened": c.reopened,
            "reopened_at": stamp(c.reopened_at),
            "evaluation": None if e is None else {
                "resolved": str(e.resolved), "satisfaction": str(e.satisfaction),
                "source": str(e.source), "evaluated_at": stamp(e.evaluated_at)},
            "callback": None if status is None else {"status": str(status),
                                                     "attempts": attempts},
        } for c, e, status, attempts in closures]}
