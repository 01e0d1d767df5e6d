"""
Task: what it tells about itself, and its completion Deferreds.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp import TaskReturn, TaskStatus
from twisted_lwstp.testing import PoolHarness

from ._helpers import Script

R = TaskReturn
S = TaskStatus


class TaskTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = PoolHarness(1, 1)
        self.h.pool.start()

    def tearDown(self) -> None:
        self.h.pool.destroy()
        self.h.run()

    def test_repr_and_attributes(self) -> None:
        t = self.h.pool.enqueue(None, Script(), user={"k": 1}, name="job")
        self.assertEqual(repr(t), "<Task 'job' RUNNING>")
        self.assertEqual(t.user, {"k": 1})
        self.assertIsNone(t.owner)
        self.assertIsNone(t.error)
        self.assertFalse(t.outlive)
        self.assertFalse(t.reaped)

    def test_many_when_done_all_fire(self) -> None:
        t = self.h.pool.enqueue(None, Script())
        ds = [t.when_done() for _ in range(3)]
        self.h.run()
        self.assertEqual([self.successResultOf(d) for d in ds], [S.FINISHED] * 3)

    def test_when_done_fires_inside_the_owners_task_status(self) -> None:
        # The order the README and when_done()'s docstring state: cleanup,
        # then the callbacks, all before task_status() returns.
        from zope.interface import implementer

        from twisted_lwstp import ITaskOwner

        events: list[str] = []
        pool = self.h.pool

        @implementer(ITaskOwner)
        class Owner:
            def writable(self, task: object) -> None:
                events.append("task_status called")
                pool.task_status(task)  # type: ignore[arg-type]
                events.append("task_status returned")

        t = pool.enqueue(Owner(), Script(), cleanup=lambda o, u: events.append("cleanup"))
        t.when_done().addCallback(lambda status: events.append(f"when_done {status.name}"))
        self.h.run()
        self.assertEqual(events, ["task_status called", "cleanup", "when_done FINISHED",
                                  "task_status returned"])

    def test_reaped_task_drops_its_function_and_cleanup(self) -> None:
        t = self.h.pool.enqueue(None, Script(), cleanup=lambda o, u: None)
        self.h.run()
        self.assertTrue(t.reaped)
        self.assertIsNone(t._func)
        self.assertIsNone(t._cleanup)
        self.assertIsNone(t._ctx)


class DumpTimesTests(SynchronousTestCase):
    """
    What C{dump_tasks()} says of each task (rule 10), at known moments of a
    clock the test moves: time in the state, queued, alive, and the shares
    of its thread time spent running and in SYNC.
    """

    def test_each_figure_as_the_task_moves(self) -> None:
        from ._helpers import RecordingOwner

        h = PoolHarness(1, 2)
        h.pool.start()
        h.reactor.advance(100.0)  # no figure may lean on a clock that starts at 0
        pool = h.pool
        owner = RecordingOwner(pool, lambda t: None)  # syncs and reaps nothing itself
        a = pool.enqueue(owner, Script([TaskReturn.CHECKING_IN, TaskReturn.SYNC,
                                        TaskReturn.SYNC, TaskReturn.FINISHED]), name="a")
        pool.enqueue(None, Script(), name="b")
        h.reactor.advance(0.5)
        self.assertEqual(pool.dump_tasks(), [
            ("a", TaskStatus.RUNNING, 500.0, 0.0, 500.0, 100.0, 0.0),
            ("b", TaskStatus.QUEUED, 500.0, 500.0, 500.0, 0.0, 0.0),
        ])
        h.step()  # a checks in
        h.step()  # a SYNCs, having run 0.5 s
        h.flush()
        h.reactor.advance(1.0)
        # Shares with more digits than the dump keeps: 1/3 and 2/3.
        self.assertEqual(pool.dump_tasks()[0],
                         ("a", TaskStatus.SYNCING, 1000.0, 0.0, 1500.0, 33.3, 66.7))
        pool.task_sync(a)
        h.reactor.advance(0.25)
        # Running again: 0.5 s before the SYNC and 0.25 s since.
        self.assertEqual(pool.dump_tasks()[0],
                         ("a", TaskStatus.RUNNING, 250.0, 0.0, 1750.0, 42.9, 57.1))
        h.step()  # a SYNCs again, having run 0.75 s in all
        h.flush()
        h.reactor.advance(0.5)
        # In SYNC again: 1 s before and 0.5 s since.
        self.assertEqual(pool.dump_tasks()[0],
                         ("a", TaskStatus.SYNCING, 500.0, 0.0, 2250.0, 33.3, 66.7))
        pool.task_sync(a)
        h.run()  # a finishes at once; b runs and reaps itself
        h.reactor.advance(0.5)
        # Done: alive until its end, not until now.
        self.assertEqual(pool.dump_tasks(),
                         [("a", TaskStatus.FINISHED, 500.0, 0.0, 2250.0, 33.3, 66.7)])
        self.assertEqual(a.times(), (0.0, 0.75, 1.5))
        pool.task_status(a)
        d = pool.destroy()
        h.run()
        self.successResultOf(d)

    def test_times_of_a_task_stopped_while_queued(self) -> None:
        h = PoolHarness(1, 1)
        h.pool.start()
        h.reactor.advance(100.0)
        first = h.pool.enqueue(None, Script([TaskReturn.CHECKING_IN]))
        waiting = h.pool.enqueue(None, Script())
        h.reactor.advance(2.0)
        h.pool.dequeue_task(waiting)
        h.reactor.advance(3.0)
        # Its queued time ends where it stopped, not now.
        self.assertEqual(waiting.times(), (2.0, None, None))
        h.pool.dequeue_task(first)
        d = h.pool.destroy()
        h.run()
        self.successResultOf(d)
