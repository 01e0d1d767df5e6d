# -*- test-case-name: tests.test_pool_edges,tests.test_pool -*-
"""
L{SyncDeadlines}: how long each task may stay blocked in SYNC (the pool's
C{sync_timeout}), and the one timer that stops those that overstay.

Runs in: the reactor thread only.  Owner of the deadlines (in the order
tasks entered SYNC, which is the order of their deadlines: the timeout is
one for all) and of the timer; it belongs to the pool's reactor side,
which tells it when a task enters and leaves SYNC.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from ._status import TaskStatus
from ._task import Task

_log = Logger(namespace="twisted_lwstp")


class SyncDeadlines:
    """
    The sync deadlines of one pool (reactor thread).

    @param stop: Called with a task still in SYNC at its deadline, to
        release it told STOPPING.
    """

    def __init__(self, reactor: Any, clock: Callable[[], float], timeout: float,
                 pool_name: str, stop: Callable[[Task], object]) -> None:
        # Set once.
        self.timeout = timeout
        self._reactor = reactor
        self._clock = clock
        self._pool_name = pool_name
        self._stop = stop
        # Reactor thread only.
        self._deadlines: OrderedDict[Task, float] = OrderedDict()
        self._timer: IDelayedCall | None = None
        self.expired = 0  # tasks stopped at their deadline

    def watch(self, task: Task) -> None:
        """C{task} entered SYNC (at its C{_t_state})."""
        deadline = task._t_state + self.timeout
        self._deadlines[task] = deadline
        if self._timer is None:
            self._arm(deadline)

    def forget(self, task: Task) -> None:
        """C{task} left SYNC, or will leave it told STOPPING."""
        self._deadlines.pop(task, None)

    def clear(self) -> None:
        """No deadline holds any more (the pool is finishing)."""
        self._deadlines.clear()

    def cancel(self) -> None:
        """Stop the timer (the pool is destroyed)."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _arm(self, deadline: float) -> None:
        delay = max(0.0, deadline - self._clock())
        self._timer = self._reactor.callLater(delay, self._expired)

    def _expired(self) -> None:
        self._timer = None
        now = self._clock()
        deadlines = self._deadlines
        while deadlines:
            task, deadline = next(iter(deadlines.items()))
            if deadline > now:
                self._arm(deadline)
                return
            del deadlines[task]
            if task._status is TaskStatus.SYNCING:
                self.expired += 1
                _log.warn(
                    "Task {task} of pool {pool} was not synced within "
                    "{timeout} s: stopping it",
                    task=task.name, pool=self._pool_name, timeout=self.timeout,
                )
                self._stop(task)
