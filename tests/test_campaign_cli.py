"""`huifang campaign status|pause|resume|run-now` and `huifang dnc`: shared through the
store, as every dialer process sees them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from huifang.cli import cli
from store import campaign as state
from store.db import make_engine


@pytest.fixture
def huifang(monkeypatch: pytest.MonkeyPatch) -> object:
    """The command line in process (a subprocess per command costs 3 s of imports)."""
    monkeypatch.delenv("HUIFANG_CONFIG", raising=False)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str, cwd: Path, db: str) -> Result:
        monkeypatch.chdir(cwd)
        monkeypatch.setenv("HUIFANG_DB", db)
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return run


def test_campaign_controls_and_the_do_not_call_list(tmp_path: Path, huifang: Any) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    assert huifang("db", "upgrade", cwd=tmp_path, db=db).exit_code == 0
    paused = huifang("campaign", "pause", cwd=tmp_path, db=db)
    assert paused.exit_code == 0 and "paused" in paused.stdout
    engine = make_engine(db)
    assert state.state(engine).paused
    refused = huifang("campaign", "run-now", cwd=tmp_path, db=db)
    assert refused.exit_code == 1 and "resume it first" in refused.output
    assert huifang("campaign", "resume", cwd=tmp_path, db=db).exit_code == 0
    assert huifang("campaign", "run-now", cwd=tmp_path, db=db).exit_code == 0
    assert state.take_run_now(engine)
    status = huifang("campaign", "status", "--json", cwd=tmp_path, db=db)
    assert status.exit_code == 0
    assert json.loads(status.stdout)["state"]["paused"] is False

    added = huifang("dnc", "add", "138-1234-5678", "--reason", "本人要求", cwd=tmp_path, db=db)
    assert added.exit_code == 0 and "138****5678" in added.stdout
    assert "13812345678" not in added.stdout  # masked
    listed = huifang("dnc", "list", cwd=tmp_path, db=db)
    assert "138****5678" in listed.stdout and "本人要求" in listed.stdout
    bad = huifang("dnc", "add", "12", "--reason", "x", cwd=tmp_path, db=db)
    assert bad.exit_code == 1 and "'12'" in bad.output
    assert huifang("dnc", "remove", "13812345678", cwd=tmp_path, db=db).exit_code == 0
    again = huifang("dnc", "remove", "13812345678", cwd=tmp_path, db=db)
    assert again.exit_code == 1 and "not on the list" in again.output
