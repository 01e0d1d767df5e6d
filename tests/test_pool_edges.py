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
        from twisted.logger import formatEvent

        (event,) = logs.matching("could not start test-2")
        self.assertEqual(formatEvent(event), "Pool test could not start test-2")
        self.assertEqual(event["pool"], "test")
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
        # stop() returned with the worker still blocked: it did not wait on,
        # and the pool is destroyed all the same (nothing waits for it).
        self.assertTrue(pool.destroy().called)
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


class EventFieldTests(HarnessCase):
    """
    The log events the engine emits carry the fields their texts promise
    (a pool's name, a task's name), so that an observer can filter them.
    """

    def events(self, logs: LogCapture, text: str) -> list[Any]:
        from twisted.logger import formatEvent

        found = [e for e in logs.events if text in formatEvent(e)]
        self.assertEqual(len(found), 1, [formatEvent(e) for e in logs.events])
        return found

    def test_a_failed_task(self) -> None:
        from twisted.logger import formatEvent

        h = self.harness(name="logged")
        h.pool.enqueue(None, Script([ValueError("boom")]), name="breaks")
        with LogCapture() as logs:
            h.run()
        (event,) = self.events(logs, "failed")
        self.assertEqual(formatEvent(event), "Task breaks of pool logged failed")
        self.assertEqual((event["task"], event["pool"]), ("breaks", "logged"))
        self.flushLoggedErrors(ValueError)

    def test_a_bad_return_names_what_a_task_may_return(self) -> None:
        h = self.harness()
        t = h.pool.enqueue(None, Script(["nope"]), name="odd")
        with LogCapture():
            h.run()
        self.assertEqual(
            str(t.error),
            "task 'odd' returned 'nope', which is not a TaskReturn (CHECKING_IN, SYNC, "
            "FINISHED or STOPPED, optionally | OUTLIVE)")
        from twisted_lwstp import TaskFailed

        self.flushLoggedErrors(TaskFailed)

    def test_a_writable_that_raises_and_a_cleanup_that_raises(self) -> None:
        from twisted.logger import formatEvent

        h = self.harness(name="logged")

        def raises(task: Any) -> None:
            raise KeyError("owner")

        owner = RecordingOwner(h.pool, raises)

        def cleanup(owner: Any, user: Any) -> None:
            raise KeyError("cleanup")

        t = h.pool.enqueue(owner, Script([R.SYNC]), name="synced", cleanup=cleanup)
        with LogCapture() as logs:
            h.run()
            h.pool.task_status(t)
        # Once for the SYNC (then stopped), once for the end.
        for raised in logs.matching("writable() of"):
            self.assertEqual(raised["task"], "synced")
            self.assertIn("RecordingOwner", raised["owner"])
        self.assertEqual(len(logs.matching("writable() of")), 2)
        self.assertIs(t.status, S.STOPPED)  # left in SYNC: stopped
        (cleaned,) = self.events(logs, "cleanup of task")
        self.assertEqual(formatEvent(cleaned), "cleanup of task synced of pool logged raised")
        self.assertEqual((cleaned["task"], cleaned["pool"]), ("synced", "logged"))
        self.flushLoggedErrors(KeyError)

    def test_a_sync_timeout(self) -> None:
        from twisted.logger import formatEvent

        h = self.harness(name="logged", sync_timeout=0.5)
        owner = RecordingOwner(h.pool)
        t = h.pool.enqueue(owner, Script([R.SYNC]), name="late")
        h.step(0)
        h.flush()
        with LogCapture() as logs:
            # Sub-second deadlines are kept: half a second, not one.
            h.reactor.advance(0.5)
        self.assertIs(t.status, S.STOPPING)
        (event,) = self.events(logs, "not synced")
        self.assertEqual(formatEvent(event),
                         "Task late of pool logged was not synced within 0.5 s: stopping it")
        self.assertEqual(event["pool"], "logged")
        h.run()

    def test_dump_is_one_event_with_its_text_and_figures(self) -> None:
        h = self.harness(name="dumped")
        h.pool.enqueue(None, Script([R.CHECKING_IN]), name="busy")
        with LogCapture() as logs:
            text = h.pool.dump()
        lines = text.split("\n")
        self.assertEqual(lines[0], "pool dumped: running=1 threads=1 queued=0 done=0")
        self.assertRegex(lines[1], r"^  busy#?\d*: RUNNING for ")
        (event,) = [e for e in logs.events if e.get("dump") == text]
        self.assertEqual((event["pool"], event["diagnosis"]), ("dumped", h.pool.diagnose()))
        self.assertEqual(event["log_format"], "{dump}")
        h.run()


