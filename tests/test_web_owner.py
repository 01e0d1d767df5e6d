"""
L{twisted_lwstp.web.stream_task} and L{RequestOwner} over real sockets:
each SYNC writes one chunk, FINISHED finishes the response, a refusal is
503 with Retry-After, and a client that leaves stops the task.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from twisted_lwstp import TaskReturn, TaskStatus, ThreadPool
from twisted_lwstp.web import ChunkBuffer, stream_task

from .test_web_wsgi import _Case, fire

R = TaskReturn
S = TaskStatus


class _Streaming(Resource):
    isLeaf = True

    def __init__(self, pool: ThreadPool, task: Any) -> None:
        super().__init__()
        self.pool = pool
        self.task = task

    def render_GET(self, request: Request) -> Any:
        return stream_task(self.pool, request, self.task, user=ChunkBuffer(),
                           content_type=b"text/plain")


class StreamTaskTests(_Case):
    def serve_task(self, task: Any, threads: int = 1, depth: int = 0) -> tuple[int, ThreadPool]:
        pool = ThreadPool(threads, depth, f"stream{id(self) % 1000}", reactor=reactor)
        pool.start()
        port = reactor.listenTCP(0, Site(_Streaming(pool, task)), interface="127.0.0.1")
        self.addCleanup(pool.destroy)
        self.addCleanup(port.stopListening)
        return port.getHost().port, pool

    @inlineCallbacks
    def test_each_sync_writes_a_chunk_and_finished_finishes(self):
        def count(user: ChunkBuffer, status: S) -> R:
            if status is S.STOPPING:
                return R.STOPPED
            n = user.state = (user.state or 0) + 1
            user.write(f"{n};".encode())
            return R.SYNC if n < 5 else R.FINISHED

        port, _ = self.serve_task(count)
        response, body = yield self.get(port)
        self.assertEqual(response.code, 200)
        self.assertEqual(body, b"1;2;3;4;5;")
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"text/plain"])

    @inlineCallbacks
    def test_refusal_is_503_with_retry_after(self):
        started: Deferred[None] = Deferred()

        def forever(user: ChunkBuffer, status: S) -> R:
            fire(started)
            if status is S.STOPPING:
                return R.STOPPED
            return R.CHECKING_IN

        port, pool = self.serve_task(forever)
        client = yield self.raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        yield started
        response, body = yield self.get(port)
        self.assertEqual(response.code, 503)
        self.assertEqual(response.headers.getRawHeaders(b"retry-after"), [b"1"])
        client.transport.loseConnection()
        yield self.until(lambda: pool.diagnose().running == 0, "the task to stop")

    @inlineCallbacks
    def test_client_leaving_stops_the_task(self):
        told: list[S] = []
        started: Deferred[None] = Deferred()

        def endless(user: ChunkBuffer, status: S) -> R:
            told.append(status)
            if status is S.STOPPING:
                return R.STOPPED
            user.write(b"x" * 100)
            fire(started)
            return R.SYNC

        port, pool = self.serve_task(endless)
        client = yield self.raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        yield started
        client.transport.loseConnection()
        yield self.until(lambda: pool.diagnose() == (0, 1, 0, 0), "the task to stop and be reaped")
        self.assertEqual(told[-1], S.STOPPING)
