"""
Runs last (trial and pytest both order modules by name): after the whole
suite, no worker thread of any pool is alive, and collecting garbage turns
up no Deferred with an unhandled error (trial fails a test during which an
error is logged, which is what such a Deferred does when collected).
"""

from __future__ import annotations

import gc

from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp._worker import live_worker_threads


class SessionLeakTests(SynchronousTestCase):
    def test_no_worker_thread_left(self) -> None:
        gc.collect()
        self.assertEqual(sorted(t.name for t in live_worker_threads()), [])

    def test_no_deferred_with_unhandled_error(self) -> None:
        gc.collect()
        gc.collect()
        self.assertEqual(self.flushLoggedErrors(), [])
