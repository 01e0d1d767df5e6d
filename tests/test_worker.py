"""
Workers: the thread runner names its threads and drives steps, blocking on
the wake lock exactly where the steps say.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp._worker import BLOCK, STEP, SyncWait, ThreadRunner, drive


class DriveTests(SynchronousTestCase):
    def test_blocks_only_on_block_and_sync_wait(self) -> None:
        wake = threading.Lock()
        wake.acquire()
        trace: list[str] = []
        marker = SyncWait()

        def steps() -> Iterator[object]:
            trace.append("start")
            yield STEP
            trace.append("after step")
            wake.release()  # as the reactor would, before we block
            yield BLOCK
            trace.append("after block")
            wake.release()
            yield marker
            trace.append("after sync")

        drive(steps(), wake)
        self.assertEqual(trace, ["start", "after step", "after block", "after sync"])
        self.assertTrue(wake.locked())


class ThreadRunnerTests(SynchronousTestCase):
    def test_thread_is_named_daemon_and_joinable(self) -> None:
        wake = threading.Lock()
        wake.acquire()
        seen: list[str] = []
        entered = threading.Event()

        def steps() -> Iterator[object]:
            seen.append(threading.current_thread().name)
            entered.set()
            yield BLOCK
            seen.append("woken")

        handle = ThreadRunner().start_worker("pool-7", steps(), wake)
        self.assertTrue(entered.wait(30))
        self.assertTrue(handle.is_alive())
        wake.release()
        handle.join(30)
        self.assertFalse(handle.is_alive())
        self.assertEqual(seen, ["pool-7", "woken"])
        self.assertTrue(isinstance(handle, threading.Thread) and handle.daemon)
