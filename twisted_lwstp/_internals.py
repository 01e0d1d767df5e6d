# -*- test-case-name: tests.test_internals -*-
"""
Every private name of Twisted, pytest-twisted, pytest and asyncio that
twisted_lwstp uses, looked up here and nowhere else.  (asyncio's: one, a
loop's default executor; the asyncio reactor's loop attribute is
Twisted's.)

A private name may be renamed or dropped in any release.  So that an
upgrade fails loudly rather than quietly (a renamed C{_aborting} would let
writes after C{abortConnection()} go out eagerly), each name is checked:

 - class attributes and methods (L{CLASS_NAMES}) when this module is
   imported, that is, when any lwstp reactor or pool is;
 - instance attributes (L{INSTANCE_NAMES}), which exist only once an
   object does (a connection's C{_tempDataBuffer}, say), once per class,
   on its first instance (L{check_instance}).

Either check raises L{InternalsChanged}, which names the attribute and the
installed version.  A C{getattr} default appears only where the attribute
is legitimately absent, with a comment saying where.

The rest of the package uses the small functions below, never the names.

Runs in: any thread at import (the class checks); the reactor thread for
everything that touches a reactor or a transport; pytest's main thread for
the pytest helpers.  Owns one piece of state: L{_checked}, the classes
whose instances were checked (a set; C{add} and C{in} are atomic, and a
race costs one repeated check, never a missed one).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import sys
from asyncio import selector_events
from bisect import bisect_left
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet import abstract, base, epollreactor, posixbase, tcp, unix
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.python.threadpool import ThreadPool as TwistedThreadPool

__all__ = ["CLASS_NAMES", "INSTANCE_NAMES", "InternalsChanged", "check_instance"]

_C = TypeVar("_C", bound=type)


class InternalsChanged(RuntimeError):
    """
    An installed library lacks a private name that twisted_lwstp relies on:
    its version is one twisted_lwstp does not support yet.
    """


def _version(distribution: str) -> str:
    if distribution == "python":  # asyncio's names come with Python itself
        return f"Python {sys.version.split()[0]}"
    try:
        return f"{distribution} {importlib.metadata.version(distribution)}"
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a checkout
        return f"{distribution} (version unknown)"


def _missing(owner: object, name: str, distribution: str) -> InternalsChanged:
    where = getattr(owner, "__qualname__", None) or getattr(owner, "__name__", repr(owner))
    module = getattr(owner, "__module__", None)
    if module and not isinstance(owner, type(sys)):
        where = f"{module}.{where}"
    return InternalsChanged(
        f"twisted_lwstp relies on {where}.{name}, which {_version(distribution)} does "
        "not have; see docs/supported.md for the versions twisted_lwstp supports"
    )


#: Class attributes, methods and module functions, checked at import:
#: (owner, names, the distribution that ships them).
CLASS_NAMES: list[tuple[object, tuple[str, ...], str]] = [
    # The write path (twisted_lwstp._eager).
    (abstract, ("_dataMustBeBytes",), "twisted"),
    (abstract.FileDescriptor, ("_writeDisconnected", "_writeDisconnecting",
                               "_maybePauseProducer"), "twisted"),
    # tcp._AbortingMixin's flag, read by every eager write.
    (tcp.Server, ("_aborting", "_fromConnectedSocket"), "twisted"),
    (tcp.Client, ("_aborting",), "twisted"),
    (unix.Server, ("_aborting", "_fromConnectedSocket"), "twisted"),
    (unix.Client, ("_aborting",), "twisted"),
    (tcp.Connector, ("_makeTransport",), "twisted"),
    (unix.Connector, ("_makeTransport",), "twisted"),
    (tcp.Port, ("_fromListeningDescriptor",), "twisted"),
    (unix.Port, ("_fromListeningDescriptor",), "twisted"),
    (posixbase.PosixReactorBase, ("_supportedAddressFamilies",), "twisted"),
    # The reactor's pool (twisted_lwstp.reactor).
    (base.ReactorBase, ("_initThreadPool", "_threadpoolStartupID", "_stopThreadPool"),
     "twisted"),
    # The asyncio reactor's timers (twisted_lwstp.asyncioreactor).
    (AsyncioSelectorReactor, ("_reschedule",), "twisted"),
    # Each reactor's per-descriptor dispatch, timed in debug mode
    # (twisted_lwstp._debug).
    (epollreactor.EPollReactor, ("_doReadOrWrite",), "twisted"),
    (AsyncioSelectorReactor, ("_readOrWrite",), "twisted"),
    # Twisted's pool surface that twisted_lwstp.compat mirrors: its testing
    # hook and its legacy queue property.
    (TwistedThreadPool, ("_pool", "_queue"), "twisted"),
]

#: Instance attributes, checked on each class's first instance.  A class
#: is checked against every entry whose class it is a subclass of.
INSTANCE_NAMES: list[tuple[type, tuple[str, ...], str]] = [
    (abstract.FileDescriptor, ("_tempDataBuffer", "_tempDataLen"), "twisted"),
    # unix._SendmsgMixin's queue of file descriptors to pass; TCP
    # connections have none (see write_idle).
    (unix.Server, ("_sendmsgQueue",), "twisted"),
    (unix.Client, ("_sendmsgQueue",), "twisted"),
    (AsyncioSelectorReactor, ("_asyncioEventloop",), "twisted"),
    # The executor behind run_in_executor(None, ...), to_thread and
    # getaddrinfo: None until one is set or made.
    (asyncio.BaseEventLoop, ("_default_executor",), "python"),
    # A selector loop's selector, whose select() is where it waits
    # (twisted_lwstp._eager's end of a turn on asyncio).
    (selector_events.BaseSelectorEventLoop, ("_selector",), "python"),
    # Every reactor's heap of timed calls, whose head is when it is due
    # back (twisted_lwstp._lag).
    (base.ReactorBase, ("_pendingTimedCalls",), "twisted"),
]


def check_class_names(names: list[tuple[object, tuple[str, ...], str]]) -> None:
    """
    Raise L{InternalsChanged} for the first name that its owner lacks.
    """
    for owner, attributes, distribution in names:
        for name in attributes:
            if not hasattr(owner, name):
                raise _missing(owner, name, distribution)


_checked: set[type] = set()


def check_instance(obj: object,
                   names: list[tuple[type, tuple[str, ...], str]] = INSTANCE_NAMES) -> None:
    """
    On the first instance of its class, check that C{obj} has every
    instance attribute L{INSTANCE_NAMES} lists for its class's bases.

    @raise InternalsChanged: one is missing.
    """
    cls = type(obj)
    if cls in _checked:
        return
    for owner, attributes, distribution in names:
        if isinstance(obj, owner):
            for name in attributes:
                if not hasattr(obj, name):
                    raise _missing(owner, name, distribution)
    _checked.add(cls)


check_class_names(CLASS_NAMES)


# -- the write path (reactor thread) -------------------------------------

#: Twisted's check that written data is bytes (raises TypeError).
data_must_be_bytes: Callable[[object], None] = abstract._dataMustBeBytes


def write_idle(transport: Any) -> bool:
    """
    Whether nothing stands between a new write and the kernel: nothing
    buffered, no close, half-close or abort pending, no file descriptors
    waiting to be passed (Unix), and the write side still open.
    """
    return not (
        transport._tempDataLen
        or transport.dataBuffer
        or transport.disconnecting
        or transport._writeDisconnecting
        or transport._writeDisconnected
        or transport._aborting
        # Legitimately absent on TCP connections, which pass no file
        # descriptors; check_instance proves Unix ones have it.
        or getattr(transport, "_sendmsgQueue", None)
    )


def buffer_unsent(transport: Any, rest: list[bytes]) -> None:
    """
    Queue bytes the kernel did not take behind the transport's buffer, as
    C{FileDescriptor.write} does, pausing a streaming producer past
    C{bufferSize}.
    """
    transport._tempDataBuffer.extend(rest)
    transport._tempDataLen += sum(len(chunk) for chunk in rest)
    transport._maybePauseProducer()


def buffer_ahead(transport: Any, chunks: list[bytes], size: int) -> None:
    """
    Queue bytes written before those the transport has buffered since
    (by another thread, through Twisted's own C{write}) ahead of them.
    """
    transport._tempDataBuffer[:0] = chunks
    transport._tempDataLen += size
    transport._maybePauseProducer()


def makes_transport(cls: _C) -> _C:
    """
    Class decorator for a connector: its C{make_transport} method is the
    one Twisted's connector calls to build the client connection.
    """
    cls._makeTransport = cls.make_transport  # type: ignore[attr-defined]
    return cls


def port_from_descriptor(port_class: Any, *args: Any) -> Any:
    """A listening port adopted from a descriptor (C{adoptStreamPort})."""
    return port_class._fromListeningDescriptor(*args)


def server_from_socket(server_class: Any, *args: Any) -> Any:
    """A connection adopted from a descriptor (C{adoptStreamConnection})."""
    return server_class._fromConnectedSocket(*args)


def supported_families(reactor: Any) -> Any:
    """The address families a POSIX reactor adopts descriptors of."""
    return reactor._supportedAddressFamilies


# -- the reactor's pool (reactor thread) ----------------------------------


def inits_thread_pool(cls: _C) -> _C:
    """
    Class decorator for a reactor: its C{init_thread_pool} method is the
    one C{ReactorBase.getThreadPool} calls to make the pool lazily.
    """
    cls._initThreadPool = cls.init_thread_pool  # type: ignore[attr-defined]
    return cls


def attach_pool(reactor: Any, pool: Any) -> None:
    """
    Make C{pool} the reactor's, started when it runs (at once if it runs)
    and stopped during shutdown, as C{ReactorBase} does with its own.
    """
    reactor.threadpool = pool
    reactor._threadpoolStartupID = reactor.callWhenRunning(pool.start)
    reactor.threadpoolShutdownID = reactor.addSystemEventTrigger(
        "during", "shutdown", reactor._stopThreadPool
    )


def detach_pool(reactor: Any) -> None:
    """
    Forget the reactor's pool and its start and stop triggers (the pool is
    left as it is: the caller has checked it never worked).
    """
    for trigger in (reactor._threadpoolStartupID, reactor.threadpoolShutdownID):
        if trigger is not None:
            try:
                reactor.removeSystemEventTrigger(trigger)
            except ValueError:
                pass  # fired already: the reactor runs
    reactor._threadpoolStartupID = None
    reactor.threadpoolShutdownID = None
    reactor.threadpool = None


# -- the asyncio reactor (reactor thread) -----------------------------------


def asyncio_loop(reactor: AsyncioSelectorReactor) -> asyncio.AbstractEventLoop:
    """The asyncio loop a Twisted asyncio reactor runs on (any thread)."""
    check_instance(reactor)
    loop: asyncio.AbstractEventLoop = reactor._asyncioEventloop
    return loop


def before_select(loop: asyncio.AbstractEventLoop, hook: Callable[[], bool]) -> bool:
    """
    Make an asyncio selector loop call C{hook} each time, just before its
    selector waits, in the loop's thread; when C{hook} returns true, that
    wait does not block (timeout 0).  Nothing for other loops.

    @return: Whether C{loop} is a selector loop, and now calls C{hook}.
    """
    if not isinstance(loop, selector_events.BaseSelectorEventLoop):
        return False
    check_instance(loop)
    selector = loop._selector  # type: ignore[attr-defined]
    select = selector.select

    def hooked_select(timeout: float | None = None) -> Any:
        if hook():
            timeout = 0
        return select(timeout)

    # On the instance: this loop's selector only.
    selector.select = hooked_select
    return True


def default_executor(loop: asyncio.AbstractEventLoop) -> Any:
    """
    The executor an asyncio loop (a C{BaseEventLoop}: every loop of the
    standard library) runs C{run_in_executor(None, ...)} on: None until one
    is set, or made by the first such call.
    """
    check_instance(loop)
    return loop._default_executor  # type: ignore[attr-defined]


def rescheduler(reactor: AsyncioSelectorReactor) -> Callable[[], None]:
    """
    The reactor's method that gives its earliest timed call an asyncio
    timer (to be called after running calls that may have added one).
    """
    method: Callable[[], None] = reactor._reschedule
    return method


# -- reactor lag (reactor thread) ---------------------------------------------


def measured_turns(reactor: Any, counts: list[int], bounds: tuple[float, ...],
                   stats: list[float]) -> Callable[[], None]:
    """
    The reactor's C{runUntilCurrent}, measuring each turn's lag first: how
    late the earliest timed call (the head of the reactor's heap, which
    the turn is about to run) is, if it is due.  A late turn adds one to
    C{counts} at its bucket of C{bounds}, its lag to C{stats[0]}, and
    raises C{stats[1]} to it if larger.  Everything inline: this runs
    every turn.  Call C{check_instance(reactor)} once first.
    """
    run = reactor.runUntilCurrent
    seconds = reactor.seconds

    def turn() -> None:
        pending = reactor._pendingTimedCalls
        if pending:
            head = pending[0]
            lag = seconds() - head.time
            if lag >= 0.0 and not head.cancelled:
                counts[bisect_left(bounds, lag)] += 1
                stats[0] += lag
                if lag > stats[1]:
                    stats[1] = lag
        run()

    return turn


# -- debug mode (reactor thread) ---------------------------------------------


def dispatches_io(cls: _C) -> _C:
    """
    Class decorator for a debug reactor mixin: Twisted's per-descriptor
    dispatch (epoll's C{_doReadOrWrite(selectable, fd, event)}, the
    asyncio reactor's C{_readOrWrite(selectable, read)}) goes through
    C{cls.io_dispatch(dispatch, selectable, *args)}, C{dispatch} being the
    base reactor's own.
    """

    mixin: Any = cls

    def posix(self: Any, selectable: Any, fd: Any, event: Any) -> Any:
        return self.io_dispatch(super(mixin, self)._doReadOrWrite, selectable, fd, event)

    def asyncio_(self: Any, selectable: Any, read: bool) -> Any:
        return self.io_dispatch(super(mixin, self)._readOrWrite, selectable, read)

    cls._doReadOrWrite = posix  # type: ignore[attr-defined]
    cls._readOrWrite = asyncio_  # type: ignore[attr-defined]
    return cls


# -- Twisted's pool surface (any thread) -----------------------------------


def testing_team(pool: Any, limit: Callable[[], int],
                 factory: Callable[..., Any]) -> Any:
    """
    The team that Twisted's C{ThreadPool._pool} testing hook makes, when
    the pool's class sets that hook; else None.
    """
    hook = pool._pool
    return None if hook is None else hook(limit, factory)


# -- pytest and pytest-twisted (pytest's main thread) -----------------------


def pytest_twisted_install(installer: Callable[[], Any], reactor_type: type) -> None:
    """
    Install a reactor as pytest-twisted's own C{--reactor} choices are
    installed (it then drives the reactor from its greenlet).
    """
    import pytest_twisted

    if not hasattr(pytest_twisted, "_install_reactor"):
        raise _missing(pytest_twisted, "_install_reactor", "pytest-twisted")
    pytest_twisted._install_reactor(reactor_installer=installer, reactor_type=reactor_type)


def option_choices_holders(option: Any) -> list[Any]:
    """
    Where a pytest option keeps its C{choices}: its argparse action (pytest
    9 and later) or its keyword arguments (earlier pytest).  Each may be
    absent, depending on pytest's version.
    """
    return [holder for holder in (getattr(option, "_action", None),
                                  getattr(option, "_attrs", None)) if holder is not None]
