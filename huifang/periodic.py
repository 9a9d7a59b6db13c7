"""The plumbing every periodic job of the service shares: a LoopingCall on the injected
clock, a log line if a run fails for good, and a stop that lets the running run end."""

from __future__ import annotations

import logging
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall

log = logging.getLogger(__name__)


class PeriodicJob:
    """Subclasses say what they are (`name`, for the log) and do one run in `_run`;
    a run looks at `stopping` between its steps."""

    name = "periodic job"

    def __init__(self, clock: Any, every_s: float, *, at_start: bool) -> None:
        self.clock, self.every_s, self.at_start = clock, every_s, at_start
        self.loop: LoopingCall | None = None
        self.done: Deferred[Any] | None = None
        self.stopping = False

    def start(self) -> None:
        self.loop = LoopingCall(self._run)
        self.loop.clock = self.clock
        self.done = self.loop.start(self.every_s, now=self.at_start)
        self.done.addErrback(lambda f: log.error("%s stopped: %s", self.name,
                                                 f.getErrorMessage()))

    def stop(self) -> Deferred[Any] | None:
        """No new run starts; the Deferred fires when the one running ended."""
        self.stopping = True
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        return self.done

    def _run(self) -> Any:
        raise NotImplementedError
