"""The console as supervisors and leaders use it all day (issue 17), over HTTP against
`huifang console` in its own process: the supervisor's loop (after an action the next
item of the same filtered queue opens; a settled item takes no action without 再次处理;
剔除/退回重办/免打扰 ask to confirm; an unanswered call's form preselects no answer),
the queue (the machine's answer and the deadline, bulk actions, exports), Chinese
throughout, the dashboard's truths, and the leaders' first view of the rankings."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, insert, select

from dialer.processes import start_of, this_process
from huifang.web.pages import calendar_notice
from huifang.web.queue import _row
from store.attempts import Answer, AttemptEnd, finish_attempt, save_answer, start_attempts
from store.campaign_models import Callback, DialerNode
from store.caps import Decision
from store.console_models import AuditEntry
from store.db import make_engine
from store.enums import AttemptOutcome, CallbackStatus, EventKind, Resolved, Satisfaction
from store.models import HOTLINE_TZ, Ticket, TicketEvent
from store.review import QueueItem
from store.workdays import unknown_years
from tests.console_support import NOW, ConsoleProcess, _callback, huifang
from tests.files import TICKET_HEADER, ticket, write_csv
from tests.test_console_http import Env, _setup

UNREACHABLE = ["B001", "B002", "B003", "B004"]  # more unreachable items, after X001's


def _unreachable(engine: Engine, ticket_no: str) -> int:
    """A callback to review after three unanswered attempts, as the campaign leaves it."""
    claimed = _callback(engine, ticket_no, CallbackStatus.CLAIMED)
    for n in range(3):
        (attempt,) = start_attempts(engine, [claimed], f"call-{ticket_no}-{n}", "test", NOW)
        finish_attempt(engine, attempt, AttemptEnd(AttemptOutcome.NO_ANSWER, 487,
                                                   "Request Terminated"), NOW,
                       lambda _, last=n == 2: Decision(None if last else NOW, last,
                                                       "3 attempts made: unreachable, to review"
                                                       if last else "no_answer: again at "
                                                       "2026-11-28 14:00"))
    return claimed.callback_id


def _heard_then_answered(engine: Engine, ticket_no: str) -> int:
    """A completed call as the dialer writes it: what was heard, then the answer taken
    from it, for each question."""
    claimed = _callback(engine, ticket_no, CallbackStatus.CLAIMED)
    (attempt,) = start_attempts(engine, [claimed], f"call-{ticket_no}", "test", NOW)
    for question, intent, value, words in (("resolved", "resolved", Resolved.YES, "解决了"),
                                           ("satisfied", "satisfied", Satisfaction.SATISFIED,
                                            "满意")):
        save_answer(engine, attempt, Answer(question, intent, None, 0.9, "heard:speech", words),
                    NOW)
        save_answer(engine, attempt, Answer(question, intent, value, 0.9, "speech", words), NOW)
    finish_attempt(engine, attempt, AttemptEnd(AttemptOutcome.COMPLETED, 200, "OK",
                                               answered_after_s=0), NOW,
                   lambda _: Decision(None, False, "completed: not called again"))
    return claimed.callback_id


class Daily(Env):
    unreachable: list[int]
    completed: int

    def engine(self) -> Engine:
        return make_engine(self.url)

    def audit(self, action: str) -> list[str]:
        engine = self.engine()
        with engine.connect() as conn:
            reasons = [str(r) for r in conn.execute(select(AuditEntry.reason).where(
                AuditEntry.action == action).order_by(AuditEntry.id)).scalars()]
        engine.dispose()
        return reasons


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daily]:
    directory = tmp_path_factory.mktemp("daily")
    url, config, seeded = _setup(directory)
    engine = make_engine(url)
    unreachable = [_unreachable(engine, no) for no in UNREACHABLE]
    completed = _heard_then_answered(engine, "B005")
    engine.dispose()
    console = ConsoleProcess(url, directory, config)
    daily = Daily(url, directory, config, seeded, console, "")
    daily.unreachable, daily.completed = unreachable, completed
    yield daily
    console.stop()


def _location(reply: object) -> tuple[str, dict[str, list[str]]]:
    where = urlsplit(reply.headers["location"])  # type: ignore[attr-defined]
    return where.path, parse_qs(where.query)


def _steps(text: str) -> tuple[str | None, str | None]:
    prev = re.search(r'href="(/calls/\d+\?[^"]*)" id="prev"', text)
    nxt = re.search(r'href="(/calls/\d+\?[^"]*)" id="next"', text)
    return (prev[1].replace("&amp;", "&") if prev else None,
            nxt[1].replace("&amp;", "&") if nxt else None)


# -- the supervisor's loop --------------------------------------------------------------
def test_after_an_action_the_next_item_of_the_filtered_queue_opens(env: Daily) -> None:
    c = env.client("zhijian")
    x001 = env.seeded.unreachable
    first, second, third, fourth = env.unreachable
    # the filtered queue: X001, then the four in the order they came
    page = f"/calls/{first}?kind=unreachable"
    assert _steps(c.get(page).text) == (f"/calls/{x001}?kind=unreachable",
                                        f"/calls/{second}?kind=unreachable")
    reply = c.post(f"/calls/{first}/confirm?kind=unreachable", {"reason": "人工回访已确认"},
                   page=f"/calls/{first}")
    assert reply.status == 303
    path, query = _location(reply)
    assert path == f"/calls/{second}" and query["kind"] == ["unreachable"]
    assert query["ok"] == ["confirm"] and query["done"] == [str(first)]
    shown = c.get(reply.headers["location"]).text
    assert "已确认答复：工单" in shown and "B001" in shown  # which one was settled
    # 上一条 and 下一条 keep the filter and the place (the settled one has left the queue)
    assert _steps(shown) == (f"/calls/{x001}?kind=unreachable",
                             f"/calls/{third}?kind=unreachable")
    # the banner's link back to the settled item keeps its old place too
    back = re.search(rf'href="(/calls/{first}\?[^"]*pos=[^"]*)"', shown)
    assert back is not None
    again = c.get(back[1].replace("&amp;", "&")).text
    assert _steps(again) == (f"/calls/{x001}?kind=unreachable",
                             f"/calls/{second}?kind=unreachable")
    # the last item of the queue: the next is the oldest one left
    reply = c.post(f"/calls/{fourth}/schedule?kind=unreachable", {"reason": "改日再打"},
                   page=f"/calls/{fourth}")
    assert _location(reply)[0] == f"/calls/{x001}"


def test_a_settled_item_takes_no_action_without_saying_again(env: Daily) -> None:
    c = env.client("zhijian")
    item = env.unreachable[1]  # B002
    page = f"/calls/{item}"
    assert c.post(f"{page}/confirm", {"reason": "同事确认"}, page=page).status == 303
    before = {a: len(env.audit(a)) for a in ("correct_answer", "confirm_answer",
                                             "schedule_call", "exclude", "reopen",
                                             "do_not_call")}
    forms = {"correct": {"resolved": "no", "satisfaction": "unsatisfied"}, "confirm": {},
             "schedule": {}, "exclude": {"confirmed": "1"}, "reopen": {"confirmed": "1"},
             "dnc": {"confirmed": "1"}}
    for action, form in forms.items():
        reply = c.post(f"{page}/{action}", {**form, "reason": "覆盖同事的处理"}, page=page)
        assert reply.status == 409, action
        assert "该条已由 zhijian" in reply.text and "再次处理" in reply.text
    assert {a: len(env.audit(a)) for a in before} == before  # nothing was changed
    text = c.get(page).text
    assert '<details class="again"' in text and 'name="again" value="1"' in text
    reply = c.post(f"{page}/correct", {**forms["correct"], "reason": "录音复听：未解决",
                                       "again": "1"}, page=page)
    assert reply.status == 303
    (reason,) = env.audit("correct_answer")[before["correct_answer"]:]
    assert reason.startswith("再次处理（此前由 zhijian 于 ") and reason.endswith("录音复听：未解决")


def _seen(text: str) -> str:
    found = re.search(r'name="seen" value="([^"]+)"', text)
    assert found is not None, "the 再次处理 form carries the settlement it shows"
    return found[1]


def test_again_over_a_settlement_made_after_the_page_is_refused(env: Daily) -> None:
    engine = env.engine()
    item = _unreachable(engine, "B009")
    engine.dispose()
    page = f"/calls/{item}"
    a, b = env.client("zhijian"), env.client("admin")
    wrong = {"resolved": "no", "satisfaction": "unsatisfied"}
    assert a.post(f"{page}/correct", {**wrong, "reason": "首次复听"}, page=page).status == 303
    seen_a, seen_b = _seen(a.get(page).text), _seen(b.get(page).text)
    assert seen_a == seen_b
    count = len(env.audit("correct_answer"))
    # B's 再次处理 first, then A's, both made from the page as it was
    reply = b.post(f"{page}/correct", {"resolved": "yes", "satisfaction": "satisfied",
                                       "reason": "再听：已解决", "again": "1",
                                       "seen": seen_b}, page=page)
    assert reply.status == 303
    reply = a.post(f"{page}/correct", {**wrong, "reason": "覆盖", "again": "1",
                                       "seen": seen_a}, page=page)
    assert reply.status == 409 and "在你打开页面之后已由 admin" in reply.text
    confirm = {"reason": "免打扰", "again": "1", "seen": seen_a, "confirmed": "1"}
    assert a.post(f"{page}/dnc", confirm, page=page).status == 409
    assert len(env.audit("correct_answer")) == count + 1  # B's only
    # the confirmation step carries what the page showed on to the confirmed post
    asked = a.post(f"{page}/exclude", {"reason": "重复工单", "again": "1", "seen": seen_a},
                   page=page)
    assert asked.status == 200 and f'name="seen" value="{seen_a}"' in asked.text
    # from the page as it is now, A's 再次处理 goes through, over B's
    now = _seen(a.get(page).text)
    assert now != seen_a
    reply = a.post(f"{page}/correct", {**wrong, "reason": "三听：未解决", "again": "1",
                                       "seen": now}, page=page)
    assert reply.status == 303
    assert env.audit("correct_answer")[-1].startswith("再次处理（此前由 admin 于 ")


def test_exclude_reopen_and_do_not_call_ask_to_confirm(env: Daily) -> None:
    c = env.client("zhijian")
    page = f"/calls/{env.unreachable[2]}"  # B003
    for action, title in (("exclude", "确认剔除工单"), ("reopen", "确认退回重办"),
                          ("dnc", "确认加入免打扰")):
        count = len(env.audit({"dnc": "do_not_call"}.get(action, action)))
        reply = c.post(f"{page}/{action}?kind=unreachable", {"reason": "市民来电说明"},
                       page=page)
        assert reply.status == 200 and title in reply.text, action
        assert 'name="confirmed" value="1"' in reply.text and "市民来电说明" in reply.text
        assert "kind=unreachable" in reply.text  # the filter goes on through the step
        assert "<script>" not in reply.text  # no inline script: the CSP forbids it
        assert len(env.audit({"dnc": "do_not_call"}.get(action, action))) == count
    blank = c.post(f"{page}/exclude", {"reason": " "}, page=page)
    assert blank.status == 400 and "请填写原因" in blank.text  # before any confirmation
    done = c.post(f"{page}/exclude", {"reason": "无效工单", "confirmed": "1"}, page=page)
    assert done.status == 303 and env.audit("exclude")[-1] == "无效工单"


def test_an_unanswered_calls_form_preselects_no_answer(env: Daily) -> None:
    c = env.client("zhijian")
    text = c.get(f"/calls/{env.seeded.unreachable}").text
    form = text[text.index('id="form-correct"'):]
    form = form[:form.index("</form>")]
    for name in ("resolved", "satisfaction"):
        select_ = form[form.index(f'name="{name}"'):]
        select_ = select_[:select_.index("</select>")]
        assert "required" in select_.split(">")[0]
        assert re.search(r'<option value="">请选择</option>', select_)
        assert "selected" not in select_, name
    # the machine's own answer is shown chosen where there is one
    negative = c.get(f"/calls/{env.seeded.negative}").text
    assert '<option value="unsatisfied" selected>' in negative
    count = len(env.audit("correct_answer"))
    page = f"/calls/{env.seeded.unreachable}"
    reply = c.post(f"{page}/correct", {"resolved": "", "satisfaction": "", "reason": "试"},
                   page=page)
    assert reply.status == 400 and "两项都要选" in reply.text
    assert len(env.audit("correct_answer")) == count


# -- the queue --------------------------------------------------------------------------
def test_the_queue_shows_the_machines_answer_and_the_deadline(env: Daily) -> None:
    text = env.client("lingdao").get("/queue").text
    row = text[text.index(f'data-callback="{env.seeded.negative}"'):]
    row = row[:row.index("</tr>")]
    assert "已解决／不满意" in row and 'class="deadline">12-05 00:00' in row
    unclear = text[text.index(f'data-callback="{env.seeded.unclear}"'):]
    assert "—／—" in unclear[:unclear.index("</tr>")]
    assert 'name="ids"' not in text  # a viewer has no bulk actions


def test_bulk_confirm_and_recall_each_item_audited(env: Daily, tmp_path: Path) -> None:
    engine = env.engine()
    items = [_unreachable(engine, no) for no in ("B006", "B007", "B008")]
    engine.dispose()
    c = env.client("zhijian")
    settled = env.unreachable[1]  # B002, settled by a colleague above
    form = [("do", "confirm"), ("reason", "批量：人工回访已确认"),
            *[("ids", str(i)) for i in (items[0], items[1], settled)]]
    count = len(env.audit("confirm_answer"))
    token = c.csrf("/queue")
    reply = c.request("POST", "/queue/bulk", body=_form([("csrf", token), *form]),
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 200 and "2 / 3 条已处理" in reply.text
    assert "B002" in reply.text and "已由 zhijian" in reply.text  # left alone, named
    assert env.audit("confirm_answer")[count:] == ["批量：人工回访已确认"] * 2  # one each
    recall = [("do", "schedule"), ("reason", "批量重呼"), ("at", "2026-12-30T12:30"),
              ("ids", str(items[2]))]
    reply = c.request("POST", "/queue/bulk", body=_form([("csrf", token), *recall]),
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 200 and "已安排 2026-12-30 14:00 重新呼叫" in reply.text
    engine = env.engine()
    with engine.connect() as conn:
        status = conn.execute(select(Callback.status).where(Callback.id == items[2])).scalar()
    engine.dispose()
    assert status == CallbackStatus.PENDING
    for bad, message in (([("do", "confirm"), ("reason", "x")], "请先勾选"),
                         ([("do", "confirm"), ("ids", str(items[0]))], "请填写原因")):
        reply = c.request("POST", "/queue/bulk", body=_form([("csrf", token), *bad]),
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert reply.status == 400 and message in reply.text
    viewer = env.client("lingdao")
    reply = viewer.request("POST", "/queue/bulk", body=_form(
        [("csrf", viewer.csrf("/queue")), *form]),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 403


def _form(pairs: list[tuple[str, str]]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(pairs).encode()


def test_the_filtered_queue_exports_masked_and_inert(env: Daily) -> None:
    c = env.client("lingdao")
    reply = c.get("/queue.csv?kind=unclear")
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(reply.body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["复核原因", "工单编号", "承办单位"]
    assert [r[1] for r in rows[1:]] == ["B011"] and rows[1][5] == "145****0111"
    assert "14507310111" not in reply.body.decode("utf-8-sig")
    book = load_workbook(io.BytesIO(c.get("/queue.xlsx").body))
    cells = [cell for row in book.active.iter_rows() for cell in row]
    assert not [cell for cell in cells if cell.data_type == "f"]
    assert "X001" in {cell.value for cell in cells}
    assert not [cell for cell in cells if isinstance(cell.value, str)
                and re.search(r"1450731\d{4}", cell.value)]
    hostile = QueueItem(1, "unclear", "T1", "=HYPERLINK(\"http://x/\")", "+cmd", "@SUM(1)",
                        "14507310001", NOW, 1, "unclear", NOW, None, None, NOW)
    cells = _row(hostile)
    assert cells[2] == "'=HYPERLINK(\"http://x/\")" and cells[3] == "'+cmd"
    assert cells[4] == "'@SUM(1)" and cells[5] == "145****0001"


# -- Chinese throughout -----------------------------------------------------------------
def test_pages_and_exports_speak_chinese(env: Daily) -> None:
    c = env.client("zhijian")
    audit = c.get("/audit").text
    assert "满意度：" in audit and "来源：" in audit and '{"' not in audit  # 修改前/修改后
    exported = c.get("/audit.csv").body.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(exported)))
    actions = {r[3] for r in rows[1:]}
    assert "确认答复" in actions and "confirm_answer" not in actions
    assert not [r for r in rows[1:] if r[6].startswith("{") or r[7].startswith("{")]
    history = c.get("/tickets/Q010").text
    table = history[history.index("工单历史"):history.index("审计记录")]
    assert "导入" in table and "回访评价" in table
    assert not re.search(r"<td>(imported|evaluated|closed|received)</td>", table)
    assert "智能回访" in table and "huifang" not in table
    call = c.get(f"/calls/{env.seeded.negative}").text
    assert "智能回访，" in call and "huifang，" not in call  # the evaluator of a machine's answer
    completed = c.get(f"/calls/{env.completed}").text
    assert "回访完成：不再呼叫" in completed and "not called again" not in completed
    unclear = c.get(f"/calls/{env.seeded.unclear}").text
    assert "答复不清：不再呼叫" in unclear
    unreachable = c.get(f"/calls/{env.seeded.unreachable}").text
    assert "unreachable" not in re.sub(r'(kind|class)="[^"]*"|kind=\w+', "", unreachable)
    # the turn table has each question once: what was heard and the answer on one line
    turns = completed[completed.index('class="turns"'):]
    turns = turns[:turns.index("</table>")]
    assert turns.count("问题一：是否解决") == 1 and turns.count("问题二：是否满意") == 1
    assert turns.count("<tr>") == 3  # the header and two questions
    for path, status, words in (("/nope", 404, "没有这个页面"),
                                (f"/calls/{env.seeded.negative}/correct", 405, "不支持"),
                                ("/static/nope.css", 404, "没有这个文件")):
        reply = c.get(path)
        assert reply.status == status and words in reply.text, path
        assert "Not Found" not in reply.text and "Method Not Allowed" not in reply.text
        assert reply.headers["content-security-policy"]


def test_an_import_is_stamped_in_china_time(env: Daily, tmp_path: Path) -> None:
    rows = [TICKET_HEADER, ticket("TZ001", unit="白沙街道", phone="14507318888")]
    path = write_csv(tmp_path / "t.csv", rows)
    subprocess.run([sys.executable, "-m", "huifang", "import", "tickets", str(path)],
                   cwd=env.dir, env={**os.environ, "HUIFANG_DB": env.url, "TZ": "UTC",
                                     "HUIFANG_CONFIG": str(env.config)},
                   check=True, capture_output=True, timeout=120)
    china = datetime.now(HOTLINE_TZ).replace(tzinfo=None)
    engine = env.engine()
    with engine.connect() as conn:
        stamped = conn.execute(select(TicketEvent.created_at).join(
            Ticket, Ticket.id == TicketEvent.ticket_id).where(
            Ticket.ticket_no == "TZ001", TicketEvent.kind == EventKind.IMPORTED)).scalar_one()
    engine.dispose()
    assert abs(stamped - china) < timedelta(minutes=10), (stamped, china)  # not 8 h off


# -- the dashboard ----------------------------------------------------------------------
def test_the_dashboard_agrees_with_itself_and_knows_whether_a_dialer_lives(
        env: Daily) -> None:
    c = env.client("admin")
    text = c.get("/dashboard").text
    assert "待复核" not in text  # the queue card and the status table no longer disagree
    total = int(re.search(r'id="queue-card"><span>复核队列</span><b><a href="/queue">(\d+)',
                          text)[1])  # type: ignore[index]
    assert sum(int(n) for n in re.findall(r'data-count="(\d+)"', text)) == total
    assert "未运行" in text and "没有存活的外呼进程" in text
    now = datetime.now(HOTLINE_TZ).replace(tzinfo=None, microsecond=0)
    me = this_process()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    engine = env.engine()
    with engine.begin() as conn:
        conn.execute(insert(DialerNode).values(
            node="gone", started_at=now, seen_at=now, calls_in_progress=0, state="running",
            host=me.host, pid=int(dead), process_start="1"))
    text = c.get("/dashboard").text
    assert "未运行" in text and "进程已退出" in text  # fresh heartbeat, but no process
    pid = env.console.proc.pid
    with engine.begin() as conn:
        conn.execute(insert(DialerNode).values(
            node="alive", started_at=now, seen_at=now, calls_in_progress=2, state="running",
            host=me.host, pid=pid, process_start=start_of(pid)))
    engine.dispose()
    text = c.get("/dashboard").text
    assert 'id="state">运行中' in text and "没有存活的外呼进程" not in text
    unknown = unknown_years(datetime.now(HOTLINE_TZ).date(), 60)
    assert ('id="calendar"' in text) == bool(unknown)


def test_the_calendar_notice_names_the_year_and_the_fix() -> None:
    notice = calendar_notice(date(2098, 12, 1))
    assert "2099" in notice and "[calendar]" in notice and "放假" in notice
    assert calendar_notice(date(2026, 3, 1)) == ""  # chinese-calendar knows 2026


# -- the leaders' first view --------------------------------------------------------------
def test_a_thin_period_says_so_instead_of_empty_charts(env: Daily) -> None:
    c = env.client("lingdao")
    text = c.get("/rankings?period=2026-12").text
    assert "尚无回访结果" in text and '<img class="chart"' not in text
    group = "%E8%A1%97%E9%81%93%E4%B9%A1%E9%95%87"
    chart = c.get(f"/rankings/chart.png?period=2026-12&group={group}")
    assert chart.status == 404 and "没有已排名的单位" in chart.text
    bad = c.get("/rankings?period=2026-13")
    assert bad.status == 400 and "2026-W45" in bad.text and "2026-11-01..2026-11-15" in bad.text
    assert '<img class="chart"' in c.get("/rankings?period=2026-11").text


def test_rankings_computed_before_an_import_are_not_shown_as_current(env: Daily,
                                                                     tmp_path: Path) -> None:
    """The page cached a minute ago must not be shown after the store changed elsewhere
    (here: an import of answers by the command line): it is computed again at once."""
    c = env.client("lingdao")
    def evaluated() -> int:
        text = c.get("/rankings?period=2026-11").text
        return int(re.search(r"<td>白沙街道</td><td>(\d+)</td>", text)[1])  # type: ignore[index]

    before = evaluated()
    header = ["工单编号", "回访时间", "是否解决", "满意度", "回访方式", "回访人"]
    path = write_csv(tmp_path / "e.csv", [header, ["B011", "2026-11-06 11:00:00", "已解决",
                                                    "不满意", "人工回访", "坐席02"]])
    huifang("import", "evaluations", str(path), url=env.url, cwd=env.dir, config=env.config)
    assert evaluated() == before + 1  # within the cache's minute
