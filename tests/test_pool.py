"""
The rules of docs/explanation/model.md, one or more tests each, driven deterministically
through L{twisted_lwstp.testing.PoolHarness}: no real threads, no sleeps.
"""

from __future__ import annotations

import contextvars
from typing import Any

from twisted.internet.defer import CancelledError

from twisted_lwstp import (
    Diagnosis,
    PoolFinished,
    QueueFull,
    Task,
    TaskFailed,
    TaskReturn,
    TaskStatus,
)
from twisted_lwstp.testing import PoolHarness, WorkerBlocked

from ._helpers import CleanupLog, HarnessCase, LogCapture, RecordingOwner, Script, syncing_owner

R = TaskReturn
S = TaskStatus


_Base = HarnessCase


class Rule1TaskFunctionTests(_Base):
    def test_rule1_task_called_with_user_and_running(self) -> None:
        h = self.harness()
        seen = []
        t = h.pool.enqueue(None, lambda u, s: seen.append((u, s)) or R.FINISHED, user="u")
        step = h.step()
        self.assertEqual(seen, [("u", S.RUNNING)])
        self.assertIs(step.task, t)
        self.assertEqual(step.returned, R.FINISHED)
        self.assertIs(step.status, S.FINISHED)

    def test_rule1_checking_in_is_called_again_at_once(self) -> None:
        h = self.harness()
        script = Script([R.CHECKING_IN, R.CHECKING_IN, R.FINISHED])
        t = h.pool.enqueue(RecordingOwner(), script)
        self.assertIs(h.step().status, S.RUNNING)
        self.assertIs(h.step().status, S.RUNNING)
        self.assertIs(h.step().status, S.FINISHED)
        self.assertEqual(script.told, [S.RUNNING] * 3)
        self.assertIs(t.status, S.FINISHED)

    def test_rule1_sync_blocks_until_task_sync(self) -> None:
        h = self.harness()
        owner = RecordingOwner(h.pool)
        t = h.pool.enqueue(owner, Script([R.SYNC, R.FINISHED]))
        step = h.step()
        self.assertEqual(step.returned, R.SYNC)
        self.assertIs(t.status, S.SYNCING)
        self.assertFalse(h.workers[0].can_step)
        self.assertEqual(owner.calls, [])  # only once the reactor runs
        h.flush()
        self.assertEqual(owner.statuses(), [S.SYNCING])
        self.assertFalse(h.workers[0].can_step)
        self.assertTrue(h.pool.task_sync(t))
        self.assertIs(t.status, S.RUNNING)
        self.assertIs(h.step().status, S.FINISHED)

    def test_rule1_one_sync_causes_one_writable(self) -> None:
        h = self.harness()
        owner = RecordingOwner(h.pool)
        t = h.pool.enqueue(owner, Script([R.SYNC]))
        h.step()
        h.flush()
        h.flush()
        h.pool.pause_owner(owner)
        h.pool.resume_owner(owner)
        self.assertEqual(owner.statuses(), [S.SYNCING])
        self.assertTrue(h.pool.task_sync(t))
        h.step()
        self.assertFalse(h.pool.task_sync(t))  # no longer waiting: nothing happens
        h.flush()
        self.assertEqual(owner.statuses(), [S.SYNCING, S.FINISHED])

    def test_rule1_one_writable_when_synced_before_the_reactor_saw_it(self) -> None:
        # The owner lets the task go before its SYNC event is drained; the
        # task SYNCs again; both events arrive in one batch.  The owner must
        # get one writable() for the SYNC still pending, not two.
        h = self.harness()
        owner = RecordingOwner(h.pool)
        t = h.pool.enqueue(owner, Script([R.SYNC, R.SYNC, R.FINISHED]))
        h.step()
        self.assertTrue(h.pool.task_sync(t))
        h.step()
        self.assertIs(t.status, S.SYNCING)
        h.flush()
        self.assertEqual(owner.statuses(), [S.SYNCING])
        h.pool.task_sync(t)
        h.step()
        h.flush()
        self.assertEqual(owner.statuses(), [S.SYNCING, S.FINISHED])

    def test_rule1_finished_waits_in_done_queue_until_reaped(self) -> None:
        h = self.harness()
        cleanup = CleanupLog()
        owner = RecordingOwner(h.pool)
        t = h.pool.enqueue(owner, Script([R.FINISHED]), user=7, cleanup=cleanup)
        fired = []
        t.when_done().addCallback(fired.append)
        h.step()
        h.flush()
        self.assertEqual(owner.statuses(), [S.FINISHED])
        self.assertEqual(h.pool.diagnose().done, 1)
        self.assertEqual(cleanup.calls, [])
        self.assertEqual(fired, [])
        self.assertIs(h.pool.task_status(t), S.FINISHED)
        self.assertEqual(cleanup.calls, [(owner, 7)])
        self.assertEqual(fired, [S.FINISHED])
        self.assertEqual(h.pool.diagnose().done, 0)

    def test_rule1_stopped_unasked_ends_stopped_without_an_error(self) -> None:
        # A running task may end itself STOPPED (3, or with OUTLIVE): it is
        # STOPPED, never FINISHED, and carries no error.
        for ret in (R.STOPPED, 3, R.STOPPED | R.OUTLIVE):
            h = self.harness()
            owner = RecordingOwner(h.pool)
            t = h.pool.enqueue(owner, Script([ret]))
            step = h.step()
            self.assertIs(step.status, S.STOPPED, ret)
            h.flush()
            self.assertEqual(owner.statuses(), [S.STOPPED])
            self.assertIs(h.pool.task_status(t), S.STOPPED)
            self.assertIsNone(t.error)

    def test_rule1_plain_ints_are_accepted(self) -> None:
        h = self.harness()
        owner = RecordingOwner(h.pool)
        t = h.pool.enqueue(owner, Script([0, 1, 2]))
        self.assertIs(h.step().status, S.RUNNING)
        self.assertIs(h.step().status, S.SYNCING)
        h.flush()
        h.pool.task_sync(t)
        self.assertIs(h.step().status, S.FINISHED)
        self.assertIsNone(t.error)

    def test_rule1_garbage_return_stops_task_with_error(self) -> None:
        for garbage in (None, "FINISHED", 5, 1.0, True, 64 | 4, object()):
            h = PoolHarness(1, 1)
            h.pool.start()
            cleanup = CleanupLog()
            with LogCapture() as logs:
                t = h.pool.enqueue(None, Script([garbage]), cleanup=cleanup)
                failures = []
                t.when_done().addErrback(failures.append)
                self.assertIs(h.step().status, S.STOPPED)
                h.flush()
            self.assertIsInstance(t.error, TaskFailed, garbage)
            self.assertIn(repr(garbage), str(t.error))
            self.assertEqual(len(cleanup.calls), 1)
            self.assertIs(failures[0].value, t.error)
            self.assertEqual(len(logs.matching("failed")), 1)
            self.assertEqual(len(self.flushLoggedErrors(TaskFailed)), 1)
            d = h.pool.destroy()
            h.run()
            self.successResultOf(d)

    def test_rule1_exception_stops_task_and_worker_survives(self) -> None:
        h = self.harness()
        boom = ZeroDivisionError("boom")
        bad = h.pool.enqueue(None, Script([R.CHECKING_IN, boom]))
        good = h.pool.enqueue(None, Script([R.FINISHED]))
        h.step()
        self.assertIs(h.step().status, S.STOPPED)
        self.assertIs(bad.error, boom)
        self.assertIs(h.step().task, good)
        self.assertIs(good.status, S.FINISHED)
        h.flush()
        self.failureResultOf(bad.when_done(), ZeroDivisionError)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_rule1_ownerless_task_sync_counts_as_check_in(self) -> None:
        h = self.harness()
        cleanup = CleanupLog()
        script = Script([R.SYNC, R.SYNC, R.FINISHED])
        t = h.pool.enqueue(None, script, user="u", cleanup=cleanup)
        self.assertIs(h.step().status, S.RUNNING)
        self.assertIs(h.step().status, S.RUNNING)
        self.assertIs(h.step().status, S.FINISHED)
        self.assertEqual(script.told, [S.RUNNING] * 3)
        h.flush()
        # Reaped by itself: nobody is left to ask.
        self.assertTrue(t.reaped)
        self.assertEqual(cleanup.calls, [(None, "u")])


