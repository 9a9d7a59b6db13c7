"""来电人画像 over HTTP (`huifang console` in its own process): from any of a citizen's
tickets, all their tickets, answers, calls
and reasons on one page, the flags (repeat caller, dissatisfaction more than once, calls
this month), the number masked everywhere, even inside a reason, and revealed only with
a reason, into the audit log. A viewer (leader) does not see the page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from huifang.service import local_now
from store import reasons
from store.attempts import AttemptEnd, finish_attempt, start_attempts
from store.campaign_models import CallAttempt
from store.caps import Decision
from store.citizen import citizen_of
from store.console_models import AuditEntry
from store.db import make_engine, upgrade
from store.enums import (
    AttemptOutcome,
    CallbackStatus,
    EvaluationSource,
    ReasonStatus,
    Resolved,
    Satisfaction,
)
from store.importing.runner import ImportOptions, run_import
from store.reasons import ReasonResult
from tests.console_support import (
    NOW,
    PASSWORDS,
    Client,
    ConsoleProcess,
    _callback,
    add_users,
    seed,
)
from tests.files import TICKET_HEADER, ticket, write_csv

PHONE = "14507310010"  # Q010's, the seed's 不满意 call
SAID = "一直没人来，打我电话13812345678也没人接"


@dataclass
class Env:
    url: str
    console: ConsoleProcess

    def client(self, user: str) -> Client:
        c = Client(self.console.port)
        assert c.login(user, PASSWORDS[user]).status == 303
        return c


def citizen_store(engine: Engine, directory: Path) -> None:
    """The console seed, with two more tickets of Q010's citizen and two calls of one."""
    seed(engine, directory, directory / "recordings")
    (todo,) = reasons.take(engine, NOW, limit=1, max_tries=3, retry_after=NOW - NOW)
    assert reasons.save_result(engine, todo, ReasonResult(
        ReasonStatus.DONE, text=SAID, category="上门", engine="whisper"), NOW)
    more = [ticket("C001", unit="青石街道", phone=PHONE, received="2026-11-10 08:00:00",
                   dispatched="2026-11-10 09:00:00", signed="2026-11-10 10:00:00",
                   closed="2026-11-12 16:00:00", summary="路灯不亮"),
            ticket("C002", unit="白沙街道", phone=PHONE, received="2026-09-01 08:00:00",
                   dispatched="2026-09-01 09:00:00", signed="2026-09-01 10:00:00",
                   closed="2026-09-03 16:00:00", summary="噪音扰民")]
    for row, deadline in zip(more, ("2026-11-20 09:00:00", "2026-09-10 09:00:00"), strict=True):
        row[12] = deadline  # 办理时限: after each one's own receipt
    opts = ImportOptions()  # type: ignore[call-arg]
    more_csv = write_csv(directory / "more.csv", [TICKET_HEADER, *more])
    imported = run_import(engine, "tickets", more_csv, now=NOW, options=opts)
    assert imported.rejected == 0, imported
    header = ["工单编号", "回访时间", "是否解决", "满意度", "回访方式", "回访人"]
    evals = [["C001", "2026-11-14 10:00:00", "未解决", "不满意", "人工回访", "坐席02"],
             ["C002", "2026-09-04 10:00:00", "已解决", "满意", "人工回访", "坐席01"]]
    run_import(engine, "evaluations", write_csv(directory / "more-evals.csv", [header, *evals]),
               now=NOW, options=opts)
    now = local_now()  # the console's clock: one call this month, one 40 days before
    claimed = _callback(engine, "C001", CallbackStatus.CLAIMED)
    for n, at in enumerate((now - timedelta(minutes=1), now - timedelta(days=40))):
        (attempt,) = start_attempts(engine, [claimed], f"call-c001-{n}", "test", at)
        finish_attempt(engine, attempt, AttemptEnd(AttemptOutcome.NO_ANSWER, 487, "Request "
                                                   "Terminated"), at,
                       lambda _, last=n == 1, at=at: Decision(None if last else at, last,
                                                              "no answer"))
        if n == 0:  # this month's one reason (a no-answer call has none: set by hand)
            with engine.begin() as conn:
                conn.execute(update(CallAttempt).where(CallAttempt.id == attempt).values(
                    reason_from_s=1.0, reason_to_s=3.0, reason_status=ReasonStatus.DONE,
                    reason_text="拖了好久", reason_category="拖延"))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    directory = tmp_path_factory.mktemp("citizen-console")
    url = f"sqlite:///{directory / 'huifang.db'}"
    engine = make_engine(url)
    upgrade(engine)
    citizen_store(engine, directory)
    engine.dispose()
    config = directory / "huifang.toml"
    config.write_text(f'[campaign]\nrecordings_dir = "{directory / "recordings"}"\n',
                      encoding="utf-8")
    add_users(url, directory)
    console = ConsoleProcess(url, directory, config)
    yield Env(url, console)
    console.stop()


