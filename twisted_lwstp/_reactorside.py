# -*- test-case-name: tests.test_pool,tests.test_pool_threads,tests.test_pool_owners -*-
"""
L{ReactorSide}: what the reactor thread does for a pool: draining the
workers' mailbox, delivering C{writable()} to owners (with flow control),
reaping, sync timeouts, and completing a destroy.

Runs in: the reactor thread only.  Everything here is called from the
reactor (a drain scheduled by C{callFromThread}, a timer, or a public
method of the pool, which checked the thread first).  Transitions of
shared state go through the pool's L{PoolState}, which takes the lock.

Owner of (reactor thread, no lock): the owner registry (L{Owners}), the
live-task registry, the sync deadlines (L{SyncDeadlines}), the destroy
waiters, the counters for metrics, the reap hook, and of each task the
fields C{_reaped}, C{_sync_seen}, C{_cleanup}, C{_func}, C{_ctx} and its
completion Deferreds (through C{Task._fire_waiters}).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from ._deadlines import SyncDeadlines
from ._errors import QueueFull
from ._handover import HandOver
from ._owners import Owners
from ._staff import Worker
from ._state import (
    _FINISHED,
    _SYNCING,
    ASKED,
    DONE_EVENT,
    EXIT_EVENT,
    SYNC_EVENT,
    WINDOW_EVENT,
    PoolState,
)
from ._task import Task

_log = Logger(namespace="twisted_lwstp")

#: What a reap hook is called with: the task just reaped.
ReapHook = Callable[[Task], object]


class ReactorSide:
    """
    The reactor thread's part of one pool.

    @param state: The pool's shared state.
    @param reactor: The reactor (for the sync deadlines' timer).
    @param clock: Returns the time.
    @param sync_timeout: Seconds a task may stay blocked in SYNC.
    """

    def __init__(self, state: PoolState, reactor: Any, clock: Callable[[], float],
                 sync_timeout: float) -> None:
        # Set once.
        self._state = state
        self._clock = clock
        # Reactor thread only.
        self.owners = Owners()
        self._live: dict[Task, None] = {}
        self.deadlines = SyncDeadlines(reactor, clock, sync_timeout, state.name,
                                       self._stop_at_deadline)
        self._destroying = False
        self._destroyed = False
        self._destroy_waiters: list[Deferred[None]] = []
        # The calls into owners: writable(), a window's deliver().
        self.hand_over = HandOver(self.release, self.dequeue)
        # Called with each task as it is reaped, after its cleanup and
        # before its Deferreds fire (metrics use it); reactor thread.
        self._reap_hook: ReapHook | None = None
        # Counters for metrics, read by the pool's snapshot (reactor thread
        # only; another thread may read them stale).
        self.reaped = 0
        self.enqueued = 0
        self.refused_full = 0
        self.refused_finishing = 0
        self.finished = 0  # reaped FINISHED
        self.failed = 0  # reaped STOPPED with an error
        self.drains = 0  # reactor wake-ups that drained the mailbox
        self.events = 0  # worker events drained

    @property
    def destroyed(self) -> bool:
        """Whether a destroy (or Twisted's C{stop}) has completed."""
        return self._destroyed

    @property
    def reap_hook(self) -> ReapHook | None:
        """What is called with each task as it is reaped, or None."""
        return self._reap_hook

    def set_reap_hook(self, hook: ReapHook | None) -> None:
        """Call C{hook} with each task as it is reaped (None: nothing)."""
        self._reap_hook = hook

    def live_tasks(self) -> list[Task]:
        """The live (unreaped) tasks, in enqueue order."""
        return list(self._live)

    # ------------------------------------------------------------------
    # Admission and the task API

    def refused(self, refusal: Exception) -> None:
        """Count a refused task (L{QueueFull} or L{PoolFinished})."""
        if isinstance(refusal, QueueFull):
            self.refused_full += 1
        else:
            self.refused_finishing += 1

    def admitted(self, owner: Any, task: Task) -> None:
        """Register a task just admitted, under its owner."""
        self.enqueued += 1
        self._live[task] = None
        if owner is not None:
            self.owners.add(owner, task)

    def dequeue(self, task: Task) -> bool:
        """
        Stop C{task}; a task queued or done is reaped now (C{False}); a
        running one is asked to stop (C{True}).
        """
        outcome = self._state.dequeue(task, self._clock())
        if outcome == ASKED:
            self.deadlines.forget(task)
            return True
        self._reap(task)
        return False

    def release(self, task: Task, stop: bool) -> bool:
        """
        Release C{task} if it is blocked in SYNC (told STOPPING if C{stop}
        or a stop was requested); C{False} if it was not waiting.
        """
        if not self._state.release(task, stop, self._clock()):
            return False
        self.deadlines.forget(task)
        return True

    def owner_closing(self, owner: object) -> None:
        """
        C{owner} is going: detach its tasks (see L{PoolState.detach}) and
        reap those that are done now, with C{cleanup(None, user)}.
        """
        state = self.owners.pop(owner)
        if state is None:
            return
        tasks = list(state)
        done = self._state.detach(tasks, self._clock())
        for task in tasks:
            self.deadlines.forget(task)
            if task.window is not None:
                # Nobody will take its messages (rule 17).
                task.window.close()
        for task in done:
            self._reap(task)

    def resume_owner(self, owner: object) -> None:
        """
        Deliver the events held back for C{owner}, in order, until it is
        paused again.
        """
        state = self.owners.resume(owner)
        if state is None:
            return
        while (event := self.owners.next_held(state)) is not None:
            kind, task = event
            # Still due?  A held SYNC may have been released (stopped) and
            # a held end or batch may have been reaped meanwhile.
            if task._status is _SYNCING if kind == SYNC_EVENT else not task._reaped:
                self.hand_over(state.owner, kind, task)

    def finished_queue(self, stopped: list[Task]) -> None:
        """
        The pool is finishing: no sync deadline holds any more, and the
        owners of the tasks stopped in the queue are told, so that they
        can reap them (a task without one is reaped now).
        """
        self.deadlines.clear()
        for task in stopped:
            self._deliver(DONE_EVENT, task)

    # ------------------------------------------------------------------
    # Draining and delivering

    def drain(self) -> None:
        """
        Take every event the workers posted and act on it, in order.
        Runs in the reactor thread, once per batch.
        """
        events = self._state.take_events()
        self.drains += 1
        self.events += len(events)
        for kind, subject in events:
            if kind != EXIT_EVENT:
                self._deliver(kind, subject)
            else:
                self._bury(subject)
        if self._destroying:
            # A worker's exit (or the last end) may complete a destroy.
            self.complete_destroy()

    def _bury(self, worker: Worker) -> None:
        # A worker posted its exit and is returning: join it (microseconds),
        # so that a thread is counted gone only when it really is.
        handle = worker.handle
        if handle is not None:
            handle.join()
        self._state.bury(worker)

    def _deliver(self, kind: int, task: Task) -> None:
        # A SYNC starts its timeout and goes to the owner; an end goes to
        # the owner, or reaps a task that has none; a window's batch goes
        # to the owner.  Stale events (the task moved on, or this SYNC was
        # delivered already) are dropped.
        if kind == WINDOW_EVENT:
            if task._reaped or task.owner is None:
                return  # its window is closed: nothing to take
        elif kind == SYNC_EVENT:
            if task._status is not _SYNCING or task._sync_seen == task._sync_serial:
                return
            task._sync_seen = task._sync_serial
            self.deadlines.watch(task)
        elif task._reaped:
            return
        owner = task.owner
        if owner is None:
            if kind == DONE_EVENT:
                self._reap(task)
            return
        state = self.owners.get(owner)
        if state is not None and state.paused:
            self.owners.hold(state, kind, task)
            return
        self.hand_over(owner, kind, task)

    def _stop_at_deadline(self, task: Task) -> None:
        self.release(task, True)

    def reap(self, task: Task) -> None:
        """
        Free a done task (model rule 6): run its cleanup, then fire its
        Deferreds.  A task reaped already is left alone.
        """
        if not task._reaped:
            self._reap(task)

    def _reap(self, task: Task) -> None:
        # The worker that ended the task is done with it: no lock.
        if task._reaped:
            return
        task._reaped = True
        self.reaped += 1
        self._live.pop(task, None)
        owner = task.owner
        if owner is not None:
            self.owners.remove(owner, task)
        cleanup = task._cleanup
        task._cleanup = None
        task._func = None
        task._ctx = None
        if task.window is not None:
            # What it put that nobody took is dropped (rule 17).
            task.window.close()
        if cleanup is not None:
            try:
                cleanup(owner, task.user)
            except BaseException:
                _log.failure(
                    "cleanup of task {task} of pool {pool} raised",
                    task=task.name, pool=self._state.name,
                )
        if task._status is _FINISHED:
            self.finished += 1
        elif task._failure is not None:
            self.failed += 1
        hook = self._reap_hook
        if hook is not None:
            hook(task)
        task._fire_waiters()

    # ------------------------------------------------------------------
    # Destroy

    def when_destroyed(self) -> Deferred[None]:
        """
        A Deferred that fires once the destroy completes (at once if it
        has); does not ask for one.
        """
        d: Deferred[None] = Deferred()
        if self._destroyed:
            d.callback(None)
        else:
            self._destroy_waiters.append(d)
        return d

    def destroy(self) -> None:
        """Complete a destroy as soon as every worker has exited."""
        self._destroying = True
        self.complete_destroy()

    def complete_destroy(self, force: bool = False) -> None:
        """
        Complete the destroy if every worker has exited (or C{force}: a
        blocking stop joined them already): reap everything left, fire the
        waiters.
        """
        if self._destroyed:
            return
        exited, pending = self._state.exited()
        if not (exited or force):
            return
        if pending:
            # The last events (ends, exits) first; draining may itself
            # complete the destroy, and then there is nothing left to do.
            self.drain()
            if self._destroyed:
                return
        if not force:
            # Every worker has posted its exit and is returning: joining
            # takes microseconds, and a thread is counted gone only when it
            # really is.
            for worker in self._state.workers():
                if worker.handle is not None:
                    worker.handle.join()
        self._destroyed = True
        self.deadlines.cancel()
        # Reap everything left, in enqueue order.
        for task in list(self._live):
            if task._status.is_done:
                self._reap(task)
            else:
                _log.warn(
                    "Pool {pool} destroyed while {task} is still {status}",
                    pool=self._state.name,
                    task=task.name,
                    status=task._status.name,
                )
        self.owners.clear()
        waiters, self._destroy_waiters = self._destroy_waiters, []
        for d in waiters:
            d.callback(None)