class Rule2StoppingTests(_Base):
    def test_rule2_told_stopping_ends_stopped_whatever_it_returns(self) -> None:
        for answer in (R.FINISHED, R.SYNC, R.CHECKING_IN, R.FINISHED | R.OUTLIVE):
            h = PoolHarness(1, 1)
            h.pool.start()
            owner = RecordingOwner(h.pool)
            script = Script([R.CHECKING_IN] * 5, on_stopping=answer)
            t = h.pool.enqueue(owner, script)
            h.step()
            self.assertTrue(h.pool.dequeue_task(t))
            step = h.step()
            self.assertIs(step.status, S.STOPPED, answer)
            self.assertEqual(script.told, [S.RUNNING, S.STOPPING])
            h.flush()
            self.assertIs(h.pool.task_status(t), S.STOPPED)
            h.pool.destroy()
            h.run()

    def test_rule2_stopping_call_always_made(self) -> None:
        # A task stopped in SYNC is called once more with STOPPING.
        h = self.harness()
        owner = RecordingOwner(h.pool)
        script = Script([R.SYNC])
        t = h.pool.enqueue(owner, script)
        h.step()
        h.flush()
        h.pool.task_sync(t, stop=True)
        h.step()
        self.assertEqual(script.told, [S.RUNNING, S.STOPPING])


