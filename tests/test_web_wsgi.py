"""
L{twisted_lwstp.web.WSGIResource} over real sockets on 127.0.0.1: PEP 3333
(every application wrapped in C{wsgiref.validate.validator}), a real Flask
application, 503 refusals, clients that leave while queued or while their
response streams, and a slow reader's bounded buffers.
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Callable
from typing import Any
from wsgiref.validate import validator

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, FileBodyProducer, readBody
from twisted.web.http_headers import Headers
from twisted.web.server import Site

from twisted_lwstp import TaskStatus, ThreadPool
from twisted_lwstp.testing import PoolHarness
from twisted_lwstp.web import WSGIResource

from ._helpers import LogCapture

S = TaskStatus


def fire(d: Deferred[Any], value: Any = None) -> None:
    """From a worker: fire C{d} in the reactor thread (once)."""
    reactor.callFromThread(lambda: d.called or d.callback(value))


class _RawClient(Protocol):
    """A client that sends one request and can read or not, and leave."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.data = b""
        self.connected_d: Deferred[None] = Deferred()
        self.closed: Deferred[None] = Deferred()
        self.got: list[tuple[int, Deferred[None]]] = []

    def connectionMade(self) -> None:
        self.transport.write(self.request)
        self.connected_d.callback(None)

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        for n, d in list(self.got):
            if len(self.data) >= n and not d.called:
                d.callback(None)

    def when_received(self, n: int) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self.got.append((n, d))
        self.dataReceived(b"")
        return d

    def connectionLost(self, reason: object) -> None:
        self.closed.callback(None)


class _Case(TestCase):
    timeout = 60

    def serve(self, app: Callable[..., Any], threads: int = 2, depth: int = 2,
              validate: bool = True) -> tuple[int, ThreadPool, WSGIResource]:
        pool = ThreadPool(threads, depth, f"wsgi{id(self) % 1000}", reactor=reactor)
        pool.start()
        resource = WSGIResource(reactor, pool, validator(app) if validate else app)
        port = reactor.listenTCP(0, Site(resource), interface="127.0.0.1")
        self.addCleanup(pool.destroy)
        self.addCleanup(port.stopListening)
        return port.getHost().port, pool, resource

    @inlineCallbacks
    def get(self, port: int, path: str = "/", method: bytes = b"GET",
            body: bytes | None = None, headers: dict[bytes, list[bytes]] | None = None):
        agent = Agent(reactor)
        producer = FileBodyProducer(io.BytesIO(body)) if body is not None else None
        response = yield agent.request(method, f"http://127.0.0.1:{port}{path}".encode(),
                                       Headers(headers or {}), producer)
        content = yield readBody(response)
        return response, content

    @inlineCallbacks
    def raw(self, port: int, request: bytes):
        client = _RawClient(request)
        factory = ClientFactory.forProtocol(lambda: client)
        reactor.connectTCP("127.0.0.1", port, factory)
        yield client.connected_d
        return client

    @inlineCallbacks
    def until(self, condition: Callable[[], bool], what: str, bound: float = 30.0):
        for _ in range(int(bound / 0.01)):
            if condition():
                return
            yield deferLater(reactor, 0.01, lambda: None)
        self.fail(f"timed out waiting for {what}")


