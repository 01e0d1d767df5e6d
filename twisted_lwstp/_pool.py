# -*- test-case-name: tests.test_pool -*-
"""
L{ThreadPool}: the libwebsockets threadpool, in Twisted's terms.

A task's life, its states and what moves it between them: model rules 1 to
3, drawn in C{docs/explanation/model.md} ("A task's life").

Who owns what
=============

A pool is composed of objects, each owning its state:

 - L{twisted_lwstp._state.PoolState}: the lock, what every thread shares,
   and each locked transition, once (any thread);
 - L{twisted_lwstp._workerside.WorkerSide}: a worker's life;
 - L{twisted_lwstp._reactorside.ReactorSide}: draining the workers' events,
   owners and flow control (L{twisted_lwstp._owners}), reaping, sync
   timeouts, a destroy's completion (reactor thread);
 - L{twisted_lwstp._life.PoolLife}: starting, finishing, stopping, resizing;
 - this module: L{ThreadPool}, which builds them and is the public API:
   the task and owner API here, the rest (life, size, figures, Twisted's
   C{callInThread*}) in its base, L{twisted_lwstp._surface.PoolSurface}.
Runs in: the reactor thread, except where a method says otherwise.
Workers reach the reactor only through the mailbox
(L{twisted_lwstp._wakeup}): one C{callFromThread} per batch of events.
C{docs/explanation/threading.md} tells the whole story.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from contextvars import copy_context
from functools import partial
from typing import Any, TypeVar, cast

from twisted.internet.defer import Deferred, fail

from ._calls import OneShot
from ._checks import check_int, check_seconds, function_name
from ._debugpool import debug_pool, pool_debug
from ._errors import PoolFinished, QueueFull
from ._interfaces import ITaskOwner
from ._life import PoolLife
from ._reactorside import ReactorSide
from ._state import PoolState
from ._status import TaskStatus
from ._surface import PoolSurface
from ._task import Cleanup, Task, TaskFunction
from ._window import MessageWindow, check_window
from ._worker import ThreadRunner, WorkerRunner
from ._workerside import WorkerSide

_R = TypeVar("_R")

#: Numbers for unnamed pools (C{next()} on it is atomic in CPython).
_unnamed_pools = itertools.count(1)


class ThreadPool(PoolSurface):
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
    @param batch_workers: Workers under Linux's C{SCHED_BATCH} (default;
        L{twisted_lwstp._worker}), or, if C{False}, as they inherit.
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
        batch_workers: bool = True,
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
        timeout = check_seconds("sync_timeout", sync_timeout)
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        if clock is not None and not callable(clock):
            raise TypeError("clock must be callable")
        clock = clock if clock is not None else reactor.seconds
        # The pool's objects, each owning its state (see the module
        # docstring); the surface keeps them, set once.
        state = PoolState(name, nthreads, low, bool(on_demand), depth, clock)
        side = ReactorSide(state, reactor, clock, timeout)
        wake = partial(reactor.callFromThread, side.drain)
        workers = WorkerSide(state, clock, wake)
        runner = runner if runner is not None else ThreadRunner(batch=bool(batch_workers))
        life = PoolLife(state, side, workers.work, runner, clock)
        super().__init__(reactor, clock, state, side, life)
        # Set once: how a task's window asks for a batch (any thread).
        self._wake_reactor = wake
        # Reactor thread only.
        self._task_counter = 0
        # Debug mode (LWSTP_DEBUG): wrappers chosen now, set on this pool
        # itself, so that a pool without it runs none of its code.
        debug = pool_debug(reactor)
        if debug is not None:
            enqueue, wrap_writable = debug_pool(self, debug)
            self.enqueue = enqueue  # type: ignore[method-assign]
            self._reactor_side.hand_over.time_writable(wrap_writable)

    def __repr__(self) -> str:
        return f"<ThreadPool {self.name!r} threads={self.threads}>"

    # ------------------------------------------------------------------
    # Properties and figures

    @property
    def name(self) -> str:
        """The pool's name; its workers are C{<name>-<n>}."""
        return self._state.name

    @property
    def threads(self) -> int:
        """The most worker threads (Twisted's C{max}; see C{adjustPoolsize})."""
        return self._state.max_threads

    @property
    def max_queue_depth(self) -> int:
        """How many tasks may wait for a thread."""
        return self._state.max_queue_depth

    @property
    def sync_timeout(self) -> float:
        """Seconds a task may stay blocked in SYNC before it is stopped."""
        return self._reactor_side.deadlines.timeout

    # ------------------------------------------------------------------
    # Tasks

    def _own(self, task: object, what: str) -> Task:
        self._in_reactor(what)
        if not isinstance(task, Task):
            raise TypeError(
                f"{what}() takes a Task from enqueue(), not {type(task).__name__}"
            )
        if task._pool is not self:
            raise ValueError(f"{task!r} belongs to another pool")
        return task

    def enqueue(
        self,
        owner: ITaskOwner | None,
        task: TaskFunction,
        *,
        user: Any = None,
        cleanup: Cleanup | None = None,
        name: str | None = None,
        window: MessageWindow[Any] | None = None,
    ) -> Task:
        """
        Create a task running C{task(user, status)} bound to C{owner}.

        On refusal nothing is created and C{cleanup} is not called.

        @param window: A L{MessageWindow} the task puts messages into,
            delivered to C{owner.deliver(task, messages)} in batches
            (model rules 15 to 18); the owner must have that method.
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
        window = check_window(window, owner)
        # Everything that can fail is above, but the refusals.  Built before
        # taking the lock, to keep the critical section short; a refused
        # task is simply dropped (it was never registered).  Once admitted,
        # it is registered by identity only (no hash, no __eq__ of user
        # objects): nothing below can raise, no admitted task is lost.
        t = Task(self, owner, task, user, cleanup, name, copy_context(), self._clock(), window)
        side = self._reactor_side
        if window is not None:  # bound before admission: a worker may take t at once
            window.bind(t, partial(self._state.post_window, t), self._wake_reactor, owner is None)
        try:
            hired = self._state.admit(t)
        except (QueueFull, PoolFinished) as refusal:
            side.refused(refusal)
            if window is not None:
                window.unbind()
            raise
        side.admitted(owner, t)
        if hired is not None:
            # Whatever happens to the thread, the task is kept (a thread
            # that cannot start puts it back in the queue).
            self._life.start_workers(hired)
        return t

    def dequeue_task(self, task: Task) -> bool:
        """
        Stop C{task}.  A queued task becomes STOPPED without running and is
        reaped at once, as is a task already done: returns C{False}.  A
        running task is asked to stop: returns C{True}, and it stops at its
        next check-in (or now, if blocked in SYNC).
        """
        return self._reactor_side.dequeue(self._own(task, "dequeue_task"))

    def task_sync(self, task: Task, stop: bool = False) -> bool:
        """
        Let a task blocked in SYNC continue: told RUNNING, or STOPPING if
        C{stop} (or if a stop was already requested).

        @return: C{True} if the task was blocked in SYNC and is released,
            C{False} if it was not waiting (nothing is done).
        """
        return self._reactor_side.release(self._own(task, "task_sync"), bool(stop))

    def task_status(self, task: Task) -> TaskStatus:
        """
        The task's status; a task that is done is reaped now (its cleanup
        runs, then its completion Deferreds fire), like C{waitpid()}.

        Both happen before this returns (model rules 6 and 13): code after
        C{task_status()} runs after every C{when_done()} callback, even one
        that destroyed the pool or stopped the reactor.
        """
        task = self._own(task, "task_status")
        status = task._status
        if status.is_done:
            self._reactor_side.reap(task)
        return status

    def task_status_noreap(self, task: Task) -> TaskStatus:
        """
        The task's status, without reaping it.
        """
        if not isinstance(task, Task):
            raise TypeError(
                f"task_status_noreap() takes a Task from enqueue(), not {type(task).__name__}"
            )
        if task._pool is not self:
            raise ValueError(f"{task!r} belongs to another pool")
        return task._status

    def defer_to_thread(
        self, f: Callable[..., _R], *args: Any, **kwargs: Any
    ) -> Deferred[_R]:
        """
        Run C{f(*args, **kwargs)} once in a worker, as an owner-less task,
        and fire the Deferred with its result or failure.  Refusals
        (L{QueueFull}, L{PoolFinished}) fail the Deferred.  Cancelling the
        Deferred before C{f} starts means it never runs.
        """
        if not callable(f):
            raise TypeError(f"f must be callable, not {type(f).__name__}")
        box = OneShot(f, args, kwargs)
        try:
            task = self.enqueue(
                None, box.step, name=f"defer_to_thread {getattr(f, '__name__', f)!s}"
            )
        except (PoolFinished, QueueFull):
            return fail()
        d = task.when_done()
        return cast("Deferred[_R]", d.addCallback(box.outcome))

    # ------------------------------------------------------------------
    # Owners (model rules 4, 5 and flow control)

    def tasks_of(self, owner: object) -> list[Task]:
        """
        The live (unreaped) tasks bound to C{owner}, oldest first.
        """
        self._in_reactor("tasks_of")
        state = self._reactor_side.owners.get(owner)
        return [] if state is None else list(state)

    def owner_closing(self, owner: object) -> None:
        """
        C{owner} is going away: detach every task from it.  Tasks not
        OUTLIVE are stopped (a queued one at once); OUTLIVE tasks blocked in
        SYNC continue as if they had checked in; tasks already done are
        reaped now with C{cleanup(None, user)}.
        """
        self._in_reactor("owner_closing")
        self._reactor_side.owner_closing(owner)

    def pause_owner(self, owner: ITaskOwner) -> None:
        """
        Hold back C{writable()} calls to C{owner} (its transport is full).
        """
        self._in_reactor("pause_owner")
        self._reactor_side.owners.pause(owner)

    def resume_owner(self, owner: ITaskOwner) -> None:
        """
        Deliver the C{writable()} calls held back for C{owner}, in order,
        until it is paused again.
        """
        self._in_reactor("resume_owner")
        self._reactor_side.resume_owner(owner)

    def owner_paused(self, owner: object) -> bool:
        """
        Whether C{writable()} calls to C{owner} are being held back.
        """
        return self._reactor_side.owners.paused(owner)
