"""抽检 over HTTP, served by `huifang console` in its own process: the check page is blind
until submitted, supervisors only, CSRF-checked, a checked call refused a second check
without 再次抽检 (409), and a disagreement corrects the answer with its audit entries."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from store.console_models import AuditEntry
from store.db import make_engine
from store.models import Evaluation
from store.spot_checks import SpotCheck
from tests.console_support import Client, ConsoleProcess, huifang
from tests.test_console_http import Env, _setup


@dataclass
class Spot:
    env: Env
    spot_id: int


@pytest.fixture(scope="module")
def spot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spot]:
    directory = tmp_path_factory.mktemp("spot")
    url, config, seeded = _setup(directory)
    out = huifang("spot-checks", "draw", "--date", "2026-11-28", url=url, cwd=directory,
                  config=config).stdout
    assert "drawn now 1, before 0, of 1 calls" in out  # Q010: 已解决/不满意, the machine's
    engine = make_engine(url)
    with engine.connect() as conn:
        spot_id = int(conn.execute(select(SpotCheck.id)).scalar_one())
    engine.dispose()
    console = ConsoleProcess(url, directory, config)
    yield Spot(Env(url, directory, config, seeded, console, ""), spot_id)
    console.stop()


def _rows(url: str) -> tuple[list[AuditEntry], Evaluation, SpotCheck]:
    engine = make_engine(url)
    with engine.connect() as conn:
        entries = list(conn.execute(select(AuditEntry).order_by(AuditEntry.id)).all())
        spot = conn.execute(select(SpotCheck)).one()
        ev = conn.execute(select(Evaluation).where(Evaluation.ticket_id == spot.ticket_id)
                          ).one()
    engine.dispose()
    return entries, ev, spot  # type: ignore[return-value]


def _form(client: Client, path: str) -> dict[str, str]:
    return {"csrf": client.csrf(path), "resolved": "yes", "satisfaction": "satisfied",
            "reason": "市民说满意"}


def test_the_spot_check_is_blind_for_supervisors_only_and_needs_csrf(spot: Spot) -> None:
    env, path = spot.env, f"/spot-checks/{spot.spot_id}"
    viewer = env.client("lingdao")
    assert viewer.get("/spot-checks").status == 403
    assert viewer.get(path).status == 403
    assert "/spot-checks" not in viewer.get("/dashboard").text  # no menu entry either
    assert viewer.request("POST", f"{path}/check", form=_form(viewer, "/dashboard")
                          ).status == 403
    supervisor = env.client("zhijian")
    listing = supervisor.get("/spot-checks")
    assert listing.status == 200 and "Q010" in listing.text and "待抽检" in listing.text
    assert "14507310010" not in listing.text and "145****0010" in listing.text
    page = supervisor.get(path)
    assert page.status == 200
    html = page.text
    assert 'src="/recordings/' in html and 'id="form-spot"' in html
    # the machine's answers are nowhere: no result, no evaluation, no turns (what it
    # heard, its confidence), no preselected answer, not even in the markup
    for leak in ('id="result', 'id="evaluation"', "已经解决了", "0.62", "0.91",
                 "智能回访：", "class=\"turns\"", "checked", "selected"):
        assert leak not in html, leak
    assert re.search(r'name="satisfaction" value="unsatisfied"\s+required\s*>', html)
    # the reason's words may be shown, not under a heading that names the answer
    assert "市民所述原因" in html and "不满意原因" not in html
    # no CSRF token, a forged one: refused, nothing stored
    form = _form(supervisor, path)
    assert supervisor.request("POST", f"{path}/check", form={**form, "csrf": ""}
                              ).status == 403
    assert supervisor.request("POST", f"{path}/check", form={**form, "csrf": "forged"}
                              ).status == 403
    entries, _, row = _rows(env.url)
    assert row.checked_at is None and not [e for e in entries if e.action == "spot_check"]
    # one answer missing: a clear error, nothing stored
    half = supervisor.request("POST", f"{path}/check", form={**form, "satisfaction": ""})
    assert half.status == 400 and "两个问题都作出选择" in half.text
    assert _rows(env.url)[2].checked_at is None


def test_a_disagreement_corrects_and_a_second_check_needs_again(spot: Spot) -> None:
    env, path = spot.env, f"/spot-checks/{spot.spot_id}"
    supervisor = env.client("zhijian")
    reply = supervisor.request("POST", f"{path}/check", form=_form(supervisor, path))
    assert reply.status == 303 and reply.headers["location"] == f"{path}?ok=spot_corrected"
    after = supervisor.get(reply.headers["location"]).text
    assert "已按人工复听修正答复" in after
    assert 'id="result-satisfaction"' in after and "不一致" in after  # now shown
    entries, ev, row = _rows(env.url)
    assert (row.checked_by, row.agreed_resolved, row.agreed_satisfaction) == (
        "zhijian", True, False)
    assert (ev.resolved, ev.satisfaction, ev.source) == ("yes", "satisfied", "supervisor")
    actions = [e.action for e in entries]
    assert actions[-2:] == ["spot_check", "correct_answer"]
    assert json.loads(entries[-1].after)["from"] == "spot_check"
    assert entries[-1].address == "127.0.0.1"
    # again without 再次抽检: 409, nothing changes
    again = supervisor.request("POST", f"{path}/check", form={
        **_form(supervisor, path), "satisfaction": "basic"})
    assert again.status == 409 and "再次抽检" in again.text
    assert len(_rows(env.url)[0]) == len(entries)
    # 再次抽检 without a reason: refused; with one: stored, over the first
    other = env.client("admin")
    form = {**_form(other, path), "satisfaction": "basic", "again": "1", "reason": ""}
    assert other.request("POST", f"{path}/check", form=form).status == 400
    done = other.request("POST", f"{path}/check", form={**form, "reason": "复听为基本满意"})
    assert done.status == 303
    entries2, ev2, row2 = _rows(env.url)
    assert (row2.checked_by, row2.checks, ev2.satisfaction) == ("admin", 2, "basic")
    assert entries2[-2].reason.startswith("再次抽检（此前由 zhijian")
    # the figure counts the latest check: 1 call, resolved agreed, satisfaction not
    figures = supervisor.get("/spot-checks?period=2026-11").text
    assert re.search(r"<td>解决情况</td><td>合计</td><td>1</td><td>1</td><td>100.0%</td>",
                     figures)
    assert re.search(r"<td>两项答复</td><td>合计</td><td>1</td><td>0</td><td>0.0%</td>",
                     figures)
    assert 'id="accuracy-alert"' in figures  # 0 of 1: the upper bound is below 97 %
    assert supervisor.get("/dashboard").status == 200
    out = huifang("spot-checks", "accuracy", "--period", "2026-11", "--json", url=env.url,
                  cwd=env.dir, config=env.config).stdout
    assert json.loads(out[out.index("{"):])["satisfied"]["by_answer"]["unsatisfied"] == {
        "checked": 1, "agreed": 0, "rate": 0.0,
        "interval": [0.0, 0.793451]}  # Wilson of 0/1: z²/(1 + z²) = 3.84146/4.84146
