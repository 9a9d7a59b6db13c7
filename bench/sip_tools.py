"""Debian's SIP attack tools against the service's SIP port, in rounds until stopped: the
half of issue 21's attack run that was not hand-written. Each round runs, each bounded by
`timeout`: sipvicious's `svmap` (OPTIONS and INVITE scans), `svwar` (extension
enumeration by REGISTER, INVITE and OPTIONS) and `sipsak` (a flood of OPTIONS, and its
random mode, which sends a request with characters trashed until no answer comes).
Loopback only: the target is the service's own address. sipvicious scans from 127.0.0.2,
a host the service never called (a stranger on the Internet); sipsak cannot choose its
address and comes from 127.0.0.1, the callees' host (an attacker inside the trunk's
network)."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections import Counter

TOOLS = ("svmap", "svwar", "sipsak")
FLOOD = 2000  # OPTIONS per sipsak flood
EACH_S = 20  # at most this long per tool run


def available() -> list[str]:
    """The tools missing from this machine (empty: all there)."""
    return [t for t in TOOLS if shutil.which(t) is None]


STRANGER = "127.0.0.2"


def commands(host: str, port: int) -> list[tuple[str, list[str]]]:
    uri = f"sip:100@{host}:{port}"
    scan = ["-p", str(port), "-b", STRANGER]
    return [
        ("svmap OPTIONS", ["svmap", *scan, host]),
        ("svmap INVITE", ["svmap", *scan, "-m", "INVITE", host]),
        ("svwar REGISTER", ["svwar", *scan, "-e", "100-999", "--force", host]),
        ("svwar INVITE", ["svwar", *scan, "-e", "100-999", "-m", "INVITE", "--force", host]),
        ("svwar OPTIONS", ["svwar", *scan, "-e", "100-999", "-m", "OPTIONS", "--force",
                           host]),
        ("sipsak flood", ["sipsak", "-F", "-e", str(FLOOD), "-s", uri]),
        ("sipsak random", ["sipsak", "-R", "-t", "100", "-s", uri]),
    ]


class SipToolsAttack(threading.Thread):
    """Runs `commands` round after round until `stop`; `runs` counts each tool's runs,
    `failed` those that could not start or ran out of their time."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(daemon=True, name="sip-tools")
        self.target = (host, port)
        self.runs: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.flooded = 0
        self.said: dict[str, str] = {}  # each tool's last output, its last 300 characters
        self._halt = threading.Event()
        self._current: subprocess.Popen[bytes] | None = None

    def run(self) -> None:
        while not self._halt.is_set():
            for name, argv in commands(*self.target):
                if self._halt.is_set():
                    return
                try:
                    self._current = subprocess.Popen(
                        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL)
                    output, _ = self._current.communicate(timeout=EACH_S)
                    self.said[name] = " ".join(output.decode(errors="replace").split())[-300:]
                except subprocess.TimeoutExpired:
                    self._current.kill()
                    self._current.communicate()
                    self.failed[name] += 1
                    continue
                except OSError:
                    self.failed[name] += 1
                    continue
                self.runs[name] += 1
                if name == "sipsak flood":
                    self.flooded += FLOOD

    def stop(self) -> dict[str, object]:
        self._halt.set()
        if self._current is not None and self._current.poll() is None:
            self._current.kill()
        self.join(EACH_S + 5)
        return {"runs": dict(self.runs), "timed_out_or_failed": dict(self.failed),
                "flood_requests": self.flooded, "last_output": self.said}
