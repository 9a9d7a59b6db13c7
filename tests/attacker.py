"""An attacker on the trunk side, for the hostile-SIP test and benchmark (issue 21): a
thread that fires forged and hostile datagrams at the service's SIP port at a fixed rate
(up to a limit, if given), aimed at the live calls (their Call-IDs, tags, branches and
CSeqs read from the attempts' dialog records, as an attacker on the path would read them
off the wire) from another address, and blind garbage in between. What it aims is
`tests/test_forged_sip_live.forged`."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from sqlalchemy import Engine, select

from dialer.sipmessage import NameAddr, SipMessage
from store.campaign_models import CallAttempt
from store.enums import AttemptStatus
from tests.test_forged_sip_live import forged


class Attacker(threading.Thread):
    def __init__(self, engine: Engine, target: tuple[str, int], rate: float,
                 limit: int | None = None) -> None:
        super().__init__(daemon=True, name="attacker")
        self.engine, self.target, self.rate, self.limit = engine, target, rate, limit
        self.sent = 0
        self.aimed = 0  # of them, aimed at a live call
        self.stopping = threading.Event()
        self._calls: list[tuple[str, str, str, str, int]] = []
        self._read_at = 0.0

    def _live_calls(self) -> list[tuple[str, str, str, str, int]]:
        if time.monotonic() - self._read_at < 1.0:
            return self._calls
        self._read_at = time.monotonic()
        with self.engine.connect() as conn:
            rows = conn.execute(select(CallAttempt.dialog).where(
                CallAttempt.status == AttemptStatus.IN_PROGRESS,
                CallAttempt.dialog.is_not(None))).scalars().all()
        calls = []
        for row in rows:
            record: dict[str, Any] = json.loads(row)
            invite = SipMessage.parse(record["invite"].encode("utf-8", "surrogateescape"))
            calls.append((invite.call_id, NameAddr.parse(invite.header("From")).tag or "",
                          record.get("remote_tag") or "peer", invite.branch, invite.cseq[0]))
        self._calls = calls
        return calls

    def run(self) -> None:
        rng = random.Random(21)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            start = time.monotonic()
            while not self.stopping.is_set():
                due = int((time.monotonic() - start) * self.rate)
                if self.limit is not None:
                    due = min(due, self.limit)
                calls = self._live_calls()
                while self.sent < due:
                    i = self.sent
                    if calls and i % 4:
                        call_id, ours, theirs, branch, cseq = rng.choice(calls)
                        data = forged(call_id, ours, theirs, branch, cseq, self.target, i)
                        self.aimed += 1
                    else:  # blind: junk, truncated, huge
                        data = rng.choice([rng.randbytes(rng.randint(1, 1400)),
                                           b"INVITE sip:x SIP/2.0\r\nVia:", b"\r\n" * 700])
                    with contextlib.suppress(OSError):  # a full socket buffer: next one
                        s.sendto(data, self.target)
                    self.sent += 1
                time.sleep(0.01)


class AttackerProcess:
    """The attacker in a process of its own, as a real one is: in the test's or the
    benchmark's process its Python would take the GIL from the reactor it attacks, and
    starve the calls for a reason no trunk has. `stop()` ends it and reads its counts."""

    def __init__(self, url: str, target: tuple[str, int], rate: float,
                 limit: int | None = None) -> None:
        self.args = [sys.executable, "-m", "tests.attacker", url, target[0], str(target[1]),
                     str(rate), str(limit or 0)]
        self.process: subprocess.Popen[str] | None = None
        self.sent = self.aimed = 0

    def start(self) -> None:
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        counts = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        self.sent, self.aimed = int(counts.get("sent", 0)), int(counts.get("aimed", 0))


def main() -> None:
    from store.db import make_engine

    url, host, port, rate, limit = sys.argv[1:6]
    attacker = Attacker(make_engine(url), (host, int(port)), float(rate), int(limit) or None)
    signal.signal(signal.SIGTERM, lambda *_: attacker.stopping.set())
    attacker.start()
    while attacker.is_alive() and not attacker.stopping.is_set():
        attacker.join(0.2)
    attacker.stopping.set()
    attacker.join(5)
    print(json.dumps({"sent": attacker.sent, "aimed": attacker.aimed}), flush=True)


if __name__ == "__main__":
    main()
