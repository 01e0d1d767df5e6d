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

from twisted.trial.unittest import SynchronousTestCase

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
