"""
Edges of the engine that a mutation run (``make mutants``) found no test
for: each test here was written against surviving mutants of the engine
rooms, and fails when the behaviour it names is broken.  Stepped pools
(L{PoolHarness}), except where real threads are the point.
"""

from __future__ import annotations

import threading
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from twisted_lwstp import TaskReturn as R
from twisted_lwstp import TaskStatus as S
from twisted_lwstp import ThreadPool

from ._helpers import HarnessCase, LogCapture, RecordingOwner, Script


class ReactorThreadRefusalTests(HarnessCase):
    def test_each_reactor_only_method_names_itself_from_another_thread(self) -> None:
        h = self.harness()
        pool, owner = h.pool, RecordingOwner(h.pool)
        task = pool.enqueue(None, Script([R.CHECKING_IN]))
        calls = {
            "enqueue": lambda: pool.enqueue(None, Script()),
            "dequeue_task": lambda: pool.dequeue_task(task),
            "task_sync": lambda: pool.task_sync(task),
            "task_status": lambda: pool.task_status(task),
            "owner_closing": lambda: pool.owner_closing(owner),
            "tasks_of": lambda: pool.tasks_of(owner),
            "pause_owner": lambda: pool.pause_owner(owner),
            "resume_owner": lambda: pool.resume_owner(owner),
            "dump_tasks": lambda: pool.dump_tasks(),
            "finish": lambda: pool.finish(),
            "destroy": lambda: pool.destroy(),
            "start": lambda: pool.start(),
            "stop": lambda: pool.stop(),
        }
        messages: dict[str, str] = {}

        def elsewhere() -> None:
            for name, call in calls.items():
                try:
                    call()
                except RuntimeError as e:
                    messages[name] = str(e)

        thread = threading.Thread(target=elsewhere, name="not-the-reactor")
        thread.start()
        thread.join(30)
        self.assertEqual(sorted(messages), sorted(calls))
        for name, text in messages.items():
            self.assertIn(f"ThreadPool.{name}() must be called in the reactor thread, "
                          "not in 'not-the-reactor'", text)
        h.run()


class DequeueTests(HarnessCase):
    def test_dequeue_answers_exactly_true_or_false(self) -> None:
        h = self.harness(threads=1, depth=2)
        running = h.pool.enqueue(None, Script([R.CHECKING_IN] * 3))
        queued = h.pool.enqueue(None, Script())
        self.assertIs(h.pool.dequeue_task(queued), False)
        self.assertIs(h.pool.dequeue_task(queued), False)  # done already
        self.assertIs(h.pool.dequeue_task(running), True)
        h.run()

    def test_a_task_stopped_in_the_queue_has_its_end_time(self) -> None:
        h = self.harness(threads=1, depth=2)
        h.pool.enqueue(None, Script([R.CHECKING_IN] * 3))
        queued = h.pool.enqueue(None, Script())
        h.reactor.advance(2.5)
        ended: list[Any] = []
        h.pool.reap_hook = lambda t: ended.append((t, t._t_ended))
        h.pool.dequeue_task(queued)
        self.assertEqual(ended, [(queued, 2.5)])
        h.pool.reap_hook = None
        h.run()


class FailedThreadStartTests(HarnessCase):
    def test_work_handed_to_a_thread_that_cannot_start_goes_back_first_in_line(self) -> None:
        h = self.harness(threads=2, depth=4)
        start_worker = h.runner.start_worker
        fail = [True]

        def flaky(name: str, steps: Any, wake: Any) -> Any:
            if fail[0]:
                raise OSError("can't start new thread")
            return start_worker(name, steps, wake)

        h.runner.start_worker = flaky  # type: ignore[method-assign]
        first = h.pool.enqueue(None, Script([R.FINISHED]), name="first")
        second = h.pool.enqueue(None, Script([R.FINISHED]), name="second")
        # Both workers exist (started by start()); the idle ones took the
        # work.  Now a third, on a thread that cannot start.
        third = h.pool.enqueue(None, Script([R.FINISHED]), name="third")
        with LogCapture() as logs:
            h.pool.adjustPoolsize(maxthreads=3)
        self.assertEqual(len(logs.matching("could not start test-2")), 1)
        self.flushLoggedErrors(OSError)
        self.assertEqual(h.pool.diagnose().threads, 2)
        self.assertIs(third.status, S.QUEUED)
        fourth = h.pool.enqueue(None, Script([R.FINISHED]), name="fourth")
        snap = h.pool.snapshot()
        self.assertEqual((snap.queued_tasks, snap.workers), (2, 2))
        fail[0] = False
        # third went back first in line: the first worker to be free takes it.
        h.step(0)
        self.assertEqual((third.status, fourth.status), (S.RUNNING, S.QUEUED))
        h.run()
        for t in (first, second, third, fourth):
            self.assertIs(h.pool.task_status(t), S.FINISHED)


