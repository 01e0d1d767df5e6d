# -*- test-case-name: tests.test_reactor -*-
"""
The C{lwstp} reactor: the platform's default reactor (epoll on Linux) whose
thread pool is a L{twisted_lwstp.compat.ThreadPool} (Twisted's pool API on
the engine), and whose C{callFromThread} wakes the reactor once per batch
instead of once per call.

One flag moves a whole program onto the pool::

    twistd --reactor=lwstp ...
    trial --reactor=lwstp ...

or, from code, before anything imports C{twisted.internet.reactor}::

    from twisted_lwstp import reactor as lwstp_reactor
    lwstp_reactor.install()

Environment variables, read when the reactor is installed:

 - C{LWSTP_THREADS}: the most workers of the reactor's pool (default 10,
   as Twisted's); workers start on demand and idle ones are kept.
 - C{LWSTP_MAX_QUEUE_DEPTH}: how many lws tasks may wait (default 64;
   C{callInThread} work is never refused, as with Twisted's pool).
 - C{LWSTP_SYNC_TIMEOUT}: seconds a task may wait in SYNC (default 300).
 - C{LWSTP_BATCH_WORKERS}: 1 (the default) runs the workers under Linux's
   C{SCHED_BATCH}, so that waking one never preempts the reactor thread;
   0 keeps the policy they inherit (L{twisted_lwstp._worker}).
 - C{LWSTP_DEBUG}: 1 for debug mode (L{twisted_lwstp._debug}), 0 (the
   default) for none; C{LWSTP_SLOW_CALL}, the seconds after which a call
   of the reactor thread is logged as slow (default 0.1);
   C{LWSTP_STUCK_TASK}, the seconds after which a task's call that has not
   returned is reported (default 1.0).

A bad value raises L{ConfigurationError} naming the variable and the value
(C{twistd} and C{trial} print it and exit 1).

Runs in: C{install} in the main thread at start-up; C{callFromThread} in
any thread; the rest in the reactor thread.  The coalescing state, one
flag, is documented where it is defined.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from twisted.internet.main import installReactor
from twisted.logger import Logger

from . import _internals
from ._config import ConfigurationError, DebugConfig, read_flag, read_number
from ._debug import DebugReactor
from ._eager import EagerStreams
from ._pool import ThreadPool
from .compat import ThreadPool as CompatThreadPool

__all__ = ["ConfigurationError", "LwstpReactor", "PoolConfig", "install", "install_pool"]

_log = Logger(namespace="twisted_lwstp")

#: The name of the reactor's pool, as Twisted names its own.
POOL_NAME = "twisted.internet.reactor"


@dataclass(frozen=True)
class PoolConfig:
    """
    How the reactor's pool is built.
    """

    threads: int = 10
    max_queue_depth: int = 64
    sync_timeout: float = 300.0
    #: Debug mode (twisted_lwstp._debug), and its thresholds: a slow call of
    #: the reactor thread, a stuck call of a task.
    debug: bool = False
    slow_call: float = 0.1
    stuck_task: float = 1.0
    #: Workers under SCHED_BATCH (twisted_lwstp._worker.schedule_as_batch).
    batch_workers: bool = True

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> PoolConfig:
        """
        Read C{LWSTP_THREADS}, C{LWSTP_MAX_QUEUE_DEPTH},
        C{LWSTP_SYNC_TIMEOUT}, C{LWSTP_BATCH_WORKERS}, C{LWSTP_DEBUG},
        C{LWSTP_SLOW_CALL} and C{LWSTP_STUCK_TASK}; unset ones keep their
        defaults.

        @raise ConfigurationError: a value is not a valid number (or, for
            C{LWSTP_BATCH_WORKERS}, not 0 or 1).
        """
        env = os.environ if environ is None else environ
        default = cls()
        debug = DebugConfig.from_environ(env)
        return cls(
            threads=read_number(env, "LWSTP_THREADS", int, 1, default.threads),
            max_queue_depth=read_number(env, "LWSTP_MAX_QUEUE_DEPTH", int, 0,
                                        default.max_queue_depth),
            sync_timeout=read_number(env, "LWSTP_SYNC_TIMEOUT", float, 0, default.sync_timeout),
            batch_workers=read_flag(env, "LWSTP_BATCH_WORKERS", default.batch_workers),
            debug=debug.enabled,
            slow_call=debug.slow_call,
            stuck_task=debug.stuck_task,
        )


def _make_pool(reactor: Any, config: PoolConfig, name: str = POOL_NAME) -> CompatThreadPool:
    """
    The reactor's pool: Twisted's pool, attribute for attribute (min 0, as
    Twisted's reactor pool), on the engine.
    """
    return CompatThreadPool(
        0,
        config.threads,
        name,
        reactor=reactor,
        max_queue_depth=config.max_queue_depth,
        sync_timeout=config.sync_timeout,
        batch_workers=config.batch_workers,
    )


def _platform_reactor_class() -> type:
    """
    The reactor class C{twisted.internet.default} would install here.
    """
    try:
        from twisted.internet.epollreactor import EPollReactor

        return EPollReactor
    except ImportError:  # pragma: no cover - not Linux
        from twisted.internet.pollreactor import PollReactor

        return PollReactor


@_internals.inits_thread_pool
class _LwstpMixin(EagerStreams):
    """
    What an lwstp reactor changes in its base reactor: the pool, and a
    C{callFromThread} that wakes the reactor once per batch.  Shared by
    L{LwstpReactor} (epoll) and
    L{twisted_lwstp.asyncioreactor.LwstpAsyncioReactor}, with eager writes
    on stream connections (L{twisted_lwstp._eager}); each says how a
    wake-up reaches its loop (L{_lwstp_wake}) so that the loop's next turn
    runs C{runUntilCurrent}, which runs the calls first.
    """

    threadpool: Any

    def __init__(self, config: PoolConfig | None = None, *args: Any, **kwargs: Any) -> None:
        self._lwstp_config = config if config is not None else PoolConfig()
        # Whether a wake-up is on its way: set by any thread that asks for
        # one, cleared by the reactor thread just before it takes the
        # queued calls, in every turn that finds it set or finds calls.
        # Plain attribute stores and loads are atomic; a race costs at most
        # one extra wake-up, never a lost one (see runUntilCurrent).
        self._lwstp_wake_pending = False
        # The calls from threads.  A deque: append (any thread) and popleft
        # (reactor thread) are atomic, and it is never replaced, so no call
        # can land in a list the reactor already let go of.  The base
        # reactor's own threadCallQueue stays empty: nothing appends to it.
        self._lwstp_calls: deque[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]
        self._lwstp_calls = deque()
        super().__init__(*args, **kwargs)

    def callFromThread(self, f: Callable[..., Any], *args: object, **kwargs: object) -> None:
        """
        As C{IReactorFromThreads.callFromThread}; the loop is woken only
        when no wake-up is pending already.
        """
        assert callable(f), f"{f} is not callable"
        self._lwstp_calls.append((f, args, kwargs))
        if not self._lwstp_wake_pending:
            self._lwstp_wake_pending = True
            self._lwstp_wake()

    def _lwstp_wake(self) -> None:
        """
        Make the reactor thread call L{_lwstp_run_calls} soon (any thread).
        """
        raise NotImplementedError

    def _lwstp_run_calls(self) -> None:
        """
        Run the calls queued from threads so far, in order (reactor thread).
        """
        queue = self._lwstp_calls
        # Cleared before counting: a call appended after this line finds
        # the flag clear and wakes the reactor again; one appended before
        # it is counted here and runs now.
        self._lwstp_wake_pending = False
        popleft = queue.popleft
        for _ in range(len(queue)):
            f, a, kw = popleft()
            try:
                f(*a, **kw)
            except BaseException:
                _log.failure("while calling from thread")

    def runUntilCurrent(self) -> None:
        """
        Run the calls queued from threads, in order, then the timed calls
        (among them any that those calls scheduled for now).
        """
        # The flag is checked too, not only the queue: a thread may append
        # its call, find the flag cleared by a batch already under way, set
        # it and wake the reactor, while that batch's count takes its call.
        # The turn its wake-up causes finds no call, and must still clear
        # the flag, or every later call would find it set and wake nobody.
        if self._lwstp_wake_pending or self._lwstp_calls:
            self._lwstp_run_calls()
        super().runUntilCurrent()  # type: ignore[misc]

    def init_thread_pool(self) -> None:
        """
        Make the reactor's pool, lazily, when C{getThreadPool} first needs
        it (Twisted's own hook, wired by L{_internals.inits_thread_pool}).
        """
        _internals.attach_pool(self, _make_pool(self, self._lwstp_config))


class _WakerWake(_LwstpMixin):
    """
    The epoll (or poll) reactor's side: a wake-up is a write to its waker,
    after which the loop's next turn runs C{runUntilCurrent}.
    """

    def _lwstp_wake(self) -> None:
        self.wakeUp()  # type: ignore[attr-defined]

    def runUntilCurrent(self) -> None:
        """
        A turn's calls, then its end: every turn runs this after
        dispatching I/O and before computing how long to wait, so what the
        turn gathered is sent here (L{twisted_lwstp._eager}), and whatever
        the sending schedules is waited for.
        """
        super().runUntilCurrent()
        if self._lwstp_gathering:
            self.flush_writes()


LwstpReactor: type[Any] = type("LwstpReactor", (_WakerWake, _platform_reactor_class()), {
    "__doc__": "The platform's default reactor, on a twisted_lwstp pool, with "
               "coalesced wake-ups.",
    "__module__": __name__,
})


LwstpDebugReactor: type[Any] = type("LwstpDebugReactor", (DebugReactor, LwstpReactor), {
    "__doc__": "The lwstp reactor in debug mode (twisted_lwstp._debug).",
    "__module__": __name__,
})


def install(config: PoolConfig | None = None, *, debug: bool | None = None) -> Any:
    """
    Install the lwstp reactor as C{twisted.internet.reactor}.

    @param config: How to build its pool; by default read from the
        C{LWSTP_*} environment variables.
    @param debug: Debug mode on (True) or off (False) whatever
        C{config.debug} says (L{twisted_lwstp._debug}).
    @raise ConfigurationError: a variable has a bad value (nothing is
        installed).
    @raise twisted.internet.error.ReactorAlreadyInstalledError: a reactor
        is installed already.
    """
    config = _with_debug(config, debug)
    reactor = (LwstpDebugReactor if config.debug else LwstpReactor)(config)
    installReactor(reactor)
    return reactor


def _with_debug(config: PoolConfig | None, debug: bool | None) -> PoolConfig:
    """C{config} (by default from the environment), with C{debug} if given."""
    if config is None:
        config = PoolConfig.from_environ()
    if debug is not None:
        config = replace(config, debug=bool(debug))
    return config


def install_pool(
    reactor: Any = None,
    *,
    threads: int = 10,
    max_queue_depth: int = 64,
    name: str = POOL_NAME,
    sync_timeout: float = 300.0,
    batch_workers: bool = True,
) -> CompatThreadPool:
    """
    Give an installed reactor (default: the global one) a twisted_lwstp
    pool in place of its own, before it has done any thread work.  Use it
    when the reactor is not yours to choose; otherwise prefer
    C{--reactor=lwstp}, which also coalesces wake-ups.

    @return: The new pool (a L{twisted_lwstp.compat.ThreadPool}, which
        speaks Twisted's pool API as well as the lws task API), which the
        reactor starts when it runs (at once
        if it already runs) and stops at shutdown, as it does its own.
    @raise RuntimeError: the reactor's pool has already started a thread
        or holds work: too late to swap it.
    """
    if reactor is None:
        from twisted.internet import reactor as _reactor

        reactor = _reactor
    old = getattr(reactor, "threadpool", None)
    if old is not None:
        if _has_worked(old):
            raise RuntimeError(
                f"install_pool() is too late: the reactor's pool {old!r} has "
                "already started threads or holds work; call it before any "
                "thread work (deferToThread, callInThread, name resolution)"
            )
        _internals.detach_pool(reactor)
    config = PoolConfig(threads, max_queue_depth, sync_timeout, batch_workers=batch_workers)
    pool = _make_pool(reactor, config, name)
    _internals.attach_pool(reactor, pool)
    return pool


def _has_worked(pool: Any) -> bool:
    """
    Whether a reactor's pool has started a thread or holds queued work.
    """
    if isinstance(pool, ThreadPool):
        return pool.started
    # Twisted's pool: started, has threads, or holds work queued before start.
    queue = getattr(pool, "q", None)
    return bool(getattr(pool, "started", False) or getattr(pool, "threads", None)
                or (queue is not None and queue.qsize()))
