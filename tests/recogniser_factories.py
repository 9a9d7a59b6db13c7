"""Engine factories for recogniser worker processes in tests: picklable, so that a spawned
worker builds them (`huifang.recognition_processes`). The real engine comes through
`SettingsEngine`, as in the service; these are the misbehaving engines a test needs."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ivr.recognition import Grammar, Hypothesis


class _Stuck:
    """A recogniser that never returns from `hang_in` ("feed" or "finish")."""

    def __init__(self, hang_in: str) -> None:
        self.hang_in = hang_in

    def reset(self, grammar: Grammar) -> None:
        pass

    def feed(self, pcm: bytes) -> Hypothesis | None:
        if self.hang_in == "feed":
            threading.Event().wait()
        return None

    def finish(self) -> Hypothesis:
        if self.hang_in == "finish":
            threading.Event().wait()
        return Hypothesis("", 0.0, True)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class StuckEngine:
    """An engine whose decoding hangs for good: the worker stops answering."""

    hang_in: str = "finish"
    name: str = "stuck"
    rival_margin: float = 0.0
    free_form: bool = False

    def recogniser(self, grammar: Grammar) -> _Stuck:
        return _Stuck(self.hang_in)

    def transcribe(self, pcm: bytes) -> str | None:
        return None


@dataclass(frozen=True)
class StuckFactory:
    hang_in: str = "finish"

    def __call__(self) -> StuckEngine:
        return StuckEngine(self.hang_in)


@dataclass(frozen=True)
class NoModelFactory:
    """A model that cannot load, as a missing directory fails."""

    def __call__(self) -> StuckEngine:
        raise OSError("no acoustic model at /nowhere/zh-8k")
