"""
twisted_lwstp.testing: the stepped pool users test their own code with.
"""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp import TaskReturn, TaskStatus
from twisted_lwstp.testing import PoolHarness, StepReactor, WorkerBlocked

from ._helpers import RecordingOwner, Script

R = TaskReturn
S = TaskStatus


class HarnessTests(SynchronousTestCase):
    def test_step_reports_each_call(self) -> None:
        h = PoolHarness(1, 1)
        h.pool.start()
        t = h.pool.enqueue(RecordingOwner(), Script([R.CHECKING_IN, R.SYNC]), user=3)
        first = h.step()
        self.assertEqual((first.task, first.returned, first.status), (t, R.CHECKING_IN, S.RUNNING))
        second = h.step()
        self.assertEqual((second.returned, second.status), (R.SYNC, S.SYNCING))
        self.assertRaises(WorkerBlocked, h.step)
        h.pool.destroy()
        h.run()
        self.assertTrue(all(w.exited for w in h.workers))

    def test_reactor_is_a_memory_reactor_clock(self) -> None:
        reactor = StepReactor()
        self.assertIsInstance(reactor, MemoryReactorClock)
        calls: list[int] = []
        reactor.callFromThread(calls.append, 1)
        self.assertEqual(calls, [])
        self.assertEqual(reactor.run_from_threads(), 1)
        self.assertEqual(calls, [1])

    def test_run_bounds_runaway_tasks(self) -> None:
        h = PoolHarness(1, 1)
        h.pool.start()
        h.pool.enqueue(None, lambda u, s: R.CHECKING_IN)
        self.assertRaises(RuntimeError, h.run, 50)
        h.pool.finish()
        h.run()
