"""
The demo server end to end: real loopback sockets, a real WebSocket client
(wsproto), the real reactor and real threads.  The server runs in this
process so the tests can wait on its own events instead of sleeping.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList, gatherResults, inlineCallbacks
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, ResponseDone

from loadgen.wsclient import WSClient, connect
from twisted_lwstp import TaskStatus, ThreadPool
from twisted_lwstp.demo import DemoService, TaskShape

S = TaskStatus


class _Body(Protocol):
    def __init__(self, done: Deferred[bytes]) -> None:
        self.done = done
        self.parts: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        self.parts.append(data)

    def connectionLost(self, reason: Any) -> None:
        if reason.check(ResponseDone):
            self.done.callback(b"".join(self.parts))
        else:
            self.done.errback(reason)


def collect_body(response: Any) -> Deferred[bytes]:
    done: Deferred[bytes] = Deferred()
    response.deliverBody(_Body(done))
    return done


class _DemoCase(TestCase):
    timeout = 120

    def start_demo(self, threads: int = 3, depth: int = 8, **shape: Any) -> DemoService:
        pool = ThreadPool(threads, depth, "demo", reactor=reactor, sync_timeout=60)
        service = DemoService(
            serverFromString(reactor, "tcp:0:interface=127.0.0.1"),
            pool,
            TaskShape(**shape),
            reactor=reactor,
        )
        service.startService()
        self.addCleanup(self._stop, service)
        self.service = service
        self.port = service.port.getHost().port  # type: ignore[union-attr]
        return service

    @inlineCallbacks
    def _stop(self, service: DemoService):
        if service.running:
            yield service.stopService()
        self.assertEqual(service.pool.diagnose().threads, 0)

    @inlineCallbacks
    def get(self, path: str):
        response = yield Agent(reactor).request(b"GET", f"http://127.0.0.1:{self.port}{path}".encode())
        body = yield collect_body(response)
        return response.code, body

    @inlineCallbacks
    def diag(self):
        code, body = yield self.get("/diag")
        self.assertEqual(code, 200)
        return json.loads(body)

    @inlineCallbacks
    def until(self, condition: Any, what: str, bound: float = 30.0):
        """
        Wait until C{condition()} holds, checking every reactor turn of
        10 ms, for at most C{bound} seconds.
        """
        for _ in range(int(bound / 0.01)):
            if condition():
                return
            yield deferLater(reactor, 0.01, lambda: None)
        self.fail(f"timed out waiting for {what}")


def stop_reading(client: Any, tcp: Any) -> None:
    """The client stops reading: the kernel buffers fill, then Twisted's."""
    client.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    tcp.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    client.transport.pauseProducing()


def held_in_sync(pool: Any, protocol: Any) -> Any:
    """
    A condition for L{_DemoCase.until}: the protocol's task has waited in
    SYNC, its owner paused, for 30 checks in a row (the kernel may take a
    few more bytes at first).
    """
    task = protocol.task
    stable = [0]

    def settled() -> bool:
        held = task.status is S.SYNCING and pool.owner_paused(protocol)
        stable[0] = stable[0] + 1 if held else 0
        return stable[0] >= 30

    return settled


