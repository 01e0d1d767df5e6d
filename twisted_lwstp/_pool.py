# -*- test-case-name: tests.test_pool -*-
"""
L{ThreadPool}: the libwebsockets threadpool, in Twisted's terms.

Every transition of a task is made in this module.  A task's life::

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
                 v                                                 |
              STOPPING -- the task is called once more with -------+
                          STOPPING and returns STOPPED

Threads and ownership
=====================

Two kinds of thread touch a pool: the reactor thread and the workers.

 - C{_lock} (one lock for the whole pool) guards the wait queue, the idle
   workers, the counters, the mailbox, and each task's C{_status},
   C{_stop}, C{_outlive}, C{owner} and C{_worker}.  No user code ever runs
   while it is held, and what needs no lock is done before taking it.
 - Everything else is owned by the reactor thread: the owner registry,
   the live-task registry, the sync deadlines, the destroy waiters, and
   the count of reaped tasks (reaping takes no lock).
   Methods that touch it refuse to run elsewhere.
 - A worker blocked in SYNC or idle waits on its own wake lock.  Exactly
   one party releases it per wait, always while holding C{_lock} and after
   moving the task (or worker) out of the waiting state, so a wake-up is
   never lost or doubled.
 - Workers reach the reactor only through the L{Mailbox}: one
   C{callFromThread} per batch of events.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from contextvars import Context, copy_context
from typing import Any, Callable, Generator, Iterator, NamedTuple, TypeVar

from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python import threadable
from twisted.python.failure import Failure
from twisted.python.reflect import safe_repr

from ._errors import PoolFinished, QueueFull, TaskFailed
from ._interfaces import ITaskOwner
from ._status import TaskReturn, TaskStatus
from ._task import Cleanup, Task, TaskFunction, TaskInfo
from ._wakeup import Mailbox
from ._worker import BLOCK, STEP, SyncWait, ThreadRunner, WorkerHandle, WorkerRunner

_R = TypeVar("_R")

_QUEUED = TaskStatus.QUEUED
_RUNNING = TaskStatus.RUNNING
_SYNCING = TaskStatus.SYNCING
_STOPPING = TaskStatus.STOPPING
_FINISHED = TaskStatus.FINISHED
_STOPPED = TaskStatus.STOPPED

# What a valid return value means: (base return, carries OUTLIVE).
_DECODE: dict[int, tuple[int, bool]] = {
    base | outlive: (base, bool(outlive))
    for base in (0, 1, 2, 3)
    for outlive in (0, TaskReturn.OUTLIVE.value)
}

# Mailbox event kinds.
_SYNC_EVENT = 0
_DONE_EVENT = 1
_EXIT_EVENT = 2

_log = Logger(namespace="twisted_lwstp")


class Diagnosis(NamedTuple):
    """
    The pool at a glance (MODEL.md rule 10).
    """

    running: int
    """Tasks on a thread, those blocked in SYNC included."""
    threads: int
    """Worker threads alive."""
    queued: int
    """Work waiting for a thread."""
    done: int
    """Tasks done but not reaped yet."""


class _Worker:
    """
    One worker: its wake lock and what it is doing.
    """

    __slots__ = ("index", "name", "wake", "item", "current", "handle", "sync_wait")

    def __init__(self, index: int, name: str) -> None:
        self.index = index
        self.name = name
        # Held by the worker while it runs; released by exactly one party to
        # wake it (see the module docstring).
        self.wake = threading.Lock()
        self.wake.acquire()
        # Guarded by the pool lock: work handed to this idle worker.
        self.item: Task | _Call | None = None
        # Guarded by the pool lock: what the worker is running.
        self.current: Task | _Call | None = None
        self.handle: WorkerHandle | None = None
        # Owned by the worker's own thread.
        self.sync_wait = SyncWait()


class _Call:
    """
    Work handed over through the Twisted-compatible C{callInThread*}: run
    once in a worker, result given to C{on_result} there, then forgotten.
    """

    __slots__ = ("_ctx", "_on_result", "_f", "_args", "_kwargs")

    def __init__(
        self,
        on_result: Callable[[bool, Any], object] | None,
        f: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        # Each set to None once the work has run (nothing of it is kept).
        self._ctx: Context | None = copy_context()
        self._on_result = on_result
        self._f: Callable[..., Any] | None = f
        self._args: tuple[Any, ...] | None = args
        self._kwargs: dict[str, Any] | None = kwargs

    def run(self) -> None:
        ctx, f, args, kwargs = self._ctx, self._f, self._args, self._kwargs
        on_result = self._on_result
        # Keep nothing of the work once it is done.
        self._ctx = self._f = self._args = self._kwargs = self._on_result = None
        assert ctx is not None and f is not None and args is not None and kwargs is not None, (
            "a call runs once"
        )
        try:
            result = ctx.run(f, *args, **kwargs)
            ok = True
        except BaseException:
            result = Failure()
            ok = False
        del ctx, f, args, kwargs
        if on_result is not None:
            try:
                on_result(ok, result)
            except BaseException:
                _log.failure("onResult callback raised")
        elif not ok:
            _log.failure("callInThread work raised", failure=result)


class _OwnerState:
    """
    What the pool knows of one owner.  Owner: the reactor thread.

    Owners are identities, not values: the registry is keyed by C{id(owner)}
    (an owner may be unhashable, or equal to another owner), and this state
    holds the owner itself, so that its id cannot be reused while it is
    registered.
    """

    __slots__ = ("owner", "tasks", "paused", "held")

    def __init__(self, owner: object) -> None:
        self.owner = owner
        # Live (unreaped) tasks of this owner, in enqueue order.
        self.tasks: dict[Task, None] = {}
        # Whether flow control holds back writable() calls.
        self.paused = False
        # (event kind, task) held back while paused, oldest first; created
        # only when something is held (an empty deque is ~760 bytes).
        self.held: deque[tuple[int, Task]] | None = None


def _function_name(func: object) -> str:
    """
    A task function's C{__name__} for a default task name, or its type's
    name when it has no usable one; never raises.
    """
    try:
        name = getattr(func, "__name__", None)
    except Exception:
        name = None
    return name if isinstance(name, str) else type(func).__name__


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


class ThreadPool:
    """
    A pool of worker threads running tasks bound to owners, in the manner of
    libwebsockets' threadpool.  See C{MODEL.md} and the module docstring.

    @param threads: How many worker threads (an int >= 1).
    @param max_queue_depth: How many tasks may wait for a thread (>= 0);
        a task that finds an idle worker never waits.
    @param name: The pool's name; workers are named C{<name>-<n>}.
    @param reactor: The reactor whose thread owns the pool.
    @param sync_timeout: Seconds a task may stay blocked in SYNC before it
        is stopped.
    @param clock: Returns the current time in seconds; defaults to the
        reactor's C{seconds}.  Called from worker threads too.
    @param runner: Starts the workers; defaults to real threads.
    """

    # Twisted ThreadPool compatibility attributes (reactor thread only).
    started = False
    joined = False

    def __init__(
        self,
        threads: int,
        max_queue_depth: int,
        name: str = "lwstp",
        *,
        reactor: Any = None,
        sync_timeout: float = 300.0,
        clock: Callable[[], float] | None = None,
        runner: WorkerRunner | None = None,
    ) -> None:
        self._nthreads = _check_int("threads", threads, 1)
        self._max_queue_depth = _check_int("max_queue_depth", max_queue_depth, 0)
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
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
        self.name = name
        self._reactor: Any = reactor  # IReactorTime, IReactorCore, IReactorThreads
        self._sync_timeout = float(sync_timeout)
        self._clock: Callable[[], float] = clock if clock is not None else reactor.seconds
        self._runner: WorkerRunner = runner if runner is not None else ThreadRunner()
        self._reactor_ident = threadable.ioThread or threading.get_ident()

        # Guarded by _lock (see the module docstring).
        self._lock = threading.Lock()
        self._queue: OrderedDict[Task | _Call, None] = OrderedDict()
        self._queued_tasks = 0  # lws tasks in _queue (calls do not count)
        self._idle: list[_Worker] = []
        self._mailbox: Mailbox[tuple[int, Any]] = Mailbox()
        self._running = 0
        self._ended = 0  # tasks ever done; done-but-unreaped = _ended - _reaped
        self._threads = 0
        self._finishing = False

        # Reactor thread only.
        self._workers: list[_Worker] = []
        self._owners: dict[int, _OwnerState] = {}  # by id(owner)
        self._live: dict[Task, None] = {}
        self._reaped = 0  # tasks ever reaped
        self._syncing: OrderedDict[Task, float] = OrderedDict()
        self._sync_timer: IDelayedCall | None = None
        self._destroy_waiters: list[Deferred[None]] | None = None
        self._destroyed = False
        self._shutdown_trigger: Any = None
        self._task_counter = 0

    def __repr__(self) -> str:
        return f"<ThreadPool {self.name!r} threads={self._nthreads}>"

    # ------------------------------------------------------------------
    # Properties

    @property
    def threads(self) -> int:
        """The configured number of worker threads."""
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
    def finishing(self) -> bool:
        """Whether L{finish} was called: nothing new is accepted."""
        return self._finishing

    # ------------------------------------------------------------------
    # Guards

    def _in_reactor(self, what: str) -> None:
        if threading.get_ident() != self._reactor_ident:
            name = what if "." in what else f"ThreadPool.{what}"
            raise RuntimeError(
                f"{name}() must be called in the reactor thread, "
                f"not in {threading.current_thread().name!r}"
            )

    def _own(self, task: object, what: str) -> Task:
        if not isinstance(task, Task):
            raise TypeError(
                f"{what}() takes a Task from enqueue(), not {type(task).__name__}"
            )
        if task._pool is not self:
            raise ValueError(f"{task!r} belongs to another pool")
        return task

    # ------------------------------------------------------------------
    # Life of the pool

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
        for index in range(self._nthreads):
            self._workers.append(_Worker(index, f"{self.name}-{index}"))
        # Every worker starts parked on its wake lock, registered idle (or
        # handed queued work, oldest first) before it runs at all.
        now = self._clock()
        with self._lock:
            self._threads = self._nthreads
            for worker in self._workers:
                if self._queue:
                    worker.item = self._take_locked(worker, now)
                    worker.wake.release()
                else:
                    self._idle.append(worker)
            # _idle is a stack (a worker that just ran is hot): reverse it
            # once so that fresh work goes to worker 0 first.
            self._idle.reverse()
        for worker in self._workers:
            worker.handle = self._runner.start_worker(
                worker.name, self._work(worker), worker.wake
            )
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
        with self._lock:
            if self._finishing:
                return
            self._finishing = True
            now = self._clock()
            # Walk a snapshot: lws's own finish() loses its place after
            # moving the first queued task; this stops all of them.
            for item in list(self._queue):
                if isinstance(item, Task):
                    del self._queue[item]
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
            self._deliver(_DONE_EVENT, task)

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
        for worker in self._workers:
            if worker.handle is not None:
                worker.handle.join(timeout)
        self._drain()
        self._maybe_destroyed(force=True)

    def _reactor_shutdown(self) -> None:
        self._shutdown_trigger = None
        if not self._destroyed:
            self.stop(timeout=10.0)

    def _maybe_destroyed(self, force: bool = False) -> None:
        """
        Complete a destroy once every worker has exited.
        """
        if self._destroyed:
            return
        if self._destroy_waiters is None and not force:
            return
        with self._lock:
            if self._threads and not force:
                return
            pending = bool(self._mailbox)
        if pending:
            # The last events (ends, exits) first; draining may itself
            # complete the destroy, and then there is nothing left to do.
            self._drain()
            if self._destroyed:
                return
        if not force:
            # Every worker has posted its exit and is returning: joining
            # takes microseconds, and a thread is counted gone only when it
            # really is.
            for worker in self._workers:
                if worker.handle is not None:
                    worker.handle.join()
        self._destroyed = True
        if self._sync_timer is not None and self._sync_timer.active():
            self._sync_timer.cancel()
        self._sync_timer = None
        if self._shutdown_trigger is not None:
            remove = getattr(self._reactor, "removeSystemEventTrigger", None)
            if remove is not None:
                remove(self._shutdown_trigger)
            self._shutdown_trigger = None
        # Reap everything left, in enqueue order.
        for task in list(self._live):
            if task._status.is_done:
                self._reap(task)
            else:
                _log.warn(
                    "Pool {pool} destroyed while {task} is still {status}",
                    pool=self.name,
                    task=task.name,
                    status=task._status.name,
                )
        self._owners.clear()
        waiters, self._destroy_waiters = self._destroy_waiters or [], None
        for d in waiters:
            d.callback(None)

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
            name = f"{_function_name(task)}#{self._task_counter}"
        elif not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        # Everything that can fail is above.  Once admitted, the task is
        # registered by identity only (no hash, no __eq__ of user objects),
        # so nothing below can raise and no admitted task goes unregistered.
        t = self._admit(owner, task, user, cleanup, name)
        self._live[t] = None
        if owner is not None:
            state = self._owners.get(id(owner))
            if state is None:
                state = self._owners[id(owner)] = _OwnerState(owner)
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
        with self._lock:
            if self._finishing:
                raise PoolFinished(f"pool {self.name!r} is finishing")
            if self._idle:
                worker = self._idle.pop()
                self._begin_locked(t, worker, now)
                worker.item = t
                worker.wake.release()
            elif self._queued_tasks < self._max_queue_depth:
                self._queue[t] = None
                self._queued_tasks += 1
            else:
                raise QueueFull(
                    f"pool {self.name!r} is full: {self._nthreads} threads busy "
                    f"and {self._queued_tasks} tasks queued "
                    f"(max_queue_depth={self._max_queue_depth})"
                )
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
        with self._lock:
            status = task._status
            if status is _QUEUED:
                del self._queue[task]
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
        task = self._own(task, "task_sync")
        now = self._clock()
        with self._lock:
            if task._status is not _SYNCING:
                return False
            self._release_locked(task, bool(stop), now)
        self._syncing.pop(task, None)
        return True

    def task_status(self, task: Task) -> TaskStatus:
        """
        The task's status; a task that is done is reaped now (its cleanup
        runs, then its completion Deferreds fire), like C{waitpid()}.
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

    def tasks_of(self, owner: object) -> list[Task]:
        """
        The live (unreaped) tasks bound to C{owner}, oldest first.
        """
        self._in_reactor("tasks_of")
        state = self._owners.get(id(owner))
        return [] if state is None else list(state.tasks)

    def owner_closing(self, owner: object) -> None:
        """
        C{owner} is going away: detach every task from it.  Tasks not
        OUTLIVE are stopped (a queued one at once); OUTLIVE tasks blocked in
        SYNC continue as if they had checked in; tasks already done are
        reaped now with C{cleanup(None, user)}.
        """
        self._in_reactor("owner_closing")
        state = self._owners.pop(id(owner), None)
        if state is None:
            return
        state.held = None
        reap: list[Task] = []
        with self._lock:
            now = self._clock()
            for task in state.tasks:
                task.owner = None
                status = task._status
                if status is _QUEUED:
                    del self._queue[task]
                    self._queued_tasks -= 1
                    self._end_unrun_locked(task, now)
                    reap.append(task)
                elif status.is_done:
                    reap.append(task)
                elif task._outlive:
                    if status is _SYNCING:
                        self._release_locked(task, False)
                else:
                    self._request_stop_locked(task)
        for task in state.tasks:
            self._syncing.pop(task, None)
        for task in reap:
            self._reap(task)

    # ------------------------------------------------------------------
    # Flow control (reactor thread)

    def pause_owner(self, owner: object) -> None:
        """
        Hold back C{writable()} calls to C{owner} (its transport is full).
        """
        self._in_reactor("pause_owner")
        state = self._owners.get(id(owner))
        if state is None:
            state = self._owners[id(owner)] = _OwnerState(owner)
        state.paused = True

    def resume_owner(self, owner: object) -> None:
        """
        Deliver the C{writable()} calls held back for C{owner}, in order,
        until it is paused again.
        """
        self._in_reactor("resume_owner")
        state = self._owners.get(id(owner))
        if state is None:
            return
        state.paused = False
        held = state.held
        state.held = None
        while held and not state.paused and self._owners.get(id(owner)) is state:
            kind, task = held.popleft()
            # Still due?  A held SYNC may have been released (stopped) and
            # a held end may have been reaped meanwhile.
            if task._status is _SYNCING if kind == _SYNC_EVENT else not task._reaped:
                self._call_writable(owner, kind, task)
        if held and self._owners.get(id(owner)) is state:
            # Paused again: keep the rest, ahead of anything held meanwhile.
            if state.held:
                held.extend(state.held)
            state.held = held
        if not state.tasks and not state.paused and self._owners.get(id(owner)) is state:
            del self._owners[id(owner)]

    def owner_paused(self, owner: object) -> bool:
        """
        Whether C{writable()} calls to C{owner} are being held back.
        """
        state = self._owners.get(id(owner))
        return state is not None and state.paused

    # ------------------------------------------------------------------
    # Diagnostics

    def diagnose(self) -> Diagnosis:
        """
        How many tasks run, threads live, tasks wait and tasks are done but
        not reaped.  Safe from any thread.
        """
        with self._lock:
            ended = self._ended
            running, threads, queued = self._running, self._threads, len(self._queue)
        # _reaped is the reactor's: read without the lock, it may lag a reap
        # in progress by one (never lead it), so done is never negative.
        return Diagnosis(running, threads, queued, ended - self._reaped)

    def dump_tasks(self) -> list[TaskInfo]:
        """
        Per task, its name, state and where its time went (rule 10), in
        enqueue order.  Reactor thread only.
        """
        self._in_reactor("dump_tasks")
        now = self._clock()
        return [task._info(now) for task in self._live]

    def dump(self) -> str:
        """
        L{dump_tasks} and L{diagnose} as text, also emitted as a
        C{twisted.logger} event.
        """
        diag = self.diagnose()
        lines = [
            f"pool {self.name}: running={diag.running} threads={diag.threads} "
            f"queued={diag.queued} done={diag.done}"
        ]
        for info in self.dump_tasks():
            lines.append(
                f"  {info.name}: {info.status.name} for {info.ms_in_state:.1f} ms, "
                f"queued {info.ms_queued:.1f} ms, alive {info.ms_alive:.1f} ms, "
                f"run {info.run_pct:.1f}%, sync {info.sync_pct:.1f}%"
            )
        text = "\n".join(lines)
        _log.info("{dump}", dump=text, pool=self.name, diagnosis=diag)
        return text

    # ------------------------------------------------------------------
    # Conveniences and Twisted compatibility

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
        box = _OneShot(f, args, kwargs)
        try:
            task = self.enqueue(
                None, box.step, name=f"defer_to_thread {getattr(f, '__name__', f)!s}"
            )
        except (PoolFinished, QueueFull):
            return fail()
        d = task.when_done()
        return d.addCallback(box.outcome)

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
        call = _Call(onResult, func, args, kw)
        with self._lock:
            if self._finishing:
                dropped = True
            else:
                dropped = False
                if self._idle:
                    worker = self._idle.pop()
                    self._running += 1
                    worker.current = call
                    worker.item = call
                    worker.wake.release()
                else:
                    self._queue[call] = None
        if dropped:
            _log.warn(
                "Pool {pool} is stopping: dropped {func!r}", pool=self.name, func=func
            )

    # ------------------------------------------------------------------
    # Transitions (callers hold _lock)

    def _begin_locked(self, task: Task, worker: _Worker, now: float) -> None:
        task._status = _STOPPING if task._stop else _RUNNING
        task._worker = worker
        task._t_started = now
        task._t_state = now
        worker.current = task
        self._running += 1

    def _take_locked(self, worker: _Worker, now: float) -> Task | _Call:
        item, _ = self._queue.popitem(last=False)
        if isinstance(item, Task):
            self._queued_tasks -= 1
            self._begin_locked(item, worker, now)
        else:
            worker.current = item
            self._running += 1
        return item

    def _end_unrun_locked(self, task: Task, now: float) -> None:
        task._status = _STOPPED
        task._stop = True
        task._t_state = task._t_ended = now
        self._ended += 1

    def _request_stop_locked(self, task: Task) -> None:
        task._stop = True
        status = task._status
        if status is _RUNNING:
            task._status = _STOPPING
        elif status is _SYNCING:
            self._release_locked(task, True)

    def _release_locked(self, task: Task, stop: bool, now: float | None = None) -> None:
        if now is None:
            now = self._clock()
        task._sync += now - task._t_state
        task._t_state = now
        if stop:
            task._stop = True
        task._status = _STOPPING if task._stop else _RUNNING
        task._sync_seen = False
        worker = task._worker
        assert worker is not None
        worker.wake.release()

    def _wake_idle_locked(self) -> None:
        for worker in self._idle:
            worker.item = None
            worker.wake.release()
        self._idle.clear()

    # ------------------------------------------------------------------
    # The worker (runs on its own thread, or stepped by a test)

    def _wake_reactor(self) -> None:
        self._reactor.callFromThread(self._drain)

    def _work(self, worker: _Worker) -> Iterator[object]:
        """
        A worker's life as steps: wait to be handed work, run it and
        whatever is queued after it, go idle, repeat; exit when woken with
        nothing while the pool is finishing.
        """
        lock = self._lock
        item: Task | _Call | None = None
        while True:
            if item is None:
                yield BLOCK
                # Whoever woke us set item under the lock before releasing
                # our wake lock; None means exit.
                item = worker.item
                worker.item = None
                if item is None:
                    with lock:
                        self._threads -= 1
                        wake = self._mailbox.post((_EXIT_EVENT, worker))
                    if wake:
                        self._wake_reactor()
                    return
            if isinstance(item, Task):
                item = yield from self._run_task(worker, item)
            else:
                item.run()
                now = self._clock()
                lock.acquire()
                self._running -= 1
                item = self._next_locked(worker, now)
                lock.release()
                yield STEP

    def _next_locked(self, worker: _Worker, now: float) -> Task | _Call | None:
        """
        What C{worker} does after finishing its work: the oldest queued
        work, or nothing (it goes idle; when the pool is finishing it is
        handed the exit instead).
        """
        if self._queue:
            return self._take_locked(worker, now)
        worker.current = None
        if self._finishing:
            # Exit: the worker blocks once more and wakes at once with None.
            worker.item = None
            worker.wake.release()
        else:
            self._idle.append(worker)
        return None

    def _run_task(
        self, worker: _Worker, task: Task
    ) -> Generator[object, None, Task | _Call | None]:
        """
        Call a task until it is done; return the next work for this worker
        (taken in the same critical section as the task's end) or None.
        """
        lock = self._lock
        func = task._func
        run = task._ctx.run  # type: ignore[union-attr]
        user = task.user
        status = task._status
        error: Failure | None = None
        while True:
            if task._stop:
                # Read just before the call, so a stop requested while the
                # task was between calls is honoured now.
                status = _STOPPING
            try:
                ret = run(func, user, status)  # type: ignore[arg-type]
            except BaseException as e:
                error = Failure(e)
                task._last_return = None
                final = _STOPPED
                break
            task._last_return = ret
            kind = type(ret)
            if kind is TaskReturn or kind is int:
                decoded = _DECODE.get(ret)
            elif isinstance(ret, int) and kind is not bool:
                # An int subclass (another IntFlag, say) counts by its true
                # value: int.__int__ ignores a lying __int__, __index__ or
                # __hash__, which would otherwise run (or raise) here.
                decoded = _DECODE.get(int.__int__(ret))
            else:
                decoded = None
            if decoded is None:
                error = Failure(
                    TaskFailed(
                        f"task {task.name!r} returned {ret!r}, which is not a "
                        "TaskReturn (CHECKING_IN, SYNC, FINISHED or STOPPED, "
                        "optionally | OUTLIVE)"
                    )
                )
                final = _STOPPED
                break
            if status is _STOPPING:
                # Told STOPPING: whatever it returns, it ends STOPPED.
                final = _STOPPED
                break
            base, outlive = decoded
            if outlive and not task._outlive:
                with lock:
                    task._outlive = True
            if base == 0:  # CHECKING_IN
                yield task
                continue
            if base == 1:  # SYNC
                now = self._clock()
                lock.acquire()
                if task._stop:
                    # Stopped while it ran: it is told STOPPING instead.
                    lock.release()
                    yield task
                    continue
                if task.owner is None:
                    # Nobody to sync with: counts as a check-in.
                    lock.release()
                    yield task
                    continue
                task._run += now - task._t_state
                task._t_state = now
                task._status = _SYNCING
                wake = self._mailbox.post((_SYNC_EVENT, task))
                lock.release()
                if wake:
                    self._wake_reactor()
                sync_wait = worker.sync_wait
                sync_wait.task = task
                yield sync_wait
                sync_wait.task = None
                # Released under the lock by the reactor, which set this.
                status = task._status
                continue
            final = _FINISHED if base == 2 else _STOPPED
            break
        if error is not None:
            task.error = error.value
            task._failure = error
            _log.failure(
                "Task {task} of pool {pool} failed", failure=error,
                task=task.name, pool=self.name,
            )
        # Everything that needs no lock is done before taking it.
        now = self._clock()
        event = (_DONE_EVENT, task)
        lock.acquire()
        task._run += now - task._t_state
        task._t_state = task._t_ended = now
        task._status = final
        task._worker = None
        self._running -= 1
        self._ended += 1
        wake = self._mailbox.post(event)
        item = self._next_locked(worker, now)
        lock.release()
        if wake:
            self._wake_reactor()
        yield task
        return item

    # ------------------------------------------------------------------
    # The reactor side of the hand-over

    def _drain(self) -> None:
        """
        Take every event the workers posted and act on it, in order.
        Runs in the reactor thread, once per batch.
        """
        with self._lock:
            events = self._mailbox.take()
        for kind, subject in events:
            if kind != _EXIT_EVENT:
                self._deliver(kind, subject)
        if self._destroy_waiters is not None:
            # A worker's exit (or the last end) may complete a destroy.
            self._maybe_destroyed()

    def _deliver(self, kind: int, task: Task) -> None:
        """
        Act on a worker's event for C{task}: a SYNC starts its timeout and
        goes to the owner; an end goes to the owner, or reaps a task that
        has none.  Stale events (the task moved on) are dropped.
        """
        if kind == _SYNC_EVENT:
            if task._status is not _SYNCING or task._sync_seen:
                return
            task._sync_seen = True
            self._watch_sync(task)
        elif task._reaped:
            return
        owner = task.owner
        if owner is None:
            if kind == _DONE_EVENT:
                self._reap(task)
            return
        state = self._owners.get(id(owner))
        if state is not None and state.paused:
            if state.held is None:
                state.held = deque()
            state.held.append((kind, task))
            return
        self._call_writable(owner, kind, task)

    def _call_writable(self, owner: ITaskOwner, kind: int, task: Task) -> None:
        """
        Call C{owner.writable(task)}; an owner that raises is logged, and a
        task it left blocked in SYNC is stopped (nobody would sync it).
        """
        try:
            owner.writable(task)
        except BaseException:
            _log.failure(
                "writable() of {owner} raised for {task}",
                owner=safe_repr(owner), task=task.name,
            )
            if kind == _SYNC_EVENT and task._status is _SYNCING:
                self.task_sync(task, stop=True)

    def _reap(self, task: Task) -> None:
        """
        Free a done task: run its cleanup, then fire its Deferreds.
        """
        # Reaping is the reactor's alone: no lock (the worker that ended the
        # task is done with it; diagnose() reads _reaped without the lock).
        if task._reaped:
            return
        task._reaped = True
        self._reaped += 1
        self._live.pop(task, None)
        owner = task.owner
        if owner is not None:
            state = self._owners.get(id(owner))
            if state is not None:
                state.tasks.pop(task, None)
                if not state.tasks and not state.paused and not state.held:
                    del self._owners[id(owner)]
        cleanup = task._cleanup
        task._cleanup = None
        task._func = None
        task._ctx = None
        task._last_return = None
        if cleanup is not None:
            try:
                cleanup(owner, task.user)
            except BaseException:
                _log.failure(
                    "cleanup of task {task} of pool {pool} raised",
                    task=task.name, pool=self.name,
                )
        task._fire_waiters()

    # ------------------------------------------------------------------
    # Sync timeouts (reactor thread)

    def _watch_sync(self, task: Task) -> None:
        deadline = task._t_state + self._sync_timeout
        self._syncing[task] = deadline
        if self._sync_timer is None:
            self._arm_sync_timer(deadline)

    def _arm_sync_timer(self, deadline: float) -> None:
        delay = max(0.0, deadline - self._clock())
        self._sync_timer = self._reactor.callLater(delay, self._sync_expired)

    def _sync_expired(self) -> None:
        self._sync_timer = None
        now = self._clock()
        syncing = self._syncing
        while syncing:
            task, deadline = next(iter(syncing.items()))
            if deadline > now:
                self._arm_sync_timer(deadline)
                return
            del syncing[task]
            if task._status is _SYNCING:
                _log.warn(
                    "Task {task} of pool {pool} was not synced within "
                    "{timeout} s: stopping it",
                    task=task.name, pool=self.name, timeout=self._sync_timeout,
                )
                self.task_sync(task, stop=True)


class _OneShot:
    """
    The task behind L{ThreadPool.defer_to_thread}: call C{f} once.
    """

    __slots__ = ("_f", "_args", "_kwargs", "_result")

    def __init__(self, f: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._f: Callable[..., Any] | None = f
        self._args = args
        self._kwargs = kwargs
        self._result: Any = None

    def step(self, user: object, status: TaskStatus) -> TaskReturn:
        f = self._f
        self._f = None
        if status is _STOPPING or f is None:
            return TaskReturn.STOPPED
        args, kwargs = self._args, self._kwargs
        del self._args, self._kwargs
        self._result = f(*args, **kwargs)
        return TaskReturn.FINISHED

    def outcome(self, status: TaskStatus) -> Any:
        if status is not _FINISHED:
            raise CancelledError("the call was stopped before it ran")
        result, self._result = self._result, None
        return result
