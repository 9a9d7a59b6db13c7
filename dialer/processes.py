"""Which process this is, and whether another one on this host is still alive: a pid
and the time the system says it started (Linux: field 22 of /proc/<pid>/stat, in clock
ticks since boot), since a pid can be reused by an unrelated process after a crash."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from store.campaign import Process

PROC = Path("/proc")


def start_of(pid: int, proc: Path = PROC) -> str | None:
    """The start time of `pid` as /proc gives it; None where there is no /proc or no such
    process."""
    try:
        stat = (proc / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: after the last )
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def this_process() -> Process:
    pid = os.getpid()
    return Process(socket.gethostname(), pid, start_of(pid))


def alive(pid: int, start: str | None, proc: Path = PROC) -> bool:
    """Whether the process that was `pid`, started at `start`, is still running here."""
    if pid == os.getpid():
        return start is None or start == start_of(pid, proc)
    if proc.is_dir() and start is not None:
        return start_of(pid, proc) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
