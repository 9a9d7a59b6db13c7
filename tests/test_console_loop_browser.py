"""The supervisor's loop and the leader's first view in headless Chromium (Debian's,
driven by Playwright) against `huifang console` on 127.0.0.1 (issue 17).

A supervisor works through a filtered queue: each action opens the next item; 剔除 asks
to confirm first; a settled item keeps its actions behind 再次处理 and the server refuses
them without it; the queue keeps one line a row at 1024 px; the recording plays at 1.5x.
A leader opens the rankings: the empty current month says so instead of drawing empty
axes, a bad period says which forms are accepted, a full month draws its charts.
Screenshots go to var/test-artifacts/screenshots (or $HUIFANG_ARTIFACTS)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
from playwright.sync_api import Browser

from store.db import make_engine
from store.models import HOTLINE_TZ
from tests.console_support import ConsoleProcess, Seeded
from tests.test_console_browser import SHOTS, _csp_holds, _login, _page, browser
from tests.test_console_daily import _unreachable
from tests.test_console_http import _setup

__all__ = ["browser"]  # the module's Chromium, shared with the other browser tests


@dataclass
class Hotline:
    console: ConsoleProcess
    seeded: Seeded
    unreachable: list[int]


@pytest.fixture(scope="module")
def hotline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hotline]:
    directory = tmp_path_factory.mktemp("loop")
    url, config, seeded = _setup(directory)
    engine = make_engine(url)
    more = [_unreachable(engine, no) for no in ("B001", "B002", "B003")]
    engine.dispose()
    process = ConsoleProcess(url, directory, config)
    yield Hotline(process, seeded, more)
    process.stop()


def test_the_supervisors_loop(hotline: Hotline, browser: Browser) -> None:
    errors: list[str] = []
    page = _page(browser, errors)
    page.set_viewport_size({"width": 1024, "height": 800})
    base = hotline.console.base
    _login(page, base, "zhijian")
    page.wait_for_url(f"{base}/queue")
    page.goto(f"{base}/queue?kind=unreachable")
    rows = page.locator("#queue tbody tr[data-href]")
    assert rows.count() == 4
    # one line a row at 1024 px: every row as tall as a one-line row, no wider than the page
    heights = [rows.nth(i).bounding_box()["height"] for i in range(rows.count())]  # type: ignore[index]
    assert max(heights) < 40 and max(heights) - min(heights) < 2, heights
    page.screenshot(path=str(SHOTS / "loop-01-queue-1024.png"), full_page=True)

    x001, first, second, third = hotline.seeded.unreachable, *hotline.unreachable
    rows.first.locator("a").click()
    page.wait_for_url(f"**/calls/{x001}?kind=unreachable")
    # re-call it: the next item of the same filtered queue opens, the banner says which
    page.fill("#form-schedule input[name=reason]", "市民约定改日再打")
    page.click("#form-schedule button[type=submit]")
    page.wait_for_url(f"**/calls/{first}?**")
    assert "kind=unreachable" in page.url
    assert "X001" in page.locator("#done").inner_text()
    assert page.locator("#prev").count() == 0  # X001 has left the queue: nothing before
    assert f"/calls/{second}?" in (page.locator("#next").get_attribute("href") or "")
    # 剔除 asks first, on a page of its own
    page.fill("#form-exclude input[name=reason]", "重复工单")
    page.click("#form-exclude button[type=submit]")
    page.wait_for_selector("#confirm")
    assert "确认剔除工单" in page.locator("h1").inner_text()
    page.screenshot(path=str(SHOTS / "loop-02-confirm-exclude.png"), full_page=True)
    page.click("#form-confirmed button[type=submit]")
    page.wait_for_url(f"**/calls/{second}?**")
    assert "已剔除工单" in page.locator("#done").inner_text()

    # the settled one: its actions wait behind 再次处理, and the server insists
    page.click("#done a")
    page.wait_for_url(f"**/calls/{first}?**")
    assert "该条已由 zhijian" in page.locator("#settled").inner_text()
    assert not page.locator("#form-confirm").is_visible()
    csrf = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    refused = page.request.post(f"{base}/calls/{first}/correct", form={
        "csrf": csrf, "resolved": "yes", "satisfaction": "satisfied", "reason": "覆盖"})
    assert refused.status == 409
    page.screenshot(path=str(SHOTS / "loop-03-settled.png"), full_page=True)
    page.click("#again summary")
    assert page.locator("#form-correct").is_visible()
    page.select_option("#form-correct select[name=resolved]", "yes")
    page.select_option("#form-correct select[name=satisfaction]", "basic")
    page.fill("#form-correct input[name=reason]", "市民回电：已解决，基本满意")
    page.click("#form-correct button[type=submit]")
    page.wait_for_url(f"**/calls/{second}?**")  # on to the next again
    assert "已修正答复" in page.locator("#done").inner_text()
    assert f"/calls/{third}?" in (page.locator("#next").get_attribute("href") or "")

    # the recording plays at 1.5x
    page.goto(f"{base}/calls/{hotline.seeded.negative}")
    page.click("[data-rate='1.5']")
    assert page.locator("audio").evaluate("a => a.playbackRate") == 1.5
    page.click("[data-rate='0.75']")
    assert page.locator("audio").evaluate("a => a.playbackRate") == 0.75
    page.screenshot(path=str(SHOTS / "loop-04-call-speed.png"), full_page=True)
    _csp_holds(page)
    assert not errors, errors


def test_the_leaders_first_view(hotline: Hotline, browser: Browser) -> None:
    errors: list[str] = []
    page = _page(browser, errors)
    base = hotline.console.base
    _login(page, base, "lingdao")
    page.wait_for_url(f"{base}/queue")
    empty = "" if f"{datetime.now(HOTLINE_TZ):%Y-%m}" != "2026-11" else "?period=2026-12"
    page.goto(f"{base}/rankings{empty}")  # this month: nothing called back in it yet
    assert "尚无回访结果" in page.locator("#nodata").inner_text()
    assert page.locator("img.chart").count() == 0
    page.screenshot(path=str(SHOTS / "leader-01-empty-month.png"), full_page=True)
    page.fill("input[name=period]", "2026-13")
    page.click("form.filters button[type=submit]")
    assert "2026-W45" in page.locator("p.error").inner_text()  # the forms it reads
    page.screenshot(path=str(SHOTS / "leader-02-bad-period.png"), full_page=True)
    page.goto(f"{base}/rankings?period=2026-11")
    assert page.locator("#nodata").count() == 0
    charts = page.locator("img.chart")
    assert charts.count() == 2
    for i in range(charts.count()):
        charts.nth(i).scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=charts.nth(i).element_handle())
    assert page.locator("tr[data-unit='东湖区'] td.rank").inner_text() == "1"
    page.screenshot(path=str(SHOTS / "leader-03-rankings.png"), full_page=True)
    pdf = page.request.get(f"{base}/rankings/report.pdf?period=2026-11")
    assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"
    _csp_holds(page)
    assert not errors, errors
