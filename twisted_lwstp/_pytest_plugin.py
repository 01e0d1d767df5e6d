# -*- test-case-name: tests.test_pytest_plugin -*-
"""
The pytest plugin, registered through the C{pytest11} entry point:

 - the C{lwstp_harness} fixture, for testing code that uses twisted_lwstp;
 - C{pytest --reactor=lwstp} and C{pytest --reactor=lwstp-asyncio}: the two
   lwstp reactors added to pytest-twisted's own C{--reactor} option (when
   pytest-twisted is installed), installed and checked by pytest-twisted as
   its own reactors are.

Runs in: pytest's main thread, at start-up (the option) and per test (the
fixture).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from . import _internals
from .testing import PoolHarness

#: The reactors this plugin adds to pytest-twisted's C{--reactor} option.
REACTORS: dict[str, Callable[[], None]] = {}


def _install(option: str, installer: Callable[[], object], expected: type) -> None:
    """
    Install the reactor C{--reactor=option} names, or accept it if it is
    installed already; any other installed reactor (by a conftest, another
    plugin, or an import that installed Twisted's default) is refused.

    @raise pytest.UsageError: another reactor is installed; the message
        names both.
    """
    from twisted.internet.error import ReactorAlreadyInstalledError

    try:
        installer()
    except ReactorAlreadyInstalledError:
        pass
    from twisted.internet import reactor as installed

    if not isinstance(installed, expected):
        found = type(installed)
        raise pytest.UsageError(
            f"pytest --reactor={option} needs {expected.__module__}.{expected.__qualname__}, "
            f"but {found.__module__}.{found.__qualname__} is installed already; install "
            f"nothing before pytest-twisted does, or install {expected.__qualname__}"
        )
    # pytest-twisted's own installer, with ours done: it keeps the reactor
    # and starts the greenlet that drives it.
    _internals.pytest_twisted_install(lambda: None, expected)


def _install_lwstp() -> None:
    from . import reactor

    _install("lwstp", reactor.install, reactor.LwstpReactor)


def _install_lwstp_asyncio() -> None:
    from . import asyncioreactor

    _install("lwstp-asyncio", asyncioreactor.install, asyncioreactor.LwstpAsyncioReactor)


def _register() -> None:
    """
    Add the lwstp reactors to pytest-twisted's table of installers, which
    its C{--reactor} option and its C{pytest_configure} read.
    """
    try:
        import pytest_twisted
    except ImportError:  # pragma: no cover - pytest-twisted is optional
        return
    installers: dict[str, Any] = pytest_twisted.reactor_installers
    REACTORS.update({"lwstp": _install_lwstp, "lwstp-asyncio": _install_lwstp_asyncio})
    installers.update(REACTORS)


_register()


def pytest_addoption(parser: pytest.Parser) -> None:
    """
    If pytest-twisted registered its C{--reactor} option before this
    plugin was loaded, its choices were fixed without ours: widen them.
    (Loaded after, it reads the table L{_register} already widened.)
    """
    if not REACTORS:
        return
    for option in parser.getgroup("twisted").options:
        if "--reactor" not in option.names():
            continue
        for holder in _internals.option_choices_holders(option):
            choices = holder.get("choices") if isinstance(holder, dict) else holder.choices
            if choices is not None and not set(REACTORS) <= set(choices):
                widened = (*choices, *(name for name in REACTORS if name not in choices))
                if isinstance(holder, dict):
                    holder["choices"] = widened
                else:
                    holder.choices = widened


@pytest.fixture
def lwstp_harness() -> Iterator[PoolHarness]:
    """
    A started L{PoolHarness} with one stepped worker and room for 8 queued
    tasks; its pool is destroyed at the end of the test.
    """
    harness = PoolHarness(threads=1, max_queue_depth=8)
    harness.pool.start()
    yield harness
    harness.pool.stop()
