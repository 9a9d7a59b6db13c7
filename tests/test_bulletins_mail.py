"""Bulletins by mail, against a real SMTP server the test starts (aiosmtpd on 127.0.0.1):
the message and its attachments, a login with the password from the environment, and a
server that is down: the bulletin is made all the same, the failure recorded and the
mail sent on a later try, once."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import Engine, select

from huifang.bulletins import BulletinMaker
from huifang.config import Settings
from store.bulletins import Bulletin, MailState
from tests.pgserver import free_port

START = datetime(2026, 11, 2, 9, 0)  # October's 月报 is due (08:30)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              email.message_from_bytes(envelope.content)))
        return "250 OK"


def check_login(server: Any, session: Any, envelope: Any, mechanism: str,
                data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == \
        (b"report", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: the server says 535


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port, auth_require_tls=False,
                        authenticator=check_login)
    server.start()
    yield inbox, port
    server.stop()


def settings_for(directory: Path, port: int, **mail: Any) -> Settings:
    return Settings.model_validate({
        "bulletins": {"dir": str(directory), "formats": ["json", "xlsx"],
                      "catch_up_days": 1, "kinds": ["monthly"],
                      "mail": {"enabled": True, "host": "127.0.0.1", "port": port,
                               "from": "huifang@hotline.example",
                               "to": ["leader@hotline.example", "office@hotline.example"],
                               "timeout_s": 5, "retry_minutes": 15, **mail}}})


class Wall:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def mail_row(engine: Engine) -> tuple[str | None, int, str | None]:
    with engine.connect() as conn:
        row = conn.execute(select(Bulletin.mail_state, Bulletin.mail_tries,
                                  Bulletin.mail_error)).one()
    return row.mail_state, row.mail_tries, row.mail_error


def test_a_bulletin_is_mailed_with_its_files(sqlite_engine: Engine, tmp_path: Path,
                                             smtp: tuple[Inbox, int],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, port = smtp
    monkeypatch.setenv("HUIFANG_SMTP_PASSWORD", "s3cret")
    maker = BulletinMaker(sqlite_engine, settings_for(tmp_path, port, user="report"),
                          Wall(START), node="n1")
    (made,) = maker.run_due()
    assert maker.mail_due() == 1
    assert maker.mail_due() == 0  # sent once
    ((sender, to, message),) = inbox.messages
    assert sender == "huifang@hotline.example"
    assert to == ["leader@hotline.example", "office@hotline.example"]
    subject = str(email.header.make_header(email.header.decode_header(message["Subject"])))
    assert subject == "[12345回访] 月报 2026-10"
    names = sorted(part.get_filename() for part in message.walk() if part.get_filename())
    assert names == ["monthly-2026-10.json", "monthly-2026-10.xlsx"]
    attached = next(p for p in message.walk() if p.get_filename() == "monthly-2026-10.xlsx")
    assert attached.get_payload(decode=True) == \
        (tmp_path / "monthly" / "monthly-2026-10.xlsx").read_bytes()
    body = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    assert "回访月报（2026-10）已生成" in body.get_payload(decode=True).decode("utf-8")
    assert mail_row(sqlite_engine) == (MailState.SENT, 1, None)
    assert [f.format for f in made.files] == ["json", "xlsx"]


def test_a_wrong_password_is_a_failure_in_words(sqlite_engine: Engine, tmp_path: Path,
                                                smtp: tuple[Inbox, int],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, port = smtp
    monkeypatch.setenv("HUIFANG_SMTP_PASSWORD", "wrong")
    maker = BulletinMaker(sqlite_engine, settings_for(tmp_path, port, user="report"),
                          Wall(START), node="n1")
    maker.run_due()
    assert maker.mail_due() == 0
    state, tries, error = mail_row(sqlite_engine)
    assert (state, tries) == (MailState.FAILED, 1) and "535" in (error or "")
    assert inbox.messages == []


def test_a_server_that_is_down_never_stops_the_bulletin(sqlite_engine: Engine,
                                                        tmp_path: Path,
                                                        smtp: tuple[Inbox, int],
                                                        caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    inbox, port = smtp
    closed = free_port()  # nothing listens there
    wall = Wall(START)
    down = BulletinMaker(sqlite_engine, settings_for(tmp_path, closed, max_tries=3),
                         wall, node="n1")
    (made,) = down.run_due()  # made, whatever the mail does
    assert (tmp_path / "monthly" / "monthly-2026-10.json").is_file()
    assert down.mail_due() == 0
    state, tries, error = mail_row(sqlite_engine)
    assert (state, tries) == (MailState.FAILED, 1)
    assert "cannot be reached" in (error or "") and str(closed) in (error or "")
    assert any("mail failed (try 1 of 3)" in r.getMessage() for r in caplog.records)
    wall.at = START + timedelta(minutes=10)
    assert down.mail_due() == 0 and mail_row(sqlite_engine)[1] == 1  # not before its time
    # the server is back (the operator fixed the port) 15 minutes later: sent, once
    wall.at = START + timedelta(minutes=16)
    back = BulletinMaker(sqlite_engine, settings_for(tmp_path, port, max_tries=3), wall,
                         node="n1")
    assert back.run_due() == []  # the bulletin is not made again
    assert back.mail_due() == 1
    assert len(inbox.messages) == 1
    assert mail_row(sqlite_engine) == (MailState.SENT, 2, None)
    assert made.period == "2026-10"


def test_tries_end_at_max_tries(sqlite_engine: Engine, tmp_path: Path,
                                caplog: pytest.LogCaptureFixture) -> None:
    wall = Wall(START)
    maker = BulletinMaker(sqlite_engine, settings_for(tmp_path, free_port(), max_tries=2),
                          wall, node="n1")
    maker.run_due()
    for minutes in (0, 20, 40, 60):
        wall.at = START + timedelta(minutes=minutes)
        maker.mail_due()
    assert mail_row(sqlite_engine)[:2] == (MailState.FAILED, 2)
    assert any("mail failed 2 times, not tried again" in r.getMessage()
               for r in caplog.records)


def test_mail_settings_are_checked(tmp_path: Path) -> None:
    from huifang.config import ConfigError, load_settings

    bad = {"[bulletins.mail]\nenabled = true\n": "'to' lists nobody",
           "[bulletins.mail]\nto = [\"nobody\"]\n": "is not a mail address",
           "[bulletins]\ndaily_at = \"7:30\"\n": "use HH:MM",
           "[bulletins]\nformats = [\"docx\"]\n": "bulletins.formats"}
    for text, message in bad.items():
        path = tmp_path / "huifang.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_settings(str(path), environ={})
