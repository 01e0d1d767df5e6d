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

    def test_reaped_task_drops_its_function_and_cleanup(self) -> None:
        t = self.h.pool.enqueue(None, Script(), cleanup=lambda o, u: None)
        self.h.run()
        self.assertTrue(t.reaped)
        self.assertIsNone(t._func)
        self.assertIsNone(t._cleanup)
        self.assertIsNone(t._ctx)
