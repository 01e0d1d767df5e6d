"""
Who may start work: the WebSocket origin policy (403 before anything is
enqueued) and fair shares per client address (the demo and WSGI), over
real loopback sockets from several source addresses of 127.0.0.0/8.
"""

from __future__ import annotations

import threading
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks
from twisted.internet.endpoints import serverFromString
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Site

from loadgen.wsclient import connect
from twisted_lwstp import ThreadPool
from twisted_lwstp.demo import DemoService, TaskShape
from twisted_lwstp.web import WSGIResource
from twisted_lwstp.web._policy import ClientShares, OriginPolicy, client_key

from .test_demo_server import _DemoCase
from .test_web_wsgi import _Case, fire


class _FakeRequest:
    def __init__(self, headers: dict[bytes, bytes]) -> None:
        self.headers = headers

    def getHeader(self, name: bytes) -> bytes | None:
        return self.headers.get(name)


class PolicyUnitTests(SynchronousTestCase):
    def test_origin_policy(self) -> None:
        same = {b"host": b"127.0.0.1:7681", b"origin": b"http://127.0.0.1:7681"}
        evil = {b"host": b"127.0.0.1:7681", b"origin": b"http://evil.example"}
        none = {b"host": b"127.0.0.1:7681"}
        default = OriginPolicy()
        self.assertTrue(default.allows(_FakeRequest(same)))
        self.assertTrue(default.allows(_FakeRequest(none)))
        self.assertFalse(default.allows(_FakeRequest(evil)))
        self.assertFalse(default.allows(_FakeRequest({**same, b"origin": b"null"})))
        self.assertTrue(OriginPolicy(["http://evil.example"]).allows(_FakeRequest(evil)))
        self.assertTrue(OriginPolicy(["HTTP://Evil.Example/"]).allows(_FakeRequest(evil)))
        self.assertTrue(OriginPolicy(["*"]).allows(_FakeRequest(evil)))
        for bad in ("evil.example", "ftp://x", "http://x/path"):
            self.assertRaises(ValueError, OriginPolicy, [bad])

    def test_client_keys_and_shares(self) -> None:
        self.assertEqual(client_key("192.0.2.7"), "192.0.2.7")
        self.assertEqual(client_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64")
        self.assertEqual(client_key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64")
        self.assertEqual(client_key("::ffff:192.0.2.7"), "192.0.2.7")
        shares = ClientShares(2)
        a = shares.take("192.0.2.7")
        b = shares.take("192.0.2.7")
        self.assertIsNone(shares.take("192.0.2.7"))
        self.assertIsNotNone(shares.take("192.0.2.8"))
        assert a is not None and b is not None
        shares.give_back(a)
        self.assertIsNotNone(shares.take("192.0.2.7"))
        self.assertRaises(ValueError, ClientShares, 0)


class _PolicyDemo(_DemoCase):
    def start_policy_demo(self, threads: int, depth: int, **kw: Any) -> DemoService:
        pool = ThreadPool(threads, depth, "demo", reactor=reactor, sync_timeout=60)
        shape = TaskShape(count=10**9, checkin_every=1000, sync_every=10**9, pause_ms=20)
        service = DemoService(serverFromString(reactor, "tcp:0:interface=127.0.0.1"), pool, shape,
                              reactor=reactor, **kw)
        service.startService()
        self.addCleanup(self._stop, service)
        self.service = service
        self.port = service.port.getHost().port  # type: ignore[union-attr]
        return service


class OriginTests(_PolicyDemo):
    @inlineCallbacks
    def test_foreign_origin_gets_403_and_nothing_is_enqueued(self):
        service = self.start_policy_demo(2, 2)
        from loadgen.wsclient import WSClient

        client = WSClient("127.0.0.1", self.port, origin="http://evil.example")
        with self.assertRaises(RuntimeError):
            yield connect(self.port, client=client)
        yield client.closed
        self.assertEqual(client.reject_status, 403)
        self.assertEqual(service.factory.stats.enqueued, 0)
        self.assertEqual(service.pool.diagnose().running, 0)
        # The page's own origin, and a client that sends none, are served.
        own = yield connect(self.port, origin=f"http://127.0.0.1:{self.port}")
        bare = yield connect(self.port)
        yield self.until(lambda: service.factory.stats.enqueued == 2, "two tasks")
        own.close()
        bare.close()
        yield DeferredList([own.closed, bare.closed])

    @inlineCallbacks
    def test_allow_origin_admits_the_named_origin(self):
        service = self.start_policy_demo(2, 2, origins=OriginPolicy(["http://tools.example:8080"]))
        client = yield connect(self.port, origin="http://tools.example:8080")
        from loadgen.wsclient import WSClient

        other = WSClient("127.0.0.1", self.port, origin="http://evil.example")
        with self.assertRaises(RuntimeError):
            yield connect(self.port, client=other)
        yield other.closed
        self.assertEqual(other.reject_status, 403)
        yield self.until(lambda: service.factory.stats.enqueued == 1, "one task")
        client.close()
        yield client.closed


class FairShareTests(_PolicyDemo):
    @inlineCallbacks
    def test_greedy_client_gets_its_share_and_polite_clients_are_served(self):
        service = self.start_policy_demo(3, 8, shares=ClientShares(2))
        factory = service.factory
        from loadgen.wsclient import WSClient

        attempts = [WSClient("127.0.0.1", self.port) for _ in range(20)]
        results = yield DeferredList([connect(self.port, bind="127.0.0.2", client=c)
                                      for c in attempts], consumeErrors=True)
        greedy_clients = [c for c, (ok, _) in zip(attempts, results, strict=True) if ok]
        refused = [c for c, (ok, _) in zip(attempts, results, strict=True) if not ok]
        self.assertEqual((len(greedy_clients), len(refused)), (2, 18))
        self.assertEqual(factory.stats.refused, 18)
        for client in refused:
            self.assertEqual(client.reject_status, 503)
            self.assertEqual(client.reject_headers.get("retry-after"), "1")
        self.assertIn(b"too many tasks from your address", refused[0].reject_body)
        polite = []
        for host in ("127.0.0.3", "127.0.0.4", "127.0.0.5"):
            polite.append((yield connect(self.port, bind=host)))
        yield self.until(lambda: factory.stats.enqueued == 5, "5 tasks", 30)
        by_host: dict[str, int] = {}
        for protocol in factory.connections:
            if protocol.task is not None and not protocol.task.reaped:
                host = protocol.address.host
                by_host[host] = by_host.get(host, 0) + 1
        self.assertEqual(by_host, {"127.0.0.2": 2, "127.0.0.3": 1, "127.0.0.4": 1, "127.0.0.5": 1})
        for client in greedy_clients + polite:
            client.close()
        yield DeferredList([c.closed for c in greedy_clients + polite])
        yield self.until(lambda: factory.shares.live == {}, "every share given back")


class WSGIShareTests(_Case):
    @inlineCallbacks
    def test_wsgi_client_over_its_share_gets_503_others_are_served(self):
        release = threading.Event()
        started: Deferred[None] = Deferred()

        def app(environ, start_response):
            if environ["PATH_INFO"] == "/hold":
                fire(started)
                release.wait(30)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [environ["REMOTE_ADDR"].encode()]

        from wsgiref.validate import validator

        pool = ThreadPool(3, 3, "shares", reactor=reactor)
        pool.start()
        self.addCleanup(pool.destroy)
        shares = ClientShares(1)
        site = Site(WSGIResource(reactor, pool, validator(app), shares=shares))
        listening = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(listening.stopListening)
        port = listening.getHost().port
        holder = yield self.raw_from(port, "127.0.0.2", b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        yield started
        again = yield self.raw_from(port, "127.0.0.2", b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        yield again.when_received(12)
        self.assertTrue(again.data.startswith(b"HTTP/1.1 503"), again.data)
        self.assertIn(b"your address has 1 requests running", again.data)
        response, body = yield self.get(port, "/x")  # from 127.0.0.1
        self.assertEqual((response.code, body), (200, b"127.0.0.1"))
        release.set()
        yield holder.when_received(12)
        self.assertTrue(holder.data.startswith(b"HTTP/1.1 200"), holder.data)
        holder.transport.loseConnection()
        again.transport.loseConnection()
        yield self.until(lambda: shares.live == {}, "every share given back")

    @inlineCallbacks
    def raw_from(self, port: int, source: str, request: bytes):
        from twisted.internet.protocol import ClientFactory

        from .test_web_wsgi import _RawClient

        client = _RawClient(request)
        reactor.connectTCP("127.0.0.1", port, ClientFactory.forProtocol(lambda: client),
                           bindAddress=(source, 0))
        yield client.connected_d
        return client
