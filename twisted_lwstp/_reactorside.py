# -*- test-case-name: tests.test_pool,tests.test_pool_threads -*-
"""
The reactor side: draining the workers' mailbox, delivering to owners,
reaping, sync timeouts, and completing a destroy.

Runs in: the reactor thread only.  Everything here is called from the
reactor (a drain scheduled by C{callFromThread}, a timer, or a public
method that checked L{ReactorSide._in_reactor} first); it takes the pool
lock only for the locked transitions of L{twisted_lwstp._core}, marked
C{# LOCK}.

State owned (reactor thread only, no lock): the owner registry and its
flow-control state (whose public face is L{twisted_lwstp._owners}), the
live-task registry, the count of reaped tasks, the sync deadlines and
their timer, and the destroy waiters.  (The list of workers is the core's,
under the pool lock: workers may be started from any thread.)
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python import threadable
from twisted.python.reflect import safe_repr

from ._core import _FINISHED, _SYNCING, DONE_EVENT, EXIT_EVENT, SYNC_EVENT, Worker
from ._interfaces import ITaskOwner
from ._task import Task
from ._worklife import WorkerLife

_log = Logger(namespace="twisted_lwstp")


class OwnerState:
    """
    What the pool knows of one owner.  Owner: the reactor thread.

    Owners are identities, not values: the registry is keyed by C{id(owner)}
    (an owner may be unhashable, or equal to another owner), and this state
    holds the owner itself, so that its id cannot be reused while it is
    registered.
    """

    __slots__ = ("owner", "tasks", "paused", "held")

    def __init__(self, owner: ITaskOwner) -> None:
        self.owner = owner
        # Live (unreaped) tasks of this owner, in enqueue order.
        self.tasks: dict[Task, None] = {}
        # Whether flow control holds back writable() calls.
        self.paused = False
        # (event kind, task) held back while paused, oldest first; created
        # only when something is held (an empty deque is ~760 bytes).
        self.held: deque[tuple[int, Task]] | None = None



class ReactorSide(WorkerLife):
    """
    What the reactor thread does for a pool.
    """

    def _init_reactor_side(self, reactor: Any, sync_timeout: float) -> None:
        # Set once.
        self._reactor: Any = reactor  # IReactorTime, IReactorCore, IReactorThreads
        self._reactor_ident = threadable.ioThread or threading.get_ident()
        self._sync_timeout = sync_timeout
        # Reactor thread only.
        self._owners: dict[int, OwnerState] = {}  # by id(owner)
        self._live: dict[Task, None] = {}
        self._reaped = 0  # tasks ever reaped
        self._syncing: OrderedDict[Task, float] = OrderedDict()
        self._sync_timer: IDelayedCall | None = None
        self._destroy_waiters: list[Deferred[None]] | None = None
        self._destroyed = False
        self._shutdown_trigger: Any = None
        # Counters for metrics (reactor thread only; read by a scrape, which
        # runs in the reactor thread too).
        self._n_enqueued = 0
        self._n_refused_full = 0
        self._n_refused_finishing = 0
        self._n_finished = 0  # reaped FINISHED
        self._n_failed = 0  # reaped STOPPED with an error
        self._n_sync_timeouts = 0
        self._n_drains = 0  # reactor wake-ups that drained the mailbox
        self._n_events = 0  # worker events drained
        # Called with each task as it is reaped, when metrics are on.
        self._reap_observer: Callable[[Task], object] | None = None

    def _in_reactor(self, what: str) -> None:
        if threading.get_ident() != self._reactor_ident:
            name = what if "." in what else f"ThreadPool.{what}"
            raise RuntimeError(
                f"{name}() must be called in the reactor thread, "
                f"not in {threading.current_thread().name!r}"
            )

    def _release_sync(self, task: Task, stop: bool) -> bool:
        """
        Release C{task} if it is blocked in SYNC (told STOPPING if C{stop}
        or a stop was requested); C{False} if it was not waiting.
        """
        now = self._clock()
        with self._lock:  # LOCK (to the end of the block)
            if task._status is not _SYNCING:
                return False
            self._release_locked(task, stop, now)
        self._syncing.pop(task, None)
        return True


    def _drain(self) -> None:
        """
        Take every event the workers posted and act on it, in order.
        Runs in the reactor thread, once per batch.
        """
        with self._lock:  # LOCK (to the end of the block)
            events = self._mailbox.take()
        self._n_drains += 1
        self._n_events += len(events)
        for kind, subject in events:
            if kind != EXIT_EVENT:
                self._deliver(kind, subject)
            else:
                self._bury(subject)
        if self._destroy_waiters is not None:
            # A worker's exit (or the last end) may complete a destroy.
            self._maybe_destroyed()

    def _bury(self, worker: Worker) -> None:
        """
        A worker posted its exit and is returning: join it (microseconds),
        so that a thread is counted gone only when it really is.
        """
        handle = worker.handle
        if handle is not None:
            handle.join()
        with self._lock:  # LOCK (to the end of the block)
            self._workers.remove(worker)

    def _deliver(self, kind: int, task: Task) -> None:
        """
        Act on a worker's event for C{task}: a SYNC starts its timeout and
        goes to the owner; an end goes to the owner, or reaps a task that
        has none.  Stale events (the task moved on) are dropped.
        """
        if kind == SYNC_EVENT:
            if task._status is not _SYNCING or task._sync_seen:
                return
            task._sync_seen = True
            self._watch_sync(task)
        elif task._reaped:
            return
        owner = task.owner
        if owner is None:
            if kind == DONE_EVENT:
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
            if kind == SYNC_EVENT and task._status is _SYNCING:
                self._release_sync(task, True)

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
        if task._status is _FINISHED:
            self._n_finished += 1
        elif task._failure is not None:
            self._n_failed += 1
        observer = self._reap_observer
        if observer is not None:
            observer(task)
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
                self._n_sync_timeouts += 1
                _log.warn(
                    "Task {task} of pool {pool} was not synced within "
                    "{timeout} s: stopping it",
                    task=task.name, pool=self.name, timeout=self._sync_timeout,
                )
                self._release_sync(task, True)


    def _maybe_destroyed(self, force: bool = False) -> None:
        """
        Complete a destroy once every worker has exited.
        """
        if self._destroyed:
            return
        if self._destroy_waiters is None and not force:
            return
        with self._lock:  # LOCK (to the end of the block)
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
            with self._lock:  # LOCK (to the end of the block)
                workers = list(self._workers)
            for worker in workers:
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
