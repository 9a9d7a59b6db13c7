"""`huifang calendar import FILE` with a made-up 2027 notice, in simple lines and in the
State Council's own wording: the [calendar] it prints or writes is what the service then
counts with; a file with a day twice, a weekday marked 调休 or a day of another year is
refused with the line named, and the configuration file is left as it was."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from huifang.calendar_config import CalendarWriteError, replace_section, write
from huifang.calendar_notice import Kind, NoticeError, parse
from huifang.cli import cli
from huifang.config import load_settings
from store.workdays import Calendar, add_workdays, is_holiday, is_workday, set_calendar

# made up: 2027's dates with a plausible 春节 and 国庆; not the State Council's
NOTICE = """国务院办公厅关于2027年部分节假日安排的通知
国办发明电〔2026〕X号

各省、自治区、直辖市人民政府，国务院各部委、各直属机构：
经国务院批准，现将2027年元旦、春节、清明节、劳动节、端午节、中秋节和国庆节放假调休日期的具体安排通知如下。
一、元旦：1月1日（周五）至3日（周日）放假，共3天。
二、春节：2月6日（农历除夕、周六）至13日（农历正月初七、周六）放假调休，共8天。2月14日（周日）、2月20日（周六）上班。鼓励各单位结合带薪年休假等制度落实，安排职工在除夕（2月5日）休息。
三、清明节：4月3日（周六）至5日（周一）放假，共3天。
四、劳动节：5月1日（周六）至5日（周三）放假调休，共5天。4月25日（周日）、5月8日（周六）上班。
五、端午节：6月9日（周三）放假，与周末连休。
六、国庆节、中秋节：10月1日（周五）至8日（周五）放假调休，共8天。9月26日（周日）、10月9日（周六）上班。
节假日期间，各地区、各部门要妥善安排好值班和安全、保卫、疫情防控等工作。
国务院办公厅
2026年11月12日
"""
LINES = """# 2027 放假安排 (made up)
2027-01-01..2027-01-03,holiday,元旦
2027-02-06..2027-02-13,放假,春节
2027-02-14,workday,春节调休
2027-02-20，上班，春节调休
2027-04-03..2027-04-05	holiday	清明节
"""


@pytest.fixture(autouse=True)
def _no_calendar() -> Iterator[None]:
    set_calendar(Calendar())
    yield
    set_calendar(Calendar())


def test_the_notice_as_published() -> None:
    notice = parse(NOTICE)
    assert notice.year == 2027
    holidays = notice.days(Kind.HOLIDAY)
    assert len(holidays) == 3 + 8 + 3 + 5 + 1 + 8
    assert date(2027, 2, 6) in holidays and date(2027, 2, 13) in holidays
    assert date(2027, 2, 5) not in holidays  # 除夕 only "encouraged", in an aside
    assert date(2027, 6, 9) in holidays
    assert notice.days(Kind.WORKDAY) == [date(2027, 2, 14), date(2027, 2, 20),
                                         date(2027, 4, 25), date(2027, 5, 8),
                                         date(2027, 9, 26), date(2027, 10, 9)]
    names = {e.name for e in notice.entries}
    assert {"元旦", "春节", "国庆节、中秋节", "春节调休"} <= names


def test_simple_lines() -> None:
    notice = parse(LINES)
    assert notice.year == 2027
    assert notice.days(Kind.WORKDAY) == [date(2027, 2, 14), date(2027, 2, 20)]
    assert len(notice.days(Kind.HOLIDAY)) == 3 + 8 + 3


def test_a_new_years_day_from_december() -> None:
    text = ("一、元旦：2022年12月31日至2023年1月2日放假调休，共3天。\n"
            "二、春节：1月21日至27日放假调休，共7天。1月28日（周六）、1月29日（周日）上班。\n")
    with pytest.raises(NoticeError, match="--year"):  # no title: which year is 1月21日?
        parse(text)
    for notice in (parse(text, 2023), parse("国务院办公厅关于2023年部分节假日安排的通知\n" + text)):
        assert notice.year == 2023
        assert notice.days(Kind.HOLIDAY)[:3] == [date(2022, 12, 31), date(2023, 1, 1),
                                                 date(2023, 1, 2)]
        assert notice.days(Kind.WORKDAY) == [date(2023, 1, 28), date(2023, 1, 29)]


@pytest.mark.parametrize(("text", "words"), [
    (LINES + "2027-02-10,holiday,春节\n", ["第 7 行 line 7", "2027-02-10",
                                          "已在第 3 行列出", "already listed on line 3"]),
    (LINES + "2027-02-17,workday,调休\n", ["第 7 行 line 7", "星期三", "Wednesday",
                                          "Saturday or Sunday"]),
    (LINES + "2028-01-01,holiday,元旦\n", ["第 7 行 line 7", "不在 2027 年", "not in 2027"]),
    (LINES + "2027-13-01,holiday,x\n", ["第 7 行 line 7", "不是日期", "is not a date"]),
    (LINES + "2027-05-01,holiday\n2027-05-02,休假日\n", ["第 8 行 line 8", "休假日"]),
    (LINES + "2027-05-05..2027-05-01,holiday,x\n", ["第 7 行 line 7", "backwards"]),
    (NOTICE.replace("4月25日（周日）、", "4月26日（周一）、"), ["第 9 行 line 9", "星期一"]),
    ("2027-02-14,workday,调休\n", ["no holiday"]),
    ("hello\n", ["no holiday found"]),
    (NOTICE.replace("2027年", "明年"), ["--year"]),
])
def test_bad_files_name_the_line(text: str, words: list[str]) -> None:
    with pytest.raises(NoticeError) as caught:
        parse(text)
    for word in words:
        assert word in str(caught.value), str(caught.value)


def _run(args: list[str], config: Path | None = None) -> Result:
    env = {"HUIFANG_CONFIG": str(config)} if config else {"HUIFANG_CONFIG": ""}
    return CliRunner().invoke(cli, args, env=env)


def test_the_command_prints_then_writes_and_the_service_counts_with_it(tmp_path: Path
                                                                       ) -> None:
    notice = tmp_path / "2027.txt"
    notice.write_text(NOTICE, encoding="utf-8")
    config = tmp_path / "huifang.toml"
    original = ('# our hotline\nhotline = "12345政务服务便民热线"\n\n[calendar]\n'
                '# 2026 corrections\nholidays = ["2026-10-09"]\nworkdays = []\n\n'
                '[console]\nbind = "127.0.0.1:8346"  # not the default\n')
    config.write_text(original, encoding="utf-8")
    printed = _run(["calendar", "import", str(notice)], config)
    assert printed.exit_code == 0, printed.output
    assert '"2026-10-09"' in printed.output and '"2027-02-06..2027-02-13"' in printed.output
    assert config.read_text(encoding="utf-8") == original  # printing writes nothing

    written = _run(["calendar", "import", str(notice), "--write"], config)
    assert written.exit_code == 0, written.output
    assert "wrote [calendar]" in written.output
    text = config.read_text(encoding="utf-8")
    assert text.startswith("# our hotline\n") and 'bind = "127.0.0.1:8346"  # not the' in text
    settings = load_settings(str(config), {})
    assert settings.console.bind == "127.0.0.1:8346"
    assert "2026-10-09" in settings.calendar.holidays  # the other year stays
    set_calendar(settings.calendar.calendar())
    assert is_holiday(date(2027, 2, 8)) and is_workday(date(2027, 2, 14))
    assert add_workdays(datetime(2027, 2, 5, 10), 1) == datetime(2027, 2, 14, 10)
    shown = _run(["calendar", "show", "2027"], config)
    assert "[calendar]" in shown.output and "2027-02-14" in shown.output

    # imported again (a corrected notice): the year's entries are replaced, not doubled
    notice.write_text(LINES, encoding="utf-8")
    again = _run(["calendar", "import", str(notice), "--write"], config)
    assert again.exit_code == 0, again.output
    settings = load_settings(str(config), {})
    assert "2027-10-01..2027-10-08" not in settings.calendar.holidays
    assert settings.calendar.workdays == ["2027-02-14", "2027-02-20"]
    assert "2026-10-09" in settings.calendar.holidays


def test_a_bad_file_or_an_odd_config_changes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "huifang.toml"
    original = 'calendar = { holidays = ["2026-10-09"] }\n'
    config.write_text(original, encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text(LINES + "2027-02-17,workday,调休\n", encoding="utf-8")
    result = _run(["calendar", "import", str(bad), "--write"], config)
    assert result.exit_code == 1 and "line 7" in result.output
    good = tmp_path / "good.csv"
    good.write_text(LINES, encoding="utf-8")
    result = _run(["calendar", "import", str(good), "--write"], config)
    assert result.exit_code == 1 and "cannot edit" in result.output  # an inline table
    assert config.read_text(encoding="utf-8") == original
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes(NOTICE.encode("gbk"))
    result = _run(["calendar", "import", str(gbk)], config)
    assert result.exit_code == 1 and "UTF-8" in result.output
    nowhere = _run(["calendar", "import", str(good), "--write"])
    assert nowhere.exit_code == 1 and "no configuration file" in nowhere.output


def test_the_section_is_replaced_or_appended() -> None:
    text = "[a]\nx = 1\n\n[calendar]\nholidays = [\n  \"2026-10-09\",\n]\n\n[b]\ny = 2\n"
    new = replace_section(text, "[calendar]\nholidays = []\n")
    assert new == "[a]\nx = 1\n\n[calendar]\nholidays = []\n\n[b]\ny = 2\n"
    assert replace_section("x = 1", "[calendar]\n") == "x = 1\n\n[calendar]\n"
    with pytest.raises(CalendarWriteError):
        replace_section("[calendar]\n[calendar]\n", "")


def test_write_refuses_a_file_it_would_break(tmp_path: Path) -> None:
    config = tmp_path / "huifang.toml"
    config.write_text("[console]\nbind = \"x\"\n", encoding="utf-8")  # invalid already
    with pytest.raises(CalendarWriteError, match="would not validate"):
        write(config, ["2027-01-01"], [], "test")
    assert config.read_text(encoding="utf-8") == "[console]\nbind = \"x\"\n"
    assert [p.name for p in tmp_path.iterdir()] == ["huifang.toml"]  # no temporary left
