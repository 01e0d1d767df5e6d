# -*- test-case-name: tests.test_compat -*-
"""
L{ThreadPool}: Twisted's C{twisted.python.threadpool.ThreadPool}, attribute
for attribute, on the twisted_lwstp engine.  It is the pool of the lwstp
reactors and of L{twisted_lwstp.install_pool}, so a program that reads
Twisted's figures (C{working}, C{waiters}, C{q.qsize()}, C{threads}) runs
unchanged under C{--reactor=lwstp}.

One word means two things in the two APIs, and each class keeps its own:

 - L{twisted_lwstp.ThreadPool} speaks lws: C{threads} is the most workers
   (an int), as its constructor's first argument.
 - this class speaks Twisted: C{threads} is the list of live workers'
   C{threading.Thread} objects.

C{max} is the most workers on both, and C{min} the workers kept.

Every figure is read from the engine's own state, through one
C{snapshot()} taken under the pool lock, so the figures read together in
one call are consistent with each other; they are not a second copy kept
beside it.  Logs and metrics name the pool by its engine name
(C{snapshot().name}, C{PoolThread-<id>} without a name), never Twisted's
C{None}.

Runs in: the properties, C{callInThread*}, C{adjustPoolsize},
C{startAWorker} and C{stopAWorker} in any thread (each goes through the
pool's state, which takes the lock); C{start} and C{stop} in the reactor thread, as the rest
of the pool's life.  Owns no state of its own but C{threadFactory} (set by
the user before work starts) and C{_hook_team}, the team of Twisted's
testing hook C{_pool} (set once).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool as _TwistedThreadPool

from . import _internals
from ._checks import check_int
from ._pool import ThreadPool as _LwsThreadPool
from ._worker import ThreadRunner

__all__ = ["ThreadPool"]


class _State(TypedDict):
    min: int
    max: int
    name: str | None


class _Backlog:
    """
    Twisted's C{ThreadPool.q}: an object whose C{qsize()} is the work not
    yet given to a worker (lws tasks and calls alike).
    """

    __slots__ = ("_pool",)

    def __init__(self, pool: ThreadPool) -> None:
        self._pool = pool

    def qsize(self) -> int:
        pool = self._pool
        if pool._hook_team is not None:
            return int(pool._hook_team.statistics().backloggedWorkCount)
        return pool.snapshot().queued


class ThreadPool(_LwsThreadPool, _TwistedThreadPool):  # type: ignore[override]
    """
    Twisted's C{ThreadPool} on the twisted_lwstp engine: Twisted's
    constructor, attributes and methods, with Twisted's types and meaning,
    and the lws task API (C{enqueue}, C{task_sync}, C{task_status},
    C{diagnose}, ...) as well.  It is a subclass of Twisted's class, so
    C{isinstance} checks for Twisted's pool pass (Twisted's own suite makes
    one); every attribute Twisted's class has is defined here, on the
    engine, and Twisted's constructor is never run.

    Workers start on demand, up to C{max}; C{min} are started by C{start()}
    and kept.  C{callInThread} work is never refused for lack of room (as
    with Twisted's pool); lws tasks wait at most C{max_queue_depth}.

    @param minthreads: Workers started by C{start()} and kept (C{min}).
    @param maxthreads: The most workers (C{max}).
    @param name: The pool's name (Twisted's C{name}, which may be None);
        workers are named C{<name>-<n>}, or C{PoolThread-<id>-<n>} without.
    @param reactor: The reactor whose thread owns the pool (default: the
        global one, which this imports: install a reactor of your choice
        before building a pool).
    @param max_queue_depth: How many lws tasks may wait for a worker.
    @param sync_timeout: Seconds an lws task may stay blocked in SYNC.
    @param batch_workers: Run the workers under Linux's C{SCHED_BATCH}, as
        the engine's pool does by default (see L{twisted_lwstp.ThreadPool}).

    @ivar threadFactory: Makes each worker's thread, as in Twisted's pool
        (called with C{target}, C{args} and C{name}; the thread is made a
        daemon before it starts).
    """

    threadFactory: type[threading.Thread] = threading.Thread
    #: Deprecated in Twisted 22.1 (use C{threading.current_thread}); kept,
    #: with Twisted's own deprecation warning.
    currentThread = _TwistedThreadPool.__dict__["currentThread"]
    #: Twisted's name (None unless given); set by the constructor.
    name: str | None = None  # type: ignore[assignment]
    #: Twisted's private testing hook: a subclass may set it to a factory
    #: C{(currentLimit, threadFactory) -> twisted._threads.Team}, and the
    #: pool's C{callInThread} work then goes to that team instead of the
    #: engine (Twisted's own C{MemoryBackedTests} do this).  None here.
    _pool: Callable[..., Any] | None = None  # type: ignore[assignment]

    def __init__(
        self,
        minthreads: int = 5,
        maxthreads: int = 20,
        name: str | None = None,
        *,
        reactor: Any = None,
        max_queue_depth: int = 64,
        sync_timeout: float = 300.0,
        batch_workers: bool = True,
    ) -> None:
        low = check_int("minthreads", minthreads, 0)
        high = check_int("maxthreads", maxthreads, 0)
        if low > high:
            raise ValueError(f"minthreads ({low}) must be <= maxthreads ({high})")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, not {type(name).__name__}")
        engine_name = name if name else f"PoolThread-{id(self):x}"
        super().__init__(
            max(1, high), max_queue_depth, engine_name, reactor=reactor,
            sync_timeout=sync_timeout, on_demand=True, min_threads=min(low, max(1, high)),
            runner=ThreadRunner(self._make_thread, batch=bool(batch_workers)),
        )
        if high == 0:
            self.adjustPoolsize(0, 0)
        # Twisted's name: None when none was given.  The engine's own name
        # (snapshot().name, that of the workers) stays what logs and
        # metrics use.
        self.name = name
        # Set once: the team Twisted's testing hook made, or None (see _pool).
        self._hook_team: Any = _internals.testing_team(self, self._team_limit,
                                                       self._make_thread)
        if self._hook_team is not None:
            # Only then: the engine's own path stays a plain method call.
            self.callInThreadWithCallback = self._team_call  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return f"<twisted_lwstp.compat.ThreadPool {self.name!r} min={self.min} max={self.max}>"

    def _make_thread(self, **kwargs: Any) -> threading.Thread:
        return self.threadFactory(**kwargs)

    # -- pickling, as Twisted's: the size and the name -------------------

    def __getstate__(self) -> _State:
        return _State(min=self.min, max=self.max, name=self.name)

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        ThreadPool.__init__(self, state["min"], state["max"], state.get("name"))

    # -- Twisted's figures (any thread) ----------------------------------

    @property
    def threads(self) -> list[threading.Thread]:  # type: ignore[override]
        """
        The live workers' threads (started and not yet joined), oldest
        first.  Twisted's meaning; the lws pool's C{threads} is C{max}.
        """
        return [h for h in self.snapshot().handles if isinstance(h, threading.Thread)]

    @property
    def workers(self) -> int:
        """
        Workers alive, busy or idle, but not those told to exit by a
        shrinking C{adjustPoolsize}.
        """
        if self._hook_team is not None:
            stats = self._hook_team.statistics()
            return int(stats.idleWorkerCount + stats.busyWorkerCount)
        return self.snapshot().workers

    @property
    def working(self) -> list[None]:
        """
        A list as long as the number of busy workers (Twisted's legacy
        form); a task blocked in SYNC keeps its worker busy.
        """
        if self._hook_team is not None:
            return [None] * self._hook_team.statistics().busyWorkerCount
        return [None] * self.snapshot().running

    @property
    def waiters(self) -> list[None]:
        """
        A list as long as the number of idle workers (Twisted's legacy
        form).
        """
        if self._hook_team is not None:
            return [None] * self._hook_team.statistics().idleWorkerCount
        return [None] * self.snapshot().idle

    @property
    def q(self) -> _Backlog:
        """
        The work waiting for a worker: C{q.qsize()}.
        """
        return _Backlog(self)

    #: Twisted's legacy private name for C{q}, mirrored (L{_internals}
    #: checks that Twisted's pool still has it).
    _queue = q

    def dumpStats(self) -> None:
        """
        Log the waiters, the busy workers and the threads, as Twisted's
        pool does (one event each, on C{twisted.python.log}).
        """
        from twisted.python import log

        log.msg(f"waiters: {self.waiters}")
        log.msg(f"workers: {self.working}")
        log.msg(f"total: {self.threads}")

    # -- size --------------------------------------------------------------

    def startAWorker(self) -> None:
        """
        Start one more worker, up to C{max} (Twisted's C{startAWorker}).
        """
        if self._hook_team is not None:
            self._hook_team.grow(1)
            return
        self._life.start_workers(self._state.hire_one(self._clock()))

    def stopAWorker(self) -> None:
        """
        Let one worker go: an idle one now, else a busy one when its work
        ends (Twisted's C{stopAWorker}).
        """
        if self._hook_team is not None:
            self._hook_team.shrink(1)
            return
        self._state.dismiss_one()

    # -- life (reactor thread) ------------------------------------------

    def start(self) -> None:
        """
        Start C{min} workers, and one per piece of work handed over before,
        up to C{max}.
        """
        super().start()
        self.joined = False
        if self._hook_team is not None:
            backlog = self._hook_team.statistics().backloggedWorkCount
            if backlog:
                self._hook_team.grow(backlog)

    def stop(self, timeout: float | None = None) -> None:
        """
        Twisted's blocking C{stop}: work handed over already runs, lws tasks
        are stopped (see L{twisted_lwstp.ThreadPool.stop}), every worker is
        joined.  Afterwards C{started} is False and C{joined} True.
        """
        if self._hook_team is not None:
            self._hook_team.quit()
        super().stop(timeout)
        self.started = False

    # -- Twisted's testing hook ------------------------------------------

    def _team_call(
        self,
        onResult: Callable[[bool, Any], object] | None,
        func: Callable[..., Any],
        *args: Any,
        **kw: Any,
    ) -> None:
        """
        C{callInThreadWithCallback} when a subclass gave a team (C{_pool}):
        the work goes to that team, as in Twisted's pool.
        """
        if self.joined:
            return

        def work() -> None:
            try:
                ok, result = True, func(*args, **kw)
            except BaseException:
                ok, result = False, Failure()
            if onResult is not None:
                onResult(ok, result)

        self._hook_team.do(work)

    def _team_limit(self) -> int:
        return self.max if self.started else 0
