# -*- test-case-name: tests.test_pool,tests.test_pool_resize,tests.test_pool_threads -*-
"""
L{PoolSurface}: the half of L{twisted_lwstp.ThreadPool}'s public API that
steers the pool as a whole: its life (C{start}, C{finish}, C{destroy},
Twisted's C{stop}), its size (C{min}, C{max}, C{adjustPoolsize}), its
figures (C{snapshot}, C{diagnose}, C{dump}, the reap hook), and Twisted's
C{callInThread} family.  The task and owner API is the other half, in
L{twisted_lwstp._pool}, whose C{ThreadPool} is this class's one subclass.

Runs in: the reactor thread, but for C{snapshot}, C{diagnose},
C{adjustPoolsize} and C{callInThread*}, which any thread may call.
Owner of: the Twisted flags C{started} and C{joined} and the shutdown
trigger (reactor thread); the objects it is given are set once, by its
constructor.  It holds no state of the pool: every call goes to the
pool's objects (L{PoolState}, L{ReactorSide}, L{PoolLife}).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python import threadable

from ._calls import CallInThread
from ._checks import check_int
from ._diagnostics import Diagnosis, PoolSnapshot, dump_text
from ._life import PoolLife
from ._reactorside import ReactorSide, ReapHook
from ._state import PoolState
from ._task import TaskInfo

_log = Logger(namespace="twisted_lwstp")


class PoolSurface:
    """
    A pool's life, size, figures and Twisted's C{callInThread} family.

    @param reactor: The reactor whose thread owns the pool.
    @param clock: Returns the time.
    """

    #: Twisted C{ThreadPool} compatibility flags (reactor thread only).
    started = False
    joined = False

    def __init__(self, reactor: Any, clock: Callable[[], float], state: PoolState,
                 reactor_side: ReactorSide, life: PoolLife) -> None:
        # All set once.  (Never calls super().__init__: under
        # twisted_lwstp.compat, the next class is Twisted's own pool,
        # whose constructor must not run.)
        self._reactor: Any = reactor  # IReactorTime, IReactorCore, IReactorThreads
        self._reactor_ident = threadable.ioThread or threading.get_ident()
        self._clock = clock
        self._state = state
        self._reactor_side = reactor_side
        self._life = life
        # Reactor thread only.
        self._shutdown_trigger: Any = None

    def _in_reactor(self, what: str) -> None:
        if threading.get_ident() != self._reactor_ident:
            name = what if "." in what else f"ThreadPool.{what}"
            raise RuntimeError(
                f"{name}() must be called in the reactor thread, "
                f"not in {threading.current_thread().name!r}"
            )

    @property
    def min(self) -> int:
        """Twisted's C{min}: workers kept once started."""
        return self._state.min_threads

    @property
    def max(self) -> int:
        """Twisted's C{max}: the most workers (the same as C{threads})."""
        return self._state.max_threads

    @property
    def reactor(self) -> Any:
        """The reactor whose thread owns the pool (set once)."""
        return self._reactor

    @property
    def finishing(self) -> bool:
        """Whether L{finish} was called: nothing new is accepted."""
        return self._state.finishing

    @property
    def reap_hook(self) -> ReapHook | None:
        """
        Called in the reactor thread with each task as it is reaped, after
        its cleanup and before its Deferreds fire (L{twisted_lwstp.metrics}
        sets it), or None.  Set it in the reactor thread.
        """
        return self._reactor_side.reap_hook

    @reap_hook.setter
    def reap_hook(self, hook: ReapHook | None) -> None:
        if hook is not None and not callable(hook):
            raise TypeError(f"reap_hook must be callable or None, not {type(hook).__name__}")
        self._reactor_side.set_reap_hook(hook)

    def snapshot(self) -> PoolSnapshot:
        """
        Every figure of the pool (see L{PoolSnapshot}); the shared ones read
        in one critical section.  Safe from any thread.
        """
        f = self._state.figures()
        r = self._reactor_side
        return PoolSnapshot(
            self._state.name, *f, r.reaped, r.enqueued, r.refused_full,
            r.refused_finishing, r.finished, r.failed, r.deadlines.expired, r.drains,
            r.events, len(r.owners), r.owners.paused_count(), r.hand_over.batches,
            r.hand_over.delivered,
        )

    def diagnose(self) -> Diagnosis:
        """
        How many tasks run, threads live, tasks wait and tasks are done but
        not reaped (model rule 10).  Safe from any thread.
        """
        return self.snapshot().diagnosis()

    def dump_tasks(self) -> list[TaskInfo]:
        """
        Per task, its name, state and where its time went (rule 10), in
        enqueue order.
        """
        self._in_reactor("dump_tasks")
        now = self._clock()
        return [task._info(now) for task in self._reactor_side.live_tasks()]

    def dump(self) -> str:
        """
        L{dump_tasks} and L{diagnose} as text, also emitted as a
        C{twisted.logger} event.
        """
        diag = self.diagnose()
        text = dump_text(self._state.name, diag, self.dump_tasks())
        _log.info("{dump}", dump=text, pool=self._state.name, diagnosis=diag)
        return text

    # ------------------------------------------------------------------
    # Life (model rules 9 and 14) and Twisted's pool surface

    def start(self) -> None:
        """
        Start the worker threads; work enqueued before starts now.
        Call it once, in the reactor thread.
        """
        self._in_reactor("start")
        if self.started:
            raise RuntimeError(f"{self!r} is already started")
        if self._state.finishing:
            raise RuntimeError(f"{self!r} is finishing and cannot start")
        self.started = True
        self._life.start()
        self._shutdown_trigger = self._reactor.addSystemEventTrigger(
            "during", "shutdown", self._reactor_shutdown)
        self._reactor_side.when_destroyed().addCallback(self._forget_trigger)

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
        self._life.finish()

    def destroy(self) -> Deferred[None]:
        """
        Finish the pool, wait for every worker to exit without blocking the
        reactor, then reap everything left.  The Deferred fires when that is
        all done.
        """
        self._in_reactor("destroy")
        return self._life.destroy()

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
        self._life.stop(timeout)

    def _reactor_shutdown(self) -> None:
        self._shutdown_trigger = None
        if not self._reactor_side.destroyed:
            self.stop(timeout=10.0)

    def _forget_trigger(self, _: None) -> None:
        trigger, self._shutdown_trigger = self._shutdown_trigger, None
        if trigger is not None:
            self._reactor.removeSystemEventTrigger(trigger)

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
        low = self.min if minthreads is None else check_int("minthreads", minthreads, 0)
        high = self.max if maxthreads is None else check_int("maxthreads", maxthreads, 0)
        if low > high:
            raise ValueError(f"minthreads ({low}) must be <= maxthreads ({high})")
        self._life.resize(low, high)

    def callInThread(self, func: Callable[..., object], *args: Any, **kw: Any) -> None:
        """
        As C{twisted.python.threadpool.ThreadPool.callInThread}.
        """
        self.callInThreadWithCallback(None, func, *args, **kw)

    def callInThreadWithCallback(
        self,
        onResult: Callable[[bool, Any], object] | None,
        func: Callable[..., Any],
        *args: Any,
        **kw: Any,
    ) -> None:
        """
        As C{twisted.python.threadpool.ThreadPool.callInThreadWithCallback}:
        run C{func} in a worker and call C{onResult(True, result)} or
        C{onResult(False, failure)} there.  Never refused for lack of room;
        dropped (with a log event) once the pool is stopping.  Safe from any
        thread.
        """
        if not callable(func):
            raise TypeError(f"func must be callable, not {type(func).__name__}")
        accepted, hired = self._state.admit_call(CallInThread(onResult, func, args, kw))
        if hired is not None:
            self._life.start_workers(hired)
        if not accepted:
            _log.warn("Pool {pool} is stopping: dropped {func!r}", pool=self._state.name,
                      func=func)
