"""The synthetic hotline: reproducible, realistic, and clean through the real import."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from store.db import make_engine
from store.importing.runner import ImportOptions, run_import
from store.models import Closure, Evaluation, Exclusion, Ticket, Unit
from store.phones import normalize_phone
from store.sample import generate

END = datetime(2026, 11, 20, 18)


def test_same_seed_same_files(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", tickets=300, seed=7, end=END)
    b = generate(tmp_path / "b", tickets=300, seed=7, end=END)
    c = generate(tmp_path / "c", tickets=300, seed=8, end=END)
    for (_, pa), (_, pb) in zip(a.files(), b.files(), strict=True):
        assert pa.read_bytes() == pb.read_bytes()
    first = {name: (tmp_path / name / "tickets-1.csv").read_bytes() for name in "ac"}
    assert first["a"] != first["c"] and c.tickets == 300


def test_realistic_shape(tmp_path: Path) -> None:
    summary = generate(tmp_path, tickets=3000, seed=1, end=END)
    with (tmp_path / "units.csv").open(encoding="utf-8-sig") as handle:
        groups = Counter(row["考核分组"] for row in csv.DictReader(handle))
    assert set(groups) == {"区县", "街道乡镇", "市直部门", ""}
    with (tmp_path / "tickets-1.csv").open(encoding="utf-8-sig") as handle:
        tickets = list(csv.DictReader(handle))
    phones = Counter(normalize_phone(t["来电号码"]).e164 for t in tickets)
    assert sum(1 for n in phones.values() if n > 1) > 100  # repeat callers
    assert all(t["办结时间"] <= "2026-11-20 18:00:00" for t in tickets)
    with (tmp_path / "evaluations.csv").open(encoding="utf-8-sig") as handle:
        evaluations = list(csv.DictReader(handle))
    hours = {int(e["回访时间"][11:13]) for e in evaluations}
    assert hours <= {9, 10, 11, 14, 15, 16, 17, 18, 19, 20}  # calling windows
    answers = Counter(e["满意度"] for e in evaluations)
    assert answers["满意"] > answers["基本满意"] > 0 and answers["不满意"] > 0
    assert summary.reopened > 0 and summary.exclusions > 0


def test_sample_imports_cleanly_into_every_store(tmp_path: Path, engine: Engine) -> None:
    import_sample(tmp_path, engine, "csv", "utf-8-sig")


@pytest.mark.parametrize(("fmt", "encoding"), [("csv", "gb18030"), ("xlsx", "utf-8-sig"),
                                               ("jsonl", "utf-8-sig")])
def test_every_file_format_imports_alike(tmp_path: Path, sqlite_template: Path, fmt: str,
                                         encoding: str) -> None:
    db = tmp_path / "h.db"
    db.write_bytes(sqlite_template.read_bytes())
    engine = make_engine(f"sqlite:///{db}")
    import_sample(tmp_path / "files", engine, fmt, encoding)


def import_sample(tmp_path: Path, engine: Engine, fmt: str, encoding: str) -> None:
    summary = generate(tmp_path, tickets=800, seed=3, end=END, fmt=fmt, encoding=encoding)
    for kind, path in summary.files(fmt):
        result = run_import(engine, kind, path, now=END, options=ImportOptions(batch_size=97))
        assert result.rejected == 0, result.errors[:5]
    with engine.connect() as conn:
        def n(model: type) -> int:
            return int(conn.execute(select(func.count()).select_from(model)).scalar_one())
        assert n(Unit) == summary.units and n(Ticket) == summary.tickets
        assert n(Evaluation) == summary.evaluations and n(Exclusion) == summary.exclusions
        reopened = conn.execute(select(func.count()).select_from(Closure)
                                .where(Closure.reopened)).scalar_one()
    assert reopened == summary.reopened
