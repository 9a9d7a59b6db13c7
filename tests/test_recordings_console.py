"""The console once retention deleted a recording: the call page says so, with the day,
instead of a player, and the recording's URL answers 410 Gone with the same words."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from store.campaign_models import CallAttempt
from store.db import make_engine
from store.retention import mark_deleted
from tests.console_support import PASSWORDS, Client, ConsoleProcess
from tests.test_console_http import _setup


def test_the_call_page_says_the_recording_was_deleted(tmp_path: Path) -> None:
    url, config, seeded = _setup(tmp_path)
    engine = make_engine(url)
    with engine.connect() as conn:
        attempt = conn.execute(select(CallAttempt.id).where(
            CallAttempt.callback_id == seeded.negative)).scalar_one()
    console = ConsoleProcess(url, tmp_path, config)
    try:
        client = Client(console.port)
        assert client.login("zhijian", PASSWORDS["zhijian"]).status == 303
        page = client.get(f"/calls/{seeded.negative}").text
        assert f'src="/recordings/{attempt}"' in page and "按保留期限删除" not in page
        assert client.get(f"/recordings/{attempt}").status == 200

        mark_deleted(engine, [attempt], datetime(2027, 5, 27, 3, 0))
        seeded.recording.unlink()
        page = client.get(f"/calls/{seeded.negative}").text
        assert "录音已按保留期限删除（2027-05-27）" in page
        assert "<audio" not in page and f"/recordings/{attempt}" not in page
        reply = client.get(f"/recordings/{attempt}")
        assert reply.status == 410 and "录音已按保留期限删除（2027-05-27）" in reply.text
    finally:
        console.stop()
        engine.dispose()