class Rule3StopRequestTests(_Base):
    def test_rule3_dequeue_queued_task_stops_it_unrun_and_reaps(self) -> None:
        h = self.harness(threads=1, depth=2)
        h.pool.enqueue(None, Script([R.CHECKING_IN]))
        cleanup = CleanupLog()
        script = Script()
        owner = RecordingOwner(h.pool)
        queued = h.pool.enqueue(owner, script, user="q", cleanup=cleanup)
        self.assertIs(queued.status, S.QUEUED)
        self.assertFalse(h.pool.dequeue_task(queued))
        self.assertIs(queued.status, S.STOPPED)
        self.assertTrue(queued.reaped)
        self.assertEqual(cleanup.calls, [(owner, "q")])
        self.assertEqual(self.successResultOf(queued.when_done()), S.STOPPED)
        h.run()
        self.assertEqual(script.told, [])

    def test_rule3_dequeue_done_task_reaps_it(self) -> None:
        h = self.harness()
        owner = RecordingOwner(h.pool)
        cleanup = CleanupLog()
        t = h.pool.enqueue(owner, Script(), cleanup=cleanup)
        h.step()
        self.assertFalse(h.pool.dequeue_task(t))
        self.assertEqual(len(cleanup.calls), 1)
        h.flush()  # the late DONE event changes nothing
        self.assertEqual(owner.calls, [])
        self.assertEqual(len(cleanup.calls), 1)

    def test_rule3_dequeue_running_task_asks_it_to_stop(self) -> None:
        h = self.harness()
        script = Script([R.CHECKING_IN] * 10)
        t = h.pool.enqueue(None, script)
        h.step()
        self.assertTrue(h.pool.dequeue_task(t))
        self.assertIs(t.status, S.STOPPING)
        self.assertIs(h.step().status, S.STOPPED)
        self.assertEqual(script.told, [S.RUNNING, S.STOPPING])

    def test_rule3_dequeue_syncing_task_releases_it_stopping(self) -> None:
        h = self.harness()
        owner = RecordingOwner(h.pool)
        script = Script([R.SYNC])
        t = h.pool.enqueue(owner, script)
        h.step()
        self.assertTrue(h.pool.dequeue_task(t))
        self.assertIs(h.step().status, S.STOPPED)
        h.flush()
        # The SYNC was never delivered: only the end is.
        self.assertEqual(owner.statuses(), [S.STOPPED])

    def test_rule3_task_sync_stop(self) -> None:
        h = self.harness()
        owner = RecordingOwner(h.pool)
        t = h.pool.enqueue(owner, Script([R.SYNC]))
        h.step()
        h.flush()
        self.assertTrue(h.pool.task_sync(t, stop=True))
        self.assertIs(t.status, S.STOPPING)
        self.assertIs(h.step().status, S.STOPPED)

    def test_rule3_sync_timeout_stops_task(self) -> None:
        h = self.harness(sync_timeout=30.0)
        owner = RecordingOwner(h.pool)
        t = h.pool.enqueue(owner, Script([R.SYNC]))
        h.step()
        h.reactor.advance(10)  # time before the reactor sees the SYNC counts
        h.flush()
        with LogCapture() as logs:
            h.reactor.advance(19.9)
            self.assertIs(t.status, S.SYNCING)
            h.reactor.advance(0.2)
        self.assertIs(t.status, S.STOPPING)
        self.assertEqual(len(logs.matching("not synced within 30.0 s")), 1)
        self.assertIs(h.step().status, S.STOPPED)

    def test_rule3_sync_timeout_counts_paused_time(self) -> None:
        h = self.harness(sync_timeout=5.0)
        owner = RecordingOwner(h.pool)
        h.pool.pause_owner(owner)
        t = h.pool.enqueue(owner, Script([R.SYNC]))
        h.step()
        h.flush()
        self.assertEqual(owner.calls, [])  # held back by flow control
        h.reactor.advance(5.0)
        self.assertIs(t.status, S.STOPPING)
        h.step()
        h.flush()
        h.pool.resume_owner(owner)
        self.assertEqual(owner.statuses(), [S.STOPPED])

    def test_rule3_sync_deadline_reached_exactly_times_the_task_out(self) -> None:
        # A deadline that is reached exactly has passed.  Treating it as
        # still ahead re-arms the timer at delay 0 for ever, inside
        # advance(): the guard turns that hang into this test's failure.
        h = self.harness(sync_timeout=5.0)
        owner = RecordingOwner(h.pool)
        t = h.pool.enqueue(owner, Script([R.SYNC]))
        h.step()
        h.flush()
        call_later = h.reactor.callLater
        armed: list[float] = []

        def guarded(delay: float, f: Any, *a: Any, **kw: Any) -> Any:
            armed.append(delay)
            if len(armed) > 50:
                raise AssertionError(f"sync timer re-armed {len(armed)} times: {armed[-3:]}")
            return call_later(delay, f, *a, **kw)

        h.reactor.callLater = guarded  # type: ignore[method-assign]
        with LogCapture() as logs:
            h.reactor.advance(4.999)
            self.assertIs(t.status, S.SYNCING)
            h.reactor.advance(5.0 - h.reactor.seconds())
        self.assertEqual(h.reactor.seconds(), 5.0)
        self.assertIs(t.status, S.STOPPING)
        self.assertEqual(len(logs.matching("not synced within 5.0 s")), 1)
        self.assertEqual(armed, [])
        self.assertIs(h.step().status, S.STOPPED)

    def test_rule3_synced_task_has_no_timeout(self) -> None:
        h = self.harness(sync_timeout=5.0)
        owner = syncing_owner(h.pool)
        t = h.pool.enqueue(owner, Script([R.SYNC, R.CHECKING_IN, R.CHECKING_IN]))
        h.step()
        h.flush()
        h.reactor.advance(6)
        self.assertIs(t.status, S.RUNNING)


