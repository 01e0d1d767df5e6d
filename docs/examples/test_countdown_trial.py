"""
Testing CountdownProtocol under trial, deterministically: the pool's worker
is stepped by the test and the connection is a StringTransport.
"""

from types import SimpleNamespace

from countdown import CountdownProtocol
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp import TaskReturn
from twisted_lwstp.testing import PoolHarness


class CountdownTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.harness = PoolHarness(threads=1, max_queue_depth=4)
        self.harness.pool.start()
        self.protocol = CountdownProtocol()
        self.protocol.factory = SimpleNamespace(pool=self.harness.pool)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def tearDown(self) -> None:
        self.harness.pool.destroy()
        self.harness.run()

    def test_each_step_is_written_when_the_task_syncs(self) -> None:
        self.protocol.dataReceived(b"2\r\n")
        step = self.harness.step()          # countdown ran once in the "worker"
        self.assertEqual(step.returned, TaskReturn.SYNC)
        self.assertEqual(self.transport.value(), b"")
        self.harness.flush()                # the reactor delivers writable()
        self.assertEqual(self.transport.value(), b"1\r\n")
        self.harness.run()                  # the rest, to the end
        self.assertEqual(self.transport.value(), b"1\r\n0\r\nliftoff\r\n")

    def test_a_full_transport_holds_the_task_in_sync(self) -> None:
        self.protocol.dataReceived(b"3\r\n")
        self.transport.producer.pauseProducing()   # the peer stopped reading
        self.harness.run()
        self.assertEqual(self.transport.value(), b"")
        self.transport.producer.resumeProducing()
        self.harness.run()
        self.assertEqual(self.transport.value(), b"2\r\n1\r\n0\r\nliftoff\r\n")