class HeldEventTests(HarnessCase):
    def test_an_end_held_while_paused_is_delivered_on_resume(self) -> None:
        h = self.harness()
        owner = RecordingOwner(h.pool)
        h.pool.pause_owner(owner)
        t = h.pool.enqueue(owner, Script([R.FINISHED]))
        h.run()
        self.assertEqual(owner.calls, [])
        h.pool.resume_owner(owner)
        self.assertEqual(owner.calls, [(t, S.FINISHED)])
        h.pool.task_status(t)
        # Nothing of the owner is left once its tasks are reaped.
        self.assertEqual(h.pool.snapshot().owners, 0)

    def test_a_writable_that_raises_on_resume_stops_its_syncing_task(self) -> None:
        h = self.harness()

        def broken(task: Any) -> None:
            raise ValueError("writable broke")

        owner = RecordingOwner(h.pool, broken)
        h.pool.pause_owner(owner)
        t = h.pool.enqueue(owner, Script([R.SYNC, R.CHECKING_IN]))
        h.step()
        h.flush()
        h.pool.resume_owner(owner)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertIs(t.status, S.STOPPING)
        h.run()
        self.flushLoggedErrors(ValueError)


class SyncTimeoutTests(HarnessCase):
    def test_each_sync_times_out_at_its_own_deadline_and_is_counted(self) -> None:
        h = self.harness(threads=2, sync_timeout=5.0)
        owner = RecordingOwner(h.pool)
        a = h.pool.enqueue(owner, Script([R.SYNC]))
        b = h.pool.enqueue(owner, Script([R.SYNC]))
        h.step(0)
        h.flush()
        h.reactor.advance(2.0)
        h.step(1)
        h.flush()
        with LogCapture():
            h.reactor.advance(3.0)  # a's deadline
            self.assertEqual((a.status, b.status), (S.STOPPING, S.SYNCING))
            h.reactor.advance(1.9)
            self.assertIs(b.status, S.SYNCING)
            h.reactor.advance(0.1)  # b's deadline
        self.assertIs(b.status, S.STOPPING)
        self.assertEqual(h.pool.snapshot().sync_timeouts, 2)
        h.run()


class ResizeTests(HarnessCase):
    def test_bad_sizes_name_the_argument(self) -> None:
        h = self.harness()
        with self.assertRaisesRegex(ValueError, "minthreads"):
            h.pool.adjustPoolsize(minthreads=-1)
        with self.assertRaisesRegex(ValueError, "maxthreads"):
            h.pool.adjustPoolsize(maxthreads=-1)
        with self.assertRaisesRegex(ValueError, r"minthreads \(3\) must be <= maxthreads \(1\)"):
            h.pool.adjustPoolsize(3, 1)

    def test_one_bound_alone_keeps_the_other(self) -> None:
        h = self.harness(threads=3)
        h.pool.adjustPoolsize(minthreads=1)
        self.assertEqual((h.pool.min, h.pool.max), (1, 3))
        h.pool.adjustPoolsize(maxthreads=2)
        self.assertEqual((h.pool.min, h.pool.max), (1, 2))

    def test_work_started_by_growing_has_its_start_time(self) -> None:
        h = self.harness(threads=1, depth=2)
        h.pool.enqueue(None, Script([R.CHECKING_IN]))
        waiting = h.pool.enqueue(None, Script())
        h.reactor.advance(4.0)
        h.pool.adjustPoolsize(maxthreads=2)
        self.assertIs(waiting.status, S.RUNNING)
        self.assertEqual(waiting._t_started, 4.0)
        h.run()


