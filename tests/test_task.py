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
