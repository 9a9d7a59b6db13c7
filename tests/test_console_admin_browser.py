"""账号管理 in Debian's Chromium: an admin adds a supervisor from the menu, who then logs
in; creates an API token, sees it once, and revokes it; no script error or CSP violation
on the way. Screenshots in var/test-artifacts/screenshots."""

from __future__ import annotations

from playwright.sync_api import Browser

from tests.console_support import ConsoleProcess
from tests.test_console_browser import SHOTS, _csp_holds, _login, _page, browser, console

__all__ = ["browser", "console"]  # the fixtures, shared with the console's browser tests


def test_an_admin_manages_accounts_and_tokens(console: ConsoleProcess, browser: Browser
                                              ) -> None:
    errors: list[str] = []
    page = _page(browser, errors)
    base = console.base
    _login(page, base, "admin")
    page.wait_for_url(f"{base}/queue")
    page.click("header nav a[href='/admin/accounts']")
    page.wait_for_url(f"{base}/admin/accounts")
    form = page.locator("#form-add")
    form.locator("input[name=username]").fill("xiaochen")
    form.locator("input[name=display_name]").fill("陈质检")
    form.locator("select[name=role]").select_option("supervisor")
    form.locator("input[name=password]").fill("chen-pass-123")
    form.locator("input[name=password2]").fill("chen-pass-123")
    form.locator("input[name=reason]").fill("新入职质检员")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("p.ok")
    row = page.locator("tr[data-user='xiaochen']")
    assert "陈质检" in row.inner_text() and "质检员" in row.inner_text()
    page.screenshot(path=str(SHOTS / "20-admin-accounts.png"), full_page=True)
    _csp_holds(page)

    page.goto(f"{base}/admin/tokens")
    token_form = page.locator("#form-token")
    token_form.locator("input[name=name]").fill("ticket-system-2")
    token_form.locator("input[name=reason]").fill("工单系统对接")
    token_form.locator("button[type=submit]").click()
    secret = page.locator("#token").inner_text()
    assert len(secret) >= 40
    page.screenshot(path=str(SHOTS / "21-admin-token-once.png"), full_page=True)
    page.click("a[href='/admin/tokens']")
    assert secret not in page.content()
    page.locator("tr[data-token='ticket-system-2'] input[name=reason]").fill("测试完毕")
    page.locator("tr[data-token='ticket-system-2'] button[type=submit]").click()
    page.wait_for_selector("p.ok")
    assert "已吊销" in page.locator("tr[data-token='ticket-system-2']").inner_text()

    page.goto(f"{base}/audit")
    assert "新入职质检员" in page.locator("#audit").inner_text()
    page.click("header form.who button")
    page.wait_for_url(f"{base}/login")
    page.fill("input[name=username]", "xiaochen")
    page.fill("input[name=password]", "chen-pass-123")
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/queue")
    page.goto(f"{base}/admin/accounts")
    assert "无权限" in page.content()  # a supervisor is not an admin
    assert not errors, errors
