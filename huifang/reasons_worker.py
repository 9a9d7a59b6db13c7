"""The reasons engine's child process (`huifang.reasons_engine.ProcessTranscriber`):
`python -m huifang.reasons_worker FD`, FD its end of the socket pair."""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

from huifang.reasons_engine import serve

if __name__ == "__main__":  # pragma: no cover - in the child
    serve(Connection(int(sys.argv[1])))
