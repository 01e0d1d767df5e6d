# -*- test-case-name: tests.test_pool,tests.test_pool_resize,tests.test_service -*-
"""
L{PoolLife}: a pool's life: starting its workers' threads, finishing,
destroying, Twisted's blocking C{stop}, and resizing (model rules 9 and
14).

Runs in: the reactor thread (C{start}, C{finish}, C{destroy}, C{stop}: the
pool checked the thread first), except C{start_workers} and C{resize},
which any thread may call, as Twisted's C{adjustPoolsize}.  Transitions go
through L{PoolState}; a worker's thread is started after the lock is
released, by the thread that hired it.

Owner of: each worker's C{handle}, set once when its thread starts.  The
runner is set once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from ._reactorside import ReactorSide
from ._staff import Worker
from ._state import PoolState
from ._worker import WorkerRunner

_log = Logger(namespace="twisted_lwstp")


class PoolLife:
    """
    Start, finish, destroy, stop, resize.

    @param work: A worker's life as steps (L{WorkerSide.work}).
    @param runner: Starts the workers' threads.
    """

    def __init__(self, state: PoolState, reactor_side: ReactorSide,
                 work: Callable[[Worker], Iterator[object]], runner: WorkerRunner,
                 clock: Callable[[], float]) -> None:
        # All set once.
        self._state = state
        self._reactor_side = reactor_side
        self._work = work
        self._runner = runner
        self._clock = clock

    def start_workers(self, hired: list[Worker] | Worker | None) -> None:
        """
        Start the threads of workers just hired (any thread, no lock held).
        A thread that cannot start is logged and its hire undone: work it
        was handed goes back to the head of the queue, so nothing is lost.
        """
        if hired is None:
            return
        for worker in hired if isinstance(hired, list) else (hired,):
            try:
                worker.handle = self._runner.start_worker(
                    worker.name, self._work(worker), worker.wake
                )
            except Exception:
                _log.failure("Pool {pool} could not start {worker}", pool=self._state.name,
                             worker=worker.name)
                self._state.unhire(worker)

    def start(self) -> None:
        """Start the workers: up to C{min}, and for work queued before."""
        self.start_workers(self._state.start(self._clock()))

    def resize(self, low: int, high: int) -> None:
        """New bounds (see L{PoolState.resize}); any thread."""
        self.start_workers(self._state.resize(low, high, self._clock()))

    def finish(self) -> None:
        """
        Accept nothing new (model rule 9); the owners of the tasks stopped
        in the queue are told.
        """
        stopped = self._state.finish(self._clock())
        if stopped is not None:
            self._reactor_side.finished_queue(stopped)

    def destroy(self) -> Deferred[None]:
        """
        Finish, wait for every worker to exit without blocking the reactor,
        then reap everything left; the Deferred fires when all that is done.
        """
        self.finish()
        done = self._reactor_side.when_destroyed()
        if not done.called:
            self._reactor_side.destroy()
        return done

    def stop(self, timeout: float | None) -> None:
        """
        Twisted's blocking stop: finish, join every worker (at most
        C{timeout} seconds each), then complete the destroy at once.
        """
        self.finish()
        for worker in self._state.workers():
            if worker.handle is not None:
                worker.handle.join(timeout)
        self._reactor_side.drain()
        self._reactor_side.complete_destroy(force=True)
