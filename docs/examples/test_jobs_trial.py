"""
The jobs example, stepped: a job outlives its connection and its result is
found by token; a full pool says so politely.
"""

from jobs import CHUNK, JobFactory
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp.testing import PoolHarness


class JobTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.harness = PoolHarness(threads=1, max_queue_depth=1)
        self.harness.pool.start()
        self.factory = JobFactory(self.harness.pool)

    def tearDown(self) -> None:
        self.harness.pool.destroy()
        self.harness.run()

    def connect(self):
        protocol = self.factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def test_job_outlives_its_connection(self) -> None:
        first, transport = self.connect()
        first.dataReceived(b"start %d\r\n" % (3 * CHUNK))
        self.assertEqual(transport.value(), b"token job-1\r\n")
        self.harness.step()  # one chunk done
        first.connectionLost(None)  # the client hangs up
        self.harness.run()  # the job carries on to the end
        second, transport = self.connect()
        second.dataReceived(b"result job-1\r\n")
        expected = sum(i * i for i in range(3 * CHUNK))
        self.assertEqual(transport.value(), b"result job-1 %d\r\n" % expected)

    def test_full_pool_refuses_politely(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(b"start 1000000\r\nstart 1000000\r\nstart 1000000\r\n")
        self.assertEqual(
            transport.value().splitlines()[-1],
            b"busy: 1 jobs running and 1 waiting; try again later",
        )
        protocol.dataReceived(b"result job-2\r\n")
        self.assertIn(b"running job-2 0/1000000", transport.value())
