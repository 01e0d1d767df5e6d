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


def _policy_in_worker(runner: ThreadRunner) -> int:
    """The scheduling policy a worker started by C{runner} runs under."""
    import os

    wake = threading.Lock()
    wake.acquire()
    seen: list[int] = []

    def steps() -> Iterator[object]:
        seen.append(os.sched_getscheduler(0))
        yield STEP

    runner.start_worker("pool-policy", steps(), wake).join(30)
    return seen[0]


class SchedulingTests(SynchronousTestCase):
    """
    Workers run under SCHED_BATCH unless told otherwise, so that waking one
    never preempts the reactor thread (twisted_lwstp._worker).
    """

    def setUp(self) -> None:
        import os

        if not hasattr(os, "SCHED_BATCH"):  # pragma: no cover - not Linux
            raise self.skipTest("SCHED_BATCH is Linux's")
        # The test's own thread, and so a worker that inherits, is a normal one.
        self.assertEqual(os.sched_getscheduler(0), os.SCHED_OTHER)

    def test_batch_by_default(self) -> None:
        import os

        self.assertTrue(ThreadRunner().batch)
        self.assertEqual(_policy_in_worker(ThreadRunner()), os.SCHED_BATCH)

    def test_inherited_when_not_batch(self) -> None:
        import os

        self.assertEqual(_policy_in_worker(ThreadRunner(batch=False)), os.SCHED_OTHER)

    def test_only_the_calling_thread_changes(self) -> None:
        import os

        from twisted_lwstp._worker import schedule_as_batch

        seen: list[object] = []

        def run() -> None:
            seen.append(schedule_as_batch())
            seen.append(os.sched_getscheduler(0))

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(30)
        self.assertEqual(seen, [None, os.SCHED_BATCH])
        self.assertEqual(os.sched_getscheduler(0), os.SCHED_OTHER)

    def test_a_refusal_is_logged_once_and_the_worker_runs(self) -> None:
        import os

        from twisted.logger import globalLogPublisher

        from twisted_lwstp import _worker

        def refuse(pid: int, policy: int, param: object) -> None:
            raise PermissionError(1, "Operation not permitted")

        self.patch(os, "sched_setscheduler", refuse)
        self.patch(_worker, "_refusal_logged", False)
        events: list[dict[str, object]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        self.assertIsInstance(_worker.schedule_as_batch(), PermissionError)
        for _ in range(2):
            self.assertEqual(_policy_in_worker(ThreadRunner()), os.SCHED_OTHER)
        warned = [e for e in events if "SCHED_BATCH was refused" in str(e.get("log_format"))]
        self.assertEqual(len(warned), 1)
        self.assertIsInstance(warned[0]["error"], PermissionError)
        self.assertEqual(warned[0]["log_level"].name, "warn")
