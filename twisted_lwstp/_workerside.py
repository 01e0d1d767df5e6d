# -*- test-case-name: tests.test_pool,tests.test_pool_threads -*-
"""
L{WorkerSide}: a worker's life, running tasks and C{callInThread} work.

Runs in: each worker thread (or stepped by a test through
L{twisted_lwstp.testing}).  A worker's life is a generator of steps (see
L{twisted_lwstp._worker}); the code between two steps is what one thread
runs.  It calls user code (the task function, C{callInThread} work) only
while holding no lock, and makes every shared transition through the
pool's L{PoolState}, which takes the lock.

Owner of: nothing shared.  A worker's locals, and its
C{Worker.sync_wait}, are its own thread's; C{task._last_return} is
written by the worker running the task (read by L{twisted_lwstp.testing}
between steps).  It reaches the reactor only through the mailbox and
C{wake_reactor}.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator

from twisted.logger import Logger
from twisted.python.failure import Failure

from ._calls import Call
from ._errors import TaskFailed
from ._staff import Worker
from ._state import _FINISHED, _STOPPED, _STOPPING, PoolState
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


class WorkerSide:
    """
    What a worker thread runs, for one pool.

    @param state: The pool's shared state (every transition goes there).
    @param clock: Returns the time (called from worker threads).
    @param wake_reactor: Asks the reactor thread to drain the mailbox
        (one C{callFromThread}; the mailbox coalesces them).
    """

    def __init__(self, state: PoolState, clock: Callable[[], float],
                 wake_reactor: Callable[[], object]) -> None:
        # All set once.
        self._state = state
        self._clock = clock
        self._wake_reactor = wake_reactor

    def work(self, worker: Worker) -> Iterator[object]:
        """
        A worker's life as steps: wait to be handed work, run it and
        whatever is queued after it, go idle, repeat; exit when woken with
        nothing.
        """
        state = self._state
        item: Task | Call | None = None
        while True:
            if item is None:
                yield BLOCK
                # Whoever woke us set item under the lock before releasing
                # our wake lock; None means exit.
                item = worker.item
                if item is None:
                    if state.worker_exit(worker):
                        self._wake_reactor()
                    return
            if isinstance(item, Task):
                item = yield from self._run_task(worker, item)
            else:
                item.run()
                item = state.end_call(worker)
                yield STEP

    def _run_task(
        self, worker: Worker, task: Task
    ) -> Generator[object, None, Task | Call | None]:
        """
        Call a task until it is done; return the next work for this worker
        (taken in the same critical section as the task's end) or None.
        """
        state = self._state
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
                state.set_outlive(task)
            if base == 0:  # CHECKING_IN
                yield task
                continue
            if base == 1:  # SYNC
                wake = state.enter_sync(task, self._clock())
                if wake is None:
                    # Stopped while it ran (it is told STOPPING now), or
                    # nobody to sync with (a check-in).
                    yield task
                    continue
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
            _log.failure(
                "Task {task} of pool {pool} failed", failure=error,
                task=task.name, pool=state.name,
            )
        item, wake = state.end_task(task, worker, final, error, self._clock())
        if wake:
            self._wake_reactor()
        yield task
        return item
