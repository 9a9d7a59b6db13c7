from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from store.importing.columns import TICKET_COLUMNS, UNIT_COLUMNS
from store.importing.readers import FileFormatError, open_reader


def rows_of(path: Path, columns=UNIT_COLUMNS, **kw: object):  # type: ignore[no-untyped-def]
    reader = open_reader(path, columns, **kw)  # type: ignore[arg-type]
    try:
        return reader, list(reader.rows())
    finally:
        reader.close()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes("单位名称,上级单位,考核分组\n东湖区,,区县\n东湖区青石街道,东湖区,街道乡镇\n"
                     .encode(encoding))
    reader, rows = rows_of(path)
    assert [r.values["name"] for r in rows] == ["东湖区", "东湖区青石街道"]
    assert [r.row_no for r in rows] == [2, 3]
    assert reader.encoding == ("gb18030" if encoding.startswith("gb") else "utf-8-sig")


def test_english_headers_tabs_and_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "u.tsv"
    path.write_text('Name\tParent\tGroup\n"东湖\n区"\t\t区县\n西岭区\t\t区县\n', encoding="utf-8")
    _, rows = rows_of(path)
    assert [(r.row_no, r.values["name"]) for r in rows] == [(2, "东湖\n区"), (4, "西岭区")]


def test_undecodable_bytes_late_in_a_utf8_file_are_row_errors(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    good = "单位名称\n" + "东湖区\n" * 40
    path.write_bytes(good.encode() + "西岭区\n".encode("gbk") + "南塘区\n".encode())
    reader, rows = rows_of(path)
    assert reader.encoding == "utf-8-sig"
    bad = [r for r in rows if r.errors]
    assert [(r.row_no, r.errors[0][0]) for r in bad] == [(42, "name")]
    assert "not valid UTF-8" in bad[0].errors[0][1]
    assert rows[-1].values["name"] == "南塘区"


def test_missing_required_column_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("工单编号,承办单位\nGD1,东湖区\n", encoding="utf-8")
    with pytest.raises(FileFormatError, match=r"诉求类型.*来电号码|type.*phone"):
        open_reader(path, TICKET_COLUMNS)


def test_two_headers_for_one_column(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("单位名称,承办单位\n东湖区,东湖区\n", encoding="utf-8")
    with pytest.raises(FileFormatError, match="both mean 'name'"):
        open_reader(path, UNIT_COLUMNS)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match="empty"):
        open_reader(path, UNIT_COLUMNS)


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(FileFormatError, match="binary file"):
        open_reader(path, UNIT_COLUMNS)
    # GB18030 decodes almost any bytes, so high-bit noise is caught by its header instead.
    path.write_bytes(bytes(range(128, 256)) * 10)
    with pytest.raises(FileFormatError, match="missing required column") as info:
        open_reader(path, UNIT_COLUMNS)
    assert len(str(info.value)) < 400


def test_utf16_from_excel(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes("单位名称\n东湖区\n".encode("utf-16"))
    with pytest.raises(FileFormatError, match="binary file"):
        open_reader(path, UNIT_COLUMNS)
    _, rows = rows_of(path, encoding="utf-16")
    assert rows[0].values["name"] == "东湖区"


def test_xlsx(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["单位名称", "上级单位", "考核分组"])
    sheet.append(["东湖区", None, "区县"])
    sheet.append([None, None, None])
    sheet.append(["东湖区青石街道", "东湖区", "街道乡镇"])
    book.save(tmp_path / "u.xlsx")
    _, rows = rows_of(tmp_path / "u.xlsx")
    assert [(r.row_no, r.values["name"]) for r in rows] == [(2, "东湖区"), (4, "东湖区青石街道")]


def test_not_really_xlsx(tmp_path: Path) -> None:
    (tmp_path / "u.xlsx").write_text("单位名称\n东湖区\n", encoding="utf-8")
    with pytest.raises(FileFormatError, match="XLSX"):
        open_reader(tmp_path / "u.xlsx", UNIT_COLUMNS)


def test_jsonl(tmp_path: Path) -> None:
    lines = [json.dumps({"name": "东湖区", "group": "区县"}, ensure_ascii=False), "",
             "{not json", "[1, 2]", json.dumps({"单位名称": "西岭区"}, ensure_ascii=False),
             json.dumps({"parent": "x"})]
    (tmp_path / "u.jsonl").write_text("\n".join(lines), encoding="utf-8")
    _, rows = rows_of(tmp_path / "u.jsonl")
    assert [(r.row_no, r.values.get("name"), bool(r.errors)) for r in rows] == [
        (1, "东湖区", False), (3, None, True), (4, None, True), (5, "西岭区", False),
        (6, None, True)]
    assert "missing required column" in rows[-1].errors[0][1]


def test_reader_streams_instead_of_loading(tmp_path: Path) -> None:
    # A large file is read lazily: the first row comes back after reading one buffer.
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("单位名称\n")
        for i in range(200_000):
            handle.write(f"单位{i}\n")
    reader = open_reader(path, UNIT_COLUMNS)
    first = next(iter(reader.rows()))
    assert first.values["name"] == "单位0"
    assert reader.position() < path.stat().st_size / 4
    reader.close()
