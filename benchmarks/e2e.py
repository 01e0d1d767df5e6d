"""
Case 5: the demo server with a sync-heavy task against the same server
written the plain Twisted way (deferToThreadPool, and
blockingCallFromThread to send each message), each loaded by WebSocket
clients in a separate process.  Messages per second.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.endpoints import serverFromString
from twisted.internet.threads import blockingCallFromThread, deferToThreadPool
from twisted.python.threadpool import ThreadPool as TwistedThreadPool
from twisted.web.resource import Resource
from twisted.web.server import Request, Site
from twisted.web.websocket import WebSocketResource

from loadgen.process import run_module
from twisted_lwstp import ThreadPool
from twisted_lwstp.demo import DemoService, TaskShape

from ._runner import CaseResult, compare


async def load(reactor: Any, port: int, clients: int) -> dict[str, Any]:
    """
    Run the load generator against C{port}; its JSON report.
    """
    out = await run_module(reactor, "benchmarks._load", str(port), str(clients))
    return json.loads(out)


class _PlainProtocol:
    """
    The peer: the counting task written with deferToThreadPool, sending
    each position with blockingCallFromThread.
    """

    def __init__(self, factory: _PlainFactory) -> None:
        self.factory = factory

    def negotiationStarted(self, transport: Any) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        count = self.factory.count
        reactor = self.factory.reactor
        send = self.transport.sendTextMessage

        def work() -> int:
            for n in range(1, count + 1):
                blockingCallFromThread(reactor, send, f"pos {n}")
            return count

        d = deferToThreadPool(reactor, self.factory.pool, work)
        d.addCallback(self._finished)

    def _finished(self, count: int) -> None:
        self.transport.sendTextMessage(f"finished {count}")
        self.transport.loseConnection(1000)

    def textMessageReceived(self, message: str) -> None:
        pass

    def bytesMessageReceived(self, data: bytes) -> None:
        pass

    def pongReceived(self, payload: bytes) -> None:
        pass

    def connectionLost(self, reason: Any) -> None:
        pass


class _PlainFactory:
    def __init__(self, reactor: Any, pool: TwistedThreadPool, count: int) -> None:
        self.reactor = reactor
        self.pool = pool
        self.count = count

    def buildProtocol(self, request: Request) -> _PlainProtocol:
        return _PlainProtocol(self)


async def end_to_end(reactor: Any, threads: int, clients: int, count: int, reps: int) -> CaseResult:
    def check(report: dict[str, Any], per_client: int) -> float:
        expected = clients * per_client
        if report["messages"] != expected or set(report["closes"]) != {1000}:
            raise RuntimeError(f"unexpected load report: {report}")
        return report["messages"] / report["seconds"]

    async def ours() -> float:
        pool = ThreadPool(threads, clients, "bench", reactor=reactor)
        shape = TaskShape(count=count, checkin_every=count, sync_every=1, pause_ms=0)
        service = DemoService(serverFromString(reactor, "tcp:0:interface=127.0.0.1"),
                              pool, shape, reactor=reactor)
        service.startService()
        try:
            report = await load(reactor, service.port.getHost().port, clients)
        finally:
            await service.stopService()
        # The demo's task also says "pos 0" when it starts.
        return check(report, count + 2)

    async def peer() -> float:
        pool = TwistedThreadPool(threads, threads, "peer")
        pool.start()
        root = Resource()
        root.putChild(b"ws", WebSocketResource(_PlainFactory(reactor, pool, count)))
        port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(Site(root))
        try:
            report = await load(reactor, port.getHost().port, clients)
        finally:
            await port.stopListening()
            pool.stop()
        return check(report, count + 1)

    return await compare("end to end", threads, "msgs/s", ours, peer, reps, 1.5, True)
