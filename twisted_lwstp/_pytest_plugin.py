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

from .testing import PoolHarness

#: The reactors this plugin adds to pytest-twisted's C{--reactor} option.
REACTORS: dict[str, Callable[[], None]] = {}


def _install_lwstp() -> None:
    import pytest_twisted

    from . import reactor

    pytest_twisted._install_reactor(reactor_installer=reactor.install,
                                    reactor_type=reactor.LwstpReactor)


def _install_lwstp_asyncio() -> None:
    import pytest_twisted

    from . import asyncioreactor

    pytest_twisted._install_reactor(reactor_installer=asyncioreactor.install,
                                    reactor_type=asyncioreactor.LwstpAsyncioReactor)


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
        action = getattr(option, "_action", None)  # pytest >= 9: an argparse action
        attrs = getattr(option, "_attrs", None)  # earlier pytest: its keyword arguments
        for holder in (action, attrs):
            if holder is None:
                continue
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
