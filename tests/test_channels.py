"""The trunk's channel and call-rate limits, with a fake clock."""

from __future__ import annotations

import itertools

import pytest
from twisted.internet.task import Clock

from dialer.channels import Channel, ChannelPool, PoolClosed


def test_channels_and_rate_are_both_kept() -> None:
    clock = Clock()
    pool = ChannelPool(clock, max_channels=3, calls_per_second=2)
    got: list[tuple[float, Channel]] = []
    for _ in range(6):
        pool.acquire().addCallback(lambda c: got.append((clock.seconds(), c)))
    assert [t for t, _ in got] == [0.0]  # one start now, the next 0.5 s later
    clock.advance(0.5)
    clock.advance(0.5)
    assert [t for t, _ in got] == [0.0, 0.5, 1.0] and len(pool.in_use) == 3
    clock.advance(5)
    assert len(got) == 3  # all channels busy: nobody else starts, however long we wait
    pool.release(got[0][1])
    assert len(got) == 4 and got[-1][0] == 6.0
    for _, channel in got[1:]:
        pool.release(channel)
    clock.advance(0.5)
    clock.advance(0.5)
    assert len(got) == 6 and pool.peak == 3
    starts = [t for t, _ in got]
    assert all(b - a >= 0.5 for a, b in itertools.pairwise(starts))


def test_close_refuses_new_calls_and_fails_waiters() -> None:
    clock = Clock()
    pool = ChannelPool(clock, max_channels=1, calls_per_second=10)
    first: list[Channel] = []
    pool.acquire().addCallback(first.append)
    failures: list[object] = []
    pool.acquire().addErrback(failures.append)
    pool.close()
    assert len(failures) == 1 and failures[0].check(PoolClosed)  # type: ignore[attr-defined]
    with pytest.raises(PoolClosed):
        pool.acquire()
    pool.release(first[0])  # the call in progress finishes normally
    assert not pool.in_use


def test_a_cancelled_waiter_gives_up_its_place() -> None:
    clock = Clock()
    pool = ChannelPool(clock, max_channels=1, calls_per_second=10)
    held: list[Channel] = []
    pool.acquire().addCallback(held.append)
    waiter = pool.acquire()
    waiter.addErrback(lambda f: None)
    waiter.cancel()
    later: list[Channel] = []
    pool.acquire().addCallback(later.append)
    pool.release(held[0])
    clock.advance(1)
    assert len(later) == 1
    with pytest.raises(ValueError, match="at least one channel"):
        ChannelPool(clock, 0, 1)
