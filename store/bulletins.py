"""Bulletins on schedule (日报、周报、月报), store side: one row per (kind, period), so a
bulletin is made once, whatever restarts and however many nodes share the database.

Claiming a bulletin is one short transaction: the INSERT of its row (the unique
constraint on (kind, period) lets exactly one node in), or, for a row left CLAIMED by a
node that died past its lease or FAILED past its retry time, one conditional UPDATE on the
tries seen. The claim carries those tries as its token: `mark_made` and `mark_failed`
write only if the row is still that claim's (one conditional UPDATE each), so a node that
lost its lease never overwrites the one that took it over. A MADE row is never claimed
again.

Mailing a made bulletin is claimed the same way (`take_mail`, on `mail_tries`): PENDING
or FAILED past `mail_at` -> SENDING with a lease -> SENT, or FAILED with the next try's
time, until `max_tries`.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Engine,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.models import Base, LocalDateTime


class BulletinKind(enum.StrEnum):
    DAILY = "daily"  # 日报: yesterday
    WEEKLY = "weekly"  # 周报: last ISO week
    MONTHLY = "monthly"  # 月报: last month


class BulletinState(enum.StrEnum):
    CLAIMED = "claimed"  # a node is making it (until `lease_until`)
    MADE = "made"  # its files are in the reports directory
    FAILED = "failed"  # the last try failed (`error`); tried again after `lease_until`


class MailState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # a node is sending it (until `mail_at`)
    SENT = "sent"
    FAILED = "failed"  # `mail_error`; tried again at `mail_at` while tries remain


KIND_LABELS = {BulletinKind.DAILY: "日报", BulletinKind.WEEKLY: "周报",
               BulletinKind.MONTHLY: "月报"}
STATE_LABELS = {BulletinState.CLAIMED: "生成中", BulletinState.MADE: "已生成",
                BulletinState.FAILED: "生成失败"}
MAIL_LABELS = {MailState.PENDING: "待发送", MailState.SENDING: "发送中",
               MailState.SENT: "已发送", MailState.FAILED: "发送失败"}


class Bulletin(Base):
    __tablename__ = "bulletins"
    __table_args__ = (UniqueConstraint("kind", "period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(32))  # 2026-11-27, 2026-W48, 2026-11
    state: Mapped[str] = mapped_column(String(16))
    node: Mapped[str] = mapped_column(String(100))  # who claimed it last
    host: Mapped[str] = mapped_column(String(255))  # where its files were written
    tries: Mapped[int] = mapped_column(Integer)
    claimed_at: Mapped[datetime] = mapped_column(LocalDateTime)
    lease_until: Mapped[datetime] = mapped_column(LocalDateTime)
    made_at: Mapped[datetime | None] = mapped_column(LocalDateTime, nullable=True)
    files: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list of files
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    mail_state: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None: not mailed
    mail_tries: Mapped[int] = mapped_column(Integer, default=0)
    mail_at: Mapped[datetime | None] = mapped_column(LocalDateTime, nullable=True)
    mail_error: Mapped[str | None] = mapped_column(Text, nullable=True)


@dataclass(frozen=True)
class Claim:
    """A bulletin this node may make now; `tries` is its token."""

    id: int
    kind: BulletinKind
    period: str
    tries: int


@dataclass(frozen=True)
class BulletinFile:
    format: str  # xlsx, pdf, json, html
    name: str  # the file's name inside the reports directory's folder of its kind
    bytes: int


@dataclass(frozen=True)
class BulletinRow:
    """A bulletin as the console lists it."""

    id: int
    kind: BulletinKind
    period: str
    state: BulletinState
    made_at: datetime | None
    host: str
    files: tuple[BulletinFile, ...]
    error: str | None
    mail_state: MailState | None
    mail_error: str | None

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def mail_label(self) -> str:
        return MAIL_LABELS[self.mail_state] if self.mail_state else "不发送"


def _files(text: str | None) -> tuple[BulletinFile, ...]:
    return tuple(BulletinFile(str(f["format"]), str(f["name"]), int(f["bytes"]))
                 for f in json.loads(text or "[]"))


def settled(engine: Engine, wanted: list[tuple[str, str]], now: datetime
            ) -> set[tuple[str, str]]:
    """Of these (kind, period), the ones not to claim now: made, being made under a live
    lease, or failed and not yet due for another try."""
    if not wanted:
        return set()
    kinds = {k for k, _ in wanted}
    with engine.connect() as conn:
        rows = conn.execute(select(Bulletin.kind, Bulletin.period).where(
            Bulletin.kind.in_(kinds), Bulletin.period.in_({p for _, p in wanted}),
            or_(Bulletin.state == BulletinState.MADE, Bulletin.lease_until > now))).all()
    return {(r.kind, r.period) for r in rows}


def claim(engine: Engine, kind: BulletinKind, period: str, *, node: str, host: str,
          now: datetime, lease: timedelta) -> Claim | None:
    """The right to make this bulletin now, or None: made already, or another node's."""
    try:
        with engine.begin() as conn:
            new_id = conn.execute(Bulletin.__table__.insert().values(  # type: ignore[attr-defined]
                kind=kind, period=period, state=BulletinState.CLAIMED, node=node, host=host,
                tries=1, claimed_at=now, lease_until=now + lease, mail_tries=0)
                .returning(Bulletin.id)).scalar_one()
        return Claim(int(new_id), kind, period, 1)
    except IntegrityError:
        pass  # the row is there: made, being made, or left by a node that died
    with engine.begin() as conn:
        row = conn.execute(select(Bulletin.id, Bulletin.tries).where(
            Bulletin.kind == kind, Bulletin.period == period)).one()
        taken = conn.execute(update(Bulletin).where(
            Bulletin.id == row.id, Bulletin.tries == row.tries,
            Bulletin.state.in_([BulletinState.CLAIMED, BulletinState.FAILED]),
            Bulletin.lease_until <= now).values(
            state=BulletinState.CLAIMED, node=node, host=host, tries=row.tries + 1,
            claimed_at=now, lease_until=now + lease))
    if taken.rowcount != 1:
        return None
    return Claim(int(row.id), kind, period, int(row.tries) + 1)