class StreamingTests(_DemoCase):
    @inlineCallbacks
    def test_eight_clients_sync_every_step_each_pos_once_in_order(self):
        count = 300
        self.start_demo(threads=3, depth=8, count=count, checkin_every=count,
                        sync_every=1, pause_ms=0)
        clients = yield gatherResults([connect(self.port) for _ in range(8)])
        yield gatherResults([c.closed for c in clients])
        expected = [f"pos {n}" for n in range(count + 1)] + [f"finished {count}"]
        for client in clients:
            self.assertEqual(client.messages, expected)
            self.assertEqual(client.close_code, 1000)
        diag = yield self.diag()
        self.assertEqual((diag["running"], diag["queued"], diag["done"], diag["tasks"]), (0, 0, 0, []))
        # The demo's own counts: what the page shows as finished.
        self.assertEqual(diag["demo"], {"finished": 8, "stopped": 0, "refused": 0})

    @inlineCallbacks
    def test_last_step_not_a_sync_finishes_without_pos(self):
        self.start_demo(count=2500, checkin_every=100, sync_every=1000, pause_ms=0)
        client = yield connect(self.port)
        yield client.closed
        self.assertEqual(client.messages, ["pos 0", "pos 1000", "pos 2000", "finished 2500"])

    @inlineCallbacks
    def test_queue_full_refuses_with_503_before_the_upgrade(self):
        # Long tasks: nobody finishes while the others connect.
        self.start_demo(threads=3, depth=2, count=10**9, checkin_every=1000,
                        sync_every=10**9, pause_ms=10)
        clients = [WSClient("127.0.0.1", self.port) for _ in range(8)]
        results = yield DeferredList([connect(self.port, client=c) for c in clients],
                                     consumeErrors=True)
        served = [c for c, (ok, _) in zip(clients, results, strict=True) if ok]
        refused = [c for c, (ok, _) in zip(clients, results, strict=True) if not ok]
        self.assertEqual((len(served), len(refused)), (5, 3))
        for client in refused:
            # A refusal, told apart from a failure: HTTP 503 with Retry-After.
            self.assertEqual(client.reject_status, 503)
            self.assertEqual(client.reject_headers.get("retry-after"), "1")
            self.assertIn(b"queue full", client.reject_body)
            yield client.closed
        diag = yield self.diag()
        self.assertEqual((diag["running"], diag["threads"], diag["queued"]), (3, 3, 2))
        self.assertEqual(len(diag["tasks"]), 5)  # nothing was enqueued for the refused
        self.assertTrue(all(c.close_code is None for c in served))
        self.assertEqual(self.service.factory.stats.refused, 3)
        self.assertEqual(diag["demo"], {"finished": 0, "stopped": 0, "refused": 3})
        for client in served:
            client.close()
        yield DeferredList([c.closed for c in served])

    @inlineCallbacks
    def test_closing_mid_task_stops_it_within_a_check_in(self):
        self.start_demo(threads=1, depth=0, count=10**9, checkin_every=1000,
                        sync_every=10**9, pause_ms=50)
        client = yield connect(self.port)
        # "pos 0": a thread took the task, and its first SYNC is over.
        yield self.until(lambda: client.messages == ["pos 0"], "the task's start")
        diag = yield self.diag()
        self.assertEqual([t["status"] for t in diag["tasks"]], ["RUNNING"])
        self.assertTrue(diag["tasks"][0]["name"].startswith("ws 127.0.0.1:"))
        (protocol,) = self.service.factory.connections
        task = protocol.task
        started = reactor.seconds()
        client.close()
        status = yield task.when_done()
        elapsed = reactor.seconds() - started
        self.assertIs(status, S.STOPPED)
        # One check-in is 50 ms; a task that ran on would take years.
        self.assertLess(elapsed, 5.0)
        diag = yield self.diag()
        self.assertEqual(diag["tasks"], [])
        self.assertEqual(diag["running"], 0)


class WindowModeTests(_DemoCase):
    """C{--window N}: the same messages, streamed through each task's window."""

    @inlineCallbacks
    def test_eight_clients_each_pos_once_in_order(self):
        count = 3000
        self.start_demo(threads=3, depth=8, count=count, checkin_every=500,
                        sync_every=1, pause_ms=0, window=16)
        clients = yield gatherResults([connect(self.port) for _ in range(8)])
        yield gatherResults([c.closed for c in clients])
        expected = [f"pos {n}" for n in range(count + 1)] + [f"finished {count}"]
        for client in clients:
            self.assertEqual(client.messages, expected)
            self.assertEqual(client.close_code, 1000)
        diag = yield self.diag()
        self.assertEqual(diag["demo"], {"finished": 8, "stopped": 0, "refused": 0})
        # Batches, not one hand-off per message.
        calls = self.service.pool._reactor_side.hand_over
        self.assertEqual(calls.delivered, 8 * (count + 1))
        self.assertLess(calls.batches, calls.delivered)

    @inlineCallbacks
    def test_a_client_that_reads_nothing_holds_the_task(self):
        self.start_demo(threads=1, depth=0, count=10**9, checkin_every=10**9,
                        sync_every=1, pause_ms=0, window=64)
        client = yield connect(self.port)
        (protocol,) = self.service.factory.connections
        tcp = protocol.transport.transport
        stop_reading(client, tcp)
        task = protocol.task
        # Waiting in SYNC, its window full or its last batch what filled the
        # transport (then the SYNC after it is held).
        yield self.until(held_in_sync(self.service.pool, protocol),
                         "the task waiting in SYNC, its owner paused", 30)
        pos = task.user.pos
        self.assertLessEqual(len(task.window), 64)
        for _ in range(20):
            yield deferLater(reactor, 0.01, lambda: None)
            self.assertEqual(task.user.pos, pos)
        client.transport.resumeProducing()
        yield self.until(lambda: task.user.pos > pos + 1000, "the task to go on")
        client.close()
        status = yield task.when_done()
        self.assertIs(status, S.STOPPED)
        yield client.closed
        # Every message it got is in order, from 0, with no gap.
        got = [int(m.split()[1]) for m in client.messages if m.startswith("pos ")]
        self.assertEqual(got, list(range(len(got))))


