# -*- test-case-name: tests.test_debug -*-
"""
What debug mode's reports share (L{twisted_lwstp._debug} for the reactors,
L{twisted_lwstp._debugpool} for the pools): the names of callables, a
thread's stack, the slow-call warning, and the one watchdog thread of the
process that runs every debug check.

Runs in: any thread; the watchdog's own thread.  State: the watchdog's,
under its lock (L{Watchdog}).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable
from functools import partial
from typing import Any

from twisted.logger import Logger

log = Logger(namespace="twisted_lwstp.debug")

#: How many times C{slow_call} a call may hold the reactor thread before the
#: watchdog logs its stack; and how many checks per C{stuck_task} seconds.
WATCHDOG_FACTOR = 10


def callable_name(f: object) -> str:
    """
    A readable, qualified name of a callable: C{module.Class.method} for a
    method, C{module.function} for a function, the wrapped function's for a
    C{functools.partial}, the class's for any other callable object.
    """
    while isinstance(f, partial):
        f = f.func
    qualname = getattr(f, "__qualname__", None)
    if not isinstance(qualname, str):
        qualname = type(f).__qualname__
        module = type(f).__module__
    else:
        module = getattr(f, "__module__", None) or type(f).__module__
    return f"{module}.{qualname}"


def _innermost(protocol: object) -> object:
    # Wrapping protocols (TLS, policies) keep the application's protocol
    # in wrappedProtocol: name the one whose code runs.
    seen = 0
    while getattr(protocol, "wrappedProtocol", None) is not None and seen < 16:
        protocol = protocol.wrappedProtocol  # type: ignore[attr-defined]
        seen += 1
    return protocol


def io_handler_name(selectable: object, read: bool) -> str:
    """
    The name of what an I/O event runs: C{Protocol.dataReceived} for data
    on a connection, the descriptor's C{doRead} or C{doWrite} otherwise.
    """
    protocol = getattr(selectable, "protocol", None)
    if read and protocol is not None:
        return f"{callable_name(type(_innermost(protocol)))}.dataReceived"
    return f"{callable_name(type(selectable))}.{'doRead' if read else 'doWrite'}"


def describe(named: object, read: bool | None) -> str:
    """The name of a timed call: a callable's, or an I/O event's."""
    return callable_name(named) if read is None else io_handler_name(named, read)


def log_slow(named: object, read: bool | None, duration: float) -> None:
    """The slow-call warning."""
    log.warn("Slow call: {callable} held the reactor thread for {duration:.3f} s",
             callable=describe(named, read), duration=duration)


def timed(slow: float, named: object, f: Callable[..., Any], *args: Any) -> Any:
    """
    C{f(*args)}, logged as a slow call (named by C{named}) if it takes
    longer than C{slow} seconds.
    """
    start = time.perf_counter()
    try:
        return f(*args)
    finally:
        duration = time.perf_counter() - start
        if duration > slow:
            log_slow(named, None, duration)


def stack_of(ident: int | None) -> str:
    """A thread's current stack, as text (any thread)."""
    frame = sys._current_frames().get(ident or 0)
    return "".join(traceback.format_stack(frame)) if frame is not None else "(no stack)\n"


class Watchdog:
    """
    One daemon thread for every debug reactor and pool of the process: while
    any check is registered, it runs each every C{tick} seconds (the
    smallest asked for).

    State: C{_checks} and C{_thread} under C{_lock}.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checks: dict[object, tuple[Callable[[float], bool], float]] = {}
        self._thread: threading.Thread | None = None

    def add(self, key: object, check: Callable[[float], bool], tick: float) -> None:
        """
        Run C{check(now)} every C{tick} seconds until L{remove}d, or until
        it returns False (its subject is gone).  Any thread.
        """
        with self._lock:
            self._checks[key] = (check, tick)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lwstp-debug-watchdog",
                                                daemon=True)
                self._thread.start()

    def remove(self, key: object) -> None:
        """Stop running C{key}'s check (any thread); the thread ends within a tick."""
        with self._lock:
            self._checks.pop(key, None)

    def _run(self) -> None:
        pause = threading.Event()  # never set: a timed wait between rounds
        while True:
            with self._lock:
                if not self._checks:
                    self._thread = None
                    return
                checks = list(self._checks.items())
            pause.wait(min(tick for _, (_, tick) in checks))
            now = time.perf_counter()
            for key, (check, _) in checks:
                try:
                    alive = check(now)
                except Exception:
                    log.failure("debug watchdog check {check!r} failed", check=check)
                    alive = False
                if not alive:
                    self.remove(key)
#: The process's watchdog.
watchdog = Watchdog()
