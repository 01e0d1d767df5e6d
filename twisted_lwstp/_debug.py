# -*- test-case-name: tests.test_debug -*-
"""
Debug mode for the lwstp reactors (C{LWSTP_DEBUG=1}, or C{install(debug=True)}):
a reactor that shows what blocks it.

 - B{Slow calls.}  Each call the reactor thread makes on the program's
   behalf (a timed call, an I/O event handler such as C{dataReceived}, a
   C{callFromThread} call) that runs longer than C{LWSTP_SLOW_CALL}
   seconds is logged: a warning in the namespace C{twisted_lwstp.debug},
   with the fields C{callable} (its qualified name) and C{duration}.
 - B{A watchdog.}  While one call has held the reactor thread for ten times
   that, a thread of its own logs the reactor thread's stack as it is then,
   once per call: the blocking line itself.
 - B{Wrong thread.}  While the reactor runs, C{callLater},
   C{listenTCP}, C{connectTCP}, C{listenUNIX}, C{connectUNIX},
   C{addReader}, C{addWriter}, C{removeReader} and C{removeWriter}, and a
   stream connection's C{write}, C{writeSequence} and C{loseConnection},
   raise C{RuntimeError} when called from any thread but the reactor's,
   naming the method and the thread.  Before C{run()}, any thread may call
   them.  (C{Deferred.callback} from a thread is not covered: a Deferred
   does not know its reactor.)

Free when off: all of it lives in L{DebugReactor}, a class mixed in ahead of
the reactor class only when debug mode is chosen at install; a reactor
installed without it runs none of this code.

Runs in: the reactor thread (the timing, the checks' happy path); any
thread (a check that refuses); the watchdog thread (L{ReactorWatch}).
State: the call in progress, C{_lwstp_in_call}, written by the reactor
thread only and read by the watchdog as one attribute load (a tuple, never
changed in place); the rest is set once.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger
from twisted.python import threadable

from . import _internals
from ._eager import (
    EagerTCPClient,
    EagerTCPConnector,
    EagerTCPPort,
    EagerTCPServer,
    EagerUNIXClient,
    EagerUNIXConnector,
    EagerUNIXPort,
    EagerUNIXServer,
)
from ._watchdog import WATCHDOG_FACTOR, describe, log, log_slow, stack_of, watchdog

_calls_log = Logger(namespace="twisted_lwstp")


class _Timed:
    """
    A timed call's function, timed when it runs (L{DebugReactor.callLater}).
    It reads as the function it wraps in C{repr} and Twisted's own
    C{DelayedCall} text.
    """

    __slots__ = ("_reactor", "func")

    def __init__(self, reactor: DebugReactor, func: Callable[..., Any]) -> None:
        self._reactor = reactor
        self.func = func

    def __repr__(self) -> str:
        return repr(self.func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._reactor._lwstp_timed(self.func, self.func, args, kwargs)


class _CheckedTransport:
    """
    A stream connection whose C{write}, C{writeSequence} and
    C{loseConnection} refuse the wrong thread (mixed in ahead of an eager
    connection class).
    """

    reactor: Any

    def write(self, data: bytes) -> None:
        self.reactor._lwstp_check_thread("transport.write")
        super().write(data)  # type: ignore[misc]

    def writeSequence(self, iovec: Any) -> None:
        self.reactor._lwstp_check_thread("transport.writeSequence")
        super().writeSequence(iovec)  # type: ignore[misc]

    def loseConnection(self, *args: Any, **kwargs: Any) -> Any:
        self.reactor._lwstp_check_thread("transport.loseConnection")
        return super().loseConnection(*args, **kwargs)  # type: ignore[misc]


class DebugTCPServer(_CheckedTransport, EagerTCPServer):
    """A TCP server connection of debug mode."""


class DebugTCPClient(_CheckedTransport, EagerTCPClient):
    """A TCP client connection of debug mode."""


class DebugUNIXServer(_CheckedTransport, EagerUNIXServer):
    """A Unix socket server connection of debug mode."""


class DebugUNIXClient(_CheckedTransport, EagerUNIXClient):
    """A Unix socket client connection of debug mode."""


class DebugTCPPort(EagerTCPPort):
    """A TCP port whose connections are debug mode's."""

    transport = DebugTCPServer