class Rule4OwnerTests(_Base):
    def test_rule4_owner_closing_detaches_and_stops_every_task(self) -> None:
        h = self.harness(threads=2, depth=2)
        owner = RecordingOwner(h.pool)
        cleanup = CleanupLog()
        running = h.pool.enqueue(owner, Script([R.CHECKING_IN] * 9), cleanup=cleanup, user=1)
        syncing = h.pool.enqueue(owner, Script([R.SYNC]), cleanup=cleanup, user=2)
        queued = h.pool.enqueue(owner, Script(), cleanup=cleanup, user=3)
        h.step(0)
        h.step(1)
        h.flush()
        self.assertEqual(h.pool.tasks_of(owner), [running, syncing, queued])
        h.pool.owner_closing(owner)
        for t in (running, syncing, queued):
            self.assertIsNone(t.owner)
        self.assertIs(queued.status, S.STOPPED)
        self.assertEqual(h.pool.tasks_of(owner), [])
        h.run()
        self.assertEqual(sorted(u for _, u in cleanup.calls), [1, 2, 3])
        self.assertTrue(all(o is None for o, _ in cleanup.calls))
        for t in (running, syncing, queued):
            self.assertIs(t.status, S.STOPPED)
            self.assertTrue(t.reaped)

    def test_rule4_done_tasks_of_closing_owner_are_reaped(self) -> None:
        h = self.harness()
        owner = RecordingOwner(h.pool)
        cleanup = CleanupLog()
        t = h.pool.enqueue(owner, Script(), cleanup=cleanup, user="x")
        h.step()
        h.flush()
        h.pool.owner_closing(owner)
        self.assertEqual(cleanup.calls, [(None, "x")])
        self.assertTrue(t.reaped)

    def test_rule4_owner_closing_twice_or_unknown_is_harmless(self) -> None:
        h = self.harness()
        owner = RecordingOwner(h.pool)
        h.pool.owner_closing(owner)
        h.pool.owner_closing(owner)
        self.assertEqual(h.pool.tasks_of(owner), [])


