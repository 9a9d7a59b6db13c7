"""A small hotline for the console's tests, written through the real paths: units,
tickets and agents' evaluations by import; callbacks, attempts, turns and answers by the
campaign's store functions; a stereo recording made from a real Mandarin clip.

Two street offices in one ranking group, ten evaluated tickets each (min_sample 10):
白沙街道 all 满意; 青石街道 nine 满意 and one 不满意 heard by the machine with a recorded
reason. Correcting that one answer to 满意 lifts 青石街道's 满意率 from 90 % to 100 % and
its rank from 2 to 1 (tied)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import wave
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import numpy as np
from sqlalchemy import Engine, insert, select

from store.attempts import (
    Answer,
    AttemptEnd,
    CallQuality,
    finish_attempt,
    save_answer,
    start_attempts,
)
from store.callbacks import Claimed
from store.campaign_models import Callback
from store.caps import Decision
from store.enums import AttemptOutcome, CallbackStatus, Resolved, Satisfaction
from store.importing.runner import ImportOptions, run_import
from store.models import Closure, Ticket
from tests.campaign_support import wait_until
from tests.files import TICKET_HEADER, ticket, write_csv
from tests.pgserver import free_port

SHARED = Path(__file__).resolve().parents[2] / "shared"
CLIP = SHARED / "speech" / "real" / "firered_BAC009S0764W0121.wav"
NOW = datetime(2026, 11, 28, 10, 0, 0)
PERIOD = "2026-11"
UNITS = [["单位名称", "上级单位", "考核分组", "单位类型"],
         ["东湖区", "", "区县", "区县"],
         ["青石街道", "东湖区", "街道乡镇", "街道"],
         ["白沙街道", "东湖区", "街道乡镇", "街道"]]
XSS = "<script>alert('x')</script>楼道灯坏了"
PASSWORDS = {"admin": "admin-pass-1", "zhijian": "zhijian-pass-1", "lingdao": "lingdao-pass-1"}


@dataclass(frozen=True)
class Seeded:
    negative: int  # callback ids
    unclear: int
    unreachable: int
    recording: Path


def _phone(i: int) -> str:
    return f"1450731{i:04d}"


def stereo_recording(path: Path) -> Path:
    """Citizen on the left (a real clip), our prompt tone on the right, 8 kHz."""
    import soxr

    with wave.open(str(CLIP)) as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    left = np.frombuffer(frames, dtype=np.int16).astype(np.float32) / 32768
    left = soxr.resample(left, rate, 8000)
    t = np.arange(len(left)) / 8000
    right = 0.2 * np.sin(2 * np.pi * 440 * t) * (t < 1.5)
    both = np.stack([left, right], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((np.clip(both, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def _callback(engine: Engine, ticket_no: str, status: CallbackStatus) -> Claimed:
    with engine.begin() as conn:
        closure_id, ticket_id, phone = conn.execute(
            select(Closure.id, Ticket.id, Ticket.phone).join(Ticket, Ticket.id ==
                                                             Closure.ticket_id)
            .where(Ticket.ticket_no == ticket_no)).one()
        cid = conn.execute(insert(Callback).values(
            closure_id=closure_id, ticket_id=ticket_id, phone=phone, status=status,
            due_at=NOW, deadline_at=datetime(2026, 12, 5), attempts=0, created_at=NOW,
            updated_at=NOW).returning(Callback.id)).scalar_one()
    return Claimed(int(cid), int(closure_id), int(ticket_id), str(phone), 0, NOW,
                   datetime(2026, 12, 5))


def seed(engine: Engine, directory: Path, recordings: Path) -> Seeded:
    now = NOW
    opts = ImportOptions()  # type: ignore[call-arg]
    run_import(engine, "units", write_csv(directory / "units.csv", UNITS), now=now,
               options=opts)
    rows = [ticket(f"Q{i:03d}", unit="青石街道", phone=_phone(i)) for i in range(1, 11)]
    rows += [ticket(f"B{i:03d}", unit="白沙街道", phone=_phone(100 + i)) for i in range(1, 12)]
    rows.append(ticket("X001", unit="白沙街道", phone=_phone(999), summary=XSS))
    run_import(engine, "tickets", write_csv(directory / "tickets.csv", [TICKET_HEADER, *rows]),
               now=now, options=opts)
    header = ["工单编号", "回访时间", "是否解决", "满意度", "回访方式", "回访人"]
    evals = [[f"Q{i:03d}", "2026-11-06 10:00:00", "已解决", "满意", "人工回访", "坐席01"]
             for i in range(1, 10)]
    evals += [[f"B{i:03d}", "2026-11-06 10:00:00", "已解决", "满意", "人工回访", "坐席01"]
              for i in range(1, 11)]
    run_import(engine, "evaluations", write_csv(directory / "evals.csv", [header, *evals]),
               now=now, options=opts)

    recording = stereo_recording(recordings / "seed-Q010.wav")
    neg = _callback(engine, "Q010", CallbackStatus.CLAIMED)
    (attempt,) = start_attempts(engine, [neg], "call-q010", "test", now)
    # as the dialer writes them: what was heard with where it is in the recording, then
    # the answer taken from it
    save_answer(engine, attempt, Answer("resolved", "resolved", None, 0.91, "heard:speech",
                                        "已经解决了", (0.3, 1.4)), now)
    save_answer(engine, attempt, Answer("resolved", "resolved", Resolved.YES, 0.91, "speech",
                                        "已经解决了"), now)
    save_answer(engine, attempt, Answer("satisfied", "unsatisfied", None, 0.62, "heard:speech",
                                        "不满意", (2.0, 3.2)), now)
    save_answer(engine, attempt, Answer("satisfied", "unsatisfied", Satisfaction.UNSATISFIED,
                                        0.62, "speech", "不满意"), now)
    finish_attempt(engine, attempt, AttemptEnd(AttemptOutcome.COMPLETED, 200, "OK",
                                               recording=str(recording),
                                               reason_span=(1.5, 4.0), answered_after_s=0,
                                               quality=CallQuality(3, 12.5, 41.0)),
                   now, lambda _: Decision(None, False, "completed"))

    unclear = _callback(engine, "B011", CallbackStatus.CLAIMED)
    (attempt,) = start_attempts(engine, [unclear], "call-b011", "test", now)
    save_answer(engine, attempt, Answer("resolved", "unclear", None, 0.2, "speech", "嗯那个"),
                now)
    finish_attempt(engine, attempt, AttemptEnd(AttemptOutcome.UNCLEAR, 200, "OK",
                                               answered_after_s=0), now,
                   lambda _: Decision(None, True, "unclear: not called again"))

    unreachable = _callback(engine, "X001", CallbackStatus.CLAIMED)
    for n in range(3):
        (attempt,) = start_attempts(engine, [unreachable], f"call-x001-{n}", "test", now)
        finish_attempt(engine, attempt, AttemptEnd(
            AttemptOutcome.NO_ANSWER, 487, "Request Terminated"), now,
            lambda _, last=n == 2: Decision(None if last else now, last, "no answer"))
    return Seeded(neg.callback_id, unclear.callback_id, unreachable.callback_id, recording)


def add_users(url: str, cwd: Path) -> None:
    for name, role in (("admin", "admin"), ("zhijian", "supervisor"), ("lingdao", "viewer")):
        huifang("user", "add", name, "--role", role, "--name", name, url=url, cwd=cwd,
                password=PASSWORDS[name])


def huifang(*args: str, url: str, cwd: Path, password: str = "",
            config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUIFANG_DB": url, "HUIFANG_NEW_PASSWORD": password}
    if config is not None:
        env["HUIFANG_CONFIG"] = str(config)
    result = subprocess.run([sys.executable, "-m", "huifang", *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr + result.stdout
    return result


class ConsoleProcess:
    """`huifang console` in its own process on 127.0.0.1."""

    def __init__(self, url: str, cwd: Path, config: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "HUIFANG_DB": url, "HUIFANG_CONFIG": str(config)}
        self.log = (cwd / "console.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "huifang", "console", "--bind", f"127.0.0.1:{self.port}"],
            cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        def listening() -> bool:
            assert self.proc.poll() is None, (cwd / "console.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                return False
        wait_until(listening, 60, "the console listening")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    set_cookies: list[str]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """A browser without a browser: cookies, no redirects followed."""

    def __init__(self, port: int, source: str | None = None) -> None:
        self.port = port
        self.source = source  # another loopback address (127.0.0.2): another machine
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                body: bytes | None = None, headers: dict[str, str] | None = None) -> Reply:
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=60,
            source_address=(self.source, 0) if self.source else None)
        sent = dict(headers or {})
        if form is not None:
            body = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                val = rest.split(";", 1)[0]
                if "Max-Age=0" in value:
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = val
        reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data,
                      [v for k, v in response.getheaders() if k.lower() == "set-cookie"])
        conn.close()
        return reply

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def csrf(self, path: str) -> str:
        text = self.get(path).text
        marker = 'name="csrf" value="'
        start = text.index(marker) + len(marker)
        return text[start:text.index('"', start)]

    def login(self, user: str, password: str) -> Reply:
        token = self.csrf("/login")
        return self.request("POST", "/login", form={"csrf": token, "username": user,
                                                    "password": password, "next": "/"})

    def post(self, path: str, form: dict[str, str], page: str | None = None) -> Reply:
        token = self.csrf(page or urlsplit(path).path)
        return self.request("POST", path, form={"csrf": token, **form})
