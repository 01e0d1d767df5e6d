"""
The README's example runs as shown and prints what it promises.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ReadmeTests(SynchronousTestCase):
    def test_example_runs(self) -> None:
        with open(os.path.join(ROOT, "README.md")) as f:
            text = f.read()
        blocks = re.findall(r"```python\n(.*?)```", text, re.S)
        self.assertEqual(len(blocks), 1)
        proc = subprocess.run(
            [sys.executable, "-c", blocks[0]],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(
            proc.stdout.splitlines(),
            ["step 1", "step 2", "step 3", "step 4", "cleanup {'n': 5}", "FINISHED"],
        )
