# -*- test-case-name: tests.test_tap -*-
"""
The C{twistd lwstp} plugin's options and service: libwebsockets' threadpool
example server.
"""

from __future__ import annotations

import math
from typing import Any

from twisted.application.service import IService
from twisted.internet import endpoints
from twisted.python import usage

from ._pool import ThreadPool
from .demo import DemoService, TaskShape


def _at_least(option: str, kind: type, minimum: float) -> Any:
    """
    A coercer for C{--option}: a C{kind} (int or float) >= C{minimum}, or an
    error that names the option and what it takes.
    """
    noun = "a whole number" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not (value >= minimum and math.isfinite(value)):
            raise ValueError(f"--{option} must be {noun} >= {minimum:g}, got {text!r}")
        return value

    parse.coerceDoc = f"{noun.capitalize()}, at least {minimum:g}."  # type: ignore[attr-defined]
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
        ["threads", "t", 3, "Worker threads in the pool.", _at_least("threads", int, 1)],
        ["max-queue-depth", "q", 8, "Tasks that may wait for a thread.",
         _at_least("max-queue-depth", int, 0)],
        ["count", None, 10_000_000, "Each task counts to this.", _at_least("count", int, 0)],
        ["checkin-every", None, 100_000, "Steps between check-ins.",
         _at_least("checkin-every", int, 1)],
        ["sync-every", None, 1_000_000, "Steps between SYNCs (pos messages).",
         _at_least("sync-every", int, 1)],
        ["pause-ms", None, 100.0, "Pause at each check-in, in ms.",
         _at_least("pause-ms", float, 0.0)],
        ["sync-timeout", None, 300.0, "Seconds a task may wait in SYNC.",
         _at_least("sync-timeout", float, 0.001)],
        ["max-message-size", None, 4096, "Largest client message; bigger ones close with 1009.",
         _at_least("max-message-size", int, 0)],
    ]

    def postOptions(self) -> None:
        from twisted.internet import reactor

        try:
            self["endpoint"] = endpoints.serverFromString(reactor, self["listen"])
        except (ValueError, TypeError, KeyError) as e:
            raise usage.UsageError(f"--listen {self['listen']!r} is not an endpoint: {e}") from None


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
    return DemoService(
        options["endpoint"], pool, shape, reactor=reactor,
        max_message_size=options["max-message-size"],
    )
