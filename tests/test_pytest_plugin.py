"""
The pytest fixtures shipped through the C{pytest11} entry point, used the
way a user would: a pytest session of its own, with pytest-twisted active.

It runs in a subprocess because pytest-twisted drives the reactor from a
greenlet once a plain pytest test runs, and trial-style tests (the rest of
this suite, which must also run under trial) cannot share a session with
that.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from twisted.internet.error import ReactorAlreadyInstalledError
from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp import _internals, _pytest_plugin

from ._helpers import temp_dir

USER_TEST = textwrap.dedent(
    '''
    import pytest_twisted
    from twisted.internet import defer

    from twisted_lwstp import TaskReturn, TaskStatus
    from twisted_lwstp.testing import PoolHarness


    def test_lwstp_harness_fixture(lwstp_harness: PoolHarness) -> None:
        task = lwstp_harness.pool.enqueue(None, lambda u, s: TaskReturn.FINISHED)
        lwstp_harness.run()
        assert task.status is TaskStatus.FINISHED
        assert task.reaped


    @pytest_twisted.inlineCallbacks
    def test_with_the_real_reactor():
        from twisted.internet import reactor
        from twisted_lwstp import ThreadPool

        pool = ThreadPool(2, 2, "plugin", reactor=reactor)
        pool.start()
        result = yield pool.defer_to_thread(sum, [1, 2, 3])
        assert result == 6
        yield pool.destroy()
    '''
)


class PytestPluginTests(SynchronousTestCase):
    def test_fixture_and_pytest_twisted(self) -> None:
        directory = temp_dir(self)
        with open(os.path.join(directory, "test_user.py"), "w") as f:
            f.write(USER_TEST)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", directory],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=directory,
        )
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("2 passed", proc.stdout)


#: A small pytest-twisted suite that reports which reactor it ran on.
REACTOR_SUITE = textwrap.dedent(
    '''
    import asyncio
    import threading

    import pytest_twisted
    from twisted.internet import defer, reactor, threads

    from twisted_lwstp.compat import ThreadPool


    @pytest_twisted.inlineCallbacks
    def test_thread_work_runs_on_the_lwstp_pool():
        name = yield threads.deferToThread(lambda: threading.current_thread().name)
        assert name.startswith("twisted.internet.reactor-"), name
        assert isinstance(reactor.getThreadPool(), ThreadPool)
        print("REACTOR", type(reactor).__module__, type(reactor).__name__)


    @pytest_twisted.ensureDeferred
    async def test_coroutines_and_timers():
        d = defer.Deferred()
        reactor.callLater(0.01, d.callback, 7)
        assert (await d) == 7


    @pytest_twisted.ensureDeferred
    async def test_asyncio_beside_it_when_asyncio():
        from twisted.internet.asyncioreactor import AsyncioSelectorReactor

        if isinstance(reactor, AsyncioSelectorReactor):
            future = asyncio.ensure_future(asyncio.sleep(0.01, result=5))
            assert (await defer.Deferred.fromFuture(future)) == 5
            print("ASYNCIO BESIDE")
    '''
)


class PytestReactorOptionTests(SynchronousTestCase):
    def run_suite(self, reactor: str) -> str:
        directory = temp_dir(self)
        with open(os.path.join(directory, "test_on_reactor.py"), "w") as f:
            f.write(REACTOR_SUITE)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
             f"--reactor={reactor}", directory],
            capture_output=True, text=True, timeout=120, cwd=directory,
        )
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("3 passed", proc.stdout)
        return proc.stdout

    def test_pytest_reactor_lwstp(self) -> None:
        out = self.run_suite("lwstp")
        self.assertIn("REACTOR twisted_lwstp.reactor LwstpReactor", out)

    def test_pytest_reactor_lwstp_asyncio(self) -> None:
        out = self.run_suite("lwstp-asyncio")
        self.assertIn("REACTOR twisted_lwstp.asyncioreactor LwstpAsyncioReactor", out)
        self.assertIn("ASYNCIO BESIDE", out)

    def test_help_lists_both_reactors_as_choices(self) -> None:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                               "--reactor=nonesuch"], capture_output=True, text=True,
                              timeout=120, cwd=temp_dir(self))
        self.assertNotEqual(proc.returncode, 0)
        self.assertRegex(proc.stderr, r"choose from .*'lwstp'.*'lwstp-asyncio'")


#: Runs pytest after installing a reactor first, as a conftest or an early
#: import would.
PRE_INSTALLED = textwrap.dedent(
    '''
    import importlib
    import sys

    module, _, function = sys.argv[1].partition(":")
    getattr(importlib.import_module(module), function)()
    import pytest

    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "--reactor=" + sys.argv[2],
                          "test_nothing.py"]))
    '''
)


class PytestReactorAlreadyInstalledTests(SynchronousTestCase):
    """
    C{pytest --reactor=lwstp[-asyncio]} when some reactor is installed
    before pytest-twisted installs its own: the lwstp reactor asked for is
    accepted, any other refused with one line naming both.
    """

    def run_after(self, installer: str, option: str) -> subprocess.CompletedProcess[str]:
        directory = temp_dir(self)
        with open(os.path.join(directory, "test_nothing.py"), "w") as f:
            f.write("def test_nothing():\n    pass\n")
        return subprocess.run([sys.executable, "-c", PRE_INSTALLED, installer, option],
                              capture_output=True, text=True, timeout=120, cwd=directory)

    def assert_refused(self, installer: str, option: str, expected: str, found: str) -> None:
        proc = self.run_after(installer, option)
        self.assertEqual(proc.returncode, 4, proc.stdout + proc.stderr)  # a usage error
        errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR:")]
        self.assertEqual(len(errors), 1, proc.stderr)
        self.assertIn(f"--reactor={option} needs {expected}", errors[0])
        self.assertIn(f"but {found} is installed already", errors[0])
        self.assertNotIn("Traceback", proc.stderr)

    def test_plain_asyncio_refused_by_lwstp_asyncio(self) -> None:
        self.assert_refused("twisted.internet.asyncioreactor:install", "lwstp-asyncio",
                            "twisted_lwstp.asyncioreactor.LwstpAsyncioReactor",
                            "twisted.internet.asyncioreactor.AsyncioSelectorReactor")

    def test_plain_asyncio_refused_by_lwstp(self) -> None:
        self.assert_refused("twisted.internet.asyncioreactor:install", "lwstp",
                            "twisted_lwstp.reactor.LwstpReactor",
                            "twisted.internet.asyncioreactor.AsyncioSelectorReactor")

    def test_plain_epoll_refused_by_both(self) -> None:
        for option, expected in [("lwstp", "twisted_lwstp.reactor.LwstpReactor"),
                                 ("lwstp-asyncio",
                                  "twisted_lwstp.asyncioreactor.LwstpAsyncioReactor")]:
            self.assert_refused("twisted.internet.epollreactor:install", option, expected,
                                "twisted.internet.epollreactor.EPollReactor")

    def test_the_other_lwstp_reactor_refused(self) -> None:
        self.assert_refused("twisted_lwstp.reactor:install", "lwstp-asyncio",
                            "twisted_lwstp.asyncioreactor.LwstpAsyncioReactor",
                            "twisted_lwstp.reactor.LwstpReactor")

    def test_the_same_lwstp_reactor_accepted(self) -> None:
        for installer, option in [("twisted_lwstp.reactor:install", "lwstp"),
                                  ("twisted_lwstp.asyncioreactor:install", "lwstp-asyncio")]:
            proc = self.run_after(installer, option)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            self.assertIn("1 passed", proc.stdout)


class InstallUnitTests(SynchronousTestCase):
    """
    The plugin's installer, in this process (where mutation testing sees
    it): whatever reactor this run installed stands in for "installed
    already".
    """

    def setUp(self) -> None:
        from twisted.internet import reactor

        self.installed = type(reactor)
        self.handed: list[type] = []

        def record(installer: Callable[[], object], reactor_type: type) -> None:
            installer()
            self.handed.append(reactor_type)

        self.patch(_internals, "pytest_twisted_install", record)

    def already(self) -> None:
        raise ReactorAlreadyInstalledError("installed already")

    def test_another_reactor_refused_naming_both(self) -> None:
        class Wanted:
            pass

        with self.assertRaises(pytest.UsageError) as caught:
            _pytest_plugin._install("lwstp", self.already, Wanted)
        message = str(caught.exception)
        self.assertIn(f"pytest --reactor=lwstp needs {__name__}.", message)
        self.assertIn("Wanted, but ", message)
        self.assertIn(f"{self.installed.__module__}.{self.installed.__qualname__} is installed "
                      "already", message)
        self.assertEqual(self.handed, [])

    def test_the_reactor_asked_for_is_handed_to_pytest_twisted(self) -> None:
        _pytest_plugin._install("lwstp", self.already, self.installed)
        self.assertEqual(self.handed, [self.installed])

    def test_each_name_asks_for_its_own_reactor(self) -> None:
        from twisted_lwstp import asyncioreactor, reactor

        asked: list[tuple[str, object, type]] = []
        self.patch(_pytest_plugin, "_install", lambda *a: asked.append(a))
        _pytest_plugin.REACTORS["lwstp"]()
        _pytest_plugin.REACTORS["lwstp-asyncio"]()
        self.assertEqual(asked, [("lwstp", reactor.install, reactor.LwstpReactor),
                                 ("lwstp-asyncio", asyncioreactor.install,
                                  asyncioreactor.LwstpAsyncioReactor)])


class _Action:
    def __init__(self, choices: tuple[str, ...] | None) -> None:
        self.choices = choices


class _Option:
    """A pytest option as the plugin reads it: its names and the holders
    of its choices (pytest 9's action; earlier pytest's keyword dict)."""

    def __init__(self, name: str, action: _Action | None = None,
                 attrs: dict[str, Any] | None = None) -> None:
        self._names = [name]
        self._action = action
        self._attrs = attrs

    def names(self) -> list[str]:
        return self._names


class _Parser:
    def __init__(self, options: list[_Option]) -> None:
        self.options = options
        self.asked: list[str] = []

    def getgroup(self, name: str) -> _Parser:
        self.asked.append(name)
        return self


class OptionTests(SynchronousTestCase):
    """
    The plugin's registration and its widening of pytest-twisted's
    C{--reactor} choices, in this process.
    """

    def test_register_adds_both_reactors_to_pytest_twisteds_table(self) -> None:
        import pytest_twisted

        table: dict[str, Any] = {"default": object()}
        self.patch(pytest_twisted, "reactor_installers", table)
        _pytest_plugin._register()
        self.assertEqual(set(table), {"default", "lwstp", "lwstp-asyncio"})
        self.assertIs(table["lwstp"], _pytest_plugin._install_lwstp)
        self.assertIs(table["lwstp-asyncio"], _pytest_plugin._install_lwstp_asyncio)

    def test_reactor_choices_widened_in_both_holders_and_nothing_else(self) -> None:
        other = _Option("--other", _Action(("a",)), {"choices": ("a",)})
        reactor = _Option("--reactor", _Action(("default", "lwstp")), {"choices": ("default",)})
        later = _Option("--reactor", _Action(("default",)))
        parser = _Parser([other, reactor, later])
        _pytest_plugin.pytest_addoption(parser)  # type: ignore[arg-type]
        self.assertEqual(parser.asked, ["twisted"])
        self.assertEqual(other._action.choices, ("a",))  # type: ignore[union-attr]
        self.assertEqual(other._attrs, {"choices": ("a",)})
        self.assertEqual(reactor._action.choices,  # type: ignore[union-attr]
                         ("default", "lwstp", "lwstp-asyncio"))
        self.assertEqual(reactor._attrs, {"choices": ("default", "lwstp", "lwstp-asyncio")})
        self.assertEqual(later._action.choices,  # type: ignore[union-attr]
                         ("default", "lwstp", "lwstp-asyncio"))

    def test_choices_left_alone_when_already_wide_or_free(self) -> None:
        wide = ("lwstp-asyncio", "default", "lwstp")
        exact = ("lwstp", "lwstp-asyncio")
        done = _Option("--reactor", _Action(wide))
        just = _Option("--reactor", _Action(exact))
        free = _Option("--reactor", _Action(None), {"choices": None})
        _pytest_plugin.pytest_addoption(_Parser([done, just, free]))  # type: ignore[arg-type]
        self.assertIs(done._action.choices, wide)  # type: ignore[union-attr]
        self.assertIs(just._action.choices, exact)  # type: ignore[union-attr]
        self.assertIsNone(free._action.choices)  # type: ignore[union-attr]
        self.assertEqual(free._attrs, {"choices": None})

    def test_an_option_with_one_holder_only(self) -> None:
        # pytest 9 keeps an argparse action; earlier pytest a keyword dict.
        new, old = _Option("--reactor", _Action(("default",))), _Option("--reactor")
        del new._attrs
        old._attrs = {"choices": ("default",)}
        del old._action
        _pytest_plugin.pytest_addoption(_Parser([new, old]))  # type: ignore[arg-type]
        self.assertEqual(new._action.choices,  # type: ignore[union-attr]
                         ("default", "lwstp", "lwstp-asyncio"))
        self.assertEqual(old._attrs, {"choices": ("default", "lwstp", "lwstp-asyncio")})

    def test_nothing_widened_without_pytest_twisted(self) -> None:
        self.patch(_pytest_plugin, "REACTORS", {})
        option = _Option("--reactor", _Action(("default",)))
        _pytest_plugin.pytest_addoption(_Parser([option]))  # type: ignore[arg-type]
        self.assertEqual(option._action.choices, ("default",))  # type: ignore[union-attr]