class CallLogTests(HarnessCase):
    def test_raising_work_and_raising_on_result_are_logged_by_name(self) -> None:
        h = self.harness()

        def broken() -> None:
            raise KeyError("work")

        def on_result(ok: bool, result: Any) -> None:
            raise IndexError("onResult")

        with LogCapture() as logs:
            h.pool.callInThread(broken)
            h.pool.callInThreadWithCallback(on_result, lambda: 1)
            h.run()
        self.assertEqual(len(logs.matching("callInThread work raised")), 1)
        self.assertEqual(len(logs.matching("onResult callback raised")), 1)
        self.flushLoggedErrors(KeyError, IndexError)


class StopTimeoutTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def test_stop_waits_at_most_its_timeout_per_worker(self):
        pool = ThreadPool(1, 1, "stop-timeout", reactor=reactor)
        pool.start()
        release = threading.Event()
        started = threading.Event()

        def blocked() -> None:
            started.set()
            # Bounded: a stop() that ignored its timeout returns after this,
            # with the worker gone, and the assertion below fails.
            release.wait(10)

        pool.callInThread(blocked)
        yield deferToThread(started.wait, 30)
        pool.stop(timeout=0.05)
        # stop() returned with the worker still blocked: it did not wait on.
        (handle,) = pool.snapshot().handles
        self.assertTrue(handle.is_alive())  # type: ignore[attr-defined]
        release.set()
        handle.join(30)  # type: ignore[attr-defined]


class SnapshotTests(HarnessCase):
    """Every figure of snapshot() after a known sequence, one step at a time."""

    def test_each_figure_follows_the_pool(self) -> None:
        from twisted_lwstp import PoolFinished, QueueFull

        h = self.harness(threads=2, depth=1, sync_timeout=5.0)
        owner = RecordingOwner(h.pool)
        snap = h.pool.snapshot()
        self.assertEqual(
            (snap.name, snap.max_threads, snap.min_threads, snap.threads, snap.workers,
             snap.idle, snap.running, snap.queued, snap.owners, snap.finishing),
            ("test", 2, 2, 2, 2, 2, 0, 0, 0, False))
        self.assertEqual(len(snap.handles), 2)
        syncs = h.pool.enqueue(owner, Script([R.SYNC]), name="syncs")
        fails = h.pool.enqueue(None, Script([ValueError("boom")]), name="fails")
        waits = h.pool.enqueue(owner, Script(), name="waits")
        with self.assertRaises(QueueFull):
            h.pool.enqueue(None, Script())
        snap = h.pool.snapshot()
        self.assertEqual((snap.running, snap.idle, snap.queued, snap.queued_tasks),
                         (2, 0, 1, 1))
        self.assertEqual((snap.enqueued, snap.refused_full, snap.owners), (3, 1, 1))
        h.step(0)  # syncs -> SYNC
        with LogCapture():
            h.step(1)  # fails raises; waits is taken next
        self.flushLoggedErrors(ValueError)
        h.pool.pause_owner(owner)
        h.flush()
        snap = h.pool.snapshot()
        self.assertEqual((snap.in_sync, snap.ended, snap.reaped, snap.failed, snap.done),
                         (1, 1, 1, 1, 0))
        self.assertEqual((snap.owners_paused, snap.wakeups, snap.events), (1, 1, 2))
        self.assertIs(waits.status, S.RUNNING)
        h.reactor.advance(5.0)  # syncs overstays its SYNC
        self.assertEqual(h.pool.snapshot().sync_timeouts, 1)
        h.pool.resume_owner(owner)
        h.run()
        for task in (syncs, waits):
            h.pool.task_status(task)
        h.pool.finish()
        with self.assertRaises(PoolFinished):
            h.pool.enqueue(None, Script())
        snap = h.pool.snapshot()
        self.assertEqual((snap.finished, snap.failed, snap.reaped, snap.refused_finishing,
                          snap.finishing, snap.owners), (1, 1, 3, 1, True, 0))
        self.assertEqual(h.pool.diagnose(), snap.diagnosis())
        self.assertIs(fails.status, S.STOPPED)
