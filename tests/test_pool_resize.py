"""
model rule 14, deterministically: on-demand workers, min/max, and
resizing while tasks run, wait in SYNC and wait in the queue.  Nothing is
interrupted, FIFO holds, cleanup runs exactly once.
"""

from __future__ import annotations

from twisted_lwstp import Diagnosis, QueueFull, TaskReturn, TaskStatus, ThreadPool
from twisted_lwstp.testing import ManualRunner, PoolHarness, StepReactor

from ._helpers import CleanupLog, HarnessCase, RecordingOwner, Script

R = TaskReturn
S = TaskStatus


def on_demand(threads: int, depth: int, min_threads: int = 0) -> PoolHarness:
    h = PoolHarness(threads, depth)
    # The same pool, built on demand (as the reactor's is).
    h.runner = ManualRunner()
    h.pool = ThreadPool(threads, depth, "od", reactor=h.reactor, runner=h.runner,
                        on_demand=True, min_threads=min_threads)
    return h


_Base = HarnessCase


class OnDemandTests(_Base):
    def test_idle_pool_has_only_min_workers(self) -> None:
        h = on_demand(4, 2, min_threads=1)
        h.pool.start()
        self.assertEqual(h.pool.diagnose().threads, 1)
        self.assertEqual([w.name for w in h.workers], ["od-0"])
        self.finish(h)

    def test_work_that_finds_no_idle_worker_starts_one_and_never_waits(self) -> None:
        h = on_demand(2, 0)
        h.pool.start()
        self.assertEqual(h.pool.diagnose().threads, 0)
        a = h.pool.enqueue(None, Script([R.CHECKING_IN]))
        b = h.pool.enqueue(None, Script([R.CHECKING_IN]))
        self.assertEqual((a.status, b.status), (S.RUNNING, S.RUNNING))
        self.assertEqual(h.pool.diagnose(), Diagnosis(2, 2, 0, 0))
        self.assertEqual([w.name for w in h.workers], ["od-0", "od-1"])
        # threads + max_queue_depth bounds the pool (rule 7).
        self.assertRaises(QueueFull, h.pool.enqueue, None, Script())
        self.finish(h)

    def test_call_in_thread_starts_a_worker_on_demand(self) -> None:
        h = on_demand(3, 0)
        h.pool.start()
        ran = []
        h.pool.callInThread(ran.append, 1)
        self.assertEqual(h.pool.diagnose().threads, 1)
        h.run()
        self.assertEqual(ran, [1])
        # The worker is kept, idle, and takes the next call.
        h.pool.callInThread(ran.append, 2)
        self.assertEqual(h.pool.diagnose().threads, 1)
        h.run()
        self.assertEqual(ran, [1, 2])
        self.finish(h)


