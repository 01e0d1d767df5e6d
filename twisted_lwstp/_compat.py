# -*- test-case-name: tests.test_pool,tests.test_pool_threads -*-
"""
The Twisted C{ThreadPool} façade: what lets a L{ThreadPool} stand where
Twisted expects C{twisted.python.threadpool.ThreadPool}
(C{deferToThreadPool}, C{callInThread*}; C{start}, C{stop}, C{started} and
C{joined} are the pool's life, in L{twisted_lwstp._life}), and
C{defer_to_thread}.

Runs in: C{callInThread} and C{callInThreadWithCallback} in any thread (they
take the pool lock, marked C{# LOCK}); C{defer_to_thread} in the reactor
thread.  Owns no state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from twisted.internet.defer import CancelledError, Deferred, fail
from twisted.logger import Logger

from ._core import _FINISHED, _STOPPING
from ._errors import PoolFinished, QueueFull
from ._life import PoolLife
from ._status import TaskReturn, TaskStatus
from ._worklife import CallInThread

_R = TypeVar("_R")
_log = Logger(namespace="twisted_lwstp")


class TwistedPoolFacade(PoolLife):
    """
    Twisted's C{ThreadPool} API on top of the pool.
    """

    if TYPE_CHECKING:  # provided by ThreadPool

        def enqueue(self, owner: Any, task: Any, *, user: Any = None,
                    cleanup: Any = None, name: str | None = None) -> Any: ...

    def defer_to_thread(
        self, f: Callable[..., _R], *args: Any, **kwargs: Any
    ) -> Deferred[_R]:
        """
        Run C{f(*args, **kwargs)} once in a worker, as an owner-less task,
        and fire the Deferred with its result or failure.  Refusals
        (L{QueueFull}, L{PoolFinished}) fail the Deferred.  Cancelling the
        Deferred before C{f} starts means it never runs.
        """
        if not callable(f):
            raise TypeError(f"f must be callable, not {type(f).__name__}")
        box = _OneShot(f, args, kwargs)
        try:
            task = self.enqueue(
                None, box.step, name=f"defer_to_thread {getattr(f, '__name__', f)!s}"
            )
        except (PoolFinished, QueueFull):
            return fail()
        d = task.when_done()
        return cast("Deferred[_R]", d.addCallback(box.outcome))

    def callInThread(self, func: Callable[..., object], *args: Any, **kw: Any) -> None:
        """
        As C{twisted.python.threadpool.ThreadPool.callInThread}.
        """
        self.callInThreadWithCallback(None, func, *args, **kw)

    def callInThreadWithCallback(
        self,
        onResult: Callable[[bool, Any], object] | None,
        func: Callable[..., Any],
        *args: Any,
        **kw: Any,
    ) -> None:
        """
        As C{twisted.python.threadpool.ThreadPool.callInThreadWithCallback}:
        run C{func} in a worker and call C{onResult(True, result)} or
        C{onResult(False, failure)} there.  Never refused for lack of room;
        dropped (with a log event) once the pool is stopping.  Safe from any
        thread.
        """
        if not callable(func):
            raise TypeError(f"func must be callable, not {type(func).__name__}")
        call = CallInThread(onResult, func, args, kw)
        hired = None
        with self._lock:  # LOCK (to the end of the block)
            if self._finishing:
                dropped = True
            else:
                dropped = False
                # (Work already queued means no hire: asked first, cheaply.)
                if self._idle or (not self._backlog and self._can_hire_now_locked()):
                    if self._idle:
                        worker = self._idle.pop()
                    else:
                        worker = hired = self._new_worker_locked()
                    self._running += 1
                    worker.current = call
                    worker.item = call
                    worker.wake.release()
                else:
                    self._backlog[call] = None
        if hired is not None:
            self._start_workers([hired])
        if dropped:
            _log.warn(
                "Pool {pool} is stopping: dropped {func!r}", pool=self.name, func=func
            )


class _OneShot:
    """
    The task behind L{ThreadPool.defer_to_thread}: call C{f} once.
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
        if status is _STOPPING or f is None:
            return TaskReturn.STOPPED
        args, kwargs = self._args, self._kwargs
        del self._args, self._kwargs
        self._result = f(*args, **kwargs)
        return TaskReturn.FINISHED

    def outcome(self, status: TaskStatus) -> Any:
        if status is not _FINISHED:
            raise CancelledError("the call was stopped before it ran")
        result, self._result = self._result, None
        return result

