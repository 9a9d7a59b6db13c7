"""Bulletins made by the service's job: each once per period across a restart (an
injected clock, SQLite), a dead node's claim taken over after its lease, a failed try
retried, never twice with two nodes racing on one database (PostgreSQL and SQLite), and
the monthly analysis's comparisons in its JSON."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock

import scoring.exports
from huifang import bulletins as job_module
from huifang.bulletins import BulletinJob, BulletinMaker
from huifang.config import Settings
from store import bulletins as store
from store.bulletins import Bulletin, BulletinKind, BulletinState
from store.importing.runner import run_import
from tests.scoring_fixture import write_fixture

# Monday 2 November 2026 09:00: with a one-day look back, the 日报 of 1 November (07:30),
# week 44's 周报 (08:00) and October's 月报 (08:30, the first working day) are due
START = datetime(2026, 11, 2, 9, 0)
DUE = {("daily", "2026-11-01"), ("weekly", "2026-W44"), ("monthly", "2026-10")}


def settings_for(directory: Path, formats: tuple[str, ...] = ("json", "xlsx"),
                 **extra: Any) -> Settings:
    return Settings.model_validate({
        "scoring": {"min_sample": 3},
        "bulletins": {"dir": str(directory), "formats": list(formats), "catch_up_days": 1,
                      **extra}})


def load_october(engine: Engine, tmp_path: Path) -> None:
    for kind, path in write_fixture(tmp_path):
        assert run_import(engine, kind, path, now=datetime(2026, 11, 20, 12)).rejected == 0


class Wall:
    """The hotline's wall clock, moved by hand."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def rows(engine: Engine) -> dict[tuple[str, str], Bulletin]:
    with Session(engine, expire_on_commit=False) as session:
        found = session.scalars(select(Bulletin)).all()
        session.expunge_all()
    return {(r.kind, r.period): r for r in found}


def made(engine: Engine) -> set[tuple[str, str]]:
    return {k for k, r in rows(engine).items() if r.state == BulletinState.MADE}


def in_store(fn: Callable[..., Any], *args: Any) -> Any:
    return maybeDeferred(fn, *args)  # the store pool, here synchronous


def test_each_bulletin_once_across_a_restart(sqlite_engine: Engine, tmp_path: Path) -> None:
    load_october(sqlite_engine, tmp_path)
    reports = tmp_path / "reports"
    settings = settings_for(reports)
    clock = Clock()
    wall = Wall(START)
    first = BulletinJob(BulletinMaker(sqlite_engine, settings, wall, node="n1"), clock,
                        in_store)
    first.start()
    assert first.made == []  # the first look is one interval after start
    clock.advance(60)
    assert {(str(m.kind), m.period) for m in first.made} == DUE
    assert made(sqlite_engine) == DUE
    files = sorted(p.relative_to(reports).as_posix() for p in reports.rglob("*") if p.is_file())
    assert files == ["daily/daily-2026-11-01.json", "daily/daily-2026-11-01.xlsx",
                     "monthly/monthly-2026-10.json", "monthly/monthly-2026-10.xlsx",
                     "weekly/weekly-2026-W44.json", "weekly/weekly-2026-W44.xlsx"]
    stamp = (reports / "monthly" / "monthly-2026-10.json").stat().st_mtime_ns
    clock.advance(60)  # the next look within the same morning: nothing new
    assert len(first.made) == 3
    assert first.stop() is not None

    # the service restarts (a new job, a new maker) an hour later: nothing is made again
    wall.at = START + timedelta(hours=1)
    second = BulletinJob(BulletinMaker(sqlite_engine, settings, wall, node="n1-restarted"),
                         clock, in_store)
    second.start()
    clock.advance(60)
    assert second.made == []
    assert (reports / "monthly" / "monthly-2026-10.json").stat().st_mtime_ns == stamp
    assert all(r.tries == 1 for r in rows(sqlite_engine).values())

    # the next morning, on the job's own schedule: the 日报 of 2 November only
    wall.at = datetime(2026, 11, 3, 7, 30)
    clock.advance(60)
    assert [(str(m.kind), m.period) for m in second.made] == [("daily", "2026-11-02")]
    clock.advance(60)
    assert len(second.made) == 1
    second.stop()

    data = json.loads((reports / "daily" / "daily-2026-11-02.json").read_text("utf-8"))
    assert data["bulletin"]["kind"] == "daily" and data["bulletin"]["label"] == "日报"
    assert data["period"]["label"] == "2026-11-02" and data["period"]["kind"] == "day"
    assert data["bulletin"]["due_at"] == "2026-11-03T07:30:00"


