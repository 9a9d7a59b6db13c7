"""The trunk's limits: at most `max_channels` calls at once and at most
`calls_per_second` new calls per second, both from configuration.

`acquire()` returns a Deferred that fires with a Channel when one is free and starting a
call now keeps to the rate (starts are spaced 1/calls_per_second apart); waiters are
served first come, first served. `release()` gives the channel back. `close()` refuses
new work and fails the waiters, for a graceful stop.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

from twisted.internet.defer import Deferred

from dialer.sipudp import DelayedCall, ReactorTime


class PoolClosed(RuntimeError):
    pass


@dataclass(frozen=True)
class Channel:
    number: int
    started_at: float


class ChannelPool:
    def __init__(self, clock: ReactorTime, max_channels: int, calls_per_second: float) -> None:
        if max_channels < 1 or calls_per_second <= 0:
            raise ValueError("a trunk needs at least one channel and a positive call rate")
        self.clock = clock
        self.max_channels = max_channels
        self.spacing = 1.0 / calls_per_second
        self.in_use: set[int] = set()
        self._waiting: deque[Deferred[Channel]] = deque()
        self._next_start = float("-inf")
        self._numbers = itertools.count(1)
        self._timer: DelayedCall | None = None
        self.closed = False
        self.peak = 0

    def acquire(self) -> Deferred[Channel]:
        if self.closed:
            raise PoolClosed("the channel pool is closed: no new calls")
        waiter: Deferred[Channel] = Deferred(self._forget)
        self._waiting.append(waiter)
        self._serve()
        return waiter

    def release(self, channel: Channel) -> None:
        self.in_use.discard(channel.number)
        self._serve()

    def close(self) -> None:
        """No new calls; calls in progress keep their channels until released."""
        self.closed = True
        waiting, self._waiting = self._waiting, deque()
        for waiter in waiting:
            waiter.errback(PoolClosed("the channel pool was closed"))

    def _forget(self, waiter: Deferred[Channel]) -> None:
        if waiter in self._waiting:
            self._waiting.remove(waiter)

    def _serve(self) -> None:
        while self._waiting and len(self.in_use) < self.max_channels:
            now = self.clock.seconds()
            if now < self._next_start:
                if self._timer is None or not self._timer.active():
                    self._timer = self.clock.callLater(self._next_start - now, self._serve)
                return
            waiter = self._waiting.popleft()
            channel = Channel(next(self._numbers), now)
            self.in_use.add(channel.number)
            self.peak = max(self.peak, len(self.in_use))
            self._next_start = now + self.spacing
            waiter.callback(channel)