class PEP3333Tests(_Case):
    @inlineCallbacks
    def test_environ_status_headers_body_and_write(self):
        seen: dict[str, Any] = {}

        def app(environ, start_response):
            seen.update(environ)
            write = start_response("201 Created", [("Content-Type", "text/plain"),
                                                   ("X-Thing", "yes")])
            write(b"from write; ")
            return [b"from ", b"", b"the iterable"]

        port, _, _ = self.serve(app)
        response, body = yield self.get(port, "/a/b?x=1&y=2", headers={b"x-custom": [b"v"]})
        self.assertEqual(response.code, 201)
        self.assertEqual(body, b"from write; from the iterable")
        self.assertEqual(response.headers.getRawHeaders(b"x-thing"), [b"yes"])
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"text/plain"])
        self.assertEqual((seen["REQUEST_METHOD"], seen["PATH_INFO"], seen["QUERY_STRING"]),
                         ("GET", "/a/b", "x=1&y=2"))
        self.assertEqual(seen["HTTP_X_CUSTOM"], "v")
        self.assertEqual(seen["wsgi.url_scheme"], "http")
        self.assertFalse(seen["lwstp.stopping"]())

    @inlineCallbacks
    def test_post_body_through_wsgi_input(self):
        def app(environ, start_response):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            data = environ["wsgi.input"].read(length)
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return [data[::-1]]

        port, _, _ = self.serve(app)
        response, body = yield self.get(port, method=b"POST", body=b"abcdef" * 1000)
        self.assertEqual(response.code, 200)
        self.assertEqual(body, (b"abcdef" * 1000)[::-1])

    @inlineCallbacks
    def test_application_error_is_a_500_and_is_logged(self):
        def app(environ, start_response):
            raise ZeroDivisionError("app broke")

        port, _, _ = self.serve(app, validate=False)
        response, body = yield self.get(port)
        self.assertEqual(response.code, 500)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    @inlineCallbacks
    def test_start_response_with_exc_info_replaces_the_headers(self):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            try:
                raise ValueError("late")
            except ValueError:
                import sys

                start_response("500 Oops", [("Content-Type", "text/plain")], sys.exc_info())
            return [b"sorry"]

        port, _, _ = self.serve(app)
        response, body = yield self.get(port)
        self.assertEqual((response.code, body), (500, b"sorry"))

    @inlineCallbacks
    def test_close_is_called_once(self):
        closed: list[int] = []

        class Body:
            def __iter__(self):
                yield b"one"
                yield b"two"

            def close(self):
                closed.append(1)

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return Body()

        port, _, _ = self.serve(app)
        _, body = yield self.get(port)
        self.assertEqual(body, b"onetwo")
        yield self.until(lambda: closed, "close()")
        self.assertEqual(closed, [1])


class FlaskTests(_Case):
    @inlineCallbacks
    def test_a_real_flask_application(self):
        from flask import Flask, Response, request

        flask = Flask("lwstp_test")

        @flask.route("/hello/<name>")
        def hello(name: str) -> str:
            return f"hello {name}"

        @flask.route("/stream")
        def stream() -> Response:
            return Response((f"line {i}\n" for i in range(5)), mimetype="text/plain")

        @flask.route("/echo", methods=["POST"])
        def echo() -> dict[str, Any]:
            return {"got": request.get_json()["n"] * 2}

        @flask.route("/boom")
        def boom() -> str:
            raise RuntimeError("flask view broke")

        port, _, _ = self.serve(flask.wsgi_app, threads=3, depth=4)  # room for all 5
        (r1, b1), (r2, b2), (r3, b3), (r4, b4), (r5, _) = yield gatherResults([
            self.get(port, "/hello/twisted"),
            self.get(port, "/stream"),
            self.get(port, "/echo", method=b"POST", body=b'{"n": 21}',
                     headers={b"content-type": [b"application/json"]}),
            self.get(port, "/boom"),
            self.get(port, "/missing"),
        ])
        self.assertEqual((r1.code, b1), (200, b"hello twisted"))
        self.assertEqual((r2.code, b2), (200, b"".join(f"line {i}\n".encode() for i in range(5))))
        self.assertEqual((r3.code, b3.strip()), (200, b'{"got":42}'))
        self.assertEqual(r4.code, 500)
        self.assertIn(b"Internal Server Error", b4)
        self.assertEqual(r5.code, 404)
        self.flushLoggedErrors(RuntimeError)


class _Blocking:
    """
    A WSGI application whose calls wait until L{release}d; it records the
    paths it was called for, and fires L{started} on its first call.
    """

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: list[str] = []
        self.started: Deferred[None] = Deferred()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.calls.append(environ["PATH_INFO"])
        fire(self.started)
        self.release.wait(30)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]


class RefusalTests(_Case):
    @inlineCallbacks
    def test_full_pool_answers_503_with_retry_after_and_never_calls_the_app(self):
        app = _Blocking()
        release, calls, started = app.release, app.calls, app.started
        port, pool, _ = self.serve(app, threads=1, depth=0)
        first = self.get(port, "/first")
        yield started
        response, body = yield self.get(port, "/second")
        self.assertEqual(response.code, 503)
        self.assertEqual(response.headers.getRawHeaders(b"retry-after"), [b"1"])
        self.assertIn(b"503", body)
        release.set()
        response, body = yield first
        self.assertEqual((response.code, body), (200, b"done"))
        self.assertEqual(calls, ["/first"])


