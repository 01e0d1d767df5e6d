"""
The examples in docs/examples run green under the runners they are written
for, so the docs cannot drift from the code.  Each runs in its own process
(pytest-twisted and trial each want the reactor to themselves).
"""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "examples")


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=EXAMPLES)
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                          timeout=180, cwd=EXAMPLES, env=env)


class ExampleTests(SynchronousTestCase):
    def test_trial_examples(self) -> None:
        proc = run("-m", "twisted.trial", "test_countdown_trial", "test_jobs_trial")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("PASSED (successes=4)", proc.stdout)

    def test_replacing_example(self) -> None:
        proc = run("replacing.py")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(
            proc.stdout.splitlines(),
            ["defer_to_thread: 2cf24dba5fb0a30e", "refused: 1", "deferToThreadPool: 2cf24dba5fb0a30e"],
        )

    def test_wsgi_flask_example(self) -> None:
        proc = run("wsgi_flask.py")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(
            proc.stdout.splitlines(),
            ["/hello/world -> 200 hello world",
             "/report -> 200 line 0 | line 1 | line 2",
             "/hello/again -> 503 503 Service Unavailable: the server is busy; retry in 1 s",
             "/slow -> 200 slow done"],
        )

    def test_pytest_example(self) -> None:
        proc = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "test_countdown_pytest.py")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("2 passed", proc.stdout)
