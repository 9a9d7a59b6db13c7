"""The console under wapiti and sqlmap (issue 17), on loopback only.

Seeds the console tests' small hotline (tests/console_support.py: two street offices, a
ticket whose summary is a <script>, a real recording), runs `huifang console` on
127.0.0.1 in its own process, and attacks it:

- wapiti, anonymous and then logged in as a supervisor (its session cookie in a header;
  /logout left alone), with the modules that need nothing outside this machine
  (`MODULES`: not ssrf or xxe, which call an external endpoint; not nikto, wapp or
  buster, which fetch lists or brute-force paths), `--no-bugreport`, bounded by
  `--max-scan-time`; the forms' CSRF token is not attacked (`--skip csrf`: a mangled
  token is a 403 before any handler); logged in, through a loopback proxy that keeps
  wapiti's POST /logout from the console (its crawler submits the logout form, and
  Debian's 3.0.4 cannot exclude a URL under Python 3.11);
- sqlmap (`--batch`, level 2, risk 1) on every filter of the queue, the audit log and
  the rankings, the ticket search and a ticket's page, the login form (its CSRF token
  fetched for each request), an action form, and the API's JSON body and path, each
  run bounded by a timeout.

The login limits are raised to their maximum for the scan (a scanner's hundreds of
logins from one address would otherwise meet a 429 and test nothing). Prints and writes
bench/out/console-scan.json: per scanner the requests made, and what it reported by
category; the raw reports stay in the scan's directory.

    scripts/scan-console              # about 12 minutes
    HUIFANG_SCAN_MINUTES=2 scripts/scan-console   # wapiti's logged-in budget
    HUIFANG_SCAN_ONLY=wapiti scripts/scan-console  # or sqlmap: one scanner only
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from store.db import make_engine, upgrade
from tests.console_support import PASSWORDS, Client, ConsoleProcess, add_users, huifang, seed

log = logging.getLogger(__name__)
OUT = Path(__file__).parent / "out"
MODULES = ("backup,blindsql,cookieflags,crlf,csp,csrf,exec,file,htaccess,http_headers,"
           "methods,permanentxss,redirect,shellshock,sql,xss")
SQLMAP_SECONDS = 75  # each target; the login form, at ~6 a second, three times that


def _setup(work: Path) -> tuple[str, Path, Any]:
    url = f"sqlite:///{work / 'huifang.db'}"
    engine = make_engine(url)
    upgrade(engine)
    seeded = seed(engine, work, work / "recordings")
    engine.dispose()
    config = work / "huifang.toml"
    config.write_text(f'[campaign]\nrecordings_dir = "{work / "recordings"}"\n'
                      "[console]\nlogin_max_failures = 100\nlogin_lockout_minutes = 1\n",
                      encoding="utf-8")
    add_users(url, work)
    return url, config, seeded


def _run(command: list[str], seconds: float, log_path: Path) -> float:
    """Run a scanner, its output to `log_path`, killed after `seconds`; its wall time."""
    start = time.monotonic()
    with log_path.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:  # its time is up
            _stop(proc)
        except BaseException:  # ours is (a SIGTERM, ^C)
            _stop(proc)
            raise
    return round(time.monotonic() - start, 1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _KeepSession(BaseHTTPRequestHandler):
    """wapiti's proxy, on loopback: everything passes to the console but a POST to
    /logout with the session's own CSRF token, which would end the session the
    logged-in scan runs in (wapiti's crawler submits the logout form; Debian's 3.0.4
    cannot exclude a URL, see `wapiti`). That one is answered as the console would
    (303 to /login) without ending anything; a forged token still reaches the console
    and its 403, so wapiti's CSRF check sees the console's own answers."""

    csrf = ""

    def _forward(self) -> None:
        target = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.command == "POST" and target.path == "/logout" \
                and parse_qs(body.decode("utf-8", "replace")).get("csrf") == [self.csrf]:
            self.send_response(303)
            self.send_header("location", "/login")
            self.send_header("content-length", "0")
            self.end_headers()
            return
        conn = HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=60)
        path = target.path + (f"?{target.query}" if target.query else "")
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("proxy-connection", "connection", "keep-alive")}
        conn.request(self.command, path or "/", body=body or None, headers=headers)
        reply = conn.getresponse()
        data = reply.read()
        self.send_response(reply.status, reply.reason)
        for key, value in reply.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = _forward
    do_TRACE = do_PROPFIND = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


def wapiti(base: str, work: Path, name: str, cookie: str | None, seconds: int,
           csrf: str = "") -> dict[str, Any]:
    report = work / f"wapiti-{name}.json"
    command = ["wapiti", "-u", f"{base}/", "--scope", "folder", "-m", MODULES,
               "--no-bugreport", "--flush-session", "--max-scan-time", str(seconds),
               "--max-attack-time", str(max(30, seconds // 4)), "-t", "10",
               # its endpoints are the console itself: nothing leaves this machine
               "--external-endpoint", f"{base}/", "--internal-endpoint", f"{base}/",
               "--store-session", str(work / f"wapiti-session-{name}"),
               # the forms' CSRF token is not attacked: a mangled one is a 403 before
               # any handler
               "--skip", "csrf", "-f", "json", "-o", str(report), "-v", "1"]
    proxy = None
    if cookie is not None:
        # not -x /logout: Debian's 3.0.4 fails on any -x under Python 3.11 (a regex with
        # late global flags); a proxy keeps the logout from it instead
        _KeepSession.csrf = csrf
        proxy = ThreadingHTTPServer(("127.0.0.1", 0), _KeepSession)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        command += ["-p", f"http://127.0.0.1:{proxy.server_address[1]}/"]
        command += ["-H", f"Cookie: {cookie}", "-s", f"{base}/queue", "-s", f"{base}/audit",
                    "-s", f"{base}/tickets?q=X001", "-s", f"{base}/rankings"]
    wall = _run(command, seconds + 240, work / f"wapiti-{name}.log")
    if proxy is not None:
        proxy.shutdown()
    data = json.loads(report.read_text()) if report.exists() else {}
    found = {kind: {category: len(items) for category, items in data.get(kind, {}).items()
                    if items}
             for kind in ("vulnerabilities", "anomalies", "additionals")}
    infos = data.get("infos", {})
    return {"seconds": wall, "crawled_pages": infos.get("crawled_pages_nbr"),
            "report": str(report), **found}


def sqlmap_targets(base: str, cookie: str, csrf: str, callback: int, token: str
                   ) -> list[tuple[str, list[str]]]:
    auth = ["--cookie", cookie]
    api = ["--headers", f"Authorization: Bearer {token}\nContent-Type: application/json"]
    event = {"ticket_no": "SQ1", "unit": "青石街道", "type": "投诉", "phone": "14507317777",
             "received_at": "2026-11-20 09:00:00", "closed_at": "2026-11-25 16:00:00",
             "summary": "路灯不亮"}
    return [
        ("tickets search", ["-u", f"{base}/tickets?q=X001", *auth]),
        ("ticket page", ["-u", f"{base}/tickets/Q010*", *auth]),
        ("queue filters", ["-u", f"{base}/queue?unit=1&since=2026-11-01&until=2026-11-30"
                                 "&outcome=no_answer&category=%E5%9F%8E&kind=unclear&page=1",
                           *auth]),
        ("audit filters", ["-u", f"{base}/audit?actor=zhijian&action=exclude&target=Q010"
                                 "&since=2026-11-01&until=2026-11-30&page=1", *auth]),
        ("rankings period", ["-u", f"{base}/rankings?period=2026-11", *auth]),
        ("login form", ["-u", f"{base}/login", "--data",
                        "csrf=x&username=zhijian&password=secret&next=%2F",
                        "--csrf-token", "csrf", "--csrf-url", f"{base}/login",
                        # the name is what reaches SQL (the password reaches argon2,
                        # next= a redirect); each try costs an argon2 verification
                        "-p", "username",
                        # a wrong password is 401; the limits are raised, not gone
                        "--ignore-code", "401,403,429"]),
        ("action form", ["-u", f"{base}/calls/{callback}/schedule", "--data",
                         f"csrf={csrf}&at=2026-12-30T10%3A00&reason=test", "-p", "at,reason",
                         *auth]),
        ("API event JSON", ["-u", f"{base}/api/v1/closures", "--data", json.dumps(
            event, ensure_ascii=False), *api]),
        ("API ticket path", ["-u", f"{base}/api/v1/tickets/Q010*", *api]),
    ]


def sqlmap(base: str, work: Path, cookie: str, csrf: str, callback: int, token: str
           ) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, args in sqlmap_targets(base, cookie, csrf, callback, token):
        slug = re.sub(r"\W+", "-", name)
        traffic = work / f"sqlmap-{slug}.traffic"
        command = ["sqlmap", *args, "--batch", "--level", "2", "--risk", "1",
                   "--disable-coloring", "--time-sec", "2", "--output-dir",
                   str(work / "sqlmap"), "-t", str(traffic), "--flush-session"]
        wall = _run(command, SQLMAP_SECONDS * (3 if name == "login form" else 1),
                    work / f"sqlmap-{slug}.log")
        text = (work / f"sqlmap-{slug}.log").read_text(errors="replace")
        requests = traffic.read_text(errors="replace").count("HTTP request [#") \
            if traffic.exists() else 0
        injectable = sorted(set(re.findall(r"parameter '([^']+)' (?:is|appears to be) "
                                           r"'[^']+' injectable", text)))
        results[name] = {"seconds": wall, "requests": requests, "injectable": injectable,
                         "finished": "do not appear to be injectable" in text
                         or "is not injectable" in text or bool(injectable)}
    return results


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # the console is stopped too
    missing = [tool for tool in ("wapiti", "sqlmap") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"not installed: {' '.join(missing)} (scripts/install-system-deps as root, "
                 f"or apt-get install {' '.join(missing)})")
    minutes = float(os.environ.get("HUIFANG_SCAN_MINUTES", "3"))
    work = Path(tempfile.mkdtemp(prefix="huifang-scan-"))
    url, config, seeded = _setup(work)
    out = huifang("token", "create", "scanner", url=url, cwd=work).stdout
    token = out.split("token scanner: ")[1].split()[0]
    console = ConsoleProcess(url, work, config)
    try:
        client = Client(console.port)
        assert client.login("zhijian", PASSWORDS["zhijian"]).status == 303
        cookie = f"hf_session={client.cookies['hf_session']}"
        csrf = client.csrf("/queue")
        log.info("console on %s, scan files in %s", console.base, work)
        only = os.environ.get("HUIFANG_SCAN_ONLY", "")  # wapiti or sqlmap: that one
        result: dict[str, Any] = {}
        if only != "sqlmap":
            result["wapiti_anonymous"] = wapiti(console.base, work, "anonymous", None, 60)
            result["wapiti_supervisor"] = wapiti(console.base, work, "supervisor", cookie,
                                                 int(minutes * 60), csrf)
        if only != "wapiti":
            result["sqlmap"] = sqlmap(console.base, work, cookie, csrf, seeded.unreachable,
                                      token)
        result["console_still_serving"] = Client(console.port).get("/login").status == 200
        result["session_lived_through_the_scan"] = client.get("/queue").status == 200
        server_errors = (work / "console.log").read_text(errors="replace").count(" failed: ")
        result["server_errors_in_log"] = server_errors
    finally:
        console.stop()
    result["work"] = str(work)
    print(json.dumps(result, ensure_ascii=False, indent=1), flush=True)
    OUT.mkdir(exist_ok=True)
    name = f"console-scan-{only}.json" if only else "console-scan.json"
    (OUT / name).write_text(json.dumps(result, ensure_ascii=False, indent=2),
                            encoding="utf-8")


if __name__ == "__main__":
    main()
