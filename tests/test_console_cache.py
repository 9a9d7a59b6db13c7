"""The console's cache of computed pages: fresh within its age, shown stale while it is
computed anew, dropped by a change made in the console; a refresh that a change overtook
is not kept. Time is injected."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

from console.config import Settings
from console.web.app import ConsoleWeb
from store.db import make_engine, upgrade
from tests.campaign_support import wait_until

T0 = datetime(2026, 11, 28, 9, 0)


def make_web(tmp_path: Path, now: list[datetime]) -> ConsoleWeb:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade(engine)
    settings = Settings.model_validate({"console": {"rankings_cache_s": 60}})
    return ConsoleWeb(engine, settings, lambda: now[0], [])


def test_fresh_stale_and_changed(tmp_path: Path) -> None:
    now = [T0]
    web = make_web(tmp_path, now)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert web.cached("k", compute) == (1, T0)
    now[0] = T0 + timedelta(seconds=59)
    assert web.cached("k", compute) == (1, T0) and len(calls) == 1  # fresh
    now[0] = T0 + timedelta(seconds=61)
    assert web.cached("k", compute) == (1, T0)  # stale, shown while computed anew
    wait_until(lambda: web.cache["k"][1] == 2, 10, "the refresh")
    assert web.cached("k", compute) == (2, now[0])
    web.changed()
    assert web.cached("k", compute)[0] == 3  # computed at once after a change


def test_a_refresh_overtaken_by_a_change_is_not_kept(tmp_path: Path) -> None:
    now = [T0]
    web = make_web(tmp_path, now)
    release = threading.Event()
    web.cached("k", lambda: "old")
    now[0] = T0 + timedelta(minutes=5)

    def slow() -> str:
        release.wait(10)
        return "computed before the change"

    assert web.cached("k", slow)[0] == "old"  # starts the refresh
    web.changed()
    release.set()
    wait_until(lambda: not web._refreshing, 10, "the refresh to end")
    assert "k" not in web.cache
    assert web.cached("k", lambda: "after the change")[0] == "after the change"
