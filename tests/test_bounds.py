"""
Every test is bounded (issue 17), so that a hang fails by name within
minutes instead of stalling a run: pytest's per-test bound is configured,
every child process a test starts has a timeout, and trial's own
C{timeout} of every asynchronous test case is a few minutes at most.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import tomllib

from twisted.trial.unittest import SynchronousTestCase, TestCase

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
#: The most any one bound may be, in seconds (the Twisted suites test,
#: which runs trial under two reactors, has the largest).
MOST = 360
CHILD_CALLS = {"run", "check_output", "check_call", "call"}


def _test_files() -> list[str]:
    return sorted(name for name in os.listdir(TESTS)
                  if name.endswith(".py") and name.startswith(("test_", "run_", "_")))


class BoundsTests(SynchronousTestCase):
    def test_pytest_bounds_every_test_with_the_thread_method(self) -> None:
        with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
            options = tomllib.load(f)["tool"]["pytest"]["ini_options"]
        self.assertEqual(options["timeout_method"], "thread")
        self.assertLessEqual(options["timeout"], MOST)

    def test_every_child_process_of_a_test_has_a_timeout(self) -> None:
        unbounded = []
        for name in _test_files():
            tree = ast.parse(open(os.path.join(TESTS, name)).read())
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and isinstance(node.func.value, ast.Name)
                        and node.func.value.id == "subprocess"
                        and node.func.attr in CHILD_CALLS):
                    continue
                bound = {k.arg: k.value for k in node.keywords}.get("timeout")
                if bound is None:
                    unbounded.append(f"{name}:{node.lineno}")
                elif isinstance(bound, ast.Constant) and not 0 < bound.value <= MOST:
                    unbounded.append(f"{name}:{node.lineno} (timeout={bound.value})")
        self.assertEqual(unbounded, [])

    def test_trial_timeout_of_every_async_case_is_minutes_at_most(self) -> None:
        loose = []
        for name in _test_files():
            if not name.startswith("test_"):
                continue
            module = importlib.import_module(f"tests.{name[:-3]}")
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, TestCase) and cls.__module__ == module.__name__:
                    if not 0 < cls.timeout <= MOST:
                        loose.append(f"{cls.__module__}.{cls.__name__}: {cls.timeout}")
        self.assertEqual(loose, [])
