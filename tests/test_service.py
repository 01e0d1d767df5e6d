"""
ThreadPoolService: the pool's life follows the service's.
"""

from __future__ import annotations

import threading

from twisted.application.service import IService, MultiService
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_lwstp import TaskReturn, TaskStatus, ThreadPool, ThreadPoolService
from twisted_lwstp.testing import PoolHarness

from ._helpers import LogCapture, Script

R = TaskReturn
S = TaskStatus


class ServiceTests(SynchronousTestCase):
    def test_provides_iservice_and_is_named(self) -> None:
        service = ThreadPoolService(PoolHarness(name="svc").pool)
        self.assertTrue(IService.providedBy(service))
        self.assertEqual(service.name, "lwstp-pool-svc")

    def test_start_and_stop_follow_the_parent(self) -> None:
        h = PoolHarness(2, 2)
        parent = MultiService()
        ThreadPoolService(h.pool).setServiceParent(parent)
        parent.startService()
        self.assertEqual(h.pool.diagnose().threads, 2)
        d = parent.stopService()
        h.run()
        self.successResultOf(d)
        self.assertEqual(h.pool.diagnose().threads, 0)

    def test_stop_warns_about_slow_tasks_and_keeps_waiting(self) -> None:
        h = PoolHarness(1, 1)
        service = ThreadPoolService(h.pool, shutdown_warning=5)
        service.startService()
        stubborn = Script([R.CHECKING_IN] * 3, on_stopping=R.STOPPED)
        h.pool.enqueue(None, stubborn, name="stubborn")
        h.step()
        d = service.stopService()
        with LogCapture() as logs:
            h.reactor.advance(5)
        self.assertNoResult(d)
        warned = logs.matching("still waits after 5.0 s for: stubborn (STOPPING)")
        self.assertEqual(len(warned), 1)
        with LogCapture() as logs:
            h.reactor.advance(5)
        self.assertEqual(len(logs.matching("still waits after 10.0 s for: stubborn")), 1)
        h.run()
        self.successResultOf(d)
        self.assertEqual(stubborn.told[-1], S.STOPPING)

    def test_quick_stop_leaves_no_timer(self) -> None:
        h = PoolHarness(1, 1)
        service = ThreadPoolService(h.pool)
        service.startService()
        d = service.stopService()
        h.run()
        self.successResultOf(d)
        self.assertEqual(h.reactor.getDelayedCalls(), [])


class RealServiceTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def test_real_threads_stop_cleanly(self):
        pool = ThreadPool(3, 3, "svcreal", reactor=reactor)
        service = ThreadPoolService(pool)
        service.startService()
        started: Deferred[None] = Deferred()

        def forever(user: object, status: TaskStatus) -> TaskReturn:
            if status is S.STOPPING:
                return R.STOPPED
            if not started.called:
                reactor.callFromThread(lambda: started.called or started.callback(None))
            threading.Event().wait(0.005)  # work between check-ins
            return R.CHECKING_IN

        task = pool.enqueue(None, forever)
        yield started
        yield service.stopService()
        self.assertIs(task.status, S.STOPPED)
        self.assertEqual([t for t in threading.enumerate() if t.name.startswith("svcreal-")], [])
