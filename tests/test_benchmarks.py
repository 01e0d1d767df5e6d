"""
The benchmarks never rot: a quick run of every case, and the plots from
its JSON.  (Speed is the benchmarks' business, not the tests'.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from ._helpers import temp_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class QuickBenchmarkTests(SynchronousTestCase):
    def test_quick_run_writes_every_case_and_plots(self) -> None:
        out = temp_dir(self)
        results = os.path.join(out, "quick.json")
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks", "--quick", "--json", results],
            capture_output=True, text=True, timeout=180, cwd=ROOT,
        )
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        with open(results) as f:
            data = json.load(f)
        self.assertEqual(
            set(data["meta"]),
            {"python", "twisted", "cpu_count", "loadavg", "pinned_cpu", "quick", "platform", "date"},
        )
        cases = {(c["case"], c["threads"]) for c in data["cases"]}
        for threads in (1, 3, 8):
            self.assertIn(("throughput", threads), cases)
            self.assertIn(("sync round trip", threads), cases)
        for threads in (1, 3, 10):
            self.assertIn(("deferToThread (reactor)", threads), cases)
        self.assertIn(("callFromThread x4 threads", 4), cases)
        self.assertIn(("waker writes per 10k calls", 4), cases)
        for name in ("wsgi served p99", "wsgi 503 refusals", "wsgi calls for gone clients",
                     "wsgi peak RSS"):
            self.assertIn((name, 8), cases)
        names = {name for name, _ in cases}
        for name in ("stop latency p99", "memory per queued task", "end to end"):
            self.assertIn(name, names)
        for case in data["cases"]:
            for key in ("case", "threads", "unit", "ours", "peer", "ratio", "target", "met"):
                self.assertIn(key, case)
            if case["unit"] in ("calls", "requests", "writes"):
                # A count: 0 can be the goal (one wake-up in flight may carry
                # every call of a short run, and then no write is counted).
                self.assertGreaterEqual(case["ours"], 0, case["case"])
            else:
                self.assertGreater(case["ours"], 0, case["case"])
        self.assertIn("throughput", proc.stdout)
        plotted = subprocess.run(
            [sys.executable, "-m", "benchmarks.plot", results, "--out", out],
            capture_output=True, text=True, timeout=180, cwd=ROOT,
        )
        self.assertEqual(plotted.returncode, 0, plotted.stderr)
        for name in ("throughput.png", "sync.png"):
            with open(os.path.join(out, name), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        with open(os.path.join(out, "results.md")) as f:
            table = f.read()
        self.assertIn("| throughput | 3 | tasks/s |", table)
