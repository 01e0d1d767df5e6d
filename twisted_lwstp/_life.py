# -*- test-case-name: tests.test_pool,tests.test_pool_resize,tests.test_service -*-
"""
The pool's life: starting its workers, finishing, destroying, Twisted's
blocking C{stop}, and its size (model rule 14: C{adjustPoolsize},
C{min}, C{max}).

Runs in: the reactor thread (C{start}, C{finish}, C{destroy}, C{stop} check
that first), except C{adjustPoolsize}, which any thread may call, as with
Twisted's pool.  Transitions are made under the pool lock, marked
C{# LOCK}; a worker's thread is started after the lock is released, by the
thread that hired it.  Owns the Twisted compatibility flags C{started} and
C{joined} (reactor thread).
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from ._checks import check_int
from ._core import DONE_EVENT, Worker
from ._diagnostics import Diagnostics
from ._task import Task
from ._worker import WorkerRunner

_log = Logger(namespace="twisted_lwstp")


class PoolLife(Diagnostics):
    """
    Start, finish, destroy, stop.
    """

    # Twisted ThreadPool compatibility attributes (reactor thread only).
    started = False
    joined = False
    # Set once by the constructor: starts the workers' threads.
    _runner: WorkerRunner

    def _start_workers(self, hired: list[Worker]) -> None:
        """
        Start the threads of workers just hired (any thread, no lock held).
        A thread that cannot start is logged and its hire undone: work it
        was handed goes back to the head of the queue, so nothing is lost.
        """
        for worker in hired:
            try:
                worker.handle = self._runner.start_worker(
                    worker.name, self._work(worker), worker.wake
                )
            except Exception:
                _log.failure("Pool {pool} could not start {worker}", pool=self.name,
                             worker=worker.name)
                with self._lock:  # LOCK (to the end of the block)
                    self._unhire_locked(worker)

    def adjustPoolsize(self, minthreads: int | None = None,
                       maxthreads: int | None = None) -> None:
        """
        As Twisted's C{ThreadPool.adjustPoolsize} (model rule 14): new
        bounds, at any time.  Growing starts queued work at once, oldest
        first; shrinking never interrupts work: idle workers beyond the
        new most exit now, busy ones when their current task or call ends.
        Admission always uses the current most.  Safe from any thread.

        @raise ValueError: C{minthreads} > C{maxthreads}, or either < 0.
        """
        low = self._min_threads if minthreads is None else check_int("minthreads", minthreads, 0)
        high = self._nthreads if maxthreads is None else check_int("maxthreads", maxthreads, 0)
        if low > high:
            raise ValueError(f"minthreads ({low}) must be <= maxthreads ({high})")
        now = self._clock()
        with self._lock:  # LOCK (to the end of the block)
            self._resize_locked(low, high)
            hired = self._hires_locked(now)
        self._start_workers(hired)

    @property
    def min(self) -> int:
        """Twisted's C{min}: workers kept once started."""
        return self._min_threads

    @property
    def max(self) -> int:
        """Twisted's C{max}: the most workers (the same as C{threads})."""
        return self._nthreads

    def start(self) -> None:
        """
        Start the worker threads; work enqueued before starts now.
        Call it once, in the reactor thread.
        """
        self._in_reactor("start")
        if self.started:
            raise RuntimeError(f"{self!r} is already started")
        if self._finishing:
            raise RuntimeError(f"{self!r} is finishing and cannot start")
        self.started = True
        now = self._clock()
        with self._lock:  # LOCK (to the end of the block)
            self._hiring = True
            hired = self._hires_locked(now)
            # _idle is a stack (a worker that just ran is hot): reverse it
            # once so that fresh work goes to worker 0 first.
            self._idle.reverse()
        self._start_workers(hired)
        add_trigger = getattr(self._reactor, "addSystemEventTrigger", None)
        if add_trigger is not None:
            self._shutdown_trigger = add_trigger(
                "during", "shutdown", self._reactor_shutdown
            )

    def finish(self) -> None:
        """
        Accept nothing new; every queued task becomes STOPPED (its owner is
        told so it can reap it); running tasks are told STOPPING at their
        next check-in, and a task blocked in SYNC is released now, told
        STOPPING (its SYNC is its check-in: a paused or idle owner must not
        hold up the shutdown); idle workers exit.  Work handed over through
        C{callInThread} still runs.
        """
        self._in_reactor("finish")
        stopped: list[Task] = []
        with self._lock:  # LOCK (to the end of the block)
            if self._finishing:
                return
            self._finishing = True
            self._hiring = False
            now = self._clock()
            # Walk a snapshot: lws's own finish() loses its place after
            # moving the first queued task; this stops all of them.
            for item in list(self._backlog):
                if isinstance(item, Task):
                    del self._backlog[item]
                    self._queued_tasks -= 1
                    self._end_unrun_locked(item, now)
                    stopped.append(item)
            for worker in self._workers:
                current = worker.current
                if isinstance(current, Task):
                    self._request_stop_locked(current)
            self._wake_idle_locked()
        self._syncing.clear()
        for task in stopped:
            # Its owner is told, so it can reap it (or it reaps itself).
            self._deliver(DONE_EVENT, task)

    def destroy(self) -> Deferred[None]:
        """
        Finish the pool, wait for every worker to exit without blocking the
        reactor, then reap everything left.  The Deferred fires when that is
        all done.
        """
        self._in_reactor("destroy")
        self.finish()
        if self._destroyed:
            return succeed(None)
        d: Deferred[None] = Deferred()
        if self._destroy_waiters is None:
            self._destroy_waiters = []
        self._destroy_waiters.append(d)
        self._maybe_destroyed()
        return d

    def stop(self, timeout: float | None = None) -> None:
        """
        The blocking shutdown of Twisted's C{ThreadPool.stop}: refuse new
        work, let work already handed over through C{callInThread*} run,
        stop tasks as L{finish} does (which releases tasks blocked in SYNC
        with stop), join the workers, then reap everything left.

        @param timeout: At most this many seconds per worker (None: wait).
        """
        self._in_reactor("stop")
        self.joined = True
        self.finish()
        with self._lock:  # LOCK (to the end of the block)
            workers = list(self._workers)
        for worker in workers:
            if worker.handle is not None:
                worker.handle.join(timeout)
        self._drain()
        self._maybe_destroyed(force=True)

    def _reactor_shutdown(self) -> None:
        self._shutdown_trigger = None
        if not self._destroyed:
            self.stop(timeout=10.0)
