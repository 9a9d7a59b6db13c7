"""Real SIP peers for the call engine's tests, on 127.0.0.1, and a reactor thread."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet import reactor as _reactor
from twisted.internet.threads import blockingCallFromThread

from tests.conftest import need

SCENARIOS = Path(__file__).parent / "sipp"
T = TypeVar("T")
reactor: Any = _reactor
_threads: list[threading.Thread] = []


def start_reactor() -> None:
    """One reactor for the whole test session, in a daemon thread; tests talk to it with
    `on_reactor`."""
    if not _threads:
        thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False},
                                  daemon=True, name="reactor")
        thread.start()
        _threads.append(thread)


def on_reactor(fn: Callable[..., T], *args: Any) -> T:
    start_reactor()
    return blockingCallFromThread(reactor, fn, *args)  # type: ignore[no-any-return]


def free_udp_port(span: int = 1) -> int:
    """A UDP port (and `span - 1` above it) free on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + span < 65535 and all(_free(port + i) for i in range(1, span)):
            return port
    raise RuntimeError("no free UDP port range on 127.0.0.1")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def sipp(scenario: str, *extra: str, timeout_s: int = 60, port: int | None = None
         ) -> Iterator[tuple[int, Any]]:
    """A sipp callee running `tests/sipp/<scenario>.xml` for one call; yields its SIP port
    and the process. Its exit status says whether the scenario ran to its end."""
    need(shutil.which("sipp") is not None, "sipp (Debian sip-tester) not installed")
    port = port or free_udp_port()
    media = free_udp_port(span=4)
    process = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / f"{scenario}.xml"), "-i", "127.0.0.1",
         "-p", str(port), "-mi", "127.0.0.1", "-mp", str(media), "-m", "1", "-nostdin",
         "-timeout", f"{timeout_s}s", "-timeout_error", "-cp", str(free_udp_port()), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield port, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