class Rule5OutliveTests(_Base):
    def test_rule5_outlive_task_keeps_running_and_reaps_itself(self) -> None:
        h = self.harness()
        owner = RecordingOwner(h.pool)
        cleanup = CleanupLog()
        script = Script([R.CHECKING_IN | R.OUTLIVE, R.SYNC, R.CHECKING_IN, R.FINISHED])
        t = h.pool.enqueue(owner, script, user="job", cleanup=cleanup)
        h.step()
        self.assertTrue(t.outlive)
        h.pool.owner_closing(owner)
        self.assertIs(t.status, S.RUNNING)
        self.assertIs(h.step().status, S.RUNNING)  # SYNC counts as check-in
        h.step()
        self.assertIs(h.step().status, S.FINISHED)
        self.assertEqual(script.told, [S.RUNNING] * 4)
        h.flush()
        self.assertEqual(cleanup.calls, [(None, "job")])
        self.assertEqual(self.successResultOf(t.when_done()), S.FINISHED)
        self.assertEqual(owner.calls, [])

    def test_rule5_outlive_task_blocked_in_sync_continues_as_checked_in(self) -> None:
        h = self.harness()
        owner = RecordingOwner(h.pool)
        script = Script([R.SYNC | R.OUTLIVE, R.FINISHED])
        t = h.pool.enqueue(owner, script)
        h.step()
        h.flush()
        self.assertIs(t.status, S.SYNCING)
        h.pool.owner_closing(owner)
        self.assertIs(t.status, S.RUNNING)
        h.step()
        self.assertEqual(script.told, [S.RUNNING, S.RUNNING])
        h.flush()
        self.assertTrue(t.reaped)

    def test_rule5_only_finish_stops_an_outlive_task(self) -> None:
        h = self.harness()
        owner = RecordingOwner(h.pool)
        script = Script([R.CHECKING_IN | R.OUTLIVE] + [R.CHECKING_IN] * 9)
        t = h.pool.enqueue(owner, script)
        h.step()
        h.pool.owner_closing(owner)
        h.step()
        self.assertEqual(script.told, [S.RUNNING, S.RUNNING])
        h.pool.finish()
        self.assertIs(h.step().status, S.STOPPED)
        self.assertEqual(script.told[-1], S.STOPPING)
        h.flush()
        self.assertTrue(t.reaped)


class Rule6CleanupTests(_Base):
    def test_rule6_cleanup_once_in_reactor_thread_before_deferred(self) -> None:
        import threading

        h = self.harness()
        order = []
        owner = syncing_owner(h.pool)
        t = h.pool.enqueue(
            owner,
            Script([R.SYNC]),
            user="u",
            cleanup=lambda o, u: order.append(("cleanup", o, u, threading.get_ident())),
        )
        t.when_done().addCallback(lambda s: order.append(("done", s)))
        h.run()
        self.assertEqual(
            order, [("cleanup", owner, "u", threading.get_ident()), ("done", S.FINISHED)]
        )
        self.assertIs(h.pool.task_status(t), S.FINISHED)
        self.assertEqual(len(order), 2)

    def test_rule6_raising_cleanup_is_logged_and_deferred_fires(self) -> None:
        h = self.harness()

        def cleanup(owner: object, user: object) -> None:
            raise KeyError("cleanup broke")

        t = h.pool.enqueue(None, Script(), cleanup=cleanup)
        h.run()
        self.assertEqual(self.successResultOf(t.when_done()), S.FINISHED)
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)


class Rule7BoundedQueueTests(_Base):
    def test_rule7_threads_plus_depth_accepted_then_refused(self) -> None:
        h = self.harness(threads=3, depth=2)
        owner = RecordingOwner(h.pool)
        tasks = [h.pool.enqueue(owner, Script([R.CHECKING_IN])) for _ in range(5)]
        self.assertEqual([t.status for t in tasks], [S.RUNNING] * 3 + [S.QUEUED] * 2)
        cleanup = CleanupLog()
        with self.assertRaises(QueueFull) as caught:
            h.pool.enqueue(owner, Script(), cleanup=cleanup, user="mine")
        self.assertIn("max_queue_depth=2", str(caught.exception))
        self.assertEqual(cleanup.calls, [])
        self.assertEqual(len(h.pool.tasks_of(owner)), 5)
        self.assertEqual(h.pool.diagnose(), Diagnosis(3, 3, 2, 0))

    def test_rule7_depth_zero_means_run_now_or_refused(self) -> None:
        h = self.harness(threads=1, depth=0)
        h.pool.enqueue(None, Script([R.CHECKING_IN]))
        self.assertRaises(QueueFull, h.pool.enqueue, None, Script())
        h.run()
        h.pool.enqueue(None, Script())  # the worker is idle again

    def test_rule7_enqueue_after_finish_refused(self) -> None:
        h = self.harness()
        h.pool.finish()
        with self.assertRaises(PoolFinished):
            h.pool.enqueue(None, Script())

    def test_rule7_work_enqueued_before_start_waits_within_the_bound(self) -> None:
        h = PoolHarness(2, 1)
        first = h.pool.enqueue(None, Script())
        self.assertRaises(QueueFull, h.pool.enqueue, None, Script())
        h.pool.start()
        self.assertIs(first.status, S.RUNNING)
        h.run()
        self.assertTrue(first.reaped)
        h.pool.destroy()
        h.run()


