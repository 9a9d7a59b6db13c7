"""One contract for every store: the same behaviour on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from store.enums import EvaluationSource, EventKind, Resolved, Satisfaction, TicketStatus
from store.history import ticket_history
from store.importing.base import Outcome
from store.importing.runner import ImportFileError, ImportOptions, ImportResult, run_import
from store.models import Closure, Evaluation, Exclusion, Ticket, TicketEvent, Unit
from tests.files import TICKET_HEADER, UNITS, ticket, write_csv

NOW = datetime(2026, 11, 20, 12, 0, 0)


def imp(engine: Engine, kind: str, path: Path, **options: object) -> ImportResult:
    return run_import(engine, kind, path, now=NOW, options=ImportOptions(**options))  # type: ignore[arg-type]


def count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def load_units(engine: Engine, tmp_path: Path) -> None:
    result = imp(engine, "units", write_csv(tmp_path / "units.csv", UNITS))
    assert result.counts[Outcome.INSERTED] == 4 and result.rejected == 0


def test_units_hierarchy_and_groups(engine: Engine, tmp_path: Path) -> None:
    # Children before their parent: the import resolves the order itself.
    rows = [UNITS[0], UNITS[3], UNITS[2], UNITS[1], UNITS[4]]
    result = imp(engine, "units", write_csv(tmp_path / "u.csv", rows))
    assert result.counts[Outcome.INSERTED] == 4
    with engine.connect() as conn:
        units = {u.name: u for u in conn.execute(select(Unit))}
    assert units["东湖区青石街道幸福里社区"].parent_id == units["东湖区青石街道"].id
    assert units["东湖区青石街道"].parent_id == units["东湖区"].id
    assert units["东湖区"].ranking_group == "区县"
    assert units["东湖区青石街道幸福里社区"].ranking_group is None
    again = imp(engine, "units", write_csv(tmp_path / "u.csv", rows))
    assert again.counts[Outcome.UNCHANGED] == 4


def test_unit_cycles_and_unknown_parents_are_rejected(engine: Engine, tmp_path: Path) -> None:
    rows = [UNITS[0], ["甲", "乙", "", ""], ["乙", "甲", "", ""], ["丙", "不存在", "", ""],
            ["丁", "", "", ""]]
    result = imp(engine, "units", write_csv(tmp_path / "u.csv", rows))
    assert result.counts[Outcome.INSERTED] == 1
    reasons = {e.row_no: e.reason for e in result.errors}
    assert "cycle" in reasons[2] and "cycle" in reasons[3]
    assert "unknown parent" in reasons[4]


def test_ticket_import_creates_history(engine: Engine, tmp_path: Path) -> None:
    load_units(engine, tmp_path)
    rows = [TICKET_HEADER, ticket("GD1"), ticket("GD2", closed="", signed=""),
            ticket("GD3", phone="138-1234-5678")]
    result = imp(engine, "tickets", write_csv(tmp_path / "t.csv", rows))
    assert result.counts[Outcome.INSERTED] == 3 and result.rejected == 0
    with engine.connect() as conn:
        tickets = {t.ticket_no: t for t in conn.execute(select(Ticket))}
        kinds = [e.kind for e in conn.execute(
            select(TicketEvent).where(TicketEvent.ticket_id == tickets["GD1"].id)
            .order_by(TicketEvent.id))]
    assert tickets["GD1"].status == TicketStatus.CLOSED
    assert tickets["GD2"].status == TicketStatus.DISPATCHED
    assert tickets["GD1"].phone == tickets["GD3"].phone == "+8613812345678"
    assert tickets["GD1"].received_at == datetime(2026, 11, 2, 9, 10)
    assert kinds == [EventKind.IMPORTED]  # the lifecycle is in the columns, not repeated
    assert count(engine, Closure) == 2
    with engine.connect() as conn:
        history = ticket_history(conn, "GD1")
    assert [(h.kind, h.at) for h in history] == [
        (EventKind.RECEIVED, datetime(2026, 11, 2, 9, 10)),
        (EventKind.DISPATCHED, datetime(2026, 11, 2, 9, 30)),
        (EventKind.SIGNED, datetime(2026, 11, 2, 14, 0)),
        (EventKind.CLOSED, datetime(2026, 11, 5, 16, 0)),
        (EventKind.IMPORTED, NOW)]
    assert {h.import_id for h in history} == {result.import_id}


def test_reimport_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    load_units(engine, tmp_path)
    path = write_csv(tmp_path / "t.csv", [TICKET_HEADER, ticket("GD1"), ticket("GD2")])
    imp(engine, "tickets", path)
    events = count(engine, TicketEvent)
    again = imp(engine, "tickets", path)
    assert again.counts[Outcome.UNCHANGED] == 2 and again.rejected == 0
    assert count(engine, TicketEvent) == events
    assert count(engine, Ticket) == 2


def test_reclosure_after_reopen_keeps_both_closures(engine: Engine, tmp_path: Path) -> None:
    load_units(engine, tmp_path)
    imp(engine, "tickets", write_csv(tmp_path / "t1.csv", [TICKET_HEADER, ticket("GD1")]))
    first_eval = [["工单编号", "回访时间", "是否解决", "满意度", "回访方式", "回访人"],
                  ["GD1", "2026-11-06 10:00:00", "未解决", "不满意", "人工回访", "张敏"]]
    assert imp(engine, "evaluations", write_csv(tmp_path / "e1.csv", first_eval)).rejected == 0
    later = [TICKET_HEADER, ticket("GD1", reopened="2026-11-06 15:00:00",
                                   closed="2026-11-10 11:00:00")]
    result = imp(engine, "tickets", write_csv(tmp_path / "t2.csv", later))
    assert result.counts[Outcome.UPDATED] == 1
    second_eval = [first_eval[0], ["GD1", "2026-11-11 10:00:00", "已解决", "基本满意", "", ""]]
    assert imp(engine, "evaluations", write_csv(tmp_path / "e2.csv", second_eval)).rejected == 0
    with engine.connect() as conn:
        closures = conn.execute(select(Closure).order_by(Closure.seq)).all()
        evaluations = conn.execute(
            select(Closure.seq, Evaluation.resolved, Evaluation.satisfaction, Evaluation.source)
            .join(Evaluation, Evaluation.closure_id == Closure.id).order_by(Closure.seq)).all()
        t = conn.execute(select(Ticket)).one()
    assert [(c.seq, c.reopened, c.reopened_at) for c in closures] == [
        (1, True, datetime(2026, 11, 6, 15)), (2, False, None)]
    assert evaluations == [(1, Resolved.NO, Satisfaction.UNSATISFIED, EvaluationSource.AGENT),
                           (2, Resolved.YES, Satisfaction.BASIC, EvaluationSource.AGENT)]
    assert t.status == TicketStatus.CLOSED and t.closure_count == 2
    with engine.connect() as conn:
        timeline = [(h.kind, h.closure_seq, h.at) for h in ticket_history(conn, "GD1")]
    assert timeline == [
        (EventKind.RECEIVED, None, datetime(2026, 11, 2, 9, 10)),
        (EventKind.DISPATCHED, None, datetime(2026, 11, 2, 9, 30)),
        (EventKind.SIGNED, None, datetime(2026, 11, 2, 14, 0)),
        (EventKind.CLOSED, 1, datetime(2026, 11, 5, 16, 0)),
        (EventKind.EVALUATED, 1, datetime(2026, 11, 6, 10, 0)),
        (EventKind.REOPENED, 1, datetime(2026, 11, 6, 15, 0)),
        (EventKind.CLOSED, 2, datetime(2026, 11, 10, 11, 0)),
        (EventKind.EVALUATED, 2, datetime(2026, 11, 11, 10, 0)),
        (EventKind.IMPORTED, None, NOW)]
    # The older export imported again is recognised as stale and changes nothing.
    stale = imp(engine, "tickets", tmp_path / "t1.csv")
    assert stale.counts[Outcome.STALE] == 1 and count(engine, Closure) == 2


def test_reopened_not_yet_reclosed(engine: Engine, tmp_path: Path) -> None:
    load_units(engine, tmp_path)
    imp(engine, "tickets", write_csv(tmp_path / "t1.csv", [TICKET_HEADER, ticket("GD1")]))
    pending = [TICKET_HEADER, ticket("GD1", closed="", reopened="2026-11-07 09:00:00")]
    assert imp(engine, "tickets", write_csv(tmp_path / "t2.csv", pending)).rejected == 0
    with engine.connect() as conn:
        assert conn.execute(select(Ticket.status)).scalar_one() == TicketStatus.REOPENED
        assert conn.execute(select(Closure.reopened)).scalar_one() is True


def test_bad_rows_are_reported_and_good_rows_kept(engine: Engine, tmp_path: Path) -> None:
    load_units(engine, tmp_path)
    rows = [TICKET_HEADER,
            ticket("GD1"),
            ticket("GD2", phone="12345"),
            ticket("GD3", received="2026-13-45 10:00"),
            ticket("GD4", closed="2026-11-01 10:00:00"),
            ticket("GD5", unit="不存在的单位"),
            ticket("GD1", summary="same number again"),
            ticket("GD6", kind="吐槽"),
            ticket("GD7")]
    path = write_csv(tmp_path / "t.csv", rows)
    result = imp(engine, "tickets", path)
    assert result.counts[Outcome.INSERTED] == 2
    errors = {(e.row_no, e.column) for e in result.errors}
    assert {(3, "phone"), (4, "received_at"), (5, "closed_at"), (6, "unit"), (7, "ticket_no"),
            (8, "type")} <= errors
    assert any("duplicate of row 2" in e.reason for e in result.errors)
    assert result.rejects_path == tmp_path / "t.csv.rejects.csv"
    rejects = result.rejects_path.read_text(encoding="utf-8-sig").splitlines()
    assert rejects[0].endswith("_row,_column,_error") and len(rejects) == 7
    assert rejects[1].startswith("GD2,") and ",3,phone," in rejects[1]
    # The rejects file, once fixed, imports like any other file (extra columns ignored).
    fixed = rejects[1].replace(",12345,", ",13900001111,")
    (tmp_path / "fixed.csv").write_text("\n".join([rejects[0], fixed]), encoding="utf-8-sig")
    assert imp(engine, "tickets", tmp_path / "fixed.csv").counts[Outcome.INSERTED] == 1


def test_strict_writes_nothing_when_a_row_is_bad(engine: Engine, tmp_path: Path) -> None:
    load_units(engine, tmp_path)
    rows = [TICKET_HEADER, ticket("GD1"), ticket("GD2"), ticket("GD3", phone="x")]
    result = imp(engine, "tickets", write_csv(tmp_path / "t.csv", rows), strict=True,
                 batch_size=1)
    assert result.status == "rejected" and result.rejected == 1
    assert count(engine, Ticket) == 0 and count(engine, TicketEvent) == 0


def test_duplicates_found_across_batches(engine: Engine, tmp_path: Path) -> None:
    load_units(engine, tmp_path)
    rows = [TICKET_HEADER] + [ticket(f"GD{i}") for i in range(10)] + [ticket("GD3")]
    result = imp(engine, "tickets", write_csv(tmp_path / "t.csv", rows), batch_size=3)
    assert result.counts[Outcome.INSERTED] == 10
    assert [str(e) for e in result.errors] == [
        "row 12, column ticket_no: duplicate of row 5 of this file"]


def test_evaluation_rules(engine: Engine, tmp_path: Path) -> None:
    load_units(engine, tmp_path)
    imp(engine, "tickets", write_csv(tmp_path / "t.csv", [
        TICKET_HEADER, ticket("GD1"), ticket("GD2"), ticket("GD3", closed="", signed="")]))
    header = ["工单编号", "回访时间", "是否解决", "满意度"]
    rows = [header,
            ["GD1", "2026-11-06 10:00", "1", "2"],  # keys as agents log them
            ["GD2", "2026-11-04 10:00", "是", "满意"],  # before closure
            ["GD3", "2026-11-06 10:00", "是", "满意"],  # never closed
            ["GD9", "2026-11-06 10:00", "是", "满意"],  # unknown ticket
            ["GD2", "2026-11-06 10:00", "也许", "满意"],  # bad answer
            ["GD2", "2026-11-07 10:00", "否", "不满意"]]
    result = imp(engine, "evaluations", write_csv(tmp_path / "e.csv", rows))
    assert result.counts[Outcome.INSERTED] == 2
    assert {e.row_no for e in result.errors} == {3, 4, 5, 6}
    assert any("before the ticket's first closure" in e.reason for e in result.errors)
    # Same answer again: unchanged. A different answer for the same closure: refused.
    conflict = [header, ["GD1", "2026-11-06 10:00", "1", "2"],
                ["GD2", "2026-11-08 10:00", "是", "满意"]]
    again = imp(engine, "evaluations", write_csv(tmp_path / "e2.csv", conflict))
    assert again.counts[Outcome.UNCHANGED] == 1 and again.rejected == 1
    assert "supervisor" in again.errors[0].reason
    with engine.connect() as conn:
        answer = conn.execute(select(Evaluation.resolved, Evaluation.satisfaction)
                              .join(Ticket).where(Ticket.ticket_no == "GD1")).one()
    assert tuple(answer) == (Resolved.YES, Satisfaction.BASIC)


def test_exclusions(engine: Engine, tmp_path: Path) -> None:
    load_units(engine, tmp_path)
    imp(engine, "tickets", write_csv(tmp_path / "t.csv", [TICKET_HEADER, ticket("GD1")]))
    rows = [["工单编号", "剔除原因", "审批人"], ["GD1", "不合理诉求", "周平"],
            ["GD2", "重复工单", "周平"], ["GD1", "", "周平"]]
    result = imp(engine, "exclusions", write_csv(tmp_path / "x.csv", rows))
    assert result.counts[Outcome.INSERTED] == 1
    assert {(e.row_no, e.column) for e in result.errors} == {(3, "ticket_no"), (4, "reason")}
    with engine.connect() as conn:
        exclusion = conn.execute(select(Exclusion)).one()
        event = conn.execute(select(TicketEvent).where(
            TicketEvent.kind == EventKind.EXCLUDED)).one()
    assert (exclusion.reason, exclusion.approved_by) == ("不合理诉求", "周平")
    assert exclusion.approved_at == NOW and event.actor == "周平"


def test_one_citizens_tickets_found_together(engine: Engine, tmp_path: Path) -> None:
    load_units(engine, tmp_path)
    rows = [TICKET_HEADER, ticket("GD1", phone="13812345678"),
            ticket("GD2", phone="+86 138 1234 5678"), ticket("GD3", phone="008613812345678"),
            ticket("GD4", phone="(0731)84561234"), ticket("GD5", phone="0731-8456-1234")]
    imp(engine, "tickets", write_csv(tmp_path / "t.csv", rows))
    with engine.connect() as conn:
        rows = conn.execute(select(Ticket.phone, func.count()).group_by(Ticket.phone)).all()
    groups = {phone: n for phone, n in rows}  # noqa: C416 - rows are Row objects
    assert groups == {"+8613812345678": 3, "+8673184561234": 2}


def test_signed_later_shows_once_with_its_import(engine: Engine, tmp_path: Path) -> None:
    load_units(engine, tmp_path)
    first = imp(engine, "tickets", write_csv(tmp_path / "a.csv", [
        TICKET_HEADER, ticket("GD1", signed="", closed="")]))
    later = imp(engine, "tickets", write_csv(tmp_path / "b.csv", [
        TICKET_HEADER, ticket("GD1", closed="")]))
    assert later.counts[Outcome.UPDATED] == 1
    with engine.connect() as conn:
        history = ticket_history(conn, "GD1")
    signed = [h for h in history if h.kind is EventKind.SIGNED]
    assert len(signed) == 1 and signed[0].import_id == later.import_id
    dispatched = [h for h in history if h.kind is EventKind.DISPATCHED]
    assert dispatched[0].import_id == first.import_id


def test_header_only_file_and_unwritable_rejects(engine: Engine, tmp_path: Path) -> None:
    result = imp(engine, "units", write_csv(tmp_path / "u.csv", [UNITS[0]]))
    assert result.rows_read == 0 and result.status == "done"
    locked = tmp_path / "ro"
    locked.mkdir()
    source = write_csv(locked / "u.csv", UNITS)
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions; use a missing dir
            options: dict[str, object] = {"rejects_path": tmp_path / "missing" / "r.csv"}
        else:
            options = {}
        with pytest.raises(ImportFileError, match="cannot write the rejects file"):
            imp(engine, "units", source, **options)
    finally:
        locked.chmod(0o755)
    assert count(engine, Unit) == 0


@pytest.mark.parametrize("form", ["csv", "xlsx"])
def test_an_empty_answer_cell_is_an_unknown_answer(engine: Engine, tmp_path: Path,
                                                    form: str) -> None:
    """满意 beside an empty 是否解决 keeps the satisfaction answer (the blank is unknown,
    and said as a warning); a row with both answers empty is not an evaluation."""
    import openpyxl

    load_units(engine, tmp_path)
    imp(engine, "tickets", write_csv(tmp_path / "t.csv", [
        TICKET_HEADER, ticket("GD1"), ticket("GD2"), ticket("GD3")]))
    rows = [["工单编号", "回访时间", "是否解决", "满意度"],
            ["GD1", "2026-11-06 10:00", "", "满意"],
            ["GD2", "2026-11-06 10:00", "已解决", ""],
            ["GD3", "2026-11-06 10:00", "", ""]]
    if form == "csv":
        path = write_csv(tmp_path / "e.csv", rows)
    else:
        book = openpyxl.Workbook()
        for row in rows:
            book.active.append([v or None for v in row])  # an empty cell, not ""
        path = tmp_path / "e.xlsx"
        book.save(path)
    result = imp(engine, "evaluations", path)
    assert result.counts[Outcome.INSERTED] == 2 and result.rejected == 1
    assert [(e.row_no, e.reason) for e in result.errors] == [(4, "both answers empty")]
    assert result.warned == 2
    assert [(w.row_no, w.column) for w in result.warnings] == [(2, "resolved"),
                                                               (3, "satisfaction")]
    with engine.connect() as conn:
        got = dict(conn.execute(select(Ticket.ticket_no, Evaluation.resolved)
                                .join(Evaluation, Evaluation.ticket_id == Ticket.id)).all())
        satisfied = dict(conn.execute(select(Ticket.ticket_no, Evaluation.satisfaction)
                                      .join(Evaluation, Evaluation.ticket_id == Ticket.id)).all())
    assert got == {"GD1": Resolved.UNKNOWN, "GD2": Resolved.YES}
    assert satisfied == {"GD1": Satisfaction.SATISFIED, "GD2": Satisfaction.UNKNOWN}
