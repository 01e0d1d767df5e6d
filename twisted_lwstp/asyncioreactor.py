# -*- test-case-name: tests.test_asyncioreactor -*-
"""
The C{lwstp-asyncio} reactor: Twisted's C{AsyncioSelectorReactor} whose
thread pool is a L{twisted_lwstp.compat.ThreadPool} and whose
C{callFromThread} wakes the asyncio loop once per batch.  It is an
C{AsyncioSelectorReactor} (a subclass), so C{isinstance} checks by Scrapy,
pytest-twisted and others pass, and asyncio code runs beside it
(C{Deferred.fromFuture}, C{ensureDeferred} of coroutines awaiting asyncio).

One flag, as for C{lwstp}::

    twistd --reactor=lwstp-asyncio ...
    trial --reactor=lwstp-asyncio ...
    pytest --reactor=lwstp-asyncio ...   # with pytest-twisted

or, from code, before anything imports C{twisted.internet.reactor}::

    from twisted_lwstp import asyncioreactor
    asyncioreactor.install()

Scrapy: C{TWISTED_REACTOR = "twisted_lwstp.asyncioreactor.LwstpAsyncioReactor"}.

The pool is the lwstp reactor's, built the same way from the same
C{LWSTP_*} variables (see L{twisted_lwstp.reactor}); the coalescing is the
same code (L{twisted_lwstp.reactor._LwstpMixin}).  Asyncio's
C{call_soon_threadsafe} writes to the loop's self-pipe on every call; here
it is called once per batch, only when no wake-up is pending.

C{install} also makes the pool asyncio's: the loop's default executor
becomes a L{twisted_lwstp.PoolExecutor} on the reactor's pool, so that
C{asyncio.to_thread}, C{loop.run_in_executor(None, ...)} and
C{loop.getaddrinfo} run in the pool's named workers, bounded by the same
C{LWSTP_THREADS} as Twisted's thread calls and counted by C{diagnose()}.  A
loop that has a default executor already (the program set its own) keeps
it.

Runs in: C{install} in the main thread at start-up; C{callFromThread} in
any thread; the rest in the reactor (asyncio loop) thread.
"""

from __future__ import annotations

from asyncio import AbstractEventLoop, BaseEventLoop
from typing import Any

from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.main import installReactor

from . import _internals
from ._debug import DebugReactor
from ._executor import PoolExecutor
from .reactor import ConfigurationError, PoolConfig, _LwstpMixin, _with_debug

__all__ = ["ConfigurationError", "LwstpAsyncioReactor", "install", "share_pool_with_asyncio"]


class LwstpAsyncioReactor(_LwstpMixin, AsyncioSelectorReactor):  # type: ignore[misc]
    """
    Twisted's asyncio reactor, on a twisted_lwstp pool, with coalesced
    wake-ups.

    @param eventloop: The asyncio loop to run on (default: the running
        loop, or a new one, as Twisted's C{AsyncioSelectorReactor}).
    @param config: How to build its pool (default: the defaults of
        L{PoolConfig}; L{install} reads the C{LWSTP_*} variables).
    """

    def __init__(self, eventloop: AbstractEventLoop | None = None,
                 config: PoolConfig | None = None) -> None:
        super().__init__(config, eventloop)
        # Set once, here; read by any thread (_lwstp_wake).
        self._lwstp_loop = _internals.asyncio_loop(self)
        self._lwstp_reschedule = _internals.rescheduler(self)
        # The end of a turn, for gathered writes (twisted_lwstp._eager):
        # just before the loop's selector waits.  A loop that is not one of
        # asyncio's selector loops has no such moment: its writes are sent
        # at once, ungathered.
        self._lwstp_gathers = _internals.before_select(self._lwstp_loop, self._lwstp_end_turn)

    def _lwstp_end_turn(self) -> bool:
        # What the turn gathered goes now.  If that buffered bytes (and may
        # have paused a producer, whose code may have scheduled a call),
        # the loop's wait must not outlast what it scheduled: true tells
        # the selector not to wait.
        return bool(self._lwstp_gathering) and self.flush_writes()

    def _lwstp_wake(self) -> None:
        # Any thread: one self-pipe write; the loop then takes a reactor
        # turn, in which the calls run before the timed calls, as on epoll.
        self._lwstp_loop.call_soon_threadsafe(self._lwstp_turn)

    def _lwstp_turn(self) -> None:
        self.runUntilCurrent()
        # What the calls scheduled (callLater) gets its asyncio timer.
        self._lwstp_reschedule()


class LwstpAsyncioDebugReactor(DebugReactor, LwstpAsyncioReactor):  # type: ignore[misc]
    """
    The lwstp-asyncio reactor in debug mode (L{twisted_lwstp._debug}).
    """


def install(eventloop: AbstractEventLoop | None = None,
            config: PoolConfig | None = None, *, debug: bool | None = None) -> Any:
    """
    Install the lwstp-asyncio reactor as C{twisted.internet.reactor}, as
    C{twisted.internet.asyncioreactor.install} does.

    @param eventloop: The asyncio loop to wrap (default: the running loop,
        or a new one set as the current loop).
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
    cls = LwstpAsyncioDebugReactor if config.debug else LwstpAsyncioReactor
    reactor = cls(eventloop, config)
    installReactor(reactor)
    share_pool_with_asyncio(reactor)
    return reactor


def share_pool_with_asyncio(reactor: LwstpAsyncioReactor) -> PoolExecutor | None:
    """
    Make the reactor's pool its asyncio loop's default executor, unless the
    loop has one already (the program's own, which it keeps), or is not one
    of asyncio's own loops (whose executor cannot be read).

    @return: The executor set, or None if the loop's was left as it was.
    """
    loop = reactor._lwstp_loop
    if not isinstance(loop, BaseEventLoop) or _internals.default_executor(loop) is not None:
        return None
    pool: Any = reactor.getThreadPool()  # a twisted_lwstp.compat.ThreadPool
    executor = PoolExecutor(pool)
    loop.set_default_executor(executor)
    return executor