def _mine(held: Claim) -> Any:
    return and_(Bulletin.id == held.id, Bulletin.tries == held.tries,
                Bulletin.state == BulletinState.CLAIMED)


def mark_made(engine: Engine, held: Claim, files: list[BulletinFile], now: datetime, *,
              mail: bool) -> bool:
    """The bulletin is made (its files in place); False if the claim was lost meanwhile."""
    listed = json.dumps([{"format": f.format, "name": f.name, "bytes": f.bytes}
                         for f in files])
    with engine.begin() as conn:
        done = conn.execute(update(Bulletin).where(_mine(held)).values(
            state=BulletinState.MADE, made_at=now, files=listed, error=None,
            mail_state=MailState.PENDING if mail else None, mail_at=now if mail else None))
    return done.rowcount == 1


def mark_failed(engine: Engine, held: Claim, error: str, now: datetime,
                retry: timedelta) -> bool:
    with engine.begin() as conn:
        done = conn.execute(update(Bulletin).where(_mine(held)).values(
            state=BulletinState.FAILED, error=error[:2000], lease_until=now + retry))
    return done.rowcount == 1


def _row(r: Bulletin) -> BulletinRow:
    return BulletinRow(r.id, BulletinKind(r.kind), r.period, BulletinState(r.state),
                       r.made_at, r.host, _files(r.files), r.error,
                       MailState(r.mail_state) if r.mail_state else None, r.mail_error)


def listing(engine: Engine, *, kind: BulletinKind | None = None, limit: int = 50,
            offset: int = 0) -> tuple[list[BulletinRow], int]:
    """Bulletins, the newest period of each kind first, and how many there are."""
    query = select(Bulletin)
    counted = select(func.count()).select_from(Bulletin)
    if kind is not None:
        query = query.where(Bulletin.kind == kind)
        counted = counted.where(Bulletin.kind == kind)
    with Session(engine) as session:
        total = int(session.execute(counted).scalar_one())
        rows = session.scalars(query.order_by(Bulletin.claimed_at.desc(), Bulletin.id.desc())
                               .limit(limit).offset(offset)).all()
        return [_row(r) for r in rows], total


def bulletin(engine: Engine, bulletin_id: int) -> BulletinRow | None:
    with Session(engine) as session:
        r = session.get(Bulletin, bulletin_id)
        return None if r is None else _row(r)


# -- mail ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MailTodo:
    id: int
    kind: BulletinKind
    period: str
    host: str
    files: tuple[BulletinFile, ...]
    tries: int  # counting this one


def mail_due(engine: Engine, now: datetime, max_tries: int, limit: int = 20
             ) -> list[MailTodo]:
    """Made bulletins whose mail is due: pending, failed with tries left, or left
    SENDING by a node that died, each past its `mail_at`."""
    with Session(engine) as session:
        rows = session.scalars(select(Bulletin).where(
            Bulletin.state == BulletinState.MADE,
            Bulletin.mail_state.in_([MailState.PENDING, MailState.FAILED, MailState.SENDING]),
            Bulletin.mail_tries < max_tries, Bulletin.mail_at <= now)
            .order_by(Bulletin.id).limit(limit)).all()
        return [MailTodo(r.id, BulletinKind(r.kind), r.period, r.host, _files(r.files),
                         r.mail_tries + 1) for r in rows]


def take_mail(engine: Engine, todo: MailTodo, now: datetime, lease: timedelta) -> bool:
    """This node sends it (counting the try), unless another took it first."""
    with engine.begin() as conn:
        done = conn.execute(update(Bulletin).where(
            Bulletin.id == todo.id, Bulletin.mail_tries == todo.tries - 1,
            Bulletin.mail_state.in_([MailState.PENDING, MailState.FAILED, MailState.SENDING]),
            Bulletin.mail_at <= now).values(
            mail_state=MailState.SENDING, mail_tries=todo.tries, mail_at=now + lease))
    return done.rowcount == 1


def mail_result(engine: Engine, todo: MailTodo, now: datetime, error: str | None,
                retry_at: datetime | None) -> None:
    """Sent (error None), or failed with the next try's time (None: no more tries)."""
    values: dict[str, Any] = (
        {"mail_state": MailState.SENT, "mail_at": now, "mail_error": None} if error is None
        else {"mail_state": MailState.FAILED, "mail_error": error[:2000],
              "mail_at": retry_at or now})
    with engine.begin() as conn:
        conn.execute(update(Bulletin).where(
            Bulletin.id == todo.id, Bulletin.mail_tries == todo.tries,
            Bulletin.mail_state == MailState.SENDING).values(**values))