class ResizeTests(_Base):
    def test_growing_starts_queued_work_at_once_oldest_first(self) -> None:
        h = PoolHarness(1, 4)
        h.pool.start()
        first = h.pool.enqueue(None, Script([R.CHECKING_IN] * 3))
        queued = [h.pool.enqueue(None, Script([R.CHECKING_IN])) for _ in range(3)]
        self.assertEqual([t.status for t in queued], [S.QUEUED] * 3)
        h.pool.adjustPoolsize(maxthreads=3)
        self.assertEqual(h.pool.max, 3)
        self.assertEqual([t.status for t in queued], [S.RUNNING, S.RUNNING, S.QUEUED])
        self.assertEqual(first.status, S.RUNNING)
        self.assertEqual([w.name for w in h.workers], ["test-0", "test-1", "test-2"])
        self.assertEqual(h.pool.diagnose(), Diagnosis(3, 3, 1, 0))
        self.finish(h)

    def test_shrinking_never_interrupts_running_syncing_or_queued_work(self) -> None:
        h = PoolHarness(3, 2)
        h.pool.start()
        cleanup = CleanupLog()
        owner = RecordingOwner(h.pool)
        running = h.pool.enqueue(None, Script([R.CHECKING_IN] * 2), cleanup=cleanup, user="r")
        syncing = h.pool.enqueue(owner, Script([R.SYNC]), cleanup=cleanup, user="s")
        h.step(1)
        self.assertIs(syncing.status, S.SYNCING)
        # One worker idle, two busy; shrink to one.
        h.pool.adjustPoolsize(minthreads=0, maxthreads=1)
        h.workers[2].step()  # the idle worker exits now
        h.flush()
        self.assertTrue(h.workers[2].exited)
        self.assertEqual(h.pool.diagnose().threads, 2)
        waiting = h.pool.enqueue(None, Script(), cleanup=cleanup, user="q")
        self.assertIs(waiting.status, S.QUEUED)  # admission uses the new most
        while h.workers[0].can_step:
            h.workers[0].step()
        h.flush()
        self.assertIs(running.status, S.FINISHED)  # ran to its end
        self.assertIs(syncing.status, S.SYNCING)  # not interrupted
        # The worker that ran 'running' exited instead of taking more.
        self.assertTrue(h.workers[0].exited)
        self.assertIs(waiting.status, S.QUEUED)
        h.pool.task_sync(syncing)
        h.run()
        self.assertIs(syncing.status, S.FINISHED)
        self.assertIs(waiting.status, S.FINISHED)
        self.assertEqual(h.pool.diagnose().threads, 1)
        for t in (running, syncing, waiting):
            h.pool.task_status(t)
        self.assertEqual(sorted(u for _, u in cleanup.calls), ["q", "r", "s"])
        self.finish(h)

    def test_shrink_then_grow_cancels_pending_exits(self) -> None:
        h = PoolHarness(2, 2)
        h.pool.start()
        a = h.pool.enqueue(None, Script([R.CHECKING_IN]))
        b = h.pool.enqueue(None, Script([R.CHECKING_IN]))
        h.pool.adjustPoolsize(minthreads=0, maxthreads=0)
        h.pool.adjustPoolsize(maxthreads=2)
        h.run()
        self.assertEqual((a.status, b.status), (S.FINISHED, S.FINISHED))
        self.assertEqual(h.pool.diagnose().threads, 2)
        self.finish(h)

    def test_workers_started_later_take_the_next_unused_number(self) -> None:
        h = PoolHarness(2, 0)
        h.pool.start()
        h.pool.adjustPoolsize(minthreads=0, maxthreads=1)
        h.pool.adjustPoolsize(maxthreads=3)
        self.assertEqual([w.name for w in h.workers],
                         ["test-0", "test-1", "test-2", "test-3"])
        h.run()
        self.assertEqual(h.pool.diagnose().threads, 3)
        self.finish(h)

    def test_before_start_only_bounds_change(self) -> None:
        h = PoolHarness(2, 0)
        h.pool.adjustPoolsize(minthreads=1, maxthreads=4)
        self.assertEqual((h.pool.min, h.pool.max, h.pool.threads), (1, 4, 4))
        self.assertEqual(h.workers, [])
        h.pool.start()
        self.assertEqual(h.pool.diagnose().threads, 4)
        self.finish(h)

    def test_bad_bounds_are_refused_and_change_nothing(self) -> None:
        h = PoolHarness(2, 0)
        self.assertRaises(ValueError, h.pool.adjustPoolsize, 3, 2)
        self.assertRaises(ValueError, h.pool.adjustPoolsize, -1, None)
        self.assertRaises(TypeError, h.pool.adjustPoolsize, None, 2.5)
        self.assertEqual((h.pool.min, h.pool.max), (2, 2))

    def test_a_thread_that_cannot_start_loses_no_work(self) -> None:
        reactor = StepReactor()

        class Refusing(ManualRunner):
            refuse = True

            def start_worker(self, name, steps, wake):  # type: ignore[no-untyped-def]
                if self.refuse:
                    raise RuntimeError("can't start new thread")
                return super().start_worker(name, steps, wake)

        runner = Refusing()
        pool = ThreadPool(2, 2, "r", reactor=reactor, runner=runner, on_demand=True)
        pool.start()
        cleanup = CleanupLog()
        t = pool.enqueue(None, Script(), cleanup=cleanup)
        self.assertIs(t.status, S.QUEUED)  # back in the queue, not lost
        self.assertEqual(pool.diagnose(), Diagnosis(0, 0, 1, 0))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        runner.refuse = False
        pool.adjustPoolsize(maxthreads=2)  # a resize hires for the queue
        h = PoolHarness.__new__(PoolHarness)
        h.reactor, h.runner, h.pool = reactor, runner, pool
        h.run()
        self.assertIs(t.status, S.FINISHED)
        self.assertEqual(len(cleanup.calls), 1)
        self.finish(h)
