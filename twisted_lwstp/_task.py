# -*- test-case-name: tests.test_task -*-
"""
L{Task}: what one task knows about itself, its timings and its completion.

Every transition of a task is made by its L{ThreadPool}; this module only
holds the data.  Which thread may touch which attribute is written beside
each slot.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Context
from typing import Any, NamedTuple, Protocol

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure

from ._status import TaskReturn, TaskStatus

#: The signature of a task function: C{task(user, status) -> TaskReturn}.
TaskFunction = Callable[[Any, TaskStatus], "TaskReturn | int"]
#: The signature of a cleanup: C{cleanup(owner_or_None, user)}; the owner
#: provides L{twisted_lwstp.ITaskOwner}.
Cleanup = Callable[[Any, Any], object]


class TaskHost(Protocol):
    """
    What a task needs of the pool that runs it (a L{ThreadPool} is one).
    """

    def _in_reactor(self, what: str) -> None:
        """
        Raise C{RuntimeError} unless called in the pool's reactor thread.
        """

    def dequeue_task(self, task: Task) -> bool:
        """
        Stop C{task} (see L{twisted_lwstp.ThreadPool.dequeue_task}).
        """


class TaskInfo(NamedTuple):
    """
    One line of L{ThreadPool.dump_tasks}: where a task's time went
    (model rule 10).  Times are in milliseconds, shares in percent of the
    time the task has spent on a thread.
    """

    name: str
    status: TaskStatus
    ms_in_state: float
    ms_queued: float
    ms_alive: float
    run_pct: float
    sync_pct: float


class Task:
    """
    A unit of work bound to an owner, run by a L{ThreadPool}.

    Create tasks with L{ThreadPool.enqueue}, never directly.

    @ivar name: A human-readable name, used in logs and dumps.
    @ivar user: The object the task and its owner share; the task's
        C{cleanup} owns it.
    @ivar error: The exception that ended the task, or L{None}.
    """

    __slots__ = (
        # Set at creation and never changed.
        "name",
        "_pool",
        "_t_created",
        # Reactor thread only.
        "user",
        "_cleanup",
        "_reaped",
        "_waiters",
        "_failure",
        "_sync_seen",
        # Written under the pool lock (the worker also reads _func, _ctx,
        # _stop and _outlive without it; a stale read of _stop delays a stop
        # by one check-in and nothing more).
        "owner",
        "_func",
        "_ctx",
        "_status",
        "_stop",
        "_outlive",
        "_worker",
        # Timings: written by whoever makes the transition, under the pool
        # lock; read without it for diagnostics only.
        "_t_state",
        "_t_started",
        "_t_ended",
        "_run",
        "_sync",
        # Written by the worker running the task.
        "error",
        "_last_return",
        "__weakref__",
    )

    def __init__(
        self,
        pool: TaskHost,
        owner: Any,
        func: TaskFunction,
        user: Any,
        cleanup: Cleanup | None,
        name: str,
        ctx: Context,
        now: float,
    ) -> None:
        self.name = name
        self._pool = pool
        self._t_created = now
        self.user = user
        self._cleanup = cleanup
        self._reaped = False
        self._waiters: list[Deferred[TaskStatus]] | None = None
        self._failure: Failure | None = None
        self._sync_seen = False
        self.owner = owner
        self._func: TaskFunction | None = func
        self._ctx: Context | None = ctx
        self._status = TaskStatus.QUEUED
        self._stop = False
        self._outlive = False
        self._worker: Any = None  # the Worker running it (pool lock)
        self._t_state = now
        self._t_started: float | None = None
        self._t_ended: float | None = None
        self._run = 0.0
        self._sync = 0.0
        self.error: BaseException | None = None
        self._last_return: object = None

    def __repr__(self) -> str:
        return f"<Task {self.name!r} {self._status.name}>"

    @property
    def status(self) -> TaskStatus:
        """
        The task's current status; reading it never reaps (see
        L{ThreadPool.task_status}).
        """
        return self._status

    @property
    def outlive(self) -> bool:
        """
        Whether the task has returned a value carrying L{TaskReturn.OUTLIVE}.
        """
        return self._outlive

    @property
    def reaped(self) -> bool:
        """
        Whether the task has been reaped: its cleanup ran and its
        completion Deferreds fired.
        """
        return self._reaped

    def when_done(self) -> Deferred[TaskStatus]:
        """
        A Deferred that fires, after the task is reaped, with its final
        L{TaskStatus}, or fails with the exception that ended it.
        Cancelling it asks the task to stop (it still ends and is cleaned up
        as usual).  Call it in the reactor thread.

        It fires inside the reap, right after the cleanup: within the
        owner's C{task_status()} call, before that returns, or within the
        pool's own reap of a detached task (model rules 6 and 13).  So in
        C{writable()}, the code after C{task_status()} runs after these
        callbacks, even when one of them destroyed the pool or stopped the
        reactor.  A reaped task's C{when_done()} fires at once.
        """
        self._pool._in_reactor("Task.when_done")
        if self._reaped:
            if self._failure is not None:
                return fail(self._failure)
            return succeed(self._status)
        d: Deferred[TaskStatus] = Deferred(self._cancel_waiter)
        if self._waiters is None:
            self._waiters = [d]
        else:
            self._waiters.append(d)
        return d

    def _cancel_waiter(self, d: Deferred[TaskStatus]) -> None:
        if self._waiters is not None and d in self._waiters:
            self._waiters.remove(d)
        self._pool.dequeue_task(self)

    def _fire_waiters(self) -> None:
        """
        Fire every completion Deferred; called once, by the pool, after the
        cleanup ran.
        """
        waiters = self._waiters
        if waiters is None:
            return
        self._waiters = None
        failure = self._failure
        status = self._status
        for d in waiters:
            if failure is None:
                d.callback(status)
            else:
                d.errback(failure)

    def _info(self, now: float) -> TaskInfo:
        """
        This task's timings as of C{now}, for dumps.
        """
        started = self._t_started
        end = self._t_ended if self._t_ended is not None else now
        if started is None:
            queued = end - self._t_created
            on_thread = 0.0
        else:
            queued = started - self._t_created
            on_thread = end - started
        run = self._run
        sync = self._sync
        # The open interval of the current state counts too.
        if self._t_ended is None and started is not None:
            if self._status is TaskStatus.SYNCING:
                sync += now - self._t_state
            else:
                run += now - self._t_state
        if on_thread > 0:
            run_pct = min(100.0, 100.0 * run / on_thread)
            sync_pct = min(100.0, 100.0 * sync / on_thread)
        else:
            run_pct = sync_pct = 0.0
        return TaskInfo(
            self.name,
            self._status,
            1000.0 * max(0.0, now - self._t_state),
            1000.0 * max(0.0, queued),
            1000.0 * max(0.0, end - self._t_created),
            round(run_pct, 1),
            round(sync_pct, 1),
        )
