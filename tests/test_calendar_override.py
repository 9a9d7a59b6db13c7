"""The operator's holiday calendar ([calendar]) with a made-up 2027 notice, a year
chinese-calendar does not know: working-day deadlines and the campaign's calling days
follow it, and `huifang config check` warns while the next 60 days reach an unknown year."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from dialer.windows import CallingWindows, first_due, is_statutory_holiday
from huifang.cli import cli
from huifang.config import ConfigError, load_settings
from scoring.calendar import deadline_day
from store import workdays
from store.workdays import Calendar, add_workdays, set_calendar, unknown_years

# 元旦 Fri 1 - Sun 3 January; 春节 Sat 6 - Sat 13 February; 调休: Sun 14 and Sat 20 February
NOTICE = """[calendar]
holidays = ["2027-01-01..2027-01-03", "2027-02-06..2027-02-13"]
workdays = ["2027-02-14", "2027-02-20"]
"""


@pytest.fixture(autouse=True)
def _no_calendar() -> Iterator[None]:
    set_calendar(Calendar())
    yield
    set_calendar(Calendar())


@pytest.fixture
def notice(tmp_path: Path) -> Path:
    path = tmp_path / "huifang.toml"
    path.write_text(NOTICE, encoding="utf-8")
    set_calendar(load_settings(str(path), {}).calendar.calendar())
    return path


def test_the_package_does_not_know_2027() -> None:
    assert not workdays.package_knows(2027), "pick a later made-up year for this test"
    assert unknown_years(date(2026, 12, 2)) == [2027]
    assert add_workdays(datetime(2027, 2, 5, 10), 1) == datetime(2027, 2, 8, 10)  # Mon-Fri


def test_working_day_deadlines_follow_the_notice(notice: Path) -> None:
    assert unknown_years(date(2026, 12, 2)) == []
    # Friday 5 February: the holiday runs to Saturday 13th, Sunday 14th is worked
    assert add_workdays(datetime(2027, 2, 5, 10), 1) == datetime(2027, 2, 14, 10)
    assert deadline_day(date(2027, 2, 5), 5) == date(2027, 2, 18)
    assert deadline_day(date(2027, 2, 19), 1) == date(2027, 2, 20)  # Saturday 20th worked
    assert deadline_day(date(2026, 12, 31), 1) == date(2027, 1, 4)  # 元旦
    assert not workdays.is_workday(date(2027, 2, 8)) and workdays.is_workday(date(2027, 2, 14))


def test_the_campaign_does_not_call_on_the_notices_holidays(notice: Path) -> None:
    windows = CallingWindows()
    assert is_statutory_holiday(date(2027, 2, 10)) and windows.windows_on(date(2027, 2, 10)) == ()
    assert not is_statutory_holiday(date(2027, 2, 14)) and windows.windows_on(date(2027, 2, 14))
    assert first_due(datetime(2027, 2, 5, 16), windows) == datetime(2027, 2, 14, 9)
    assert first_due(datetime(2026, 12, 31, 16), windows) == datetime(2027, 1, 4, 9)
    assert CallingWindows(skip_holidays=False).windows_on(date(2027, 2, 10))


def test_a_listed_day_wins_over_the_package() -> None:
    assert workdays.is_holiday(date(2026, 10, 1))
    set_calendar(Calendar(workdays=frozenset({date(2026, 10, 1)})))
    assert not workdays.is_holiday(date(2026, 10, 1)) and workdays.is_workday(date(2026, 10, 1))
    assert workdays.is_holiday(date(2026, 10, 2))  # the rest of 国庆 is the package's


@pytest.mark.parametrize(("text", "message"), [
    ('holidays = ["2027-13-01"]', "calendar.holidays"),
    ('holidays = ["2027-02-13..2027-02-06"]', "must run forwards"),
    ('holidays = ["2027-02-14"]\nworkdays = ["2027-02-10..2027-02-20"]',
     "2027-02-14 is listed both"),
    ("holiday = []", "unknown key 'calendar.holiday'")])
def test_a_bad_notice_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "h.toml"
    path.write_text(f"[calendar]\n{text}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(str(path), {})


def test_config_check_warns_of_an_unknown_year_ahead(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("huifang.coverage.hotline_today", lambda: date(2026, 12, 2))
    bare = tmp_path / "bare.toml"
    bare.write_text("", encoding="utf-8")
    warned = CliRunner().invoke(cli, ["--config", str(bare), "config", "check"])
    assert warned.exit_code == 0 and "reach 2027" in warned.output
    path = tmp_path / "huifang.toml"
    path.write_text(NOTICE, encoding="utf-8")
    quiet = CliRunner().invoke(cli, ["--config", str(path), "config", "check"])
    assert quiet.exit_code == 0 and "reach 2027" not in quiet.output, quiet.output
    shown = CliRunner().invoke(cli, ["--config", str(path), "calendar", "show", "2027"])
    assert "2027-02-06..2027-02-13" in shown.output and "2027-02-14, 2027-02-20" in shown.output