class DebugUNIXPort(EagerUNIXPort):
    """A Unix socket port whose connections are debug mode's."""

    transport = DebugUNIXServer


@_internals.makes_transport
class DebugTCPConnector(EagerTCPConnector):
    """A TCP connector whose connections are debug mode's."""

    def make_transport(self) -> DebugTCPClient:
        return DebugTCPClient(self.host, self.port, self.bindAddress, self, self.reactor)


@_internals.makes_transport
class DebugUNIXConnector(EagerUNIXConnector):
    """A Unix socket connector whose connections are debug mode's."""

    def make_transport(self) -> DebugUNIXClient:
        return DebugUNIXClient(self.address, self, self.reactor, self.checkPID)


class DebugReactor:
    """
    Debug mode, mixed in ahead of an lwstp reactor class (see the module
    docstring).  Its settings come from the reactor's L{PoolConfig}.
    """

    # Provided by the lwstp reactor this is mixed into.
    running: bool
    _lwstp_config: Any
    _lwstp_calls: Any
    _lwstp_wake_pending: bool

    # The stream classes its ports, connectors and adoptions make.
    _lwstp_tcp_port = DebugTCPPort
    _lwstp_tcp_connector = DebugTCPConnector
    _lwstp_tcp_server = DebugTCPServer
    _lwstp_unix_port = DebugUNIXPort
    _lwstp_unix_connector = DebugUNIXConnector
    _lwstp_unix_server = DebugUNIXServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = self._lwstp_config
        # Set once.
        self._lwstp_slow_call: float = config.slow_call
        # Reactor thread writes, the watchdog reads: (name source, is I/O
        # read, start, serial) of the call in progress, or None.
        self._lwstp_in_call: tuple[Any, Any, float, int] | None = None
        self._lwstp_serial = 0  # reactor thread only
        self._lwstp_watch = ReactorWatch(self, config.slow_call * WATCHDOG_FACTOR,
                                         config.slow_call)
        self.addSystemEventTrigger(  # type: ignore[attr-defined]
            "after", "startup", self._lwstp_watch.start)
        self.addSystemEventTrigger(  # type: ignore[attr-defined]
            "after", "shutdown", self._lwstp_watch.stop)

    # -- timing (reactor thread) ---------------------------------------

    def _lwstp_timed(self, named: object, f: Callable[..., Any], args: tuple[Any, ...],
                     kwargs: dict[str, Any], read: bool | None = None) -> Any:
        """
        Call C{f(*args, **kwargs)}, logging it as slow if it takes longer
        than C{LWSTP_SLOW_CALL}; C{named} (a callable, or an I/O selectable
        with C{read}) names it, only if needed.
        """
        outer = self._lwstp_in_call
        self._lwstp_serial += 1
        start = time.perf_counter()
        self._lwstp_in_call = (named, read, start, self._lwstp_serial)
        try:
            return f(*args, **kwargs)
        finally:
            self._lwstp_in_call = outer
            duration = time.perf_counter() - start
            if duration > self._lwstp_slow_call:
                log_slow(named, read, duration)

    def callLater(self, delay: float, f: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        self._lwstp_check_thread("callLater")
        return super().callLater(delay, _Timed(self, f), *args, **kw)  # type: ignore[misc]

    def _lwstp_run_calls(self) -> None:
        # As _LwstpMixin._lwstp_run_calls, each call timed.
        queue = self._lwstp_calls
        self._lwstp_wake_pending = False
        popleft = queue.popleft
        for _ in range(len(queue)):
            f, a, kw = popleft()
            try:
                self._lwstp_timed(f, f, a, kw)
            except BaseException:
                _calls_log.failure("while calling from thread")

    def io_dispatch(self, dispatch: Callable[..., Any], selectable: Any, *args: Any) -> Any:
        """
        One I/O event, timed (wired to Twisted's per-descriptor dispatch by
        L{_internals.dispatches_io}).
        """
        rest = args[-1]
        # posixbase passes (fd, event flags); the asyncio reactor (read).
        read = bool(rest & select.POLLIN) if len(args) == 2 else bool(rest)
        return self._lwstp_timed(selectable, dispatch, (selectable, *args), {}, read)

    # -- the wrong thread (any thread) ---------------------------------

    def _lwstp_check_thread(self, method: str) -> None:
        if self.running and not threadable.isInIOThread():
            raise RuntimeError(
                f"{method}() called from thread {threading.current_thread().name!r}; while "
                "the reactor runs, only the reactor's own thread may call it "
                "(use reactor.callFromThread; LWSTP_DEBUG)"
            )

    def listenTCP(self, *args: Any, **kwargs: Any) -> Any:
        self._lwstp_check_thread("listenTCP")
        return super().listenTCP(*args, **kwargs)  # type: ignore[misc]

    def connectTCP(self, *args: Any, **kwargs: Any) -> Any:
        self._lwstp_check_thread("connectTCP")
        return super().connectTCP(*args, **kwargs)  # type: ignore[misc]

    def listenUNIX(self, *args: Any, **kwargs: Any) -> Any:
        self._lwstp_check_thread("listenUNIX")
        return super().listenUNIX(*args, **kwargs)  # type: ignore[misc]

    def connectUNIX(self, *args: Any, **kwargs: Any) -> Any:
        self._lwstp_check_thread("connectUNIX")
        return super().connectUNIX(*args, **kwargs)  # type: ignore[misc]

    def addReader(self, reader: Any) -> Any:
        self._lwstp_check_thread("addReader")
        return super().addReader(reader)  # type: ignore[misc]

    def addWriter(self, writer: Any) -> Any:
        self._lwstp_check_thread("addWriter")
        return super().addWriter(writer)  # type: ignore[misc]

    def removeReader(self, reader: Any) -> Any:
        self._lwstp_check_thread("removeReader")
        return super().removeReader(reader)  # type: ignore[misc]

    def removeWriter(self, writer: Any) -> Any:
        self._lwstp_check_thread("removeWriter")
        return super().removeWriter(writer)  # type: ignore[misc]


class ReactorWatch:
    """
    The watchdog's check of one debug reactor: it logs the reactor thread's
    stack once a call has held it for C{threshold} seconds, once per call.

    State: C{_reactor_thread} set once by the reactor thread when watching
    starts; C{_reported} the watchdog thread's own.
    """

    def __init__(self, reactor: DebugReactor, threshold: float, tick: float) -> None:
        self.reactor = reactor
        self.threshold = threshold
        self.tick = tick
        self._reactor_thread: int | None = None
        self._reported = 0

    def start(self) -> None:
        """Start watching (reactor thread, at startup)."""
        self._reactor_thread = threading.get_ident()
        watchdog.add(self, self.check, self.tick)

    def stop(self) -> None:
        """Stop watching (at shutdown)."""
        watchdog.remove(self)

    def check(self, now: float) -> bool:
        """
        Log the reactor thread's stack if its call in progress has run for
        C{threshold} seconds and was not reported yet.
        """
        current = self.reactor._lwstp_in_call
        if current is None:
            return True
        named, read, start, serial = current
        elapsed = now - start
        if serial == self._reported or elapsed < self.threshold:
            return True
        self._reported = serial
        log.warn(
            "The reactor thread has been in {callable} for {duration:.2f} s and still is; "
            "its stack:\n{stack}",
            callable=describe(named, read), duration=elapsed,
            stack=stack_of(self._reactor_thread),
        )
        return True


_internals.dispatches_io(DebugReactor)
