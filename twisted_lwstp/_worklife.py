# -*- test-case-name: tests.test_pool,tests.test_pool_threads -*-
"""
The worker's life: running a task, the SYNC wait, running a Twisted-style
call.

Runs in: each worker thread (or stepped by a test through
L{twisted_lwstp.testing}).  A worker's life is a generator of steps (see
L{twisted_lwstp._worker}); the code between two steps is what one thread
runs.  It calls user code (the task function, C{callInThread} work) only
while holding no lock, and takes the pool lock (L{twisted_lwstp._core})
for the transitions, marked C{# LOCK} / C{# UNLOCK}.

State owned: nothing beyond the worker's own locals and its
C{Worker.sync_wait}; what it shares, it shares under the pool lock.  It
reaches the reactor only through the mailbox and C{_wake_reactor}.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextvars import Context, copy_context
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure

from ._core import (
    _FINISHED,
    _STOPPED,
    _STOPPING,
    _SYNCING,
    DONE_EVENT,
    EXIT_EVENT,
    SYNC_EVENT,
    Call,
    PoolCore,
    Worker,
)
from ._errors import TaskFailed
from ._status import TaskReturn
from ._task import Task
from ._worker import BLOCK, STEP

_log = Logger(namespace="twisted_lwstp")

# What a valid return value means: (base return, carries OUTLIVE).
_DECODE: dict[int, tuple[int, bool]] = {
    base | outlive: (base, bool(outlive))
    for base in (0, 1, 2, 3)
    for outlive in (0, TaskReturn.OUTLIVE.value)
}


class CallInThread:
    """
    Work handed over through the Twisted-compatible C{callInThread*}: run
    once in a worker, result given to C{on_result} there, then forgotten.
    """

    __slots__ = ("_work",)

    def __init__(
        self,
        on_result: Callable[[bool, Any], object] | None,
        f: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        # One slot, set to None once the work has run (nothing of it is
        # kept): one load and one store on the hot path.
        self._work: tuple[Context, Callable[[bool, Any], object] | None,
                          Callable[..., Any], tuple[Any, ...], dict[str, Any]] | None = (
            copy_context(), on_result, f, args, kwargs
        )

    def run(self) -> None:
        work = self._work
        assert work is not None, "a call runs once"
        self._work = None
        ctx, on_result, f, args, kwargs = work
        del work
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


class WorkerLife(PoolCore):
    """
    What a worker thread runs.
    """

    def _init_worklife(self, wake_reactor: Callable[[], object]) -> None:
        # Set once: asks the reactor thread to drain the mailbox (one
        # callFromThread; the mailbox coalesces them).
        self._wake_reactor = wake_reactor


    def _work(self, worker: Worker) -> Iterator[object]:
        """
        A worker's life as steps: wait to be handed work, run it and
        whatever is queued after it, go idle, repeat; exit when woken with
        nothing while the pool is finishing.
        """
        lock = self._lock
        item: Task | Call | None = None
        while True:
            if item is None:
                yield BLOCK
                # Whoever woke us set item under the lock before releasing
                # our wake lock; None means exit.
                item = worker.item
                worker.item = None
                if item is None:
                    with lock:  # LOCK (to the end of the block)
                        self._threads -= 1
                        wake = self._mailbox.post((EXIT_EVENT, worker))
                    if wake:
                        self._wake_reactor()
                    return
            if isinstance(item, Task):
                item = yield from self._run_task(worker, item)
            else:
                item.run()
                lock.acquire()  # LOCK
                self._running -= 1
                # No clock read: only a task taken next needs the time, and
                # _take_locked reads it then.
                item = self._next_locked(worker, None)
                lock.release()  # UNLOCK
                yield STEP


    def _run_task(
        self, worker: Worker, task: Task
    ) -> Generator[object, None, Task | Call | None]:
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
                with lock:  # LOCK (to the end of the block)
                    task._outlive = True
            if base == 0:  # CHECKING_IN
                yield task
                continue
            if base == 1:  # SYNC
                now = self._clock()
                lock.acquire()  # LOCK
                if task._stop:
                    # Stopped while it ran: it is told STOPPING instead.
                    lock.release()  # UNLOCK
                    yield task
                    continue
                if task.owner is None:
                    # Nobody to sync with: counts as a check-in.
                    lock.release()  # UNLOCK
                    yield task
                    continue
                task._run += now - task._t_state
                task._t_state = now
                task._status = _SYNCING
                self._in_sync += 1
                wake = self._mailbox.post((SYNC_EVENT, task))
                lock.release()  # UNLOCK
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
        event = (DONE_EVENT, task)
        lock.acquire()  # LOCK
        task._run += now - task._t_state
        task._t_state = task._t_ended = now
        task._status = final
        task._worker = None
        self._running -= 1
        self._ended += 1
        wake = self._mailbox.post(event)
        item = self._next_locked(worker, now)
        lock.release()  # UNLOCK
        if wake:
            self._wake_reactor()
        yield task
        return item