def test_one_page_holds_all_of_a_citizens_tickets_answers_calls_and_reasons(env: Env
                                                                           ) -> None:
    page = env.client("zhijian").get("/tickets/C002/citizen")  # from any of the tickets
    assert page.status == 200
    text = page.text
    assert 'id="citizen-phone">145****0010<' in text and PHONE not in text
    assert "13812345678" not in text  # said in the reason: masked too
    assert "一直没人来，打我电话138****5678也没人接" in text
    order = [text.index(f'id="ticket-{no}"') for no in ("C001", "Q010", "C002")]
    assert order == sorted(order)  # newest first
    assert 'id="ticket-count">3<' in text
    assert 'id="calls-this-month">1<' in text  # of C001's two, the seed's is in November
    assert 'id="flag-repeat"' in text  # Q010 (11-02) and C001 (11-10)
    # 不满意 twice: Q010 by the machine, C001 by an agent
    assert 'id="flag-unsatisfied">多次不满意（2 次）' in text
    c001 = text[text.index('id="ticket-C001"'):text.index('id="ticket-Q010"')]
    assert "<td>未解决</td><td>不满意</td><td>人工回访</td>" in c001 and "坐席02" in c001
    assert "路灯不亮" in c001 and c001.count("无人接听") == 2 and "拖了好久" in c001
    assert "未解决 1 次" in text and 'id="flag-unresolved"' not in text  # once is no flag


def test_the_ticket_and_call_pages_lead_there_and_a_viewer_is_refused(env: Env) -> None:
    supervisor = env.client("zhijian")
    assert 'href="/tickets/C001/citizen"' in supervisor.get("/tickets/C001").text
    leader = env.client("lingdao")
    assert "citizen" not in leader.get("/tickets/C001").text
    assert leader.get("/tickets/C001/citizen").status == 403
    assert supervisor.get("/tickets/NOPE/citizen").status == 404


def test_the_number_is_revealed_only_with_a_reason_and_audited(env: Env) -> None:
    supervisor = env.client("zhijian")
    page = "/tickets/C001/citizen"
    refused = supervisor.post(f"{page}/reveal", {"reason": " "}, page=page)
    assert refused.status == 400 and "请填写原因" in refused.text and PHONE not in refused.text
    shown = supervisor.post(f"{page}/reveal", {"reason": "市民要求回电"}, page=page)
    assert shown.status == 200
    revealed = shown.text.split('id="revealed-phone">')[1].split("<")[0]
    assert revealed.endswith(PHONE)  # as the store keeps it (with +86)
    engine = make_engine(env.url)
    with engine.connect() as conn:
        entries = conn.execute(select(AuditEntry.action, AuditEntry.actor, AuditEntry.target,
                                      AuditEntry.reason)
                               .where(AuditEntry.action == "reveal_phone")).all()
    engine.dispose()
    assert [tuple(e) for e in entries] == [("reveal_phone", "zhijian", "145****0010",
                                            "市民要求回电")]


def test_the_profile_reads_the_same_on_both_stores(engine: Engine, tmp_path: Path) -> None:
    citizen_store(engine, tmp_path)
    found = citizen_of(engine, "Q010", local_now())
    assert found is not None and found.phone.endswith(PHONE)
    assert [t.ticket_no for t in found.tickets] == ["C001", "Q010", "C002"]
    assert (found.calls_this_month, found.repeat_caller, found.unsatisfied,
            found.unresolved) == (1, True, 2, 1)
    q010 = found.tickets[1]
    assert [(a.resolved, a.satisfaction, a.source) for a in q010.answers] == [
        (Resolved.YES, Satisfaction.UNSATISFIED, EvaluationSource.AUTO)]
    assert [c.reason_text for c in q010.calls] == [SAID]  # masked by the page, not here
    assert citizen_of(engine, "NOPE", local_now()) is None


def test_the_reasons_page_counts_this_months_categories(env: Env) -> None:
    text = env.client("zhijian").get("/reasons").text
    line = text[text.index('id="month-reasons"'):].split("</p>")[0]
    assert "拖延</a> 1 条" in line  # this month's
    assert "上门" not in line  # the seed's, in November
