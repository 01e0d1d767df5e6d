# -*- test-case-name: tests.test_testing -*-
"""
Deterministic helpers for testing code that uses a L{ThreadPool}, without
real threads.

A L{PoolHarness} builds a pool whose workers are stepped by the test: each
L{ManualWorker.step} makes one call of a task function and tells what it
returned.  Wake-ups the workers send to the reactor are queued on a
L{StepReactor} (a C{MemoryReactorClock} that also takes
C{callFromThread}) and delivered by L{PoolHarness.flush}.  Everything runs
in the test's thread, so a test reads like a sequence diagram::

    harness = PoolHarness(threads=1, max_queue_depth=2)
    harness.pool.start()
    task = harness.pool.enqueue(owner, my_task)
    harness.step()          # my_task(user, RUNNING) -> SYNC
    harness.flush()         # owner.writable(task) runs now
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from twisted.internet.testing import MemoryReactorClock

from ._pool import ThreadPool
from ._status import TaskStatus
from ._task import Task
from ._worker import BLOCK, SyncWait

__all__ = [
    "ManualRunner",
    "ManualWorker",
    "PoolHarness",
    "Step",
    "StepReactor",
    "WorkerBlocked",
]


class WorkerBlocked(Exception):
    """
    A worker cannot make progress: it is idle or blocked in SYNC and nobody
    has woken it.
    """


class Step(NamedTuple):
    """
    One call of a task function, as made by L{ManualWorker.step}.
    """

    task: Task
    """The task that was called."""
    returned: object
    """What it returned (None if it raised: see C{task.error})."""
    status: TaskStatus
    """The task's status right after the pool handled the return."""


class StepReactor(MemoryReactorClock):
    """
    A C{MemoryReactorClock} that also accepts C{callFromThread}; the calls
    wait in L{from_threads} until L{run_from_threads}.
    """

    def __init__(self) -> None:
        super().__init__()
        self.from_threads: list[tuple[Callable[..., object], tuple[Any, ...], dict[str, Any]]] = []

    def callFromThread(self, f: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        self.from_threads.append((f, args, kwargs))

    def run_from_threads(self) -> int:
        """
        Run every queued C{callFromThread} call (and any they queue);
        return how many ran.
        """
        ran = 0
        while self.from_threads:
            f, args, kwargs = self.from_threads.pop(0)
            f(*args, **kwargs)
            ran += 1
        return ran


class ManualWorker:
    """
    A worker that runs only when the test steps it.
    """

    def __init__(self, name: str, steps: Iterator[object], wake: threading.Lock,
                 blocked: bool = False) -> None:
        self.name = name
        self._steps = steps
        self._wake = wake
        self._blocked = blocked
        self.exited = False

    def __repr__(self) -> str:
        state = "exited" if self.exited else "blocked" if self._blocked else "ready"
        return f"<ManualWorker {self.name} {state}>"

    @property
    def can_step(self) -> bool:
        """
        Whether L{step} would make progress now.
        """
        if self.exited:
            return False
        if not self._blocked:
            return True
        # The wake lock is released when someone woke us; peek by taking it
        # and remembering that we did.
        if self._wake.acquire(False):
            self._blocked = False
            return True
        return False

    def step(self) -> Step | None:
        """
        Run until the next call of a task function has been made and
        handled; return it.  Returns None if the worker only moved without
        calling a task (it ran Twisted-style work, went idle, or exited).

        @raise WorkerBlocked: it is waiting and nobody woke it.
        """
        if not self.can_step:
            raise WorkerBlocked(f"{self.name} is {'exited' if self.exited else 'waiting'}")
        while True:
            try:
                signal = next(self._steps)
            except StopIteration:
                self.exited = True
                return None
            if signal is BLOCK:
                self._blocked = True
                if not self.can_step:
                    return None
                continue
            if isinstance(signal, SyncWait):
                self._blocked = True
                task = signal.task
                assert isinstance(task, Task)
                return Step(task, task._last_return, task._status)
            if isinstance(signal, Task):
                return Step(signal, signal._last_return, signal._status)
            return None

    def join(self, timeout: float | None = None) -> None:
        """
        Step until the worker exits (what a thread's join waits for).

        @raise WorkerBlocked: it is waiting and nobody woke it.
        """
        while not self.exited:
            self.step()

    def is_alive(self) -> bool:
        return not self.exited


class ManualRunner:
    """
    A worker runner (the C{runner} argument of L{ThreadPool}) that starts
    a L{ManualWorker} for each worker instead of a thread.
    """

    def __init__(self) -> None:
        self.workers: list[ManualWorker] = []

    def start_worker(
        self, name: str, steps: Iterator[object], wake: threading.Lock
    ) -> ManualWorker:
        # A pool's workers start waiting on their wake lock.
        worker = ManualWorker(name, steps, wake, blocked=True)
        signal = next(steps)
        assert signal is BLOCK, signal
        self.workers.append(worker)
        return worker


class PoolHarness:
    """
    A L{ThreadPool} with stepped workers on a L{StepReactor}.

    @ivar pool: The pool (not started: call C{pool.start()}).
    @ivar reactor: Its reactor; C{reactor.advance(seconds)} moves its clock.
    @ivar runner: Its L{ManualRunner}; C{runner.workers} once started.
    """

    def __init__(
        self,
        threads: int = 1,
        max_queue_depth: int = 8,
        *,
        name: str = "test",
        sync_timeout: float = 300.0,
        reactor: StepReactor | None = None,
    ) -> None:
        self.reactor = reactor if reactor is not None else StepReactor()
        self.runner = ManualRunner()
        self.pool = ThreadPool(
            threads,
            max_queue_depth,
            name,
            reactor=self.reactor,
            sync_timeout=sync_timeout,
            runner=self.runner,
        )

    @property
    def workers(self) -> list[ManualWorker]:
        return self.runner.workers

    def step(self, worker: int | ManualWorker | None = None) -> Step | None:
        """
        Step one worker (by index, or the first that can move).

        @raise WorkerBlocked: no worker can move.
        """
        if worker is None:
            for candidate in self.workers:
                if candidate.can_step:
                    return candidate.step()
            raise WorkerBlocked("no worker can move")
        if isinstance(worker, int):
            worker = self.workers[worker]
        return worker.step()

    def flush(self) -> int:
        """
        Deliver the wake-ups workers sent: owners get their C{writable()}
        calls, ownerless tasks are reaped.  Returns how many ran.
        """
        return self.reactor.run_from_threads()

    def run(self, max_steps: int = 100_000) -> int:
        """
        Step every worker and flush until nothing can move; returns how many
        steps were taken.

        @raise RuntimeError: still moving after C{max_steps} steps.
        """
        taken = 0
        while True:
            moved = False
            for worker in self.workers:
                while worker.can_step:
                    worker.step()
                    taken += 1
                    moved = True
                    if taken > max_steps:
                        raise RuntimeError(f"still running after {max_steps} steps")
            if self.flush():
                moved = True
            if not moved:
                return taken
