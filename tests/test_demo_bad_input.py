"""
The demo server under bad input: oversized messages, garbage on the socket,
unknown paths, and a flood of connections beyond the queue.
"""

from __future__ import annotations

import statistics
import time

from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol

from loadgen.wsclient import WSClient, connect

from .test_demo_server import _DemoCase


class RawClient(Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.closed: Deferred[bytes] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: object) -> None:
        self.closed.callback(self.data)


class BadInputTests(_DemoCase):
    @inlineCallbacks
    def test_oversized_message_closes_with_1009(self):
        self.start_demo(count=10**9, checkin_every=1000, sync_every=10**9, pause_ms=10)
        client = yield connect(self.port)
        client.send_text("x" * 100)  # small: ignored
        client.send_text("y" * 5000)  # over the 4096-byte limit
        yield client.closed
        self.assertEqual(client.close_code, 1009)
        self.assertIn("4096", client.close_reason)
        stats = self.service.factory.stats
        self.assertEqual((stats.too_big, stats.enqueued), (1, 1))
        # Its task was stopped and reaped with the connection.  (Wait for
        # the cleanup itself: a task stops, and so leaves "running", a
        # moment before the reactor reaps it and runs its cleanup.)
        yield self.until(lambda: stats.cleanups == 1, "the task's cleanup")
        self.assertEqual(self.service.pool.diagnose().running, 0)

    @inlineCallbacks
    def test_garbage_bytes_on_the_socket(self):
        self.start_demo()
        raw = RawClient()
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port), raw)
        raw.transport.write(b"\x00\xff\xfe not http at all\r\n\r\n")
        answer = yield raw.closed
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:60])
        # A WebSocket handshake missing its key and version (HTTP itself is
        # fine, so ask for the connection to close after the answer).
        raw = RawClient()
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port), raw)
        raw.transport.write(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: close\r\n\r\n"
        )
        answer = yield raw.closed
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:60])
        diag = yield self.diag()
        self.assertEqual((diag["running"], diag["tasks"]), (0, []))
        self.assertEqual(self.service.factory.stats.enqueued, 0)

    @inlineCallbacks
    def test_flood_beyond_the_queue_is_refused_while_diag_answers(self):
        self.start_demo(threads=3, depth=2, count=10**9, checkin_every=1000,
                        sync_every=10**9, pause_ms=10)
        flood = 60
        attempts = [connect(self.port) for _ in range(flood)]
        latencies = []
        for _ in range(5):
            start = time.perf_counter()
            yield self.diag()
            latencies.append(time.perf_counter() - start)
        results = yield DeferredList(attempts, consumeErrors=True)
        served: list[WSClient] = [c for ok, c in results if ok]
        refusals = [f for ok, f in results if not ok]
        # Refused before the upgrade, with HTTP 503: told apart from failures.
        self.assertEqual((len(served), len(refusals)), (5, flood - 5))
        for failure in refusals:
            self.assertIn("rejected: 503", str(failure.value))
        self.assertTrue(all(c.close_code is None for c in served))
        diag = yield self.diag()
        self.assertEqual((diag["running"], diag["queued"]), (3, 2))
        self.assertEqual(self.service.factory.stats.refused, flood - 5)
        self.assertLess(statistics.median(latencies), 0.1, latencies)

    @inlineCallbacks
    def test_binds_loopback_by_default(self):
        from twisted_lwstp.tap import Options

        options = Options()
        options.parseOptions([])
        self.assertIn("interface=127.0.0.1", options["listen"])
        yield None