class Rule8OrderTests(_Base):
    def test_rule8_waiting_tasks_start_in_enqueue_order(self) -> None:
        h = self.harness(threads=1, depth=5)
        started = []

        def task(name: str):
            def run(user: object, status: TaskStatus) -> TaskReturn:
                started.append(name)
                return R.FINISHED

            return run

        for name in "abcdef":
            h.pool.enqueue(None, task(name))
        h.run()
        self.assertEqual(started, list("abcdef"))


class Rule9FinishDestroyTests(_Base):
    def test_rule9_finish_stops_every_queued_task(self) -> None:
        # lws's finish() loses its place after the first queued task.
        h = self.harness(threads=1, depth=4)
        owner = RecordingOwner(h.pool)
        h.pool.enqueue(owner, Script([R.CHECKING_IN] * 3))
        queued = [h.pool.enqueue(owner, Script()) for _ in range(4)]
        h.pool.finish()
        self.assertEqual([t.status for t in queued], [S.STOPPED] * 4)
        # Their owner is told, so it can reap them.
        self.assertEqual(owner.statuses(), [S.STOPPED] * 4)
        self.assertEqual(h.pool.diagnose().queued, 0)

    def test_rule9_finish_tells_running_tasks_stopping(self) -> None:
        h = self.harness(threads=2)
        a = Script([R.CHECKING_IN] * 9)
        b = Script([R.SYNC] * 9)
        owner = syncing_owner(h.pool)
        h.pool.enqueue(owner, a)
        h.pool.enqueue(owner, b)
        h.step(0)
        h.step(1)
        h.pool.finish()
        h.run()
        self.assertEqual(a.told, [S.RUNNING, S.STOPPING])
        self.assertEqual(b.told, [S.RUNNING, S.STOPPING])

    def test_rule9_destroy_waits_for_workers_then_reaps_what_is_left(self) -> None:
        h = PoolHarness(2, 2)
        h.pool.start()
        owner = RecordingOwner(h.pool)  # never reaps by itself
        cleanup = CleanupLog()
        t1 = h.pool.enqueue(owner, Script([R.CHECKING_IN]), cleanup=cleanup, user=1)
        t2 = h.pool.enqueue(owner, Script([R.SYNC]), cleanup=cleanup, user=2)
        h.step(0)
        h.step(1)
        h.flush()
        d = h.pool.destroy()
        self.assertNoResult(d)  # worker 0 has not checked in yet
        h.run()
        self.successResultOf(d)
        self.assertEqual(sorted(u for _, u in cleanup.calls), [1, 2])
        self.assertTrue(t1.reaped and t2.reaped)
        self.assertEqual(h.pool.diagnose(), Diagnosis(0, 0, 0, 0))
        self.assertTrue(all(w.exited for w in h.workers))
        # Destroy is idempotent.
        self.successResultOf(h.pool.destroy())

    def test_rule9_destroy_of_unstarted_pool(self) -> None:
        h = PoolHarness(1, 2)
        cleanup = CleanupLog()
        h.pool.enqueue(None, Script(), cleanup=cleanup)
        self.successResultOf(h.pool.destroy())
        self.assertEqual(len(cleanup.calls), 1)