class CallSurfaceTests(HarnessCase):
    def test_call_in_thread_passes_keyword_arguments(self) -> None:
        h = self.harness()
        got: list[Any] = []
        h.pool.callInThread(lambda *a, **kw: got.append((a, kw)), 1, key="value")
        h.run()
        self.assertEqual(got, [((1,), {"key": "value"})])

    def test_bad_sizes_are_named(self) -> None:
        h = self.harness()
        with self.assertRaisesRegex(TypeError, "^minthreads must be an int"):
            h.pool.adjustPoolsize(minthreads="1")  # type: ignore[arg-type]
        with self.assertRaisesRegex(ValueError, "^maxthreads must be >= 0"):
            h.pool.adjustPoolsize(maxthreads=-1)

    def test_a_task_api_call_with_a_stranger_is_named(self) -> None:
        h = self.harness()
        other = self.harness()
        with self.assertRaises(TypeError) as e:
            h.pool.task_status(7)  # type: ignore[arg-type]
        self.assertEqual(str(e.exception), "task_status() takes a Task from enqueue(), not int")
        foreign = other.pool.enqueue(None, Script())
        with self.assertRaises(ValueError) as e2:
            h.pool.task_sync(foreign)
        self.assertEqual(str(e2.exception), f"{foreign!r} belongs to another pool")
        other.run()

    def test_growing_hires_for_queued_work_at_the_clock_time(self) -> None:
        h = self.harness(threads=1, depth=2)
        h.pool.enqueue(None, Script([R.CHECKING_IN]))
        waits = h.pool.enqueue(None, Script())
        h.reactor.advance(3.0)
        h.pool.adjustPoolsize(maxthreads=2)
        self.assertIs(waits.status, S.RUNNING)
        self.assertEqual(waits.times().queued, 3.0)
        h.run()

    def test_two_refusals_while_finishing_count_two(self) -> None:
        from twisted_lwstp import PoolFinished

        h = self.harness()
        h.pool.finish()
        for _ in range(2):
            with self.assertRaises(PoolFinished):
                h.pool.enqueue(None, Script())
        self.assertEqual(h.pool.snapshot().refused_finishing, 2)

    def test_paused_is_a_bool_before_and_after(self) -> None:
        h = self.harness()
        owner = RecordingOwner(h.pool)
        h.pool.enqueue(owner, Script([R.CHECKING_IN]))
        self.assertIs(h.pool.owner_paused(owner), False)
        h.pool.pause_owner(owner)
        self.assertIs(h.pool.owner_paused(owner), True)
        h.pool.resume_owner(owner)
        self.assertIs(h.pool.owner_paused(owner), False)
        h.run()


class ForgottenTests(HarnessCase):
    """A task reaped is referenced by nothing of the pool's, whatever ended it."""

    def assert_forgotten(self, h: Any, end: Any) -> None:
        import gc
        import weakref

        owner = RecordingOwner(h.pool)
        t = h.pool.enqueue(owner, Script([R.SYNC]))
        h.step(0)
        h.flush()
        ref = weakref.ref(t)
        end(h, owner, t)
        h.run()
        h.pool.task_status(t)
        del t
        owner.calls.clear()
        gc.collect()
        self.assertIsNone(ref())

    def test_stopped_by_dequeue(self) -> None:
        self.assert_forgotten(self.harness(), lambda h, o, t: h.pool.dequeue_task(t))

    def test_stopped_by_its_owner_closing(self) -> None:
        self.assert_forgotten(self.harness(), lambda h, o, t: h.pool.owner_closing(o))

    def test_released_by_task_sync(self) -> None:
        self.assert_forgotten(self.harness(), lambda h, o, t: h.pool.task_sync(t))


class SyncDeadlineOrderTests(HarnessCase):
    def test_a_task_that_syncs_again_does_not_delay_another_tasks_deadline(self) -> None:
        h = self.harness(threads=2, sync_timeout=5.0)
        owner = RecordingOwner(h.pool)
        a = h.pool.enqueue(owner, Script([R.SYNC, R.SYNC]), name="a")
        b = h.pool.enqueue(owner, Script([R.SYNC]), name="b")
        h.step(0)  # a: SYNC at 0
        h.flush()
        h.reactor.advance(1.0)
        h.pool.task_sync(a)  # released at 1
        h.reactor.advance(1.0)
        h.step(1)  # b: SYNC at 2, deadline 7
        h.flush()
        h.reactor.advance(1.0)
        h.step(0)  # a: SYNC again at 3, deadline 8
        h.flush()
        with LogCapture():
            h.reactor.advance(4.0)  # 7: b's deadline
        self.assertEqual((a.status, b.status), (S.SYNCING, S.STOPPING))
        with LogCapture():
            h.run()
        h.pool.owner_closing(owner)


class ReturnValueTests(HarnessCase):
    def test_another_int_flag_counts_by_its_value(self) -> None:
        import enum

        class Mine(enum.IntFlag):
            DONE = 2

        h = self.harness()
        t = h.pool.enqueue(None, Script([Mine.DONE]))
        h.run()
        self.assertIs(t.status, S.FINISHED)


