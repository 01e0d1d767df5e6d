# -*- test-case-name: tests.test_pool,tests.test_pool_stateful,tests.test_pool_resize -*-
"""
The locked state machine: what every thread shares, and the transitions
made under the pool lock.

Runs in: any thread, always holding C{PoolCore._lock}.  Every method here
ends in C{_locked}: its caller holds the lock.  No Twisted, no user code:
nothing here can block, call out or raise, so a critical section is just
the few lines of bookkeeping written out at its call site (marked
C{# LOCK} / C{# UNLOCK} there, as lws marks its own).

State owned (all guarded by C{_lock}): the wait queue, the idle workers,
the list of workers and the pool's size (most, min, workers staffed and to
dismiss: model rule 14), the mailbox of events for the reactor, the
counters behind C{diagnose()}, the finishing flag, and of each task its
C{_status}, C{_stop}, C{_outlive}, C{owner} and C{_worker}.

The worker-side transitions of a task's life (see the diagram in
L{twisted_lwstp._pool}) are made here, or in the two hot paths that would
pay an extra call to come here: a worker's end of task
(L{twisted_lwstp._worklife}) and admission (L{twisted_lwstp._pool}).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from ._status import TaskStatus
from ._task import Task
from ._wakeup import Mailbox
from ._worker import SyncWait, WorkerHandle

_QUEUED = TaskStatus.QUEUED
_RUNNING = TaskStatus.RUNNING
_SYNCING = TaskStatus.SYNCING
_STOPPING = TaskStatus.STOPPING
_FINISHED = TaskStatus.FINISHED
_STOPPED = TaskStatus.STOPPED

# Mailbox event kinds: (kind, subject) pairs posted by workers.
SYNC_EVENT = 0  # subject: a task that returned SYNC
DONE_EVENT = 1  # subject: a task that is done
EXIT_EVENT = 2  # subject: a worker that exited


class Call(Protocol):
    """
    Work handed over through C{callInThread*}: run once, then forgotten.
    """

    def run(self) -> None:
        """
        Run the work in the current (worker) thread; never raises.
        """


class Worker:
    """
    One worker: its wake lock and what it is doing.
    """

    __slots__ = ("index", "name", "wake", "item", "current", "handle", "sync_wait")

    def __init__(self, index: int, name: str) -> None:
        self.index = index
        self.name = name
        # Held by the worker while it runs; released by exactly one party to
        # wake it, always while holding the pool lock and after moving the
        # task (or worker) out of its waiting state, so that a wake-up is
        # never lost or doubled.
        self.wake = threading.Lock()
        self.wake.acquire()
        # Guarded by the pool lock: work handed to this idle worker.
        self.item: Task | Call | None = None
        # Guarded by the pool lock: what the worker is running.
        self.current: Task | Call | None = None
        # Set once, by the thread that hired the worker (any thread, after
        # releasing the pool lock); read by the reactor thread to join it.
        # None until then: a worker that exits before its handle is set is
        # not joined (it is returning already).
        self.handle: WorkerHandle | None = None
        # Owned by the worker's own thread.
        self.sync_wait = SyncWait()


class PoolCore:
    """
    The shared state of a pool and its locked transitions.
    """

    def _init_core(
        self,
        name: str,
        nthreads: int,
        min_threads: int,
        on_demand: bool,
        max_queue_depth: int,
        clock: Callable[[], float],
    ) -> None:
        # Set once, read by every thread.
        self.name = name
        self._worker_prefix = name  # workers are named <prefix>-<n>
        self._clock = clock
        self._max_queue_depth = max_queue_depth
        self._on_demand = on_demand  # start workers when work finds none idle
        # Guarded by _lock.
        self._lock = threading.Lock()
        self._nthreads = nthreads  # the most workers (rule 14; Twisted's max)
        self._min_threads = min_threads  # workers kept once started (min)
        self._hiring = False  # started and not finishing: workers may start
        self._staffed = 0  # live workers not told to exit
        self._excess = 0  # busy workers to dismiss when their work ends
        self._next_index = 0  # the number in the next worker's name
        self._workers: list[Worker] = []  # started and not yet joined
        self._backlog: OrderedDict[Task | Call, None] = OrderedDict()
        self._queued_tasks = 0  # lws tasks in _backlog (calls do not count)
        self._idle: list[Worker] = []
        self._mailbox: Mailbox[tuple[int, Any]] = Mailbox()
        self._running = 0
        self._ended = 0  # tasks ever done; done-but-unreaped = _ended - _reaped
        self._threads = 0
        self._in_sync = 0  # tasks blocked in SYNC
        self._finishing = False


    def _begin_locked(self, task: Task, worker: Worker, now: float) -> None:
        task._status = _STOPPING if task._stop else _RUNNING
        task._worker = worker
        task._t_started = now
        task._t_state = now
        worker.current = task
        self._running += 1

    def _take_locked(self, worker: Worker, now: float | None) -> Task | Call:
        item, _ = self._backlog.popitem(last=False)
        if isinstance(item, Task):
            self._queued_tasks -= 1
            self._begin_locked(item, worker, self._clock() if now is None else now)
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
        self._in_sync -= 1
        worker = task._worker
        assert worker is not None
        worker.wake.release()

    def _dismiss_locked(self, worker: Worker) -> None:
        """
        Tell an idle worker, or one whose work just ended, to exit: it
        wakes (or blocks once more and wakes at once) with no work.
        """
        worker.current = None
        worker.item = None
        self._staffed -= 1
        worker.wake.release()

    def _wake_idle_locked(self) -> None:
        for worker in self._idle:
            self._dismiss_locked(worker)
        self._idle.clear()

    def _next_locked(self, worker: Worker, now: float | None) -> Task | Call | None:
        """
        What C{worker} does after finishing its work: exit if the pool has
        shrunk below its workers (rule 14), else the oldest queued work, or
        nothing (it goes idle; when the pool is finishing it exits).
        """
        if self._excess:
            self._excess -= 1
            self._dismiss_locked(worker)
            return None
        if self._backlog:
            return self._take_locked(worker, now)
        if self._finishing:
            self._dismiss_locked(worker)
        else:
            worker.current = None
            self._idle.append(worker)
        return None

    # -- size (model rule 14) -------------------------------------------

    def _hire_locked(self, now: float) -> Worker:
        """
        A new worker, counted and registered, handed the oldest queued
        work or else idle.  The caller starts its thread once the lock is
        released (C{PoolLife._start_workers}).
        """
        worker = self._new_worker_locked()
        if self._backlog:
            worker.item = self._take_locked(worker, now)
            worker.wake.release()
        else:
            self._idle.append(worker)
        return worker

    def _new_worker_locked(self) -> Worker:
        """
        A new worker, counted and registered, with no work yet.
        """
        index = self._next_index
        self._next_index += 1
        worker = Worker(index, f"{self._worker_prefix}-{index}")
        self._workers.append(worker)
        self._staffed += 1
        self._threads += 1
        return worker

    def _can_hire_now_locked(self) -> bool:
        """
        Whether work that finds no idle worker starts a new one (rule 14):
        an on-demand pool, started, below its most, nothing queued ahead.
        """
        return (
            self._on_demand and self._hiring
            and self._staffed < self._nthreads and not self._backlog
        )

    def _hires_locked(self, now: float) -> list[Worker]:
        """
        Hire what the pool lacks now: up to C{min} workers, and one per
        queued item (on demand) or up to the most (otherwise).
        """
        if not self._hiring:
            return []
        room = self._nthreads - self._staffed
        wanted = min(len(self._backlog), room) if self._on_demand else room
        count = min(room, max(self._min_threads - self._staffed, wanted))
        return [self._hire_locked(now) for _ in range(count)]

    def _unhire_locked(self, worker: Worker) -> None:
        """
        Undo L{_hire_locked} for a worker whose thread did not start: its
        work goes back to the head of the queue.
        """
        self._workers.remove(worker)
        self._staffed -= 1
        self._threads -= 1
        if worker in self._idle:
            self._idle.remove(worker)
        item, worker.item, worker.current = worker.item, None, None
        if item is None:
            return
        self._running -= 1
        if isinstance(item, Task):
            item._status = _QUEUED
            item._worker = None
            item._t_started = None
            self._queued_tasks += 1
        self._backlog[item] = None
        self._backlog.move_to_end(item, last=False)

    def _resize_locked(self, min_threads: int, max_threads: int) -> None:
        """
        New bounds.  Shrinking dismisses idle workers now (the coldest
        first) and busy ones when their current work ends; it never
        interrupts work.
        """
        self._min_threads = min_threads
        self._nthreads = max_threads
        over = self._staffed - max_threads
        while over > 0 and self._idle:
            self._dismiss_locked(self._idle.pop(0))
            over -= 1
        self._excess = max(0, over)
