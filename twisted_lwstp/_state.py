# -*- test-case-name: tests.test_state,tests.test_pool,tests.test_pool_stateful -*-
"""
L{PoolState}: the state every thread of a pool shares, its one lock, and
every transition made under that lock, each once, as one method.

Runs in: any thread.  Each public method takes C{PoolState._lock} itself
for its whole body (marked C{# LOCK}), calls no user code and no Twisted,
cannot block on anything but the lock, and returns what its caller must do
once the lock is released (start a hired worker, wake the reactor).

Owner of, all guarded by C{_lock}: the wait queue (C{_backlog}), the staff
(workers and size), the mailbox of events for
the reactor, the counters behind C{diagnose()}, and the finishing flag.
It is also the one writer of each task's fields that threads share
(C{owner}, C{_status}, C{_stop}, C{_outlive}, C{_worker}, C{_sync_serial},
C{error}, C{_failure} and the timings; see L{twisted_lwstp._task}), and of
each L{Worker}'s C{item} and C{current}.  The ownership test
(C{tests/test_ownership.py}) holds every module to that.

The workers and the pool's size are its L{Staff}, guarded by the same
lock (L{twisted_lwstp._staff}).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from twisted.python.failure import Failure

from ._calls import Call
from ._diagnostics import LockedFigures
from ._errors import PoolFinished, QueueFull
from ._staff import Staff, Worker
from ._status import TaskStatus
from ._task import Task
from ._wakeup import Mailbox

_QUEUED = TaskStatus.QUEUED
_RUNNING = TaskStatus.RUNNING
_SYNCING = TaskStatus.SYNCING
_STOPPING = TaskStatus.STOPPING
_FINISHED = TaskStatus.FINISHED
_STOPPED = TaskStatus.STOPPED

# Mailbox event kinds, posted by workers as (kind, subject) pairs.
SYNC_EVENT = 0  # subject: a task that returned SYNC
DONE_EVENT = 1  # subject: a task that is done
EXIT_EVENT = 2  # subject: a worker that exited
WINDOW_EVENT = 3  # subject: a task whose window has messages (rule 15)

# What dequeue() did with a task.
DROPPED = 0  # it was queued: now STOPPED without having run
DONE = 1  # it was done already: nothing to do
ASKED = 2  # it runs: asked to stop


class PoolState:
    """
    The shared state of one pool and its locked transitions (see the
    module docstring for what it owns).

    @param name: The pool's name (set once, read by every thread).
    @param clock: Returns the time; called under the lock, from any thread.
    """

    def __init__(
        self,
        name: str,
        max_threads: int,
        min_threads: int,
        on_demand: bool,
        max_queue_depth: int,
        clock: Callable[[], float],
    ) -> None:
        # Set once, read by every thread.
        self.name = name
        self.max_queue_depth = max_queue_depth
        self._clock = clock
        # The lock, and what it guards.
        self._lock = threading.Lock()
        self._staff = Staff(name, max_threads, min_threads, on_demand)
        self._backlog: OrderedDict[Task | Call, None] = OrderedDict()
        self._queued_tasks = 0  # lws tasks in _backlog (calls do not count)
        self._mailbox: Mailbox[tuple[int, Any]] = Mailbox()
        self._running = 0  # tasks and calls on a worker
        self._ended = 0  # tasks ever done
        self._in_sync = 0  # tasks blocked in SYNC
        self._finishing = False

    # ------------------------------------------------------------------
    # Reading

    @property
    def finishing(self) -> bool:
        """Whether the pool is finishing (a plain read of one flag)."""
        return self._finishing

    @property
    def max_threads(self) -> int:
        """The most workers (a plain read)."""
        return self._staff.max_threads

    @property
    def min_threads(self) -> int:
        """The workers kept once started (a plain read)."""
        return self._staff.min_threads

    def figures(self) -> LockedFigures:
        """
        Every figure of the shared state, read in one critical section, so
        that they agree with each other.
        """
        with self._lock:  # LOCK (to the end of the block)
            staff = self._staff
            return LockedFigures(
                staff.max_threads, staff.min_threads, staff.alive,
                staff.serving - staff.excess, len(staff.idle), self._running,
                self._in_sync, len(self._backlog), self._queued_tasks, self._ended,
                self._finishing,
                tuple(w.handle for w in staff.workers if w.handle is not None),
            )

    def workers(self) -> list[Worker]:
        """The workers started and not yet buried, oldest first."""
        with self._lock:  # LOCK (to the end of the block)
            return list(self._staff.workers)

    def exited(self) -> tuple[bool, bool]:
        """
        Whether every worker has exited, and whether events wait for the
        reactor.
        """
        with self._lock:  # LOCK (to the end of the block)
            return self._staff.alive == 0, bool(self._mailbox)

    def take_events(self) -> list[tuple[int, Any]]:
        """Every event the workers posted, oldest first (reactor thread)."""
        with self._lock:  # LOCK (to the end of the block)
            return self._mailbox.take()

    # ------------------------------------------------------------------
    # Admission (reactor thread for tasks, any thread for calls)

    def admit(self, task: Task) -> Worker | None:
        """
        Admit C{task} (model rule 7): to an idle worker, to a worker hired
        for it (an on-demand pool), or to the queue.

        @return: A worker hired for it, whose thread the caller starts.
        @raise PoolFinished: the pool is finishing.
        @raise QueueFull: no worker for it and the queue is full.
        """
        hired = None
        with self._lock:  # LOCK (to the end of the block)
            if self._finishing:
                raise PoolFinished(f"pool {self.name!r} is finishing")
            staff = self._staff
            if staff.idle or (not self._backlog and staff.can_hire()):
                if staff.idle:
                    worker = staff.idle.pop()
                else:
                    worker = hired = staff.new_worker()
                self._begin(task, worker, task._t_created)
                worker.item = task
                worker.wake.release()
            elif self._queued_tasks < self.max_queue_depth:
                self._backlog[task] = None
                self._queued_tasks += 1
            else:
                raise QueueFull(
                    f"pool {self.name!r} is full: {staff.max_threads} threads busy "
                    f"and {self._queued_tasks} tasks queued "
                    f"(max_queue_depth={self.max_queue_depth})"
                )
        return hired

    def admit_call(self, call: Call) -> tuple[bool, Worker | None]:
        """
        Admit C{callInThread} work: never refused for lack of room.

        @return: Whether it was accepted (not while finishing), and a
            worker hired for it, whose thread the caller starts.
        """
        hired = None
        with self._lock:  # LOCK (to the end of the block)
            if self._finishing:
                return False, None
            staff = self._staff
            # (Work already queued means no hire: asked first, cheaply.)
            if staff.idle or (not self._backlog and staff.can_hire()):
                if staff.idle:
                    worker = staff.idle.pop()
                else:
                    worker = hired = staff.new_worker()
                self._running += 1
                worker.current = call
                worker.item = call
                worker.wake.release()
            else:
                self._backlog[call] = None
        return True, hired

    # ------------------------------------------------------------------
    # A worker's transitions (its own thread)

    def set_outlive(self, task: Task) -> None:
        """The task returned a value carrying OUTLIVE (model rule 5)."""
        with self._lock:  # LOCK (to the end of the block)
            task._outlive = True

    def enter_sync(self, task: Task, now: float) -> bool | None:
        """
        The task returned SYNC: block it in SYNC and post the event.

        @return: None if it does not enter SYNC (a stop was requested: it
            is told STOPPING; or it has no owner: a check-in); else whether
            the caller must wake the reactor.
        """
        with self._lock:  # LOCK (to the end of the block)
            if task._stop or task.owner is None:
                return None
            task._run += now - task._t_state
            task._t_state = now
            task._status = _SYNCING
            task._sync_serial += 1
            self._in_sync += 1
            return self._mailbox.post((SYNC_EVENT, task))

    def post_window(self, task: Task) -> bool:
        """A batch waits in the task's window (rule 15): post; wake the reactor?"""
        with self._lock:  # LOCK (to the end of the block)
            return self._mailbox.post((WINDOW_EVENT, task))

    def end_task(
        self, task: Task, worker: Worker, final: TaskStatus, error: Failure | None, now: float
    ) -> tuple[Task | Call | None, bool]:
        """
        The task is done: record how, post the event, and take the
        worker's next work in the same critical section.

        @return: The next work (or None), and whether the caller must
            wake the reactor.
        """
        event = (DONE_EVENT, task)
        with self._lock:  # LOCK (to the end of the block)
            if error is not None:
                task.error = error.value
                task._failure = error
            task._run += now - task._t_state
            task._t_state = task._t_ended = now
            task._status = final
            task._worker = None
            self._running -= 1
            self._ended += 1
            wake = self._mailbox.post(event)
            return self._next(worker, now), wake

    def end_call(self, worker: Worker) -> Task | Call | None:
        """
        A worker's C{callInThread} work is over: its next work, or None.
        """
        with self._lock:  # LOCK (to the end of the block)
            self._running -= 1
            # No clock read: only a task taken next needs the time, and
            # _take reads it then.
            return self._next(worker, None)

    def worker_exit(self, worker: Worker) -> bool:
        """
        A worker woken with no work is exiting.

        @return: Whether the caller must wake the reactor (to bury it).
        """
        with self._lock:  # LOCK (to the end of the block)
            self._staff.exited()
            return self._mailbox.post((EXIT_EVENT, worker))

    # ------------------------------------------------------------------
    # Stops and releases (reactor thread)

    def release(self, task: Task, stop: bool, now: float) -> bool:
        """
        Let C{task} out of SYNC, told RUNNING, or STOPPING if C{stop} or a
        stop was requested.

        @return: Whether it was blocked in SYNC (else nothing is done).
        """
        with self._lock:  # LOCK (to the end of the block)
            if task._status is not _SYNCING:
                return False
            self._release(task, stop, now)
            return True

    def dequeue(self, task: Task, now: float) -> int:
        """
        Stop C{task}: L{DROPPED} if it was queued (now STOPPED without
        running), L{DONE} if done already, L{ASKED} if it runs (it stops
        at its next check-in, or now if it is blocked in SYNC).
        """
        with self._lock:  # LOCK (to the end of the block)
            status = task._status
            if status is _QUEUED:
                self._drop_queued(task, now)
                return DROPPED
            if status.is_done:
                return DONE
            self._request_stop(task, now)
            return ASKED

    def detach(self, tasks: list[Task], now: float) -> list[Task]:
        """
        Their owner is going (model rules 4 and 5): detach every task from
        it.  Queued tasks end STOPPED without running; running tasks not
        OUTLIVE are asked to stop; OUTLIVE tasks blocked in SYNC continue as
        after a check-in.

        @return: The tasks that are done now, to be reaped.
        """
        done: list[Task] = []
        with self._lock:  # LOCK (to the end of the block)
            for task in tasks:
                task.owner = None
                status = task._status
                if status is _QUEUED:
                    self._drop_queued(task, now)
                    done.append(task)
                elif status.is_done:
                    done.append(task)
                elif task._outlive:
                    if status is _SYNCING:
                        self._release(task, False, now)
                else:
                    self._request_stop(task, now)
        return done

    # ------------------------------------------------------------------
    # Life and size (model rules 9 and 14)

    def start(self, now: float) -> list[Worker]:
        """
        The pool starts: workers may be hired from now on.

        @return: The workers hired now (up to C{min}, and for queued
            work), whose threads the caller starts.
        """
        with self._lock:  # LOCK (to the end of the block)
            self._staff.start()
            hired = self._hires(now)
            self._staff.reverse_idle()
            return hired

    def finish(self, now: float) -> list[Task] | None:
        """
        Accept nothing new (model rule 9): every queued task ends STOPPED,
        running tasks are asked to stop (those in SYNC released, told
        STOPPING), idle workers exit; queued C{callInThread} work stays.

        @return: The tasks stopped in the queue, oldest first; None if the
            pool was finishing already.
        """
        stopped: list[Task] = []
        with self._lock:  # LOCK (to the end of the block)
            if self._finishing:
                return None
            self._finishing = True
            # Walk a snapshot: lws's own finish() loses its place after
            # moving the first queued task; this stops all of them.
            for item in list(self._backlog):
                if isinstance(item, Task):
                    self._drop_queued(item, now)
                    stopped.append(item)
            for worker in self._staff.workers:
                current = worker.current
                if isinstance(current, Task):
                    self._request_stop(current, now)
            for worker in self._staff.stop_hiring():
                self._dismiss(worker)
        return stopped

    def resize(self, min_threads: int, max_threads: int, now: float) -> list[Worker]:
        """
        New bounds.  Shrinking dismisses idle workers now (the coldest
        first) and busy ones when their current work ends; it never
        interrupts work.  Growing hires for queued work.

        @return: The workers hired, whose threads the caller starts.
        """
        with self._lock:  # LOCK (to the end of the block)
            for worker in self._staff.set_bounds(min_threads, max_threads):
                self._dismiss(worker)
            return self._hires(now)

    def hire_one(self, now: float) -> list[Worker]:
        """One more worker, if started and below the most (C{startAWorker})."""
        with self._lock:  # LOCK (to the end of the block)
            return [self._hire(now)] if self._staff.can_grow() else []

    def dismiss_one(self) -> None:
        """One worker fewer: an idle one now, else a busy one when its work
        ends (C{stopAWorker})."""
        with self._lock:  # LOCK (to the end of the block)
            worker = self._staff.one_fewer()
            if worker is not None:
                self._dismiss(worker)

    def unhire(self, worker: Worker) -> None:
        """
        Undo a hire whose thread did not start: its work goes back to the
        head of the queue, so nothing is lost.
        """
        with self._lock:  # LOCK (to the end of the block)
            self._staff.unregister(worker)
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

    def bury(self, worker: Worker) -> None:
        """Forget a worker that has exited and been joined."""
        with self._lock:  # LOCK (to the end of the block)
            self._staff.bury(worker)

    # ------------------------------------------------------------------
    # Helpers: the caller holds the lock

    def _begin(self, task: Task, worker: Worker, now: float) -> None:
        task._status = _STOPPING if task._stop else _RUNNING
        task._worker = worker
        task._t_started = now
        task._t_state = now
        worker.current = task
        self._running += 1

    def _take(self, worker: Worker, now: float | None) -> Task | Call:
        item, _ = self._backlog.popitem(last=False)
        if isinstance(item, Task):
            self._queued_tasks -= 1
            self._begin(item, worker, self._clock() if now is None else now)
        else:
            worker.current = item
            self._running += 1
        return item

    def _drop_queued(self, task: Task, now: float) -> None:
        del self._backlog[task]
        self._queued_tasks -= 1
        task._status = _STOPPED
        task._stop = True
        task._t_state = task._t_ended = now
        self._ended += 1

    def _request_stop(self, task: Task, now: float) -> None:
        task._stop = True
        status = task._status
        if status is _RUNNING:
            task._status = _STOPPING
        elif status is _SYNCING:
            self._release(task, True, now)

    def _release(self, task: Task, stop: bool, now: float) -> None:
        task._sync += now - task._t_state
        task._t_state = now
        if stop:
            task._stop = True
        task._status = _STOPPING if task._stop else _RUNNING
        self._in_sync -= 1
        worker = task._worker
        assert worker is not None
        worker.wake.release()

    def _dismiss(self, worker: Worker) -> None:
        # Tell an idle worker, or one whose work just ended, to exit: it
        # wakes (or blocks once more and wakes at once) with no work.
        worker.current = None
        worker.item = None
        self._staff.dismissed()
        worker.wake.release()

    def _next(self, worker: Worker, now: float | None) -> Task | Call | None:
        # What a worker does after its work: exit if the pool has shrunk
        # below its workers (rule 14), else the oldest queued work, or
        # nothing (it goes idle; when the pool is finishing it exits).
        # What it was handed is over: forget it, so as to keep nothing
        # of it alive.
        worker.item = None
        if self._staff.take_excess():
            self._dismiss(worker)
            return None
        if self._backlog:
            return self._take(worker, now)
        if self._finishing:
            self._dismiss(worker)
        else:
            worker.current = None
            self._staff.idle.append(worker)
        return None

    def _hire(self, now: float) -> Worker:
        # A new worker handed the oldest queued work, or else idle.
        worker = self._staff.new_worker()
        if self._backlog:
            worker.item = self._take(worker, now)
            worker.wake.release()
        else:
            self._staff.idle.append(worker)
        return worker

    def _hires(self, now: float) -> list[Worker]:
        # Hire what the pool lacks now (see Staff.hires_wanted).
        return [self._hire(now) for _ in range(self._staff.hires_wanted(len(self._backlog)))]
