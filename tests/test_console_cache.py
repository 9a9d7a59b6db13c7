"""The console's cache of computed pages: fresh within its age, shown stale while it is
computed anew, dropped by a change made in the console; a refresh that a change overtook
is not kept. Time is injected."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, succeed

from huifang.config import Settings
from huifang.web.app import ConsoleWeb
from store.db import make_engine, upgrade

T0 = datetime(2026, 11, 28, 9, 0)


class StorePool:
    """The store pool, in the test's hands: work waits until `run_all`."""

    def __init__(self) -> None:
        self.queued: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def __call__(self, fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        self.queued.append((fn, args))
        return succeed(None)

    def run_all(self) -> None:
        queued, self.queued = self.queued, []
        for fn, args in queued:
            fn(*args)


def make_web(tmp_path: Path, now: list[datetime], pool: StorePool) -> ConsoleWeb:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade(engine)
    settings = Settings.model_validate({"console": {"rankings_cache_s": 60}})
    return ConsoleWeb(engine, settings, lambda: now[0], [], pool)


def test_fresh_stale_and_changed(tmp_path: Path) -> None:
    now = [T0]
    pool = StorePool()
    web = make_web(tmp_path, now, pool)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert web.cached("k", compute) == (1, T0)
    now[0] = T0 + timedelta(seconds=59)
    assert web.cached("k", compute) == (1, T0) and len(calls) == 1  # fresh
    now[0] = T0 + timedelta(seconds=61)
    assert web.cached("k", compute) == (1, T0)  # stale, shown while computed anew
    assert web.cache["k"][1] == 1 and len(pool.queued) == 1  # on the store pool, not run yet
    assert web.cached("k", compute) == (1, T0) and len(pool.queued) == 1  # one refresh at a time
    pool.run_all()
    assert web.cache["k"][1] == 2
    assert web.cached("k", compute) == (2, now[0])
    web.changed()
    assert web.cached("k", compute)[0] == 3  # computed at once after a change


def test_a_refresh_overtaken_by_a_change_is_not_kept(tmp_path: Path) -> None:
    now = [T0]
    pool = StorePool()
    web = make_web(tmp_path, now, pool)
    web.cached("k", lambda: "old")
    now[0] = T0 + timedelta(minutes=5)
    assert web.cached("k", lambda: "computed before the change")[0] == "old"  # queued
    web.changed()
    pool.run_all()  # the refresh ends after the change
    assert not web._refreshing
    assert "k" not in web.cache
    assert web.cached("k", lambda: "after the change")[0] == "after the change"


def test_a_change_made_elsewhere_is_not_shown_stale(tmp_path: Path) -> None:
    """An import or a dialer's answers change the store without the console knowing: a
    value computed before them is computed again at once, not shown for another minute
    (issue 17: a rankings page showed zeros until reloaded)."""
    now = [T0]
    pool = StorePool()
    web = make_web(tmp_path, now, pool)
    version = [1]
    assert web.cached("k", lambda: "before", lambda: version[0]) == ("before", T0)
    now[0] = T0 + timedelta(seconds=5)
    assert web.cached("k", lambda: "unused", lambda: version[0])[0] == "before"  # fresh
    version[0] = 2  # the store moved on elsewhere
    assert web.cached("k", lambda: "after", lambda: version[0]) == ("after", now[0])
    assert not pool.queued  # computed now, not left stale for a refresh
