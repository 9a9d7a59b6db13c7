"""A separate process that receives RTP on one port and reports, per stream (SSRC), the
intervals between packets: what the callee hears of the caller's pacing."""

from __future__ import annotations

import json
import socket
import struct
import sys
import time


def main(port: int, seconds: float, out: str) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 2**20)
    s.bind(("127.0.0.1", port))
    s.settimeout(0.5)
    arrivals: dict[int, list[float]] = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data = s.recv(2048)
        except TimeoutError:
            continue
        if len(data) >= 12:
            ssrc = struct.unpack("!I", data[8:12])[0]
            arrivals.setdefault(ssrc, []).append(time.monotonic())
    with open(out, "w", encoding="utf-8") as f:
        json.dump({str(k): v for k, v in arrivals.items()}, f)


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3])
