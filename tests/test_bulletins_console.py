"""报告 on the console over HTTP (`huifang console` in its own process): the bulletins
listed for leaders and above, their files downloaded whole and by range, and nothing
else served: no session, a format the store does not list, a name that leaves the
reports directory (in the request or planted in the store), a link out of it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from huifang.bulletins import BulletinMaker
from huifang.config import Settings
from store.bulletins import Bulletin
from store.db import make_engine, upgrade
from tests.console_support import PASSWORDS, Client, ConsoleProcess, add_users

START = datetime(2026, 11, 2, 9, 0)  # 日报 2026-11-01, 周报 2026-W44, 月报 2026-10


@dataclass
class Env:
    url: str
    reports: Path
    console: ConsoleProcess
    ids: dict[str, int]  # period -> bulletin id

    def client(self, user: str | None = None) -> Client:
        c = Client(self.console.port)
        if user is not None:
            assert c.login(user, PASSWORDS[user]).status == 303
        return c


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    directory = tmp_path_factory.mktemp("bulletins")
    url = f"sqlite:///{directory / 'huifang.db'}"
    reports = directory / "reports"
    engine = make_engine(url)
    upgrade(engine)
    settings = Settings.model_validate({"bulletins": {
        "dir": str(reports), "formats": ["json", "xlsx"], "catch_up_days": 1}})
    made = BulletinMaker(engine, settings, lambda: START, node="n1").run_due()
    assert len(made) == 3
    with engine.connect() as conn:
        ids = {r.period: r.id for r in conn.execute(
            Bulletin.__table__.select())}  # type: ignore[attr-defined]
    engine.dispose()
    (directory / "secret.txt").write_text("not a report", encoding="utf-8")
    config = directory / "huifang.toml"
    config.write_text(f'[bulletins]\ndir = "{reports}"\n', encoding="utf-8")
    add_users(url, directory)
    console = ConsoleProcess(url, directory, config)
    yield Env(url, reports, console, ids)
    console.stop()


def test_leaders_and_above_see_the_list(env: Env) -> None:
    for user in ("lingdao", "zhijian", "admin"):
        page = env.client(user).get("/bulletins")
        assert page.status == 200, user
        text = page.text
        assert "报告" in text and "月报" in text and "周报" in text and "日报" in text
        assert "2026-10" in text and "2026-W44" in text and "2026-11-01" in text
        assert f'href="/bulletins/{env.ids["2026-10"]}/xlsx"' in text
        assert "Excel 表格" in text and "JSON 数据" in text
        assert re.search(r"<script(?![^>]*\bsrc=)", text) is None  # CSP: no inline script
        assert "script-src 'self'" in page.headers["content-security-policy"]
    monthly = env.client("lingdao").get("/bulletins?kind=monthly").text
    assert "2026-10" in monthly and "2026-W44" not in monthly
    assert 'href="/bulletins"' in env.client("lingdao").get("/dashboard").text  # the nav


def test_without_a_session_nothing_is_listed_or_served(env: Env) -> None:
    anonymous = env.client()
    for path in ("/bulletins", f"/bulletins/{env.ids['2026-10']}/xlsx"):
        reply = anonymous.get(path)
        assert reply.status == 303 and reply.headers["location"].startswith("/login"), path
        assert b"PK" not in reply.body


def test_a_file_is_downloaded_whole_and_by_range(env: Env) -> None:
    leader = env.client("lingdao")
    file = env.reports / "monthly" / "monthly-2026-10.xlsx"
    reply = leader.get(f"/bulletins/{env.ids['2026-10']}/xlsx")
    assert reply.status == 200 and reply.body == file.read_bytes()
    assert reply.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert reply.headers["content-disposition"] == \
        'attachment; filename="monthly-2026-10.xlsx"'
    part = leader.request("GET", f"/bulletins/{env.ids['2026-10']}/xlsx",
                          headers={"Range": "bytes=0-3"})
    assert part.status == 206 and part.body == b"PK\x03\x04"
    size = file.stat().st_size
    assert part.headers["content-range"] == f"bytes 0-3/{size}"
    past = leader.request("GET", f"/bulletins/{env.ids['2026-10']}/xlsx",
                          headers={"Range": f"bytes={size}-"})
    assert past.status == 416
    data = json.loads(leader.get(f"/bulletins/{env.ids['2026-W44']}/json").body)
    assert data["bulletin"]["kind"] == "weekly" and data["period"]["label"] == "2026-W44"


@pytest.mark.parametrize("path", [
    "/bulletins/{id}/pdf",  # not a format this bulletin has
    "/bulletins/999999/xlsx",  # no such bulletin
    "/bulletins/{id}/..%2F..%2Fsecret.txt",
    "/bulletins/{id}/../../secret.txt",
    "/bulletins/{id}/xlsx%00",
    "/bulletins/-1/xlsx",
])
def test_nothing_but_listed_files(env: Env, path: str) -> None:
    reply = env.client("lingdao").get(path.format(id=env.ids["2026-10"]))
    assert reply.status == 404, (path, reply.status)
    assert b"not a report" not in reply.body and b"PK" not in reply.body[:2]


def test_a_name_planted_in_the_store_or_a_link_out_is_refused(env: Env) -> None:
    engine = make_engine(env.url)
    daily = env.ids["2026-11-01"]
    planted = [{"format": "json", "name": "../../secret.txt", "bytes": 12}]
    with engine.begin() as conn:
        conn.execute(update(Bulletin).where(Bulletin.id == daily).values(
            files=json.dumps(planted)))
    leader = env.client("lingdao")
    assert leader.get(f"/bulletins/{daily}/json").status == 404
    # a file of the right name that is a link to outside the reports directory
    weekly = env.reports / "weekly" / "weekly-2026-W44.json"
    weekly.unlink()
    weekly.symlink_to(env.reports.parent / "secret.txt")
    reply = leader.get(f"/bulletins/{env.ids['2026-W44']}/json")
    assert reply.status == 404 and b"not a report" not in reply.body
    assert "已被删除" in reply.text
    engine.dispose()