class Rule10DiagnoseDumpTests(_Base):
    def test_rule10_diagnose_counts_each_stage(self) -> None:
        h = self.harness(threads=2, depth=3)
        owner = RecordingOwner(h.pool)
        self.assertEqual(h.pool.diagnose(), Diagnosis(0, 2, 0, 0))
        a = h.pool.enqueue(owner, Script([R.SYNC]))
        h.pool.enqueue(owner, Script([R.CHECKING_IN]))
        h.pool.enqueue(owner, Script())
        self.assertEqual(h.pool.diagnose(), Diagnosis(2, 2, 1, 0))
        h.step(0)  # a syncs: still counted running
        h.step(1)
        h.step(1)  # b finishes; c starts on worker 1
        self.assertEqual(h.pool.diagnose(), Diagnosis(2, 2, 0, 1))
        h.step(1)
        self.assertEqual(h.pool.diagnose(), Diagnosis(1, 2, 0, 2))
        h.flush()
        h.pool.task_sync(a)
        h.step(0)
        self.assertEqual(h.pool.diagnose(), Diagnosis(0, 2, 0, 3))
        for t in h.pool.tasks_of(owner):
            h.pool.task_status(t)
        self.assertEqual(h.pool.diagnose(), Diagnosis(0, 2, 0, 0))

    def test_rule10_dump_tells_where_time_went(self) -> None:
        h = self.harness(threads=1, depth=1)
        owner = RecordingOwner(h.pool)
        a = h.pool.enqueue(owner, Script([R.SYNC]), name="ws 127.0.0.1:5000")
        h.pool.enqueue(owner, Script(), name="second")
        h.step()  # at t=0 a syncs (steps take no clock time)
        h.reactor.advance(3.0)
        info = {i.name: i for i in h.pool.dump_tasks()}
        first = info["ws 127.0.0.1:5000"]
        self.assertEqual(first.status, S.SYNCING)
        self.assertAlmostEqual(first.ms_in_state, 3000.0)
        self.assertAlmostEqual(first.ms_alive, 3000.0)
        self.assertEqual((first.run_pct, first.sync_pct), (0.0, 100.0))
        self.assertEqual(info["second"].status, S.QUEUED)
        self.assertAlmostEqual(info["second"].ms_queued, 3000.0)
        with LogCapture() as logs:
            text = h.pool.dump()
        self.assertIn("ws 127.0.0.1:5000: SYNCING for 3000.0 ms", text)
        self.assertIn("second: QUEUED", text)
        self.assertIn("running=1 threads=1 queued=1 done=0", text)
        self.assertEqual(len(logs.matching("second: QUEUED")), 1)
        h.flush()
        h.pool.task_sync(a)
        h.reactor.advance(1.0)
        h.step()  # a finishes at t=4 after running 1 s
        first = {i.name: i for i in h.pool.dump_tasks()}["ws 127.0.0.1:5000"]
        self.assertEqual((first.run_pct, first.sync_pct), (25.0, 75.0))
        self.assertAlmostEqual(first.ms_alive, 4000.0)
        second = {i.name: i for i in h.pool.dump_tasks()}["second"]
        self.assertAlmostEqual(second.ms_queued, 4000.0)


class Rule11NamesTests(_Base):
    def test_rule11_names(self) -> None:
        h = self.harness(threads=3, name="crunch")
        self.assertEqual([w.name for w in h.workers], ["crunch-0", "crunch-1", "crunch-2"])
        self.assertEqual(h.pool.name, "crunch")

        def counter(user: object, status: TaskStatus) -> TaskReturn:
            return R.FINISHED

        t = h.pool.enqueue(None, counter)
        self.assertTrue(t.name.startswith("counter"))
        named = h.pool.enqueue(None, counter, name="ws 10.0.0.1:80")
        self.assertEqual(named.name, "ws 10.0.0.1:80")


class Rule13AfterReapingTests(_Base):
    def test_rule13_reaped_task_still_answers(self) -> None:
        h = self.harness()
        cleanup = CleanupLog()
        t = h.pool.enqueue(None, Script([R.CHECKING_IN]), cleanup=cleanup)
        h.run()
        self.assertTrue(t.reaped)
        self.assertIs(t.status, S.FINISHED)
        self.assertEqual(self.successResultOf(t.when_done()), S.FINISHED)
        self.assertIs(h.pool.task_status(t), S.FINISHED)
        self.assertFalse(h.pool.dequeue_task(t))
        self.assertEqual(len(cleanup.calls), 1)

    def test_rule13_reaped_failed_task_when_done_fails_at_once(self) -> None:
        h = self.harness()
        t = h.pool.enqueue(None, Script([ValueError("x")]))
        h.run()
        self.failureResultOf(t.when_done(), ValueError)
        self.failureResultOf(t.when_done(), ValueError)
        self.flushLoggedErrors(ValueError)


class FlowControlTests(_Base):
    def test_paused_owner_gets_writable_on_resume_in_order(self) -> None:
        h = self.harness()
        owner = RecordingOwner(h.pool)
        h.pool.pause_owner(owner)
        t = h.pool.enqueue(owner, Script([R.SYNC]))
        h.step()
        h.flush()
        self.assertEqual(owner.calls, [])
        self.assertTrue(h.pool.owner_paused(owner))
        h.pool.resume_owner(owner)
        self.assertEqual(owner.statuses(), [S.SYNCING])
        h.pool.task_sync(t)
        h.step()
        h.flush()
        self.assertEqual(owner.statuses(), [S.SYNCING, S.FINISHED])

    def test_writable_that_pauses_holds_the_rest(self) -> None:
        h = self.harness(threads=2)
        owner = RecordingOwner(h.pool, lambda task: h.pool.pause_owner(owner))
        h.pool.enqueue(owner, Script([R.SYNC]))
        h.pool.enqueue(owner, Script([R.SYNC]))
        h.step(0)
        h.step(1)
        h.flush()
        self.assertEqual(len(owner.calls), 1)
        h.pool.resume_owner(owner)
        self.assertEqual(len(owner.calls), 2)
        h.pool.resume_owner(owner)
        self.assertEqual(len(owner.calls), 2)


    def test_writable_that_pauses_again_during_resume_holds_the_rest(self) -> None:
        # Three events held; the first writable() of the resume pauses the
        # owner again, so the other two stay held, in order, until the next
        # resume, which delivers them one per resume as each pauses again.
        h = self.harness(threads=3)
        owner = RecordingOwner(h.pool, lambda task: h.pool.pause_owner(owner))
        h.pool.pause_owner(owner)
        tasks = [h.pool.enqueue(owner, Script([R.SYNC])) for _ in range(3)]
        for i in range(3):
            h.step(i)
        h.flush()
        self.assertEqual(owner.calls, [])
        h.pool.resume_owner(owner)
        self.assertEqual([t for t, _ in owner.calls], tasks[:1])
        self.assertTrue(h.pool.owner_paused(owner))
        h.pool.resume_owner(owner)
        self.assertEqual([t for t, _ in owner.calls], tasks[:2])
        h.pool.resume_owner(owner)
        self.assertEqual([t for t, _ in owner.calls], tasks)
        self.assertEqual(owner.statuses(), [S.SYNCING] * 3)
        for t in tasks:
            h.pool.task_sync(t)


