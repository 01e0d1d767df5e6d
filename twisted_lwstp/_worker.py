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

A real worker thread runs under Linux's C{SCHED_BATCH} policy unless its
pool says otherwise (L{schedule_as_batch}): a worker that the reactor
thread wakes (a C{task_sync}, new work) then waits for the reactor thread
to block instead of preempting it, which on a shared CPU would only find
the GIL held and hand the CPU straight back.  Two context switches per
SYNC round trip instead of about six (docs/benchmarks/eager.md).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Protocol

from twisted.logger import Logger

_log = Logger(namespace="twisted_lwstp")

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


def schedule_as_batch() -> OSError | None:
    """
    Put the calling thread under C{SCHED_BATCH}, at its nice value: the
    kernel then never lets it preempt the running thread when it is woken,
    and otherwise shares the CPU with it as before.  Threads and processes
    it starts inherit the policy, as they inherit a nice value.

    @return: None if done or where the policy does not exist (not Linux),
        or the error that refused it (a sandbox's seccomp rules, say); the
        thread then keeps the policy it had.
    """
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is None:  # pragma: no cover - not Linux
        return None
    try:
        os.sched_setscheduler(0, policy, os.sched_param(0))
    except OSError as e:
        return e
    return None


#: Whether a refused SCHED_BATCH was logged (once per process).  Written by
#: worker threads; a race costs one more log line, never a lost one.
_refusal_logged = False


def drive(steps: Iterator[object], wake: threading.Lock, batch: bool = False) -> None:
    """
    Run a worker's steps to the end on the current thread, under
    C{SCHED_BATCH} first if C{batch} (L{schedule_as_batch}).
    """
    if batch:
        error = schedule_as_batch()
        global _refusal_logged
        if error is not None and not _refusal_logged:
            _refusal_logged = True
            _log.warn("Worker threads keep their scheduling policy: SCHED_BATCH was "
                      "refused ({error}); waking a worker may preempt the reactor thread",
                      error=error)
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
    @param batch: Whether each thread puts itself under C{SCHED_BATCH}
        when it starts (L{schedule_as_batch}).
    """

    def __init__(self, factory: Callable[..., threading.Thread] | None = None,
                 batch: bool = True) -> None:
        # Both set once.
        self._factory = factory if factory is not None else threading.Thread
        self.batch = batch

    def start_worker(
        self, name: str, steps: Iterator[object], wake: threading.Lock
    ) -> WorkerHandle:
        thread = self._factory(target=drive, args=(steps, wake, self.batch), name=name)
        thread.daemon = True
        _started.add(thread)
        thread.start()
        return thread
