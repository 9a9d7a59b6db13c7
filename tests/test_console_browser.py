"""The console as people use it: headless Chromium (Debian's) driven by Playwright,
against `huifang console` on 127.0.0.1 with a seeded store and a real recording.

A supervisor logs in, opens the queue, plays the recording, corrects an answer with a
reason; the audit log shows it and the unit's 满意率 and rank change on the rankings
page. A viewer sees and cannot change. Screenshots of the main pages are kept in
var/test-artifacts/screenshots (or $HUIFANG_ARTIFACTS)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import need
from tests.console_support import PASSWORDS, PERIOD, ConsoleProcess
from tests.test_console_http import _setup

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-quic", "--autoplay-policy=no-user-gesture-required"]
SHOTS = Path(os.environ.get("HUIFANG_ARTIFACTS", "var/test-artifacts")) / "screenshots"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleProcess]:
    directory = tmp_path_factory.mktemp("browser")
    url, config, _seeded = _setup(directory)
    process = ConsoleProcess(url, directory, config)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    need(Path(CHROMIUM).exists(), "Debian's chromium is not installed (apt-get install "
         "chromium, or run `make test` as root)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _page(browser: Browser, errors: list[str]) -> Page:
    """A page whose script errors and Content-Security-Policy violations (Chromium
    reports each on the console, and to a `securitypolicyviolation` listener) are kept."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text)
            if "Content Security Policy" in m.text else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                         "console.error('Content Security Policy violated: ' + "
                         "e.violatedDirective + ' ' + e.blockedURI))")
    return page


def _csp_holds(page: Page) -> None:
    """The page was served with the CSP (its violations would be in `errors`)."""
    policy = page.evaluate("async () => (await fetch(location.href)).headers"
                           ".get('content-security-policy')")
    assert policy and "script-src 'self'" in policy


def _login(page: Page, base: str, user: str) -> None:
    page.goto(f"{base}/queue")
    assert "/login" in page.url
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORDS[user])
    page.click("form[action='/login'] button[type=submit]")


def _unit_row(page: Page, base: str, unit: str) -> tuple[str, str]:
    page.goto(f"{base}/rankings?period={PERIOD}")
    row = page.locator(f"tr[data-unit='{unit}']")
    return row.locator("td.rank").inner_text(), row.locator("td.sat").inner_text()


def test_a_supervisor_corrects_an_answer(console: ConsoleProcess, browser: Browser) -> None:
    errors: list[str] = []
    page = _page(browser, errors)
    base = console.base
    page.goto(f"{base}/login")
    page.screenshot(path=str(SHOTS / "01-login.png"))
    _login(page, base, "zhijian")
    page.wait_for_url(f"{base}/queue")
    assert _unit_row(page, base, "青石街道") == ("2", "90.0%")

    # the queue: three items, keyboard to the first, Enter opens it
    page.goto(f"{base}/queue")
    rows = page.locator("#queue tbody tr[data-href]")
    assert rows.count() == 3
    assert "<script>" in page.locator("#queue").inner_text()  # shown as text
    page.screenshot(path=str(SHOTS / "02-queue.png"), full_page=True)
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.locator("tr.sel").count() == 1
    page.keyboard.press("Enter")
    page.wait_for_url("**/calls/**")
    assert "Q010" in page.locator("h1").inner_text()
    assert "145****0010" in page.locator("#phone").inner_text()

    # play the recording, both channels and the citizen's alone
    page.click("[data-channel=left]")
    page.locator("audio").evaluate("a => a.play()")
    page.wait_for_function(
        "() => document.querySelector('audio').currentTime > 0.3", timeout=15000)
    duration = page.locator("audio").evaluate("a => a.duration")
    assert 3.0 < duration < 6.0
    page.click("[data-channel=both]")
    # ▶ beside an answer plays the recording from where that answer was heard
    seeks = page.locator("table.turns button.seek")
    assert seeks.count() == 2 and seeks.nth(1).inner_text() == "▶ 2.0 s"
    page.locator("audio").evaluate("a => a.pause()")
    seeks.nth(1).click()
    at = page.locator("audio").evaluate("a => { a.pause(); return a.currentTime; }")
    assert 1.95 <= at < 2.5, at  # from the answer's start, not from where it was
    page.screenshot(path=str(SHOTS / "03-call.png"), full_page=True)

    # correct the answer with a reason
    page.select_option("#form-correct select[name=satisfaction]", "satisfied")
    page.fill("#form-correct input[name=reason]", "听录音：市民说满意，机器误听")
    page.click("#form-correct button[type=submit]")
    page.wait_for_selector("p.ok")
    # the next item of the queue opens; the banner links back to the corrected one
    assert "Q010" not in page.locator("h1").inner_text()
    page.click("#done a")
    page.wait_for_url("**/calls/**")
    assert "满意" in page.locator("#evaluation").inner_text()
    assert "质检修正" in page.locator("#evaluation").inner_text()

    # the audit log shows who, the before and after, and why
    page.goto(f"{base}/audit")
    first = page.locator("#audit tbody tr").first
    text = first.inner_text()
    assert "zhijian" in text and "修正答复" in text and "听录音：市民说满意" in text
    assert "满意度：不满意" in text and "满意度：满意" in text  # 修改前 / 修改后, in Chinese
    page.screenshot(path=str(SHOTS / "04-audit.png"), full_page=True)

    # the rankings move: 满意率 90 % -> 100 %, rank 2 -> 1
    assert _unit_row(page, base, "青石街道") == ("1", "100.0%")
    page.screenshot(path=str(SHOTS / "05-rankings.png"), full_page=True)
    page.goto(f"{base}/dashboard")
    page.screenshot(path=str(SHOTS / "06-dashboard.png"), full_page=True)
    page.goto(f"{base}/tickets?q=X001")
    page.screenshot(path=str(SHOTS / "07-search.png"), full_page=True)
    _csp_holds(page)
    # an error page's 返回 works without inline script
    page.goto(f"{base}/queue")
    page.goto(f"{base}/calls/999999")
    assert "没有这条回访任务" in page.content()
    page.click("a[data-back]")
    page.wait_for_url(f"{base}/queue")
    assert not errors, errors


def test_a_viewer_cannot_change_anything(console: ConsoleProcess, browser: Browser) -> None:
    errors: list[str] = []
    page = _page(browser, errors)
    base = console.base
    _login(page, base, "lingdao")
    page.wait_for_url(f"{base}/queue")  # where the login was asked for
    page.goto(f"{base}/queue")
    page.locator("#queue tbody tr[data-href] a").first.click()
    page.wait_for_url("**/calls/**")
    assert page.locator("#actions").count() == 0
    assert page.locator("audio").count() == 0
    callback = page.url.split("/calls/")[1].split("?")[0]
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    # a direct POST with the viewer's own valid token is still refused
    reply = page.request.post(f"{base}/calls/{callback}/correct", form={
        "csrf": csrf or "", "resolved": "no", "satisfaction": "unsatisfied", "reason": "改"})
    assert reply.status == 403
    page.screenshot(path=str(SHOTS / "08-viewer-call.png"), full_page=True)
    # and logging out ends it
    page.click("header form.who button")
    page.wait_for_url(f"{base}/login")
    page.goto(f"{base}/dashboard")
    assert "/login" in page.url
    assert not errors, errors
