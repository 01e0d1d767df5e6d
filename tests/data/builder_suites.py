"""
Run Twisted's own test modules with the reactor-builder tests
(C{twisted.internet.test.reactormixins.ReactorBuilder}) built for one
reactor only, under the same global reactor:

    python -m tests.data.builder_suites REACTOR MODULE [MODULE ...]

REACTOR is C{lwstp}, C{epoll}, C{lwstp-asyncio} or C{asyncio}.  Twisted's
reactor-builder tests make a fresh reactor of each kind in its list for
every test, so C{trial --reactor=lwstp} alone would never build ours: this
puts ours (or the stock one, for the comparison) in that list, and installs
the same reactor globally for the modules that use the global one.  Prints
trial's verbose report.  With C{LWSTP_DEBUG=1}, ours are the debug-mode
classes (C{make test-debug}).
"""

from __future__ import annotations

import os
import sys
from typing import Any

#: The reactor-builder factory and the trial --reactor name of each kind.
KINDS = {
    "lwstp": ("tests.data.builder_suites.LwstpEPoll", "lwstp"),
    "epoll": ("twisted.internet.epollreactor.EPollReactor", "epoll"),
    "lwstp-asyncio": ("tests.data.builder_suites.LwstpAsyncioReactor", "lwstp-asyncio"),
    "asyncio": ("twisted.internet.test.reactormixins.AsyncioSelectorReactor", "asyncio"),
}


def _lwstp_epoll() -> type:
    """
    The lwstp reactor under the class name of the reactor it is built on.
    Some of Twisted's tests skip themselves by that name (an epoll reactor
    cannot notice a descriptor closed behind its back, for one); the lwstp
    reactor is an epoll reactor and must be skipped alike.
    """
    from twisted_lwstp.reactor import LwstpDebugReactor, LwstpReactor

    base = LwstpDebugReactor if os.environ.get("LWSTP_DEBUG") == "1" else LwstpReactor
    return type("EPollReactor", (base,), {"__module__": __name__})


LwstpEPoll = _lwstp_epoll()


def LwstpAsyncioReactor(self: Any) -> Any:  # noqa: N802 - named as a reactor class
    """
    A new lwstp-asyncio reactor on a new event loop, made as Twisted's
    suite makes its asyncio reactors (see C{asyncioSelectorReactor}).
    """
    from asyncio import get_event_loop, new_event_loop, set_event_loop

    from twisted_lwstp.asyncioreactor import LwstpAsyncioDebugReactor, LwstpAsyncioReactor

    debug = os.environ.get("LWSTP_DEBUG") == "1"
    Lwstp = LwstpAsyncioDebugReactor if debug else LwstpAsyncioReactor

    # Named as the reactor it is built on, for the same reason as LwstpEPoll.
    Reactor = type("AsyncioSelectorReactor", (Lwstp,), {"__module__": __name__})

    original = get_event_loop()
    loop = new_event_loop()
    set_event_loop(loop)

    def clean_up() -> None:
        loop.close()
        set_event_loop(original)

    self.addCleanup(clean_up)
    return Reactor(loop)


def main(argv: list[str]) -> None:
    kind, modules = argv[0], argv[1:]
    factory, global_name = KINDS[kind]
    from twisted.internet.test import reactormixins

    reactormixins.ReactorBuilder._reactors = [factory]
    from twisted.scripts.trial import run

    sys.argv = ["trial", f"--reactor={global_name}", "--reporter=verbose", *modules]
    run()


if __name__ == "__main__":
    main(sys.argv[1:])
