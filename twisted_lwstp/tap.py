# -*- test-case-name: tests.test_tap -*-
"""
The C{twistd lwstp} plugin's options and service: libwebsockets' threadpool
example server.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService
from twisted.internet import endpoints
from twisted.python import usage

from ._pool import ThreadPool
from .demo import DemoService, TaskShape


def _int_at_least(minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise ValueError(f"{value} is less than {minimum}")
        return value

    parse.coerceDoc = f"A whole number, at least {minimum}."  # type: ignore[attr-defined]
    return parse


def _float_at_least(minimum: float) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if not value >= minimum:
            raise ValueError(f"{value} is less than {minimum}")
        return value

    parse.coerceDoc = f"A number, at least {minimum}."  # type: ignore[attr-defined]
    return parse


class Options(usage.Options):
    """
    C{twistd lwstp} options, with the libwebsockets example's defaults.
    """

    synopsis = "[options]"
    longdesc = (
        "Serve the twisted_lwstp demo: a page at /, counting tasks over "
        "WebSockets at /ws, and the pool's diagnostics as JSON at /diag."
    )
    optParameters = [
        ["listen", "l", "tcp:7681:interface=127.0.0.1", "Endpoint to listen on."],
        ["threads", "t", 3, "Worker threads in the pool.", _int_at_least(1)],
        ["max-queue-depth", "q", 8, "Tasks that may wait for a thread.", _int_at_least(0)],
        ["count", None, 10_000_000, "Each task counts to this.", _int_at_least(0)],
        ["checkin-every", None, 100_000, "Steps between check-ins.", _int_at_least(1)],
        ["sync-every", None, 1_000_000, "Steps between SYNCs (pos messages).", _int_at_least(1)],
        ["pause-ms", None, 100.0, "Pause at each check-in, in ms.", _float_at_least(0.0)],
        ["sync-timeout", None, 300.0, "Seconds a task may wait in SYNC.", _float_at_least(0.001)],
    ]

    def postOptions(self) -> None:
        from twisted.internet import reactor

        try:
            self["endpoint"] = endpoints.serverFromString(reactor, self["listen"])
        except (ValueError, TypeError, KeyError) as e:
            raise usage.UsageError(f"--listen {self['listen']!r} is not an endpoint: {e}")


def makeService(options: Options) -> IService:
    """
    The demo service for C{options}.
    """
    from twisted.internet import reactor

    pool = ThreadPool(
        options["threads"],
        options["max-queue-depth"],
        name="lwstp",
        reactor=reactor,
        sync_timeout=options["sync-timeout"],
    )
    shape = TaskShape(
        count=options["count"],
        checkin_every=options["checkin-every"],
        sync_every=options["sync-every"],
        pause_ms=options["pause-ms"],
    )
    return DemoService(options["endpoint"], pool, shape, reactor=reactor)
