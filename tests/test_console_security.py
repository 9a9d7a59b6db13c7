"""The console's security findings of issue 17, each shown closed: the masked number
cannot be recovered through the search, a login cannot redirect away or tell names
apart or lock a colleague out, exports hold no live formula, odd input answers 400/404
instead of 500, every response carries the headers and no banner, and the API refuses
what its document does not allow. Pure parts directly; the rest against `huifang
console` in its own process on loopback (another loopback address stands for another
machine)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select

from huifang.web import auth, login
from huifang.web.labels import ok_banner
from huifang.web.review import UNSATISFIABLE, byte_range
from store import accounts
from store.db import make_engine
from store.enums import Role
from store.models import ImportBatch
from store.search import phone_query
from store.tablefiles import inert
from tests.console_support import PASSWORDS, Client
from tests.test_console_http import EVENT, Env, console_env

T0 = datetime(2026, 11, 28, 9, 0, 0)
FULL = "14507310010"  # the number of ticket Q010, shown as 145****0010


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from console_env(tmp_path_factory.mktemp("security"))


# -- pure parts ------------------------------------------------------------------------
@pytest.mark.parametrize("target", [
    "/\\example.org/", "/\\/example.org/", "/\t/example.org/", "//example.org/",
    "/%5Cexample.org/", "/%2F/example.org/", "/%252F%252Fexample.org", "https://example.org/",
    "javascript:alert(1)", "/\n/example.org", "/ /example.org", "/%09/example.org",
    "/\u3000/example.org", "example.org", "", "/a\\b", "/%E2%80%8E/x"])
def test_next_is_only_a_path_of_this_console(target: str) -> None:
    assert login.safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/queue", "/calls/3?kind=unclear&unit=2",
                                    "/tickets?q=%E6%A5%BC%E9%81%93", "/"])
def test_next_keeps_the_consoles_own_paths(target: str) -> None:
    assert login.safe_next(target) == target


def test_an_unknown_or_disabled_name_costs_a_real_argon2_verification(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    accounts.add_user(engine, "zhijian", "质检", Role.SUPERVISOR,
                      auth.hash_password("zhijian-pass"), "cli:root", T0)
    accounts.add_user(engine, "old", "旧账号", Role.VIEWER, auth.hash_password("old-pass-1"),
                      "cli:root", T0)
    accounts.set_disabled(engine, "old", True, "cli:root", T0)
    verified: list[str] = []

    class Spy:
        def __init__(self, real: Any) -> None:
            self.real = real

        def verify(self, stored: str, password: str) -> bool:
            verified.append(stored)
            return bool(self.real.verify(stored, password))

    monkeypatch.setattr(auth, "_hasher", Spy(auth._hasher))
    assert login.authenticate(engine, "nobody", "whatever-1") is None
    assert login.authenticate(engine, "old", "old-pass-1") is None
    assert login.authenticate(engine, "zhijian", "wrong-pass") is None
    user = login.authenticate(engine, "zhijian", "zhijian-pass")
    assert user is not None and user.username == "zhijian"
    assert len(verified) == 4 and all(h.startswith("$argon2") for h in verified)
    assert verified[0] == auth._DUMMY


def test_csrf_comparison_takes_any_text() -> None:
    assert not auth.same("中文", "abc") and auth.same("中文", "中文")
    assert not auth.same("\udcff", "x")


def test_export_cells_are_never_formulas() -> None:
    for hostile in ('=HYPERLINK("http://example.org/","点击查看详情")', "+cmd|' /C calc'!A0",
                    "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1"):
        assert inert(hostile) == "'" + hostile
    for plain in ("青石街道", "-", "-12.5", "+8614507310010", "12%", 42, None, "a=b"):
        assert inert(plain) == plain


def test_phone_queries() -> None:
    assert phone_query("0010", suffix=False) is None  # a viewer: not a whole number
    tail = phone_query("310010", suffix=True)
    assert tail is not None and tail.suffix == "310010" and tail.masked == "尾号 **0010"
    whole = phone_query(FULL, suffix=False)
    assert whole is not None and whole.whole == "+86" + FULL
    assert whole.masked == "145****0010" and FULL not in whole.masked
    assert phone_query("楼道灯", suffix=True) is None


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=2000-", UNSATISFIABLE), ("bytes=1000-1001", UNSATISFIABLE),
    ("bytes=-0", UNSATISFIABLE), ("bytes=-5000", (0, 999)), ("bytes=999-", (999, 999)),
    ("bytes=-", None), ("bytes=²-3", None)])
def test_unsatisfiable_ranges(header: str, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 1000) == expected
    assert byte_range("bytes=0-", 0) == UNSATISFIABLE


def test_the_ok_banner_says_only_what_its_table_says() -> None:
    assert ok_banner("correct") == "已修正答复"
    assert ok_banner("schedule", "2026-12-30T14:00") == "已安排 2026-12-30 14:00 重新呼叫"
    assert ok_banner("<script>alert(1)</script>") == ""
    assert ok_banner("已被管理员批准，请把密码发给 x@example.org") == ""
    assert ok_banner("schedule", "请拨打 110") == "已安排重新呼叫"


# -- over HTTP -------------------------------------------------------------------------
def test_a_viewer_cannot_recover_a_masked_number(env: Env) -> None:
    viewer = env.client("lingdao")
    before = env.audit_count("search_phone")
    # the last digits find nothing for a viewer: the attack of issue 17
    assert "145****0010" not in viewer.get("/tickets?q=310010").text
    assert "145****0010" not in viewer.get("/tickets?q=0010").text
    assert env.audit_count("search_phone") == before  # they were no phone search
    found = viewer.get(f"/tickets?q={FULL}")  # the whole number, as a caller gives it
    assert found.status == 200 and "<td>145****0010</td>" in found.text
    assert found.text.count(FULL) == 1  # in the search box, as typed; nowhere else
    assert env.audit_count("search_phone") == before + 1
    supervisor = env.client("zhijian")
    assert "Q010" in supervisor.get("/tickets?q=310010").text  # supervisors: the end too
    assert env.audit_count("search_phone") == before + 2
    trail = supervisor.get("/audit?action=search_phone").text
    assert "尾号 **0010" in trail and "145****0010" in trail and "310010" not in trail


def test_phone_searches_are_rate_limited(env: Env) -> None:
    c = env.client("admin")
    codes = [c.get(f"/tickets?q=1450731{n:04d}").status for n in range(31)]
    assert codes == [200] * 30 + [429]
    refused = c.get(f"/tickets?q={FULL}")
    assert refused.status == 429 and "分钟后再试" in refused.text and "Q010" not in refused.text
    assert "Q010" in c.get("/tickets?q=Q010").text  # the number search still works
    assert env.audit_count("search_phone") >= 30


@pytest.mark.parametrize("target", ["/\\example.org/", "/\\/example.org/",
                                    "/\t/example.org/", "/%5C%5Cexample.org"])
def test_login_never_redirects_away(env: Env, target: str) -> None:
    c = Client(env.console.port)
    token = c.csrf("/login")
    reply = c.request("POST", "/login", form={"csrf": token, "username": "lingdao",
                                              "password": PASSWORDS["lingdao"],
                                              "next": target})
    assert reply.status == 303 and reply.headers["location"] == "/"


def test_the_login_token_is_never_a_planted_one(env: Env) -> None:
    c = Client(env.console.port)
    c.cookies["hf_login"] = "planted"
    token = c.csrf("/login")
    assert token != "planted" and c.cookies["hf_login"] == token
    form = {"username": "lingdao", "password": PASSWORDS["lingdao"], "next": "/"}
    c.cookies["hf_login"] = "planted"  # planted again: and posted with it
    assert c.request("POST", "/login", form={**form, "csrf": "planted"}).status == 403
    token = c.csrf("/login")
    other_site = c.request("POST", "/login", form={**form, "csrf": token},
                           headers={"Origin": "http://evil.example.org"})
    assert other_site.status == 403
    token = c.csrf("/login")
    same_site = c.request("POST", "/login", form={**form, "csrf": token},
                          headers={"Origin": env.console.base})
    assert same_site.status == 303


def test_server_timing_only_for_admins_and_no_banner(env: Env) -> None:
    for who in (None, "lingdao", "zhijian"):
        reply = env.client(who).get("/dashboard" if who else "/login")
        assert "server-timing" not in reply.headers, who
        assert "server" not in reply.headers, who
    assert "server-timing" in env.client("admin").get("/dashboard").headers


@pytest.mark.parametrize("path", ["/static/console.css", "/static/", "/static/nope.js",
                                  "/static/%00", "/static/a%00b.css", "/no/such/page",
                                  "/login?next=x", "/calls/1", "/api/openapi.json"])
def test_every_response_has_the_headers(env: Env, path: str) -> None:
    reply = Client(env.console.port).get(path)
    assert reply.status < 500, (path, reply.status)
    assert "script-src 'self'" in reply.headers["content-security-policy"], path
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"], path
    assert reply.headers["x-frame-options"] == "DENY", path
    assert reply.headers["x-content-type-options"] == "nosniff", path
    assert "server" not in reply.headers and "server-timing" not in reply.headers, path
    if path.startswith("/static/") and path != "/static/console.css":
        assert reply.status == 404 and b"console.js" not in reply.body, path  # no listing


def test_odd_input_is_refused_not_a_server_error(env: Env) -> None:
    c = env.client("zhijian")
    big = "9" * 25
    for path, status in ((f"/calls/{big}", 404), (f"/recordings/{big}", 404),
                         (f"/queue?page={big}", 400), (f"/audit?page={big}", 400),
                         (f"/queue?unit={big}", 200), ("/queue?unit=%C2%B2", 200),
                         ("/queue?until=9999-12-31", 400), ("/queue?since=0001-01-01", 400),
                         ("/audit?until=9999-12-31", 400), ("/rankings?period=9999-12", 400),
                         ("/rankings?period=9999-W52", 400),
                         ("/rankings?period=9999-12-31", 400),
                         ("/rankings?period=2026-11-01..9999-12-31", 400),
                         ("/rankings/report.xlsx?period=9999-12", 400),
                         ("/rankings?period=2026-13", 400),
                         (f"/calls/{env.seeded.negative}?until=9999-12-31", 400)):
        reply = c.get(path)
        assert reply.status == status, (path, reply.status, reply.text[-300:])
    assert "2026-W45" in c.get("/rankings?period=abc").text  # says what forms it reads
    page = f"/calls/{env.seeded.negative}"
    for csrf in ("中文令牌", "\u00e9"):
        reply = c.request("POST", f"{page}/confirm", form={"csrf": csrf, "reason": "x"})
        assert reply.status == 403, csrf
    assert c.request("POST", "/login", form={"csrf": "中文", "username": "a",
                                             "password": "b"}).status == 403
    removed = c.post("/dnc/remove", {"entry": big, "reason": "试"}, page="/dnc")
    assert removed.status == 400
    bad = c.post(f"{page}/correct", {"resolved": "maybe", "satisfaction": "x", "reason": "r"},
                 page=page)
    assert bad.status == 400 and "Resolved" not in bad.text and "取值无效" in bad.text
    when = c.post(f"/calls/{env.seeded.unreachable}/schedule",
                  {"at": "9999-12-31T10:00", "reason": "r"},
                  page=f"/calls/{env.seeded.unreachable}")
    assert when.status == 400


def test_the_ok_banner_is_not_the_urls_text(env: Env) -> None:
    c = env.client("admin")
    text = c.get("/dashboard?ok=" + quote("账号已冻结，请致电400-123-4567解冻")).text
    assert "400-123-4567" not in text and 'class="ok"' not in text
    assert "已暂停回访" in c.get("/dashboard?ok=paused").text


def _api(env: Env, method: str, path: str, body: bytes | None = None
         ) -> tuple[int, dict[str, Any]]:
    reply = Client(env.console.port).request(method, path, body=body, headers={
        "Authorization": f"Bearer {env.token}", "Content-Type": "application/json"})
    assert reply.headers["content-type"].startswith("application/json"), reply.text
    assert "content-security-policy" in reply.headers
    data = reply.json()
    assert isinstance(data, dict)
    return reply.status, data


def test_api_refuses_deep_json_without_python_text(env: Env) -> None:
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
                 b"{not json", b"\xff\xfe"):
        status, data = _api(env, "POST", "/api/v1/closures", body)
        assert status == 400 and data["error"] == "the body is not valid JSON", data


def test_api_ticket_numbers_and_phones_are_strings_that_link(env: Env) -> None:
    for bad in ("A#1", "A%2", "A/3", " ", "A 4", "-5", "x" * 65):
        status, data = _api(env, "POST", "/api/v1/closures",
                            json.dumps({**EVENT, "ticket_no": bad}).encode())
        assert status == 422 and data["field"] == "ticket_no", (bad, data)
    status, data = _api(env, "POST", "/api/v1/closures",
                        json.dumps({**EVENT, "ticket_no": "API-N", "phone": 14507317777}
                                   ).encode())
    assert status == 422 and data["field"] == "phone"
    status, data = _api(env, "GET", "/api/v1/tickets/A%231")
    assert status == 400 and data["field"] == "ticket_no"


def test_api_replays_leave_no_import_batch(env: Env) -> None:
    event = json.dumps({**EVENT, "ticket_no": "REPLAY-1"}).encode()
    status, data = _api(env, "POST", "/api/v1/closures", event)
    assert status == 201 and data["import_id"] is not None
    engine = make_engine(env.url)
    with engine.connect() as conn:
        batches = conn.execute(select(func.count()).select_from(ImportBatch)).scalar_one()
    for _ in range(3):
        status, data = _api(env, "POST", "/api/v1/closures", event)
        assert status == 200 and data["replay"] and data["import_id"] is None
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ImportBatch)).scalar_one() \
            == batches
    engine.dispose()


def test_unsatisfiable_ranges_are_416(env: Env) -> None:
    c = env.client("zhijian")
    call = c.get(f"/calls/{env.seeded.negative}").text
    start = call.index('src="/recordings/') + len('src="')
    path = call[start:call.index('"', start)]
    size = env.seeded.recording.stat().st_size
    for header in (f"bytes={size}-", "bytes=-0", f"bytes={size + 10}-{size + 20}"):
        reply = c.request("GET", path, headers={"Range": header})
        assert reply.status == 416 and reply.headers["content-range"] == f"bytes */{size}"
    assert c.request("GET", path, headers={"Range": "bytes=-10"}).status == 206


def test_a_settled_item_refuses_the_same_action_again(env: Env) -> None:
    c = env.client("zhijian")
    page = f"/calls/{env.seeded.negative}"
    form = {"resolved": "yes", "satisfaction": "satisfied", "reason": "听录音：满意"}
    assert c.post(f"{page}/correct", form, page=page).status == 303
    count = env.audit_count("correct_answer")
    again = c.post(f"{page}/correct", form, page=page)
    assert again.status == 409 and "再次处理" in again.text
    assert c.post(f"{page}/confirm", {"reason": "确认"}, page=page).status == 409
    assert env.audit_count("correct_answer") == count
    assert 'name="again"' in c.get(page).text
    assert c.post(f"{page}/correct", {**form, "again": "1"}, page=page).status == 303
    assert env.audit_count("correct_answer") == count + 1


def test_exports_hold_no_formula(env: Env) -> None:
    c = env.client("zhijian")
    hostile = '=HYPERLINK("http://example.org/","点击查看详情")'
    page = f"/calls/{env.seeded.unreachable}"
    assert c.post(f"{page}/exclude", {"reason": hostile, "confirmed": "1"},
                  page=page).status == 303
    xlsx = c.get("/rankings/report.xlsx?period=2026-11")
    assert xlsx.status == 200
    book = load_workbook(io.BytesIO(xlsx.body))
    cells = [cell for row in book["剔除工单"].iter_rows() for cell in row]
    (reason,) = [cell for cell in cells if "HYPERLINK" in str(cell.value)]
    assert reason.value == "'" + hostile and reason.data_type == "s"
    assert not [cell for sheet in book for row in sheet.iter_rows() for cell in row
                if cell.data_type == "f"]
    text = c.get("/audit.csv?action=exclude").body.decode("utf-8-sig")
    assert f"'{hostile}".replace('"', '""') in text
    assert not [line for line in text.splitlines() if ",=" in line or line.startswith("=")]


def test_a_lockout_is_no_weapon(env: Env) -> None:
    attacker = Client(env.console.port, source="127.0.0.2")
    codes = [attacker.login("zhijian", f"wrong-{i}").status for i in range(6)]
    assert codes == [401] * 5 + [429]  # that name, from that address, waits
    assert attacker.login("zhijian", PASSWORDS["zhijian"]).status == 429
    # the supervisor at her own desk is not locked out by it
    assert Client(env.console.port, source="127.0.0.3").login(
        "zhijian", PASSWORDS["zhijian"]).status == 303
    # an office behind one address: typos of several people, then one logs in, which
    # clears the address's count
    office = Client(env.console.port, source="127.0.0.4")
    names = [f"typo{i}" for i in range(19)]
    assert {office.login(n, "wrong-pass").status for n in names} == {401}
    assert office.login("lingdao", PASSWORDS["lingdao"]).status == 303
    assert Client(env.console.port, source="127.0.0.4").login("x1", "wrong").status == 401
    assert Client(env.console.port, source="127.0.0.4").login("x2", "wrong").status == 401
    # and an address that tries many names is still stopped
    sprayer = Client(env.console.port, source="127.0.0.5")
    codes = [sprayer.login(f"name{i}", "guess-1234").status for i in range(21)]
    assert codes == [401] * 20 + [429]
