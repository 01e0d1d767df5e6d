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
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure

from ._status import TaskReturn, TaskStatus

if TYPE_CHECKING:  # pragma: no cover
    from ._window import MessageWindow

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


class TaskTimes(NamedTuple):
    """
    Where a task's time went, in seconds (L{Task.times}): final once the
    task is done.
    """

    queued: float
    """Waiting for a thread (to its end, for a task stopped in the queue)."""
    running: float | None
    """On its thread outside SYNC; None if it never ran."""
    syncing: float | None
    """Blocked in SYNC; None if it never ran."""


# Builds a TaskTimes without the generated __new__'s Python call: a metrics
# reap hook asks once per task.
_new_times = tuple.__new__


class Task:
    """
    A unit of work bound to an owner, run by a L{ThreadPool}.

    Create tasks with L{ThreadPool.enqueue}, never directly.

    @ivar name: A human-readable name, used in logs and dumps.
    @ivar user: The object the task and its owner share; the task's
        C{cleanup} owns it.
    @ivar error: The exception that ended the task, or L{None}.
    @ivar window: The task's L{MessageWindow} (model rule 15), or L{None}.
    """

    __slots__ = (
        # Set at creation and never changed.
        "name",
        "_pool",
        "window",
        "_t_created",
        "user",
        # The reactor thread's (written by the pool's reactor side, at the
        # reap; the worker reads _func and _ctx while it runs the task,
        # which is always before).
        "_cleanup",
        "_func",
        "_ctx",
        "_reaped",
        "_waiters",
        "_sync_seen",
        # The pool state's (L{twisted_lwstp._state.PoolState}): written by
        # its transitions only, under the pool lock.  The worker also reads
        # _stop and _outlive without it (a stale read of _stop delays a
        # stop by one check-in and nothing more), and the reactor reads
        # _status and the timings in its own thread.
        "owner",
        "_status",
        "_stop",
        "_outlive",
        "_worker",
        "_sync_serial",
        "error",
        "_failure",
        "_t_state",
        "_t_started",
        "_t_ended",
        "_run",
        "_sync",
        # Written by the worker running the task, after each call.
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
        window: MessageWindow[Any] | None = None,
    ) -> None:
        self.name = name
        self._pool = pool
        self.window = window
        self._t_created = now
        self.user = user
        self._cleanup = cleanup
        self._reaped = False
        # None, one Deferred, or a list of them (two or more).
        self._waiters: Deferred[TaskStatus] | list[Deferred[TaskStatus]] | None = None
        self._failure: Failure | None = None
        self._sync_seen = 0  # the last SYNC (by _sync_serial) delivered
        self.owner = owner
        self._func: TaskFunction | None = func
        self._ctx: Context | None = ctx
        self._status = TaskStatus.QUEUED
        self._stop = False
        self._outlive = False
        self._worker: Any = None  # the Worker running it (pool lock)
        self._sync_serial = 0  # how many times it entered SYNC
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

    def times(self) -> TaskTimes:
        """
        Where the task's time went: waiting, running and in SYNC, as
        recorded by its last transition (so final once it is done; the
        pool's reap hook sees them final).  Any thread may call it; the
        figures are read without the pool lock.
        """
        started = self._t_started
        if started is None:  # stopped while queued: it never ran
            ended = self._t_ended if self._t_ended is not None else self._t_state
            return _new_times(TaskTimes, (ended - self._t_created, None, None))
        return _new_times(TaskTimes, (started - self._t_created, self._run, self._sync))

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
        waiters = self._waiters
        if waiters is None:
            # The usual case, one waiter: no list (a burst of tasks keeps
            # fewer objects alive for the garbage collector to walk).
            self._waiters = d
        elif isinstance(waiters, list):
            waiters.append(d)
        else:
            self._waiters = [waiters, d]
        return d

    def _cancel_waiter(self, d: Deferred[TaskStatus]) -> None:
        waiters = self._waiters
        if waiters is d:
            self._waiters = None
        elif isinstance(waiters, list) and d in waiters:
            waiters.remove(d)
        self._pool.dequeue_task(self)

    def _fire_waiters(self) -> None:
        """
        Fire every completion Deferred, oldest first; called once, by the
        pool, after the cleanup ran.
        """
        waiters = self._waiters
        if waiters is None:
            return
        self._waiters = None
        failure = self._failure
        status = self._status
        for d in waiters if isinstance(waiters, list) else (waiters,):
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
