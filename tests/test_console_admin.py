"""账号管理 and 接口令牌 over HTTP, against `huifang console` in its own process: admins
only, every form CSRF-checked, every change with a reason and in the audit log (who,
from which address, before and after); what a change does is checked by its effect
(a new account logs in, a reset password replaces the old one, a disabled account and
a changed role end the sessions, a revoked token no longer opens the API), and the last
enabled admin cannot lock the console out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from store.console_models import AuditEntry
from store.db import make_engine
from tests.console_support import PASSWORDS, Client, ConsoleProcess
from tests.test_console_http import _setup


@dataclass
class Env:
    url: str
    console: ConsoleProcess

    def client(self, user: str | None = None, password: str | None = None) -> Client:
        c = Client(self.console.port)
        if user is not None:
            reply = c.login(user, password or PASSWORDS[user])
            assert reply.status == 303, reply.text
        return c

    def audit(self, action: str) -> list[dict[str, Any]]:
        engine = make_engine(self.url)
        with engine.connect() as conn:
            rows = conn.execute(select(AuditEntry).where(AuditEntry.action == action)
                                .order_by(AuditEntry.id)).all()
        engine.dispose()
        return [{"actor": r.actor, "target": r.target, "reason": r.reason,
                 "address": r.address, "before": json.loads(r.before or "null"),
                 "after": json.loads(r.after or "null")} for r in rows]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    directory = tmp_path_factory.mktemp("admin")
    url, config, _seeded = _setup(directory)
    console = ConsoleProcess(url, directory, config)
    yield Env(url, console)
    console.stop()


PAGE = "/admin/accounts"
TOKENS = "/admin/tokens"


def _add(admin: Client, name: str, role: str = "supervisor", password: str = "new-pass-123",
         **extra: str) -> Any:
    return admin.post(f"{PAGE}/add", {"username": name, "display_name": f"{name} 显示",
                                      "role": role, "password": password,
                                      "password2": password, "reason": "新入职", **extra},
                      page=PAGE)


def test_only_admins_reach_the_pages(env: Env) -> None:
    for path in (PAGE, "/admin/tokens"):
        anonymous = env.client().get(path)
        assert anonymous.status == 303 and anonymous.headers["location"].startswith("/login")
        for user in ("lingdao", "zhijian"):
            assert env.client(user).get(path).status == 403
    admin = env.client("admin")
    page = admin.get(PAGE)
    assert page.status == 200 and 'data-user="zhijian"' in page.text
    assert 'href="/admin/accounts"' in page.text  # the admin's menu has it
    assert 'href="/admin/accounts"' not in env.client("zhijian").get("/queue").text
    # a supervisor's own valid CSRF token does not make the change an admin's
    supervisor = env.client("zhijian")
    token = supervisor.csrf("/queue")
    reply = supervisor.request("POST", f"{PAGE}/add", form={
        "csrf": token, "username": "sneaky", "role": "admin", "password": "sneaky-pass-1",
        "password2": "sneaky-pass-1", "reason": "x"})
    assert reply.status == 403
    assert not [e for e in env.audit("user_add") if e["target"] == "sneaky"]


def test_every_form_needs_the_sessions_csrf_token(env: Env) -> None:
    admin = env.client("admin")
    form = {"username": "nocsrf", "role": "viewer", "password": "nocsrf-pass-1",
            "password2": "nocsrf-pass-1", "reason": "x"}
    assert admin.request("POST", f"{PAGE}/add", form=form).status == 403
    assert admin.request("POST", f"{PAGE}/add", form={**form, "csrf": "forged"}).status == 403
    other = env.client("admin")  # another session's token
    assert admin.request("POST", f"{PAGE}/add",
                         form={**form, "csrf": other.csrf(PAGE)}).status == 403
    for path in ("disable", "role", "passwd"):
        assert admin.request("POST", f"{PAGE}/{path}",
                             form={"username": "zhijian", "role": "viewer"}).status == 403
    assert admin.request("POST", "/admin/tokens/create", form={"name": "t"}).status == 403
    assert not [e for e in env.audit("user_add") if e["target"] == "nocsrf"]
    env.client("zhijian")  # zhijian was not disabled or demoted


def test_an_admin_adds_an_account_with_a_reason(env: Env) -> None:
    admin = env.client("admin")
    refused = _add(admin, "xiaoli", reason="")
    assert refused.status == 400 and "请填写原因" in refused.text
    mismatch = admin.post(f"{PAGE}/add", {"username": "xiaoli", "role": "supervisor",
                                          "password": "new-pass-123", "password2": "other-123",
                                          "reason": "r"}, page=PAGE)
    assert mismatch.status == 400 and "两次输入的密码不一致" in mismatch.text
    short = _add(admin, "xiaoli", password="short")
    assert short.status == 400 and "密码至少 8 个字符" in short.text
    bad_role = _add(admin, "xiaoli", role="root")
    assert bad_role.status == 400 and "角色无效" in bad_role.text
    assert env.client().login("xiaoli", "new-pass-123").status == 401  # none was made

    made = _add(admin, "xiaoli")
    assert made.status == 303 and made.headers["location"] == f"{PAGE}?done=user_add"
    assert "已创建账号" in admin.get(made.headers["location"]).text
    assert _add(admin, "xiaoli").status == 400  # the name is taken
    (entry,) = [e for e in env.audit("user_add") if e["target"] == "xiaoli"]
    assert entry == {"actor": "admin", "target": "xiaoli", "reason": "新入职",
                     "address": "127.0.0.1", "before": None, "after": {"role": "supervisor"}}
    xiaoli = env.client("xiaoli", "new-pass-123")
    assert xiaoli.get("/queue").status == 200 and xiaoli.get(PAGE).status == 403


def test_reset_password_role_disable_and_enable(env: Env) -> None:
    admin = env.client("admin")
    assert _add(admin, "laozhang", role="supervisor", password="first-pass-1").status == 303
    laozhang = env.client("laozhang", "first-pass-1")
    assert laozhang.get("/queue").status == 200

    reply = admin.post(f"{PAGE}/passwd", {"username": "laozhang", "password": "second-pass-2",
                                          "password2": "second-pass-2", "reason": "忘记密码"},
                       page=PAGE)
    assert reply.status == 303
    assert laozhang.get("/queue").status == 303  # the session ended
    assert env.client().login("laozhang", "first-pass-1").status == 401
    laozhang = env.client("laozhang", "second-pass-2")

    reply = admin.post(f"{PAGE}/role", {"username": "laozhang", "role": "viewer",
                                        "reason": "调岗"}, page=PAGE)
    assert reply.status == 303
    assert laozhang.get("/queue").status == 303  # logs in again, with the new role
    laozhang = env.client("laozhang", "second-pass-2")
    assert "查看者" in laozhang.get("/queue").text
    (role,) = [e for e in env.audit("user_role") if e["target"] == "laozhang"]
    assert role["before"]["role"] == "supervisor" and role["after"]["role"] == "viewer"
    assert role["reason"] == "调岗" and role["actor"] == "admin"
    assert "修改角色" in admin.get("/audit?action=user_role").text  # in the audit log's words

    assert admin.post(f"{PAGE}/disable", {"username": "laozhang", "reason": "离职"},
                      page=PAGE).status == 303
    assert laozhang.get("/queue").status == 303
    assert env.client().login("laozhang", "second-pass-2").status == 401
    assert 'data-user="laozhang"' in admin.get(PAGE).text and "已停用" in admin.get(PAGE).text
    assert admin.post(f"{PAGE}/enable", {"username": "laozhang", "reason": "返岗"},
                      page=PAGE).status == 303
    env.client("laozhang", "second-pass-2")
    actions = [(e["target"], e["reason"]) for name in ("user_passwd", "user_disable",
                                                       "user_enable") for e in env.audit(name)]
    assert {("laozhang", "忘记密码"), ("laozhang", "离职"), ("laozhang", "返岗")} <= set(actions)
    unknown = admin.post(f"{PAGE}/disable", {"username": "nobody", "reason": "x"}, page=PAGE)
    assert unknown.status == 400 and "没有这个账号" in unknown.text


def test_the_last_admin_stays(env: Env) -> None:
    admin = env.client("admin")
    for path, extra in (("role", {"role": "supervisor"}), ("disable", {})):
        reply = admin.post(f"{PAGE}/{path}", {"username": "admin", "reason": "试试", **extra},
                           page=PAGE)
        assert reply.status == 400 and "最后一个启用的管理员" in reply.text
    assert admin.get(PAGE).status == 200  # still an admin, still logged in
    # with a second admin, the first may step down
    assert _add(admin, "admin2", role="admin", password="admin2-pass-1").status == 303
    second = env.client("admin2", "admin2-pass-1")
    assert second.post(f"{PAGE}/role", {"username": "admin2", "role": "supervisor",
                                         "reason": "只需一个管理员"}, page=PAGE).status == 303
    assert env.client("admin2", "admin2-pass-1").get(PAGE).status == 403


def test_a_token_is_shown_once_and_revoked(env: Env) -> None:
    admin = env.client("admin")
    refused = admin.post("/admin/tokens/create", {"name": "ticket-api", "reason": ""},
                         page=TOKENS)
    assert refused.status == 400 and "请填写原因" in refused.text
    reply = admin.post("/admin/tokens/create", {"name": "ticket-api", "reason": "工单系统对接"},
                       page=TOKENS)
    assert reply.status == 200 and reply.headers["cache-control"] == "no-store"
    marker = '<code id="token">'
    secret = reply.text.split(marker)[1].split("</code>")[0]
    assert len(secret) >= 40 and "不会再次显示" in reply.text
    listing = admin.get("/admin/tokens").text
    assert 'data-token="ticket-api"' in listing and secret not in listing
    assert admin.post("/admin/tokens/create", {"name": "ticket-api", "reason": "again"},
                      page=TOKENS).status == 400  # the name is taken
    api = Client(env.console.port)
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.request("GET", "/api/v1/tickets/Q010", headers=headers).status == 200
    assert admin.post("/admin/tokens/revoke", {"name": "ticket-api", "reason": "泄露"},
                      page=TOKENS).status == 303
    assert api.request("GET", "/api/v1/tickets/Q010", headers=headers).status == 401
    again = admin.post("/admin/tokens/revoke", {"name": "ticket-api", "reason": "x"},
                       page=TOKENS)
    assert again.status == 400 and "没有这个有效的令牌" in again.text
    (added,) = env.audit("token_add")
    (revoked,) = env.audit("token_revoke")
    assert (added["actor"], added["reason"], added["address"]) == ("admin", "工单系统对接",
                                                                  "127.0.0.1")
    assert (revoked["target"], revoked["reason"]) == ("ticket-api", "泄露")
    assert secret not in json.dumps([added, revoked], ensure_ascii=False)
