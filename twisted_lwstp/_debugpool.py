# -*- test-case-name: tests.test_debug -*-
"""
Debug mode for pools (C{LWSTP_DEBUG=1}, or a pool on a debug lwstp reactor):
an owner's C{writable()} slower than C{LWSTP_SLOW_CALL} is logged, as the
reactor's slow calls are (L{twisted_lwstp._debug}); and a task whose call
runs longer than C{LWSTP_STUCK_TASK} seconds without returning to the pool
is reported once while it runs, with its worker's stack (a warning in
C{twisted_lwstp.debug}, with the fields C{task} and C{stack}).  Time blocked
in SYNC is between calls, so it never counts; C{callInThread} work and
C{defer_to_thread} calls have no check-in contract and are not watched.

Free when off: the pool sets these wrappers on itself only in debug mode.

Runs in: the reactor thread (the wrappers' set-up, C{enqueue},
C{writable()}); worker threads (the recorded calls); the watchdog thread
(the check).  State: L{TaskCalls}'.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from ._calls import OneShot
from ._checks import function_name
from ._config import DebugConfig
from ._debug import DebugReactor
from ._watchdog import WATCHDOG_FACTOR, log, stack_of, timed, watchdog


def pool_debug(reactor: Any) -> DebugConfig | None:
    """
    Debug mode's settings for a pool on C{reactor}, or None when off: an
    lwstp reactor's own (debug or not), else C{LWSTP_DEBUG} and its
    companions from the environment.
    """
    config = getattr(reactor, "_lwstp_config", None)
    if config is not None:
        if not config.debug:
            return None
        return DebugConfig(True, config.slow_call, config.stuck_task)
    settings = DebugConfig.from_environ(os.environ)
    return settings if settings.enabled else None


class _Cell:
    """Where a task function's wrapper finds its task, once enqueued."""

    __slots__ = ("task",)

    def __init__(self) -> None:
        self.task: Any = None


class TaskCalls:
    """
    The calls of task functions in progress in one debug pool's workers,
    and the watchdog's check that reports one that runs longer than
    C{stuck} seconds without returning to the pool, once, with its
    worker's stack.  (Time blocked in SYNC is between calls: it never
    counts.)

    State: C{_calls} maps a worker thread's ident to its call in progress,
    C{(cell, start, serial)}; each worker sets and deletes its own key only
    (single dict operations, atomic), and the watchdog reads a copy.
    C{_reported} is the watchdog thread's own.
    """

    def __init__(self, pool: object, stuck: float) -> None:
        self._pool = weakref.ref(pool)
        self.stuck = stuck
        self._calls: dict[int, tuple[_Cell, float, int]] = {}
        self._serials = itertools.count(1)
        self._reported: dict[int, int] = {}

    def wrap(self, func: Callable[..., Any]) -> tuple[_Cell, Callable[..., Any]]:
        """
        A task function that records each of its calls, under the name of
        C{func}; and the cell to put its task in.
        """
        cell = _Cell()
        calls = self._calls
        serials = self._serials

        def call(user: Any, status: Any) -> Any:
            ident = threading.get_ident()
            calls[ident] = (cell, time.perf_counter(), next(serials))
            try:
                return func(user, status)
            finally:
                calls.pop(ident, None)

        call.__name__ = call.__qualname__ = function_name(func)
        return cell, call

    def check(self, now: float) -> bool:
        """Report the calls stuck since the last round; False once the pool is gone."""
        if self._pool() is None:
            return False
        for ident, (cell, start, serial) in list(self._calls.items()):
            if now - start >= self.stuck and self._reported.get(ident) != serial:
                self._reported[ident] = serial
                task = cell.task
                log.warn(
                    "Task {task} has run {duration:.2f} s without returning to the pool "
                    "(a task should check in about every 100 ms); its worker's stack:\n{stack}",
                    task=task.name if task is not None else "?", duration=now - start,
                    stack=stack_of(ident),
                )
        return True


def debug_pool(pool: Any, settings: DebugConfig) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """
    Debug mode for C{pool}: its C{enqueue}, wrapped (the pool sets it on
    itself), and a wrapper for its caller of owners' C{writable()} (the
    pool's reactor side takes it); the stuck-task check is registered with
    the watchdog.  L{ThreadPool.defer_to_thread}'s calls, like
    C{callInThread}'s, have no check-in contract: they are not watched.
    """
    calls = TaskCalls(pool, settings.stuck_task)
    enqueue = pool.enqueue

    def debug_enqueue(owner: Any, task: Any, *, user: Any = None, cleanup: Any = None,
                      name: str | None = None, window: Any = None) -> Any:
        if not callable(task) or isinstance(getattr(task, "__self__", None), OneShot):
            return enqueue(owner, task, user=user, cleanup=cleanup, name=name, window=window)
        cell, wrapped = calls.wrap(task)
        cell.task = enqueue(owner, wrapped, user=user, cleanup=cleanup, name=name,
                            window=window)
        return cell.task

    reactor = pool.reactor

    def wrap_writable(call_writable: Callable[..., Any]) -> Callable[..., Any]:
        if isinstance(reactor, DebugReactor):
            def timed_writable(owner: Any, kind: int, task: Any) -> Any:
                return reactor._lwstp_timed(owner.writable, call_writable, (owner, kind, task), {})
        else:
            def timed_writable(owner: Any, kind: int, task: Any) -> Any:
                return timed(settings.slow_call, owner.writable, call_writable, owner, kind, task)
        return timed_writable

    watchdog.add(calls, calls.check, settings.stuck_task / WATCHDOG_FACTOR)
    return debug_enqueue, wrap_writable