class LeavingClientTests(_Case):
    @inlineCallbacks
    def test_queued_request_whose_client_left_never_reaches_the_app(self):
        app = _Blocking()
        release, calls, started = app.release, app.calls, app.started
        port, pool, _ = self.serve(app, threads=1, depth=2)
        first = self.get(port, "/first")
        yield started
        leaving = yield self.raw(port, b"GET /leaving HTTP/1.1\r\nHost: x\r\n\r\n")
        yield self.until(lambda: pool.diagnose().queued == 1, "the request to queue")
        leaving.transport.loseConnection()
        yield leaving.closed
        yield self.until(lambda: pool.diagnose().queued == 0, "the queued task to stop")
        release.set()
        response, _ = yield first
        self.assertEqual(response.code, 200)
        yield self.until(lambda: pool.diagnose().done == 0 and pool.diagnose().running == 0,
                         "the pool to settle")
        self.assertEqual(calls, ["/first"])

    @inlineCallbacks
    def test_streaming_request_whose_client_leaves_stops_and_closes_once(self):
        closed: list[int] = []
        closed_d: Deferred[None] = Deferred()

        class Endless:
            """Never ends by itself: only the pool can stop it."""

            def __init__(self, environ):
                self.environ = environ

            def __iter__(self):
                while True:
                    yield b"x" * 1024

            def close(self):
                closed.append(1)
                fire(closed_d)

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return Endless(environ)

        port, pool, _ = self.serve(app)
        client = yield self.raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        yield client.when_received(10_000)
        client.transport.abortConnection()
        yield closed_d
        yield self.until(lambda: pool.diagnose().running == 0, "the task to end")
        self.assertEqual(closed, [1])

    @inlineCallbacks
    def test_stopping_turns_true_while_the_app_runs(self):
        seen: Deferred[bool] = Deferred()
        started: Deferred[None] = Deferred()

        def app(environ, start_response):
            fire(started)
            for _ in range(3000):  # up to 30 s, checking in every 10 ms
                if environ["lwstp.stopping"]():
                    fire(seen, True)
                    break
                threading.Event().wait(0.01)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"too late"]

        port, pool, _ = self.serve(app)
        client = yield self.raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        yield started
        client.transport.loseConnection()
        self.assertTrue((yield seen))
        yield self.until(lambda: pool.diagnose().running == 0, "the task to end")


class EnvironTests(_Case):
    """
    The environ, built in the reactor thread, against Twisted's own WSGI
    container's for the same request.
    """

    def request(self, secure: bool = False, prepath: list[bytes] | None = None,
                postpath: list[bytes] | None = None, uri: bytes = b"/") -> Any:
        from twisted.internet.address import IPv4Address
        from twisted.web.test.requesthelper import DummyRequest

        request = DummyRequest(postpath if postpath is not None else [])
        request.client = IPv4Address("TCP", "10.1.2.3", 4567)
        request.isSecure = lambda: secure
        request.prepath = prepath if prepath is not None else []
        request.uri = uri
        request.content = io.BytesIO(b"")
        return request

    def test_cgi_variables_match_twisteds_container(self) -> None:
        from twisted.web.wsgi import _WSGIResponse

        from twisted_lwstp.web._wsgi import build_environ

        request = self.request(prepath=[b"app"], postpath=[b"x", b"y"],
                               uri=b"/app/x/y?q=1&r=2")
        request.method = b"POST"
        request.requestHeaders.setRawHeaders(b"content-type", [b"text/plain"])
        request.requestHeaders.setRawHeaders(b"content-length", [b"3"])
        request.requestHeaders.setRawHeaders(b"x-multi", [b"a", b"b"])
        request.content = io.BytesIO(b"abc")
        theirs = _WSGIResponse(None, None, None, request).environ
        ours = build_environ(request, lambda: False)
        # CGI keeps the content headers out of HTTP_*: Twisted adds them too.
        expected = {k: v for k, v in theirs.items()
                    if not k.startswith("wsgi.") and k not in ("HTTP_CONTENT_TYPE",
                                                                "HTTP_CONTENT_LENGTH")}
        self.assertEqual({k: v for k, v in ours.items()
                          if not k.startswith(("wsgi.", "lwstp."))}, expected)
        self.assertEqual(ours["REMOTE_PORT"], "4567")
        self.assertEqual((ours["wsgi.version"], ours["wsgi.url_scheme"], ours["wsgi.multithread"],
                          ours["wsgi.multiprocess"], ours["wsgi.run_once"]),
                         ((1, 0), "http", True, False, False))
        self.assertEqual(ours["wsgi.input"].read(), b"abc")
        self.assertIs(ours["lwstp.stopping"](), False)

    def test_root_https_and_no_query(self) -> None:
        from twisted_lwstp.web._wsgi import build_environ

        ours = build_environ(self.request(secure=True, uri=b"/"), lambda: True)
        self.assertEqual((ours["SCRIPT_NAME"], ours["PATH_INFO"], ours["QUERY_STRING"],
                          ours["wsgi.url_scheme"], ours["CONTENT_TYPE"], ours["CONTENT_LENGTH"]),
                         ("", "", "", "https", "", ""))
        self.assertIs(ours["lwstp.stopping"](), True)

    def test_errors_stream_logs_text_and_refuses_bytes(self) -> None:
        from twisted_lwstp.web._wsgi import build_environ

        errors = build_environ(self.request(), lambda: False)["wsgi.errors"]
        with LogCapture() as logs:
            errors.write("first line\n")
            errors.writelines(["second\n", "  \n"])
            errors.flush()
        self.assertEqual([e["text"] for e in logs.events if "text" in e], ["first line", "second"])
        with self.assertRaisesRegex(TypeError, "wsgi.errors takes str, not bytes"):
            errors.write(b"bytes")


