"""
A 15-second chaos soak: 200 clients in their own process, each connection
reading everything, closing mid-task, closing while its task waits in
SYNC, or never reading; the server's own counters must balance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SoakTests(SynchronousTestCase):
    def test_short_soak_balances(self) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "soak", "--seconds", "15", "--clients", "200"],
            capture_output=True, text=True, timeout=180, cwd=ROOT,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("SOAK-JSON ")]
        self.assertEqual(len(lines), 1, proc.stdout + proc.stderr)
        result = json.loads(lines[0][len("SOAK-JSON "):])
        server, load = result["server"], result["load"]
        self.assertGreater(server["enqueued"], 100)
        self.assertEqual(server["enqueued"], server["cleanups"])
        self.assertEqual(server["enqueued"], server["completed"])
        self.assertEqual(server["refused"], load.get("refused 503", 0))
        self.assertGreater(server["refused"], 0)
        self.assertEqual(result["diagnose_after"],
                         {"running": 0, "threads": 3, "queued": 0, "done": 0})
        self.assertEqual(result["threads_alive_after"], 3)
        self.assertEqual(result["threads_alive_after_stop"], 0)
        self.assertLess(result["rss_growth_pct"], 10.0)
        for behaviour in ("read_all", "close_mid_task", "close_in_sync", "never_read"):
            self.assertGreater(load.get(f"behaviour {behaviour}", 0), 0, behaviour)
        self.assertTrue(result["ok"], result["checks"])
        self.assertEqual(proc.returncode, 0)
