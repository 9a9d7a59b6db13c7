"""A supervisor's blind spot check (抽检) in headless Chromium (Debian's, driven by
Playwright) against `huifang console` on 127.0.0.1: the check page plays the recording
and hides the machine's answers; the supervisor hears something else, and the answer,
the audit log and the accuracy figure all change. Screenshots go to
var/test-artifacts/screenshots (or $HUIFANG_ARTIFACTS)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser

from tests.console_support import ConsoleProcess, Seeded, huifang
from tests.test_console_browser import SHOTS, _csp_holds, _login, _page, browser
from tests.test_console_http import _setup

__all__ = ["browser"]  # the module's Chromium


@dataclass
class Hotline:
    console: ConsoleProcess
    seeded: Seeded


@pytest.fixture(scope="module")
def hotline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hotline]:
    directory = tmp_path_factory.mktemp("spot-browser")
    url, config, seeded = _setup(directory)
    huifang("spot-checks", "draw", "--date", "2026-11-28", url=url, cwd=directory,
            config=config)
    process = ConsoleProcess(url, directory, config)
    yield Hotline(process, seeded)
    process.stop()


def _figure(page: object, question: str) -> str:
    row = page.locator("#accuracy tr.total", has_text=question)  # type: ignore[attr-defined]
    return " ".join(row.locator("td").all_inner_texts())


def test_a_blind_spot_check_that_disagrees(hotline: Hotline, browser: Browser) -> None:
    errors: list[str] = []
    page = _page(browser, errors)
    base = hotline.console.base
    _login(page, base, "zhijian")
    page.wait_for_url(f"{base}/queue")
    page.goto(f"{base}/spot-checks?period=2026-11")
    assert _figure(page, "两项答复") == "两项答复 合计 0 0 — —"
    page.click("#spot-checks a:has-text('待抽检')")
    page.wait_for_url(re.compile(r"/spot-checks/\d+$"))
    # blind: the recording plays, the machine's answers and its turns are nowhere
    page.wait_for_function("document.querySelector('audio').readyState >= 1")
    assert page.evaluate("document.querySelector('audio').duration") > 1
    assert page.locator("#result, #evaluation, table.turns").count() == 0
    # blind, yet the checker jumps to each answer: where it was said, not what it meant
    jumps = page.locator(".seeks button[data-seek]")
    assert jumps.all_inner_texts() == ["解决情况 0.3 s", "满意度 2.0 s"]
    page.locator("audio").evaluate("a => a.pause()")
    jumps.nth(1).click()
    at = page.locator("audio").evaluate("a => { a.pause(); return a.currentTime; }")
    assert 1.95 <= at < 2.5, at  # from the answer's start, not from where it was
    assert page.locator("input[type=radio]:checked").count() == 0
    assert "不满意" not in page.locator("#form-spot").evaluate(
        "f => [...f.elements].filter(e => e.checked).map(e => e.value).join()")
    page.screenshot(path=str(SHOTS / "spot-01-blind.png"), full_page=True)
    _csp_holds(page)
    # the supervisor hears 已解决 and 满意 (the machine took 不满意)
    page.check("input[name=resolved][value=yes]")
    page.check("input[name=satisfaction][value=satisfied]")
    page.fill("#form-spot input[name=reason]", "市民说挺满意的")
    page.click("#form-spot button[type=submit]")
    page.wait_for_url("**?ok=spot_corrected")
    assert "已按人工复听修正答复" in page.locator("#done").inner_text()
    assert page.locator("#result-satisfaction").inner_text().split() == [
        "是否满意", "满意", "不满意", "不一致"]
    assert page.locator("#result-resolved").inner_text().split()[-1] == "一致"
    evaluation = page.locator("#evaluation").inner_text()
    assert "满意度 满意" in evaluation and "质检修正" in evaluation
    page.screenshot(path=str(SHOTS / "spot-02-result.png"), full_page=True)
    # the call's own page says the same
    page.goto(f"{base}/calls/{hotline.seeded.negative}")
    assert "满意度：满意" in page.locator("#evaluation").inner_text()
    # the audit: the check, and the correction that came from it
    page.goto(f"{base}/audit?target=Q010")
    log = page.locator("main").inner_text()
    assert "抽检" in log and "修正答复" in log and "来自：抽检" in log
    assert "抽检不一致，按人工复听修正：市民说挺满意的" in log
    # the figure: one call checked, resolved agreed, satisfaction not
    page.goto(f"{base}/spot-checks?period=2026-11")
    assert _figure(page, "解决情况") == "解决情况 合计 1 1 100.0% 20.7%–100.0%"
    assert _figure(page, "满意度") == "满意度 合计 1 0 0.0% 0.0%–79.3%"
    assert page.locator("#accuracy-alert").is_visible()
    assert "已抽检" in page.locator("#spot-checks").inner_text()
    page.screenshot(path=str(SHOTS / "spot-03-figure.png"), full_page=True)
    assert errors == []