class _Recording:
    """A WSGI application that records the paths it is called for."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.calls.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"never"]


class TakenNotYetCalledTests(_Case):
    """
    A stepped pool (L{PoolHarness}) behind a real site, so that a request
    can be stopped in the window a real worker leaves no control over:
    after a worker has taken its task, before the application is called.
    """

    def stepped(self, app: Callable[..., Any]) -> tuple[int, PoolHarness]:
        h = PoolHarness(1, 1, name="stepped-wsgi")
        h.pool.start()
        port = reactor.listenTCP(0, Site(WSGIResource(reactor, h.pool, app)),
                                 interface="127.0.0.1")
        self.addCleanup(port.stopListening)

        def destroy() -> None:
            d = h.pool.destroy()
            h.run()
            self.successResultOf(d)

        self.addCleanup(destroy)
        return port.getHost().port, h

    @inlineCallbacks
    def test_client_that_leaves_after_the_take_before_the_call_never_runs_the_app(self):
        app = _Recording()
        calls = app.calls
        port, h = self.stepped(app)
        client = yield self.raw(port, b"GET /left HTTP/1.1\r\nHost: x\r\n\r\n")
        # Taken: a worker was idle, so the task went straight to it.
        yield self.until(lambda: h.pool.diagnose().running == 1, "the worker to take the task")
        (task,) = h.pool._reactor_side.live_tasks()
        self.assertIs(task.status, S.RUNNING)
        client.transport.abortConnection()
        yield client.closed
        yield self.until(lambda: task.status is S.STOPPING, "the stop to reach the task")
        h.run()
        self.assertEqual(calls, [])
        self.assertIs(task.status, S.STOPPED)

    @inlineCallbacks
    def test_shutdown_after_the_take_before_the_call_answers_503_without_the_app(self):
        app = _Recording()
        calls = app.calls
        port, h = self.stepped(app)
        got = self.get(port, "/late")
        yield self.until(lambda: h.pool.diagnose().running == 1, "the worker to take the task")
        h.pool.finish()
        h.run()
        response, body = yield got
        self.assertEqual(response.code, 503)
        self.assertEqual(calls, [])


class SlowReaderTests(_Case):
    @inlineCallbacks
    def test_slow_reader_holds_the_app_in_sync_with_bounded_buffers(self):
        chunk = 64 * 1024
        produced: list[int] = []
        requests: list[Any] = []

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "application/octet-stream")])

            def body():
                for _ in range(10_000):
                    produced.append(1)
                    yield b"z" * chunk

            return body()

        port, pool, resource = self.serve(app, threads=1, depth=0)
        original = resource.render

        def capture(request):
            requests.append(request)
            return original(request)

        resource.render = capture  # type: ignore[method-assign]
        sock = socket.create_connection(("127.0.0.1", port))
        self.addCleanup(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        yield self.until(lambda: requests, "the request")
        transport = requests[0].channel.transport
        owner = requests[0].producer  # the request's owner is its producer
        stable = [0]

        def settled() -> bool:
            held = [t.status for t in pool.tasks_of(owner)] == [S.SYNCING]
            stable[0] = stable[0] + 1 if held and pool.owner_paused(owner) else 0
            return stable[0] >= 30

        yield self.until(settled, "the app to wait in SYNC, paused")
        buffered = len(transport.dataBuffer) + transport._tempDataLen
        self.assertLessEqual(buffered, transport.bufferSize + chunk + 1024)
        before = len(produced)
        for _ in range(20):
            yield deferLater(reactor, 0.01, lambda: None)
        self.assertEqual(len(produced), before)
        sock.close()
        yield self.until(lambda: pool.diagnose().running == 0, "the task to stop")

