"""
The HAProxy agent: its answer at 0%, partial and full load, while the pool
is finishing and before it starts; over a real socket, including a
malformed request (answered and closed, nothing logged as an error).
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_lwstp import TaskReturn, ThreadPool
from twisted_lwstp.haproxy import AgentFactory, agent_answer
from twisted_lwstp.testing import PoolHarness

from ._helpers import LogCapture, Script

R = TaskReturn


class AnswerTests(SynchronousTestCase):
    def test_answers_by_load_and_state(self) -> None:
        h = PoolHarness(2, 2)
        self.assertEqual(agent_answer(h.pool), "down")
        h.pool.start()
        self.assertEqual(agent_answer(h.pool), "up 100%")
        h.pool.enqueue(None, Script([R.CHECKING_IN] * 5))
        self.assertEqual(agent_answer(h.pool), "up 75%")
        for _ in range(3):
            h.pool.enqueue(None, Script([R.CHECKING_IN] * 5))
        self.assertEqual(agent_answer(h.pool), "up 0%")  # 2 running + 2 queued: full
        h.pool.finish()
        self.assertEqual(agent_answer(h.pool), "drain")
        d = h.pool.destroy()
        h.run()
        self.successResultOf(d)

    def test_depth_zero_and_resized_pools(self) -> None:
        h = PoolHarness(3, 0)
        h.pool.start()
        h.pool.enqueue(None, Script([R.CHECKING_IN] * 5))
        self.assertEqual(agent_answer(h.pool), "up 66%")
        h.pool.adjustPoolsize(minthreads=0, maxthreads=0)
        self.assertEqual(agent_answer(h.pool), "up 0%")
        d = h.pool.destroy()
        h.run()
        self.successResultOf(d)


class _Reader(Protocol):
    def __init__(self, send: bytes) -> None:
        self.send = send
        self.data = b""
        self.closed: Deferred[bytes] = Deferred()

    def connectionMade(self) -> None:
        if self.send:
            self.transport.write(self.send)

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: object) -> None:
        self.closed.callback(self.data)


class AgentOverSocketTests(TestCase):
    timeout = 30

    @inlineCallbacks
    def ask(self, port: int, send: bytes = b"") -> Deferred[bytes]:
        reader = _Reader(send)
        reactor.connectTCP("127.0.0.1", port, ClientFactory.forProtocol(lambda: reader))
        return (yield reader.closed)

    @inlineCallbacks
    def test_agent_answers_one_line_and_closes(self):
        pool = ThreadPool(2, 0, "agent", reactor=reactor)
        pool.start()
        self.addCleanup(pool.destroy)
        listening = reactor.listenTCP(0, AgentFactory(pool), interface="127.0.0.1")
        self.addCleanup(listening.stopListening)
        port = listening.getHost().port
        self.assertEqual((yield self.ask(port)), b"up 100%\n")
        self.assertEqual((yield self.ask(port, b"hello agent\n")), b"up 100%\n")
        with LogCapture() as log:
            garbage = yield self.ask(port, bytes(range(256)) * 256)
        self.assertEqual(garbage, b"up 100%\n")
        errors = [e for e in log.events if e.get("log_level") in (LogLevel.error, LogLevel.critical)]
        self.assertEqual(errors, [])
        self.assertEqual(self.flushLoggedErrors(), [])
        pool.finish()
        self.assertEqual((yield self.ask(port)), b"drain\n")
