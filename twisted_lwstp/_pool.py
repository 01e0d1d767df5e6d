# -*- test-case-name: tests.test_pool -*-
"""
L{ThreadPool}: the libwebsockets threadpool, in Twisted's terms.

Every transition of a task is made under the pool lock, in the rooms
listed below (mostly L{twisted_lwstp._core}).  A task's life::

              enqueue
                 |
                 v
              QUEUED ---- stop requested / pool finishing ----> STOPPED
                 | a worker takes it                               ^
                 v                                                 |
       +----> RUNNING ---- returns FINISHED ----> FINISHED         |
       |         |   \\---- returns STOPPED  ------------------------+
       |   returns SYNC                                            |
       |         v                                                 |
       +----- SYNCING  (worker blocked; owner.writable(task) runs  |
       task_sync(stop=False)     in the reactor thread)            |
                 |                                                 |
       task_sync(stop=True), owner gone, sync timeout, finish()    |

Who runs what
=============

A pool is one object composed of rooms, one module each, split by the
thread that runs their code.  Each is a mixin class on the same object, so
that the hot paths reach shared state in one attribute hop, as before the
split:

 - L{twisted_lwstp._core}: the state every thread shares and the
   transitions made under the one pool lock (any thread, lock held).
 - L{twisted_lwstp._worklife}: a worker's life: running a task, the SYNC
   wait, running a C{callInThread} call (worker threads).
 - L{twisted_lwstp._reactorside}: draining the mailbox, delivering to
   owners, reaping, sync timeouts, completing a destroy (reactor thread).
 - L{twisted_lwstp._owners}: the owner registry's API and flow control
   (reactor thread).
 - L{twisted_lwstp._diagnostics}: C{diagnose}, C{dump_tasks}, C{dump}.
 - L{twisted_lwstp._life}: C{start}, C{finish}, C{destroy}, Twisted's
   C{stop} (reactor thread).
 - L{twisted_lwstp._compat}: C{callInThread*} and C{defer_to_thread}.
 - this module: L{ThreadPool}, its constructor and the public task API
   (reactor thread).

Workers reach the reactor only through the mailbox
(L{twisted_lwstp._wakeup}): one C{callFromThread} per batch of events.
Which thread may touch which attribute is written beside each attribute,
in the room that owns it; C{docs/explanation/threading.md} tells the
whole story.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from contextvars import copy_context
from functools import partial
from typing import Any

from ._checks import check_int, function_name
from ._compat import TwistedPoolFacade
from ._core import _QUEUED
from ._debugpool import debug_pool, pool_debug
from ._errors import PoolFinished, QueueFull
from ._interfaces import ITaskOwner
from ._reactorside import OwnerState
from ._status import TaskStatus
from ._task import Cleanup, Task, TaskFunction
from ._worker import ThreadRunner, WorkerRunner

#: Numbers for unnamed pools (C{next()} on it is atomic in CPython).
_unnamed_pools = itertools.count(1)


class ThreadPool(TwistedPoolFacade):
    """
    A pool of worker threads running tasks bound to owners, in the manner of
    libwebsockets' threadpool.  See the rules of
    C{docs/explanation/model.md} and the module docstring.

    @param threads: How many worker threads (an int >= 1).
    @param max_queue_depth: How many tasks may wait for a thread (>= 0);
        a task that finds an idle worker never waits.
    @param name: The pool's name; workers are named C{<name>-<n>}.  Without
        it, the pool is C{lwstp-pool-<k>}, C{k} counting pools from 1, so
        that no two unnamed pools of a process share a name.
    @param reactor: The reactor whose thread owns the pool.  Without it,
        the global C{twisted.internet.reactor} is imported, which installs
        Twisted's default reactor if none is installed yet: install the
        reactor you want (C{twisted_lwstp.reactor.install()}, say) first, or
        a later install raises C{ReactorAlreadyInstalledError}.
    @param sync_timeout: Seconds a task may stay blocked in SYNC before it
        is stopped.
    @param clock: Returns the current time in seconds; defaults to the
        reactor's C{seconds}.  Called from worker threads too.
    @param runner: Starts the workers; defaults to real threads.
    @param on_demand: Start workers as work arrives (as Twisted's pool
        does) instead of all at C{start()}; C{threads} stays the most.
    @param min_threads: Workers started by C{start()} and kept; defaults
        to C{threads}, or to 0 for an on-demand pool.
    """

    def __init__(
        self,
        threads: int,
        max_queue_depth: int,
        name: str | None = None,
        *,
        reactor: Any = None,
        sync_timeout: float = 300.0,
        clock: Callable[[], float] | None = None,
        runner: WorkerRunner | None = None,
        on_demand: bool = False,
        min_threads: int | None = None,
    ) -> None:
        nthreads = check_int("threads", threads, 1)
        if min_threads is None:
            low = 0 if on_demand else nthreads
        else:
            low = check_int("min_threads", min_threads, 0)
            if low > nthreads:
                raise ValueError(f"min_threads ({low}) must be <= threads ({nthreads})")
        depth = check_int("max_queue_depth", max_queue_depth, 0)
        if name is None:
            name = f"lwstp-pool-{next(_unnamed_pools)}"
        elif not isinstance(name, str):
            raise TypeError(f"name must be a non-empty str or None, got {name!r}")
        if not name:
            raise ValueError("name must be a non-empty str, got ''")
        if isinstance(sync_timeout, bool) or not isinstance(sync_timeout, (int, float)):
            raise TypeError(
                f"sync_timeout must be a number, not {type(sync_timeout).__name__}"
            )
        if not (sync_timeout > 0 and math.isfinite(sync_timeout)):
            raise ValueError(f"sync_timeout must be > 0 and finite, got {sync_timeout}")
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        if clock is not None and not callable(clock):
            raise TypeError("clock must be callable")
        self._init_core(name, nthreads, low, bool(on_demand), depth,
                        clock if clock is not None else reactor.seconds)
        self._init_worklife(partial(reactor.callFromThread, self._drain))
        self._init_reactor_side(reactor, float(sync_timeout))
        # Set once.
        self._runner: WorkerRunner = runner if runner is not None else ThreadRunner()
        # Reactor thread only.
        self._task_counter = 0
        # Debug mode (LWSTP_DEBUG): wrappers chosen now, set on this pool
        # itself, so that a pool without it runs none of its code.
        debug = pool_debug(reactor)
        if debug is not None:
            self.enqueue, self._call_writable = debug_pool(self, debug)  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return f"<ThreadPool {self.name!r} threads={self._nthreads}>"

    # ------------------------------------------------------------------
    # Properties

    @property
    def threads(self) -> int:
        """The most worker threads (Twisted's C{max}; see C{adjustPoolsize})."""
        return self._nthreads

    @property
    def max_queue_depth(self) -> int:
        """How many tasks may wait for a thread."""
        return self._max_queue_depth

    @property
    def sync_timeout(self) -> float:
        """Seconds a task may stay blocked in SYNC before it is stopped."""
        return self._sync_timeout

    @property
    def reactor(self) -> Any:
        """The reactor whose thread owns the pool (set once)."""
        return self._reactor

    @property
    def finishing(self) -> bool:
        """Whether L{finish} was called: nothing new is accepted."""
        return self._finishing

    def _own(self, task: object, what: str) -> Task:
        if not isinstance(task, Task):
            raise TypeError(
                f"{what}() takes a Task from enqueue(), not {type(task).__name__}"
            )
        if task._pool is not self:
            raise ValueError(f"{task!r} belongs to another pool")
        return task

    # ------------------------------------------------------------------
    # Enqueue and the task API (reactor thread)

    def enqueue(
        self,
        owner: ITaskOwner | None,
        task: TaskFunction,
        *,
        user: Any = None,
        cleanup: Cleanup | None = None,
        name: str | None = None,
    ) -> Task:
        """
        Create a task running C{task(user, status)} bound to C{owner}.

        On refusal nothing is created and C{cleanup} is not called.

        @raise QueueFull: no idle worker and C{max_queue_depth} tasks wait.
        @raise PoolFinished: the pool is finishing.
        """
        self._in_reactor("enqueue")
        if owner is not None:
            try:
                provides = ITaskOwner.providedBy(owner)
            except Exception as e:
                raise TypeError(
                    f"owner of type {type(owner).__name__} could not be checked "
                    f"for ITaskOwner: {type(e).__name__} from its attributes"
                ) from e
            if not provides:
                raise TypeError(
                    f"owner must provide ITaskOwner or be None, not {type(owner).__name__}"
                )
        if not callable(task):
            raise TypeError(f"task must be callable, not {type(task).__name__}")
        if cleanup is not None and not callable(cleanup):
            raise TypeError(f"cleanup must be callable, not {type(cleanup).__name__}")
        if name is None:
            self._task_counter += 1
            name = f"{function_name(task)}#{self._task_counter}"
        elif not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        # Everything that can fail is above.  Once admitted, the task is
        # registered by identity only (no hash, no __eq__ of user objects),
        # so nothing below can raise and no admitted task goes unregistered.
        try:
            t = self._admit(owner, task, user, cleanup, name)
        except QueueFull:
            self._n_refused_full += 1
            raise
        except PoolFinished:
            self._n_refused_finishing += 1
            raise
        self._n_enqueued += 1
        self._live[t] = None
        if owner is not None:
            state = self._owners.get(id(owner))
            if state is None:
                state = self._owners[id(owner)] = OwnerState(owner)
            state.tasks[t] = None
        return t

    def _admit(
        self,
        owner: ITaskOwner | None,
        func: TaskFunction,
        user: Any,
        cleanup: Cleanup | None,
        name: str,
    ) -> Task:
        # Built before taking the lock, to keep the critical section short;
        # a refused task is simply dropped (it was never registered).
        now = self._clock()
        t = Task(self, owner, func, user, cleanup, name, copy_context(), now)
        hired = None
        with self._lock:  # LOCK (to the end of the block)
            if self._finishing:
                raise PoolFinished(f"pool {self.name!r} is finishing")
            if self._idle or (not self._backlog and self._can_hire_now_locked()):
                if self._idle:
                    worker = self._idle.pop()
                else:
                    worker = hired = self._new_worker_locked()
                self._begin_locked(t, worker, now)
                worker.item = t
                worker.wake.release()
            elif self._queued_tasks < self._max_queue_depth:
                self._backlog[t] = None
                self._queued_tasks += 1
            else:
                raise QueueFull(
                    f"pool {self.name!r} is full: {self._nthreads} threads busy "
                    f"and {self._queued_tasks} tasks queued "
                    f"(max_queue_depth={self._max_queue_depth})"
                )
        if hired is not None:
            # Admitted: whatever happens to the thread, the task is kept
            # (a thread that cannot start puts it back in the queue).
            self._start_workers([hired])
        return t

    def dequeue_task(self, task: Task) -> bool:
        """
        Stop C{task}.  A queued task becomes STOPPED without running and is
        reaped at once, as is a task already done: returns C{False}.  A
        running task is asked to stop: returns C{True}, and it stops at its
        next check-in (or now, if blocked in SYNC).
        """
        self._in_reactor("dequeue_task")
        task = self._own(task, "dequeue_task")
        with self._lock:  # LOCK (to the end of the block)
            status = task._status
            if status is _QUEUED:
                del self._backlog[task]
                self._queued_tasks -= 1
                self._end_unrun_locked(task, self._clock())
                asked = False
            elif status.is_done:
                asked = False
            else:
                self._request_stop_locked(task)
                asked = True
        if asked:
            self._syncing.pop(task, None)
        else:
            self._reap(task)
        return asked

    def task_sync(self, task: Task, stop: bool = False) -> bool:
        """
        Let a task blocked in SYNC continue: told RUNNING, or STOPPING if
        C{stop} (or if a stop was already requested).

        @return: C{True} if the task was blocked in SYNC and is released,
            C{False} if it was not waiting (nothing is done).
        """
        self._in_reactor("task_sync")
        return self._release_sync(self._own(task, "task_sync"), bool(stop))

    def task_status(self, task: Task) -> TaskStatus:
        """
        The task's status; a task that is done is reaped now (its cleanup
        runs, then its completion Deferreds fire), like C{waitpid()}.

        Both happen before this returns (model rules 6 and 13): code after
        C{task_status()} runs after every C{when_done()} callback, even one
        that destroyed the pool or stopped the reactor.
        """
        self._in_reactor("task_status")
        task = self._own(task, "task_status")
        status = task._status
        if status.is_done and not task._reaped:
            self._reap(task)
        return status

    def task_status_noreap(self, task: Task) -> TaskStatus:
        """
        The task's status, without reaping it.
        """
        return self._own(task, "task_status_noreap")._status