def test_a_missed_run_is_made_when_the_service_is_back(sqlite_engine: Engine,
                                                       tmp_path: Path) -> None:
    """Down from Saturday 31 October to Wednesday 4 November 10:00: the bulletins due in
    the last catch_up_days (3) are made at start, the older ones are not."""
    settings = settings_for(tmp_path / "r", formats=("json",), catch_up_days=3)
    maker = BulletinMaker(sqlite_engine, settings, Wall(datetime(2026, 11, 4, 10, 0)),
                          node="n1")
    done = {(str(m.kind), m.period) for m in maker.run_due()}
    assert done == {("daily", "2026-11-01"), ("daily", "2026-11-02"),
                    ("daily", "2026-11-03"), ("weekly", "2026-W44"), ("monthly", "2026-10")}
    assert maker.run_due() == []


def test_a_dead_nodes_claim_is_taken_over_after_its_lease(sqlite_engine: Engine,
                                                          tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "r", formats=("json",), lease_minutes=30,
                            kinds=["monthly"])
    wall = Wall(START)
    dead = BulletinMaker(sqlite_engine, settings, wall, node="dead")
    (item,) = dead.due()
    held = dead.claim(item)  # ... and the node dies before making it
    assert held is not None
    alive = BulletinMaker(sqlite_engine, settings, wall, node="alive")
    wall.at = START + timedelta(minutes=29)
    assert alive.due() == [] and alive.run_due() == []
    wall.at = START + timedelta(minutes=31)
    (result,) = alive.run_due()
    assert result.period == "2026-10"
    row = rows(sqlite_engine)[("monthly", "2026-10")]
    assert (row.state, row.node, row.tries) == (BulletinState.MADE, "alive", 2)
    # the dead node comes back with its stale claim: it may not mark it
    assert dead.make(held) is None
    assert rows(sqlite_engine)[("monthly", "2026-10")].node == "alive"