class FlowControlTests(_DemoCase):
    @inlineCallbacks
    def test_client_that_reads_nothing_blocks_its_task_in_sync(self):
        self.start_demo(threads=1, depth=0, count=10**9, checkin_every=10**9,
                        sync_every=1, pause_ms=0)
        client = yield connect(self.port)
        (protocol,) = self.service.factory.connections
        tcp = protocol.transport.transport
        # The WebSocket took the HTTP channel's place as the TCP producer.
        self.assertIs(tcp.producer, protocol)
        paused: Deferred[None] = Deferred()
        original = protocol.pauseProducing

        def pause() -> None:
            original()
            if not paused.called:
                paused.callback(None)

        protocol.pauseProducing = pause  # type: ignore[method-assign]
        stop_reading(client, tcp)
        yield paused
        task = protocol.task
        yield self.until(held_in_sync(self.service.pool, protocol),
                         "the task to wait in SYNC with its writable held", 60)
        pos = task.user.pos

        def buffered() -> int:
            return len(tcp.dataBuffer) + tcp._tempDataLen

        held = buffered()
        self.assertLessEqual(held, tcp.bufferSize + 64)
        # Nothing moves while the client reads nothing.
        for _ in range(20):
            yield deferLater(reactor, 0.01, lambda: None)
            self.assertEqual(task.user.pos, pos)
            self.assertIs(task.status, S.SYNCING)
            self.assertEqual(buffered(), held)
        # Reading again lets it go on.
        client.transport.resumeProducing()
        yield self.until(lambda: task.user.pos > pos + 1000, "the task to go on")
        client.close()
        yield task.when_done()
        yield client.closed


class ShutdownAndPagesTests(_DemoCase):
    @inlineCallbacks
    def test_stop_sends_every_client_stopped_and_close_1000(self):
        service = self.start_demo(threads=3, depth=8, count=10**9, checkin_every=1000,
                                  sync_every=10**9, pause_ms=20)
        clients = yield gatherResults([connect(self.port) for _ in range(8)])
        yield service.stopService()
        yield gatherResults([c.closed for c in clients])
        started = 0
        for client in clients:
            # A task a thread had taken said "pos 0" first; a queued one never ran.
            *before, last = client.messages
            self.assertIn(before, ([], ["pos 0"]), client.messages)
            started += len(before)
            self.assertRegex(last, r"^stopped \d+$")
            self.assertEqual(client.close_code, 1000)
        self.assertLessEqual(started, 3)
        self.assertEqual(service.pool.diagnose().threads, 0)
        self.assertEqual((service.factory.stats.stopped, service.factory.stats.finished), (8, 0))

    @inlineCallbacks
    def test_diag_json_shape(self):
        self.start_demo(threads=2, depth=1, count=10**9, checkin_every=1000,
                        sync_every=10**9, pause_ms=10)
        yield connect(self.port)
        diag = yield self.diag()
        self.assertEqual(set(diag),
                         {"name", "running", "threads", "queued", "done", "tasks", "demo"})
        self.assertEqual(diag["name"], "demo")
        (entry,) = diag["tasks"]
        self.assertEqual(
            set(entry),
            {"name", "status", "ms_in_state", "ms_queued", "ms_alive", "run_pct", "sync_pct"},
        )
        self.assertIn(entry["status"], {"RUNNING", "QUEUED", "SYNCING"})

    @inlineCallbacks
    def test_page_has_no_external_assets_and_unknown_paths_404(self):
        self.start_demo(count=1234)
        code, body = yield self.get("/")
        self.assertEqual(code, 200)
        page = body.decode()
        self.assertIn('data-count="1234"', page)
        self.assertNotRegex(page, r"""(src|href)\s*=\s*["']?(https?:)?//""")
        code, _ = yield self.get("/no/such/thing")
        self.assertEqual(code, 404)
