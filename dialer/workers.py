"""The process's two bounded thread pools, so that nothing blocking runs on the reactor
thread and nothing starts threads of its own:

- `store`: database work of the campaign and of the web console alike. One thread on
  SQLite (one writer: a page and an answer never contend for the lock), a few on
  PostgreSQL.
- `engines`: blocking work that is not the store's (speech recognition, prompt rendering,
  mailing a bulletin). A
  `concurrent.futures` executor, because the recognition pool (`ivr.pool`) queues its
  per-call work on one.

Both are stopped by `stop()` and by the reactor's shutdown, however it came.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

log = logging.getLogger(__name__)
T = TypeVar("T")


class Workers:
    def __init__(self, reactor: Any, *, single_writer: bool, store_threads: int = 4,
                 engine_threads: int = 2) -> None:
        self.reactor = reactor
        size = 1 if single_writer else max(1, store_threads)
        self.store_pool = ThreadPool(1, size, name="store")
        self.engines = ThreadPoolExecutor(max(1, engine_threads), thread_name_prefix="engine")
        self._stopped = False
        self.store_pool.start()
        reactor.addSystemEventTrigger("during", "shutdown", self.stop)

    def store(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        """Run `fn` on the store pool; the Deferred fires on the reactor thread."""
        return deferToThreadPool(self.reactor, self.store_pool, fn, *args, **kwargs)

    def engine(self, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        """Run `fn` on the engines pool; the Deferred fires on the reactor thread."""
        return self.on_reactor(self.engines.submit(fn, *args))

    def on_reactor(self, future: Future[T]) -> Deferred[T]:
        """A Deferred that fires on the reactor thread when `future` is done."""
        result: Deferred[T] = Deferred()

        def done(f: Future[T]) -> None:
            error = f.exception()
            if error is not None:
                self.reactor.callFromThread(result.errback, error)
            else:
                self.reactor.callFromThread(result.callback, f.result())

        future.add_done_callback(done)
        return result

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.store_pool.started:
            self.store_pool.stop()
        self.engines.shutdown(wait=False, cancel_futures=True)