def test_a_failed_try_is_recorded_and_retried(sqlite_engine: Engine, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(tmp_path / "r", formats=("xlsx",), retry_minutes=10,
                            kinds=["daily"])
    wall = Wall(START)
    maker = BulletinMaker(sqlite_engine, settings, wall, node="n1")

    def full_disk(report: object, path: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(job_module, "write_report", full_disk)
    assert maker.run_due() == []
    row = rows(sqlite_engine)[("daily", "2026-11-01")]
    assert row.state == BulletinState.FAILED and "No space left" in (row.error or "")
    assert not list((tmp_path / "r").rglob("*.xlsx"))  # nothing half-written left
    monkeypatch.setattr(job_module, "write_report", scoring.exports.write_report)
    wall.at = START + timedelta(minutes=5)
    assert maker.run_due() == []  # not before its retry time
    wall.at = START + timedelta(minutes=11)
    (result,) = maker.run_due()
    assert [f.name for f in result.files] == ["daily-2026-11-01.xlsx"]
    row = rows(sqlite_engine)[("daily", "2026-11-01")]
    assert (row.state, row.tries, row.error) == (BulletinState.MADE, 2, None)


def test_never_twice_with_two_nodes(engine: Engine, tmp_path: Path) -> None:
    """Two nodes' jobs race on one database, a week of mornings: every bulletin is
    claimed once, made once, its files written once."""
    load_october(engine, tmp_path)
    settings = settings_for(tmp_path / "shared", formats=("json",))
    wall = Wall(START)
    makers = [BulletinMaker(engine, settings, wall, node=f"node{i}", host=f"host{i}")
              for i in (1, 2)]
    by_node: dict[str, list[tuple[str, str]]] = {"node1": [], "node2": []}
    for day in range(7):
        wall.at = START + timedelta(days=day)
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def race(maker: BulletinMaker, barrier: threading.Barrier = barrier,
                 errors: list[BaseException] = errors) -> None:
            try:
                wanted = maker.due()
                barrier.wait(timeout=30)
                for item in wanted:  # both see the same due list, both try every one
                    held = maker.claim(item)
                    if held is not None:
                        result = maker.make(held, item.at)
                        assert result is not None
                        by_node[maker.node].append((str(result.kind), result.period))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=race, args=(m,)) for m in makers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
    everything = by_node["node1"] + by_node["node2"]
    assert len(everything) == len(set(everything)) == 7 + 1 + 1  # 7 日报, W44's, October's
    assert set(everything) == made(engine)
    assert all(r.tries == 1 and r.state == BulletinState.MADE
               for r in rows(engine).values())
    for (kind, period), row in rows(engine).items():
        assert row.host == {"node1": "host1", "node2": "host2"}[row.node], (kind, period)


def test_one_claim_among_many_at_once(engine: Engine) -> None:
    barrier = threading.Barrier(6)
    claims: list[object] = []

    def take(i: int) -> None:
        barrier.wait(timeout=30)
        claims.append(store.claim(engine, BulletinKind.DAILY, "2026-11-01", node=f"n{i}",
                                  host="h", now=START, lease=timedelta(minutes=30)))

    threads = [threading.Thread(target=take, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(claims) == 6 and len([c for c in claims if c is not None]) == 1


def test_the_monthly_analysis_compares_and_names_the_cards(sqlite_engine: Engine,
                                                           tmp_path: Path) -> None:
    load_october(sqlite_engine, tmp_path)
    settings = settings_for(tmp_path / "r", formats=("json", "pdf", "xlsx"), kinds=["monthly"])
    (result,) = BulletinMaker(sqlite_engine, settings, Wall(START), node="n1").run_due()
    assert sorted(f.format for f in result.files) == ["json", "pdf", "xlsx"]
    pdf = tmp_path / "r" / "monthly" / "monthly-2026-10.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    data = json.loads((tmp_path / "r" / "monthly" / "monthly-2026-10.json").read_text("utf-8"))
    comparison = data["comparison"]
    assert (comparison["previous_month"], comparison["last_year"]) == ("2026-09", "2025-10")
    carded = {u["unit"]: u["card"] for u in data["units"] if u["card"]}
    assert carded  # the fixture's October has cards
    assert {c["unit"] for c in comparison["red_cards"]} == \
        {u for u, c in carded.items() if c == "red"}
    assert {c["unit"] for c in comparison["yellow_cards"]} == \
        {u for u, c in carded.items() if c == "yellow"}
    unit = next(u for u in comparison["units"] if u["unit"] == "乙区")
    satisfaction = unit["rates"]["satisfaction_rate"]
    assert satisfaction["label"] == "满意率"
    # September and October 2025 hold no tickets: nothing to compare with, said so
    assert satisfaction["previous_month"] == {"value": None, "change": None,
                                              "beyond_interval": None,
                                              "verdict": "无可比数据"}
    assert satisfaction["last_year"]["verdict"] == "无可比数据"
    # the files leadership opens say the same: the carded units and the comparison
    red = "、".join(f"{c['unit']}（{c['group']}）" for c in comparison["red_cards"]) or "无"
    sheet = openpyxl.load_workbook(tmp_path / "r" / "monthly" / "monthly-2026-10.xlsx")["月度对比"]
    lines = [[c.value for c in row] for row in sheet.iter_rows()]
    assert lines[0][:5] == ["单位", "考核分组", "指标", "本月", "上月"]
    assert ["乙区", unit["group"], "满意率", satisfaction["value"], None, None, "无可比数据",
            None, None, "无可比数据"] in lines
    assert lines[-1][0].startswith(f"本月红牌：{red}；黄牌：")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "月度对比（较上月 2026-09、去年同期 2025-10）" in text
    assert f"本月红牌：{red}" in " ".join(text.split()).replace(" ", "")  # wrapped, spaced
