# -*- test-case-name: tests.test_service -*-
"""
L{ThreadPoolService}: a pool's life tied to a Twisted service hierarchy.
"""

from __future__ import annotations

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from ._pool import ThreadPool

_log = Logger(namespace="twisted_lwstp")


class ThreadPoolService(Service):
    """
    Starts a L{ThreadPool} with the service and finishes and destroys it
    when the service stops.

    @ivar pool: The pool.
    @ivar shutdown_warning: While a stop waits for tasks, every this many
        seconds it logs their names and states (and keeps waiting).
    """

    def __init__(self, pool: ThreadPool, shutdown_warning: float = 5.0) -> None:
        if not isinstance(pool, ThreadPool):
            raise TypeError(f"pool must be a ThreadPool, not {type(pool).__name__}")
        if isinstance(shutdown_warning, bool) or not isinstance(
            shutdown_warning, (int, float)
        ):
            raise TypeError("shutdown_warning must be a number of seconds")
        if shutdown_warning <= 0:
            raise ValueError(f"shutdown_warning must be > 0, got {shutdown_warning}")
        self.pool = pool
        self.shutdown_warning = float(shutdown_warning)
        self.setName(f"lwstp-pool-{pool.name}")

    def startService(self) -> None:
        """
        Start the pool.
        """
        super().startService()
        self.pool.start()

    def stopService(self) -> Deferred[None]:
        """
        Finish and destroy the pool; the Deferred fires once every worker
        has exited and every task is reaped.
        """
        super().stopService()
        pool = self.pool
        done = pool.destroy()
        if done.called:
            return done
        self._waited = 0.0  # reactor thread only
        warner = LoopingCall(self._warn_slow, pool)
        warner.clock = pool.reactor
        warner.start(self.shutdown_warning, now=False)

        def stopped(result: None) -> None:
            warner.stop()
            return result

        return done.addBoth(stopped)

    def _warn_slow(self, pool: ThreadPool) -> None:
        self._waited += self.shutdown_warning
        still = [
            f"{info.name} ({info.status.name})"
            for info in pool.dump_tasks()
            if not info.status.is_done
        ]
        _log.warn(
            "Pool {pool} still waits after {seconds} s for: {tasks}",
            pool=pool.name,
            seconds=self._waited,
            tasks=", ".join(still) or "its worker threads",
        )
