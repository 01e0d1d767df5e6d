"""
Shared test helpers: a recording owner, scripted tasks, log capture, an
idle streaming producer.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from typing import Any

from twisted.logger import LogEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_lwstp import Diagnosis, ITaskOwner, Task, TaskReturn, TaskStatus, ThreadPool
from twisted_lwstp.testing import PoolHarness


class IdleProducer:
    """A streaming producer that does nothing when paused, resumed or stopped."""

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


@implementer(ITaskOwner)
class RecordingOwner:
    """
    An owner that records every writable() call as (task, status at the
    call) and then does what C{on_writable} says (default: nothing).
    """

    def __init__(
        self,
        pool: ThreadPool | None = None,
        on_writable: Callable[[Task], object] | None = None,
    ) -> None:
        self.pool = pool
        self.calls: list[tuple[Task, TaskStatus]] = []
        self.threads: list[int] = []
        self.on_writable = on_writable

    def writable(self, task: Task) -> None:
        self.calls.append((task, task.status))
        self.threads.append(threading.get_ident())
        if self.on_writable is not None:
            self.on_writable(task)

    def statuses(self) -> list[TaskStatus]:
        return [status for _, status in self.calls]


def syncing_owner(pool: ThreadPool) -> RecordingOwner:
    """
    An owner that answers every SYNC with task_sync and reaps done tasks,
    like the demo's connections.
    """

    def serve(task: Task) -> None:
        if task.status is TaskStatus.SYNCING:
            pool.task_sync(task)
        else:
            pool.task_status(task)

    return RecordingOwner(pool, serve)


class Script:
    """
    A task function that returns the given values in turn (then FINISHED),
    records the statuses it was told, and answers STOPPING with
    C{on_stopping} (default STOPPED).
    """

    def __init__(
        self,
        returns: Iterable[Any] = (),
        on_stopping: Any = TaskReturn.STOPPED,
    ) -> None:
        self.returns = list(returns)
        self.told: list[TaskStatus] = []
        self.on_stopping = on_stopping
        self.threads: list[str] = []

    def __call__(self, user: Any, status: TaskStatus) -> Any:
        self.told.append(status)
        self.threads.append(threading.current_thread().name)
        if status is TaskStatus.STOPPING:
            return self.on_stopping
        if self.returns:
            value = self.returns.pop(0)
            if isinstance(value, BaseException):
                raise value
            return value
        return TaskReturn.FINISHED


class HarnessCase(SynchronousTestCase):
    """
    A test case with stepped pools (L{PoolHarness}): each is destroyed at
    the end of the test, which must leave nothing: no task, no worker.
    """

    def harness(self, threads: int = 1, depth: int = 4, **kw: Any) -> PoolHarness:
        h = PoolHarness(threads, depth, **kw)
        h.pool.start()
        self.addCleanup(self.finish, h)
        return h

    def finish(self, h: PoolHarness) -> None:
        """Destroy C{h}'s pool and check that nothing is left."""
        d = h.pool.destroy()
        h.run()
        self.successResultOf(d)
        self.assertEqual(h.pool.diagnose(), Diagnosis(0, 0, 0, 0))
        self.assertTrue(all(w.exited for w in h.workers))


class CleanupLog:
    """
    A cleanup that records (owner, user, thread ident) for every call.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any]] = []
        self.threads: list[int] = []

    def __call__(self, owner: Any, user: Any) -> None:
        self.calls.append((owner, user))
        self.threads.append(threading.get_ident())


class LogCapture:
    """
    Collects twisted.logger events while in use as a context manager.
    """

    def __init__(self) -> None:
        self.events: list[LogEvent] = []

    def __enter__(self) -> LogCapture:
        globalLogPublisher.addObserver(self.events.append)
        return self

    def __exit__(self, *exc: object) -> None:
        globalLogPublisher.removeObserver(self.events.append)

    def matching(self, text: str) -> list[LogEvent]:
        from twisted.logger import formatEvent

        return [e for e in self.events if text in formatEvent(e)]


def temp_dir(case: Any, keep: bool = False) -> str:
    """
    A fresh directory under the system's temporary directory (trial's own
    mktemp() is relative to the working directory, which under pytest is
    the checkout).  Removed after the test unless C{keep}.
    """
    path = tempfile.mkdtemp(prefix=f"lwstp-{case.id().rsplit('.', 1)[-1][:40]}-")
    if not keep:
        case.addCleanup(shutil.rmtree, path, True)
    return path
