# -*- test-case-name: tests.test_executor -*-
"""
L{PoolExecutor}: a C{concurrent.futures} executor whose work runs on a
twisted_lwstp pool, so that code written for executors (asyncio's
C{run_in_executor} and C{to_thread}, C{loop.getaddrinfo}, libraries that
take an executor) shares the pool, its bound and its diagnostics with
Twisted's thread calls.

It is a C{ThreadPoolExecutor} subclass because asyncio's
C{set_default_executor} takes nothing else; it starts no thread of its
own.  Each submission is handed to the pool as C{callInThread} work: never
refused for a full queue, counted by C{diagnose()} and the metrics, run by
the pool's named workers, in the context of the thread that submitted it.

Runs in: C{submit}, C{map} and C{shutdown} in any thread; the work in the
pool's workers; the reactor's shutdown trigger in the reactor thread.
State: C{_closed} and C{_outstanding} under C{_lock} (this executor's own
lock, which C{_idle} waits on); C{_trigger} is the reactor thread's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ._pool import ThreadPool

_T = TypeVar("_T")


class PoolExecutor(ThreadPoolExecutor):
    """
    A C{concurrent.futures.ThreadPoolExecutor} that runs its work on a
    twisted_lwstp L{ThreadPool} (either class: C{twisted_lwstp.ThreadPool}
    or C{twisted_lwstp.compat.ThreadPool}).

    C{submit}, C{map} and C{shutdown(wait, cancel_futures)} mean what they
    mean for any executor.  Besides:

     - a future cancelled before a worker takes its work never runs it;
     - submissions are never refused for a full queue (as with
       C{callInThread}); the pool's C{threads} bounds them together with
       every other thread call on the pool;
     - when the pool's reactor stops, this executor shuts down: futures
       still queued are cancelled, not left pending, and later submissions
       raise C{RuntimeError};
     - C{shutdown()} shuts down this executor, never the pool, which goes
       on serving its reactor and other executors;
     - the work runs in a copy of the submitting thread's context
       (C{contextvars}), as C{callInThread} work does.

    Build it in the reactor thread or before the reactor runs.

    @param pool: The pool to run the work on.
    """

    def __init__(self, pool: ThreadPool) -> None:
        if not isinstance(pool, ThreadPool):
            raise TypeError(f"pool must be a twisted_lwstp ThreadPool, not {type(pool).__name__}")
        # The standard executor's own fields (for code that reads
        # _max_workers, say); it never starts a thread of its own here.
        super().__init__(max_workers=max(1, pool.max), thread_name_prefix=pool.name)
        self.pool = pool
        self._lock = threading.Lock()
        # Notified, under _lock, when the last outstanding work is over.
        self._idle = threading.Condition(self._lock)
        # Under _lock: shut down (by shutdown() or the reactor stopping),
        # and the futures whose work has not been over yet (queued, running,
        # or cancelled but not yet met by a worker).
        self._closed = False
        self._outstanding: set[Future[Any]] = set()
        # Reactor thread: the id of the shutdown trigger, while registered.
        self._trigger: Any = None
        pool.reactor.callFromThread(self._watch_reactor)

    def __repr__(self) -> str:
        return f"<PoolExecutor on {self.pool!r}>"

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        """
        Run C{fn(*args, **kwargs)} in a worker of the pool.

        @raise RuntimeError: this executor is shut down, or the pool is
            finishing.
        """
        if not callable(fn):
            raise TypeError(f"fn must be callable, not {type(fn).__name__}")
        pool = self.pool
        future: Future[_T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if pool.finishing:
                raise RuntimeError(
                    f"cannot schedule new futures: pool {pool.name!r} is finishing")
            self._outstanding.add(future)
        pool.callInThreadWithCallback(None, self._run, future, fn, args, kwargs)
        if pool.finishing:
            # A finish() raced this submission: the pool may have dropped
            # the work.  Cancelled, it is never left pending (and if a
            # worker already runs it, cancel() does nothing and the worker
            # forgets it as usual).
            if future.cancel():
                self._forget(future)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """
        Accept no more work; with C{cancel_futures}, cancel the futures
        whose work has not started; with C{wait}, return once every other
        future of this executor is done.  The pool is left as it is.
        """
        with self._lock:
            self._closed = True
            queued = list(self._outstanding) if cancel_futures else []
        for future in queued:
            future.cancel()  # a running one stays running; callbacks run here, unlocked
        self.pool.reactor.callFromThread(self._unwatch_reactor)
        if wait:
            with self._idle:
                self._idle.wait_for(lambda: not self._outstanding)

    def _run(self, future: Future[_T], fn: Callable[..., _T], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> None:
        """
        One submission, in a worker: nothing if its future was cancelled,
        otherwise the call, its result or exception given to the future;
        then it is forgotten.
        """
        try:
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as e:
                    future.set_exception(e)
                else:
                    future.set_result(result)
        finally:
            self._forget(future)

    def _forget(self, future: Future[Any]) -> None:
        # Any thread: the work of a future is over (ran, raised, or was met
        # cancelled), or will never come (a submission that raced finish()).
        with self._lock:
            self._outstanding.discard(future)
            if not self._outstanding:
                self._idle.notify_all()

    # -- the reactor's shutdown (reactor thread) -----------------------

    def _watch_reactor(self) -> None:
        with self._lock:
            closed = self._closed
        if not closed and self._trigger is None:
            self._trigger = self.pool.reactor.addSystemEventTrigger(
                "before", "shutdown", self._reactor_stopping)

    def _unwatch_reactor(self) -> None:
        trigger, self._trigger = self._trigger, None
        if trigger is not None:
            self.pool.reactor.removeSystemEventTrigger(trigger)

    def _reactor_stopping(self) -> None:
        self._trigger = None  # fired: nothing to remove
        self.shutdown(wait=False, cancel_futures=True)
