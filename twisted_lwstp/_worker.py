# -*- test-case-name: tests.test_worker -*-
"""
How worker threads are started and driven.

The pool writes each worker's life as a generator of I{steps}: it yields
the task after every call of a task function, L{STEP} after other work,
L{SyncWait} after a call that returned SYNC, and L{BLOCK} where the worker
must wait on its wake lock (idle, or a task blocked in SYNC).  Keeping the
logic in a generator lets the same code run on a real thread, driven by
L{ThreadRunner}, or one step at a time in a test, driven by
L{twisted_lwstp.testing}.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Protocol

#: Yielded by a worker's steps after each call of a task function.
STEP = False
#: Yielded when the worker must wait until its wake lock is released.
BLOCK = True


class SyncWait:
    """
    Yielded after a call of C{task} that returned SYNC: the worker must wait
    on its wake lock, as for L{BLOCK}.  One per worker, reused.
    """

    __slots__ = ("task",)

    def __init__(self) -> None:
        self.task: object = None


class WorkerHandle(Protocol):
    """
    What the pool keeps of a started worker.
    """

    def join(self, timeout: float | None = None) -> None:
        """
        Wait until the worker has ended.
        """

    def is_alive(self) -> bool:
        """
        Whether the worker has not ended yet.
        """


class WorkerRunner(Protocol):
    """
    Starts workers: real threads in production, steppable fakes in tests.
    """

    def start_worker(
        self, name: str, steps: Iterator[object], wake: threading.Lock
    ) -> WorkerHandle:
        """
        Start running C{steps}; on each L{BLOCK}, wait until C{wake} (held
        by the worker while it runs) is released.
        """


def drive(steps: Iterator[object], wake: threading.Lock) -> None:
    """
    Run a worker's steps to the end on the current thread.
    """
    acquire = wake.acquire
    for signal in steps:
        if signal is BLOCK or signal.__class__ is SyncWait:
            acquire()


#: Every worker thread a L{ThreadRunner} started that is still referenced.
#: Owner: added to by the thread that starts a pool (the reactor thread);
#: L{live_worker_threads} reads a copy, for leak checks.
_started: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def live_worker_threads() -> list[threading.Thread]:
    """
    Worker threads of any pool that are still alive, for leak checks.
    """
    return [t for t in list(_started) if t.is_alive()]


class ThreadRunner:
    """
    Runs each worker on its own daemon thread, named as the pool asks.

    @param factory: Makes the thread (called with C{target}, C{args} and
        C{name}, as C{threading.Thread} is); read at each start, so that a
        pool's C{threadFactory} may be changed at any time, as with
        Twisted's pool.
    """

    def __init__(self, factory: Callable[..., threading.Thread] | None = None) -> None:
        self._factory = factory if factory is not None else threading.Thread

    def start_worker(
        self, name: str, steps: Iterator[object], wake: threading.Lock
    ) -> WorkerHandle:
        thread = self._factory(target=drive, args=(steps, wake), name=name)
        thread.daemon = True
        _started.add(thread)
        thread.start()
        return thread