class EngineTests(_Base):
    def test_wakeups_are_coalesced(self) -> None:
        h = self.harness(threads=4, depth=0)
        owner = RecordingOwner(h.pool)
        for _ in range(4):
            h.pool.enqueue(owner, Script([R.SYNC]))
        for i in range(4):
            h.step(i)
        self.assertEqual(len(h.reactor.from_threads), 1)
        h.flush()
        self.assertEqual(len(owner.calls), 4)

    def test_writable_raising_stops_the_syncing_task(self) -> None:
        h = self.harness()

        def broken(task: Task) -> None:
            if task.status is S.SYNCING:
                raise RuntimeError("owner broke")

        owner = RecordingOwner(h.pool, broken)
        t = h.pool.enqueue(owner, Script([R.SYNC]))
        h.step()
        h.flush()
        self.assertIs(t.status, S.STOPPING)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertIs(h.step().status, S.STOPPED)

    def test_when_done_cancel_asks_task_to_stop(self) -> None:
        h = self.harness()
        script = Script([R.CHECKING_IN] * 9)
        t = h.pool.enqueue(None, script)
        h.step()
        d = t.when_done()
        other = t.when_done()
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertIs(t.status, S.STOPPING)
        h.run()
        self.assertEqual(self.successResultOf(other), S.STOPPED)

    def test_defer_to_thread_result_and_cancel(self) -> None:
        h = self.harness(threads=1, depth=2)
        d = h.pool.defer_to_thread(lambda a, b=0: a + b, 40, b=2)
        ran = []
        d2 = h.pool.defer_to_thread(ran.append, "never")
        d2.cancel()
        self.failureResultOf(d2, CancelledError)
        h.run()
        self.assertEqual(self.successResultOf(d), 42)
        self.assertEqual(ran, [])

    def test_defer_to_thread_failure_and_refusal(self) -> None:
        h = self.harness(threads=1, depth=0)
        d = h.pool.defer_to_thread(lambda: 1 / 0)
        self.failureResultOf(h.pool.defer_to_thread(lambda: 1), QueueFull)
        h.run()
        self.failureResultOf(d, ZeroDivisionError)
        self.flushLoggedErrors(ZeroDivisionError)
        h.pool.finish()
        self.failureResultOf(h.pool.defer_to_thread(lambda: 1), PoolFinished)

    def test_contextvars_of_the_enqueuing_code_are_visible(self) -> None:
        var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
        h = self.harness()
        seen = []
        token = var.set("from enqueue")
        try:
            h.pool.enqueue(None, lambda u, s: seen.append(var.get()) or R.FINISHED)
        finally:
            var.reset(token)
        h.run()
        self.assertEqual(seen, ["from enqueue"])

    def test_call_in_thread_before_start_runs_once_started(self) -> None:
        h = PoolHarness(1, 0)
        results = []
        h.pool.callInThreadWithCallback(lambda ok, r: results.append((ok, r)), lambda: 5)
        h.pool.callInThread(results.append, "plain")
        self.assertEqual(h.pool.diagnose().queued, 2)
        h.pool.start()
        h.run()
        self.assertEqual(results, [(True, 5), "plain"])
        h.pool.destroy()
        h.run()

    def test_worker_blocked_is_reported(self) -> None:
        h = self.harness()
        self.assertRaises(WorkerBlocked, h.step)
        self.assertRaises(WorkerBlocked, h.step, 0)