class ShutdownTriggerTests(HarnessCase):
    """
    A started pool stops with its reactor (a "during shutdown" trigger),
    and a pool destroyed before then takes its trigger back.
    """

    def reactor_with_triggers(self) -> Any:
        from twisted_lwstp.testing import StepReactor

        class Triggers(StepReactor):
            def __init__(self) -> None:
                super().__init__()
                self.added: dict[int, tuple[str, str, Any]] = {}

            def addSystemEventTrigger(self, phase: str, event: str, f: Any,
                                      *a: Any, **kw: Any) -> int:
                key = len(self.added) + 1
                self.added[key] = (phase, event, f)
                return key

            def removeSystemEventTrigger(self, key: int) -> None:
                del self.added[key]

        return Triggers()

    def test_the_reactor_shutting_down_stops_the_pool(self) -> None:
        reactor = self.reactor_with_triggers()
        h = self.harness(reactor=reactor)
        t = h.pool.enqueue(None, Script([R.CHECKING_IN] * 1000))
        ((phase, event, stop),) = reactor.added.values()
        self.assertEqual((phase, event), ("during", "shutdown"))
        h.step(0)
        stop()  # what the reactor runs as it shuts down: Twisted's stop()
        self.assertTrue(h.pool.joined)
        self.assertIs(t.status, S.STOPPED)
        self.assertTrue(h.pool.destroy().called)

    def test_a_destroyed_pool_takes_its_trigger_back(self) -> None:
        reactor = self.reactor_with_triggers()
        h = self.harness(reactor=reactor)
        self.assertEqual(len(reactor.added), 1)
        d = h.pool.destroy()
        h.run()
        self.successResultOf(d)
        self.assertEqual(reactor.added, {})


class CountingTests(HarnessCase):
    def test_unnamed_tasks_are_numbered_per_pool(self) -> None:
        h = self.harness(threads=1, depth=2)
        script = Script()
        names = [h.pool.enqueue(None, script).name for _ in range(3)]
        self.assertEqual(names, ["Script#1", "Script#2", "Script#3"])
        h.run()

    def test_two_failures_count_two(self) -> None:
        h = self.harness(threads=1, depth=2)
        for _ in range(2):
            h.pool.enqueue(None, Script([ValueError("boom")]))
        with LogCapture():
            h.run()
        self.flushLoggedErrors(ValueError)
        self.assertEqual(h.pool.snapshot().failed, 2)

    def test_growing_an_on_demand_pool_hires_only_what_is_missing(self) -> None:
        from twisted_lwstp.testing import ManualRunner, StepReactor

        runner = ManualRunner()
        pool = ThreadPool(3, 4, "grow", reactor=StepReactor(), runner=runner,
                          on_demand=True, min_threads=1)
        pool.start()
        self.assertEqual(pool.snapshot().threads, 1)
        pool.adjustPoolsize(1, 3)  # min kept, nothing queued: nobody new
        self.assertEqual(pool.snapshot().threads, 1)
        d = pool.destroy()
        for worker in runner.workers:
            worker.join()
        pool.reactor.run_from_threads()
        self.successResultOf(d)

    def test_a_finishing_pool_refuses_to_start_by_name(self) -> None:
        from twisted_lwstp.testing import PoolHarness

        h = PoolHarness(name="late")
        h.pool.finish()
        with self.assertRaises(RuntimeError) as e:
            h.pool.start()
        self.assertEqual(str(e.exception), "<ThreadPool 'late' threads=1> is finishing "
                         "and cannot start")


class LeftBehindTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def test_a_stop_that_gives_up_on_a_stuck_task_says_so(self):
        from twisted.logger import formatEvent

        pool = ThreadPool(1, 1, "stuck", reactor=reactor)
        pool.start()
        release = threading.Event()
        started = threading.Event()

        def stuck(user: object, status: object) -> R:
            started.set()
            release.wait(10)  # bounded, as in StopTimeoutTests
            return R.FINISHED

        pool.enqueue(None, stuck, name="stuck-task")
        yield deferToThread(started.wait, 30)
        with LogCapture() as logs:
            pool.stop(timeout=0.05)
        (event,) = logs.matching("destroyed while")
        self.assertEqual(formatEvent(event),
                         "Pool stuck destroyed while stuck-task is still STOPPING")
        self.assertEqual((event["pool"], event["task"], event["status"]),
                         ("stuck", "stuck-task", "STOPPING"))
        release.set()
        (handle,) = pool.snapshot().handles
        yield deferToThread(handle.join, 30)  # type: ignore[attr-defined]


class FinishTimesTests(HarnessCase):
    def test_a_task_stopped_in_the_queue_by_finish_has_its_times(self) -> None:
        h = self.harness(threads=1, depth=2)
        h.pool.enqueue(None, Script([R.CHECKING_IN]))
        queued = h.pool.enqueue(None, Script())
        h.reactor.advance(2.0)
        h.pool.finish()
        self.assertEqual(queued.times(), (2.0, None, None))
        h.run()


class WrongThreadNameTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def test_when_done_from_a_worker_names_itself(self):
        from twisted_lwstp.testing import PoolHarness

        h = PoolHarness()
        task = h.pool.enqueue(None, Script())

        def call() -> str:
            try:
                task.when_done()
            except RuntimeError as e:
                return str(e)
            return "no error"

        message = yield deferToThread(call)
        self.assertTrue(message.startswith("Task.when_done() must be called in the reactor"),
                        message)
