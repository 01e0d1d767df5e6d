"""
Session-wide checks under pytest: once every test has run, no worker thread
of any pool may be alive, and no Deferred may have been garbage-collected
with an unhandled error.  (Under trial, tests/test_zz_leaks.py checks the
same: it runs last.)
"""

from __future__ import annotations

import gc

import pytest
from twisted.logger import LogEvent, formatEvent, globalLogPublisher

from twisted_lwstp._worker import live_worker_threads

_unhandled: list[str] = []


def _observe(event: LogEvent) -> None:
    text = formatEvent(event)
    if "Unhandled error in Deferred" in text:
        failure = event.get("log_failure")
        _unhandled.append(text + (f" {failure.getErrorMessage()}" if failure else ""))


def pytest_configure(config: pytest.Config) -> None:
    globalLogPublisher.addObserver(_observe)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    gc.collect()
    problems = []
    leaked = live_worker_threads()
    if leaked:
        problems.append(f"worker threads still alive: {sorted(t.name for t in leaked)}")
    if _unhandled:
        problems.append(f"Deferreds collected with unhandled errors: {_unhandled}")
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for problem in problems:
            if reporter is not None:
                reporter.write_line(f"LEAK CHECK FAILED: {problem}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
