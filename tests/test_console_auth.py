"""Passwords, signed cookies and login limits (pure, time injected); accounts, sessions
and tokens in the store on SQLite and PostgreSQL; ticket events through the import path."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from huifang.web import auth
from store import accounts
from store.console_models import AuditEntry
from store.enums import Role, TicketStatus
from store.importing.base import Outcome
from store.importing.events import apply_ticket_event, ticket_fields
from store.models import ImportBatch, Ticket
from tests.files import UNITS, write_csv
from tests.test_store_contract import imp

T0 = datetime(2026, 11, 28, 9, 0, 0)


def test_passwords_hash_and_verify() -> None:
    stored = auth.hash_password("correct horse")
    assert stored.startswith("$argon2")
    assert auth.check_password(stored, "correct horse")
    assert not auth.check_password(stored, "correct horsE")
    assert not auth.check_password(None, "anything")  # unknown user: as slow, still no
    assert not auth.check_password("not a hash", "x")
    with pytest.raises(auth.WeakPassword):
        auth.hash_password("short")


def test_signed_values_refuse_tampering() -> None:
    signed = auth.sign("key", "token123")
    assert auth.unsign("key", signed) == "token123"
    assert auth.unsign("other key", signed) is None
    assert auth.unsign("key", signed[:-1] + ("0" if signed[-1] != "0" else "1")) is None
    assert auth.unsign("key", "token123") is None and auth.unsign("key", None) is None
    assert auth.unsign("key", "evil.token123") is None
    assert auth.same("a", "a") and not auth.same("a", "b") and not auth.same("", "")
    assert not auth.same(None, None)


def test_login_limiter_locks_then_forgives() -> None:
    now = [T0]
    limiter = auth.LoginLimiter(3, timedelta(minutes=15), lambda: now[0])
    for _ in range(3):
        assert limiter.locked_for("user:a", "addr:1") is None
        limiter.failed("user:a", "addr:1")
    wait = limiter.locked_for("user:a")
    assert wait == timedelta(minutes=15)
    assert limiter.locked_for("user:b", "addr:1") is not None  # the address is locked too
    assert limiter.locked_for("user:b", "addr:2") is None
    now[0] += timedelta(minutes=10)
    assert limiter.locked_for("user:a") == timedelta(minutes=5)
    now[0] += timedelta(minutes=5)
    assert limiter.locked_for("user:a", "addr:1") is None
    limiter.failed("user:a")
    limiter.succeeded("user:a")
    assert limiter.locked_for("user:a") is None


def _user(engine: Engine, name: str = "zhijian", role: Role = Role.SUPERVISOR
          ) -> accounts.Account:
    accounts.add_user(engine, name, "质检一", role, auth.hash_password("zhijian-pass"),
                      "cli:root", T0)
    found = accounts.find_user(engine, name)
    assert found is not None
    return found


def test_sessions_expire_idle_absolute_and_on_password_change(engine: Engine) -> None:
    user = _user(engine)
    idle = timedelta(minutes=30)
    accounts.open_session(engine, "h1", user, "csrf1", T0, T0 + timedelta(hours=12), "::1")
    row = accounts.session(engine, "h1", T0 + timedelta(minutes=29), idle)
    assert row is not None and row.user.username == "zhijian" and row.csrf == "csrf1"
    # used at 09:29, so still alive at 09:58; then idle too long
    assert accounts.session(engine, "h1", T0 + timedelta(minutes=58), idle) is not None
    assert accounts.session(engine, "h1", T0 + timedelta(minutes=89), idle) is None
    assert accounts.session(engine, "h1", T0 + timedelta(minutes=90), idle) is None  # gone

    accounts.open_session(engine, "h2", user, "c", T0, T0 + timedelta(hours=1), None)
    t = T0
    for _ in range(5):  # kept busy, it still ends at its absolute limit
        t += timedelta(minutes=15)
        alive = accounts.session(engine, "h2", t, idle)
    assert alive is None

    accounts.open_session(engine, "h3", user, "c", T0, T0 + timedelta(hours=12), None)
    accounts.set_password(engine, "zhijian", auth.hash_password("new-password"), "admin", T0)
    assert accounts.session(engine, "h3", T0, idle) is None
    fresh = accounts.find_user(engine, "zhijian")
    assert fresh is not None and fresh.session_epoch == 1
    accounts.open_session(engine, "h4", fresh, "c", T0, T0 + timedelta(hours=12), None)
    accounts.set_disabled(engine, "zhijian", True, "admin", T0)
    assert accounts.session(engine, "h4", T0, idle) is None
    with engine.connect() as conn:
        actions = list(conn.execute(select(AuditEntry.action).order_by(AuditEntry.id))
                       .scalars())
    assert actions == ["user_add", "user_passwd", "user_disable"]


def test_accounts_refuse_duplicates_and_unknowns(engine: Engine) -> None:
    _user(engine)
    with pytest.raises(accounts.AccountError, match="already exists"):
        _user(engine)
    with pytest.raises(accounts.AccountError, match="no user"):
        accounts.set_password(engine, "nobody", "x", "admin", T0)
    assert [u.username for u in accounts.users(engine)] == ["zhijian"]


def test_tokens(engine: Engine) -> None:
    accounts.add_token(engine, "ticket-system", auth.token_hash("s3cret"), "admin", T0)
    with pytest.raises(accounts.AccountError):
        accounts.add_token(engine, "ticket-system", auth.token_hash("other"), "admin", T0)
    assert accounts.token_by_hash(engine, auth.token_hash("s3cret"), T0) == "ticket-system"
    assert accounts.token_by_hash(engine, auth.token_hash("guess"), T0) is None
    (row,) = accounts.tokens(engine)
    assert row.last_used_at == T0
    accounts.revoke_token(engine, "ticket-system", "admin", T0)
    assert accounts.token_by_hash(engine, auth.token_hash("s3cret"), T0) is None
    with pytest.raises(accounts.AccountError):
        accounts.revoke_token(engine, "ticket-system", "admin", T0)


def test_signing_key_is_made_once(engine: Engine) -> None:
    key = accounts.signing_key(engine, T0)
    assert len(key) == 64 and accounts.signing_key(engine, T0) == key


EVENT = {"ticket_no": "API001", "unit": "东湖区青石街道", "type": "投诉",
         "phone": "14507310001", "received_at": "2026-11-20 09:00:00",
         "closed_at": "2026-11-25 16:00:00", "summary": "路灯不亮"}


def test_ticket_events_apply_once_and_replays_change_nothing(engine: Engine,
                                                            tmp_path: Path) -> None:
    imp(engine, "units", write_csv(tmp_path / "u.csv", UNITS))
    values, refused = ticket_fields(EVENT)
    assert refused is None
    first = apply_ticket_event(engine, values, "api:test", T0)
    assert first.outcome is Outcome.INSERTED and first.import_id is not None
    assert apply_ticket_event(engine, values, "api:test", T0).outcome is Outcome.UNCHANGED
    reopened, _ = ticket_fields({**EVENT, "reopened_at": "2026-11-27 10:00:00"})
    assert apply_ticket_event(engine, reopened, "api:test", T0).outcome is Outcome.UPDATED
    older, _ = ticket_fields({**EVENT, "closed_at": "2026-11-24 16:00:00"})
    stale = apply_ticket_event(engine, older, "api:test", T0)
    assert stale.outcome in (Outcome.STALE, Outcome.REJECTED)
    with engine.connect() as conn:
        assert conn.execute(select(Ticket.status).where(Ticket.ticket_no == "API001")
                            ).scalar() == TicketStatus.REOPENED
        sources = set(conn.execute(select(ImportBatch.source)).scalars())
    assert "api:test" in sources


@pytest.mark.parametrize(("payload", "field"), [
    ({**EVENT, "colour": "red"}, "colour"),
    ({k: v for k, v in EVENT.items() if k != "phone"}, "phone"),
    ({**EVENT, "summary": {"nested": 1}}, "summary"),
])
def test_bad_event_fields_are_named(payload: dict[str, object], field: str) -> None:
    _values, refused = ticket_fields(payload)
    assert refused is not None and refused.field == field and refused.reason


def test_bad_event_values_are_named_and_write_nothing(engine: Engine, tmp_path: Path) -> None:
    imp(engine, "units", write_csv(tmp_path / "u.csv", UNITS))
    with engine.connect() as conn:
        batches = conn.execute(select(func.count()).select_from(ImportBatch)).scalar_one()
    for bad, field in ((dict(EVENT, closed_at="昨天下午"), "closed_at"),
                       (dict(EVENT, unit="不存在的单位"), "unit"),
                       (dict(EVENT, phone="12"), "phone")):
        values, _ = ticket_fields(bad)
        result = apply_ticket_event(engine, values, "api:test", T0)
        assert result.outcome is Outcome.REJECTED and result.field == field, result
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Ticket)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(ImportBatch)).scalar_one() \
            == batches
