# -*- test-case-name: tests.test_pool_threads,tests.test_compat_edges -*-
"""
The work behind Twisted's C{callInThread} family and behind
C{defer_to_thread}: L{CallInThread}, run once by a worker and forgotten,
and L{OneShot}, the owner-less task that calls a function once.

Runs in: built in the thread that hands the work over (any thread for
C{callInThread*}, the reactor thread for C{defer_to_thread}); run in a
worker thread.  Each object is owned by whoever holds it: the pool's
queue, then the one worker that runs it; the result of a L{OneShot} is
read by the reactor thread only after its task is done.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Context, copy_context
from typing import Any, Protocol

from twisted.internet.defer import CancelledError
from twisted.logger import Logger
from twisted.python.failure import Failure

from ._status import TaskReturn, TaskStatus

_log = Logger(namespace="twisted_lwstp")


class Call(Protocol):
    """
    Work handed over through C{callInThread*}: run once, then forgotten.
    """

    def run(self) -> None:
        """
        Run the work in the current (worker) thread; never raises.
        """


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


class OneShot:
    """
    The task behind L{ThreadPool.defer_to_thread}: call C{f} once; its
    result is read by L{outcome} once the task is reaped.
    """

    __slots__ = ("_f", "_args", "_kwargs", "_result")

    def __init__(self, f: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._f: Callable[..., Any] | None = f
        self._args = args
        self._kwargs = kwargs
        self._result: Any = None

    def step(self, user: object, status: TaskStatus) -> TaskReturn:
        f = self._f
        self._f = None
        if status is TaskStatus.STOPPING or f is None:
            return TaskReturn.STOPPED
        args, kwargs = self._args, self._kwargs
        del self._args, self._kwargs
        self._result = f(*args, **kwargs)
        return TaskReturn.FINISHED

    def outcome(self, status: TaskStatus) -> Any:
        if status is not TaskStatus.FINISHED:
            raise CancelledError("the call was stopped before it ran")
        result, self._result = self._result, None
        return result
