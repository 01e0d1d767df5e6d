# -*- test-case-name: tests.test_web_wsgi -*-
"""
L{WSGIResource}: PEP 3333 on a L{ThreadPool}, with Twisted's constructor.
Each request is one task owned by its request (L{RequestOwner}): a full
pool answers 503 at once, every chunk the application makes is handed to
the reactor as a SYNC (written only while the client reads), and a client
that leaves stops its request's work.

Runs in: L{WSGIResource.render} and L{_Exchange.writable} in the reactor
thread; L{_Exchange.__call__} (the task), C{start_response}, C{write} and
the application in a worker.  Who owns which attribute of an exchange is
written beside it; what the worker hands over (status, headers, chunks)
is read by the reactor only while the task waits in SYNC or is done, so
the two never touch it at once (model rule 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from .._errors import EnqueueRefused, PoolFinished
from .._pool import ThreadPool
from .._status import TaskReturn, TaskStatus
from .._task import Task
from ._owner import RequestOwner, refuse
from ._policy import ClientShares

_log = Logger(namespace="twisted_lwstp.web")

_STOPPING = TaskStatus.STOPPING
_SYNCING = TaskStatus.SYNCING
_END = object()

WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _ErrorStream:
    """
    C{wsgi.errors}: what the application writes goes to C{twisted.logger}.
    """

    def write(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"wsgi.errors takes str, not {type(text).__name__}")
        if text.strip():
            _log.error("{text}", text=text.rstrip("\n"))

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass


def _native(value: bytes) -> str:
    return value.decode("latin-1")


def build_environ(request: Request, stopping: Callable[[], bool]) -> dict[str, Any]:
    """
    The PEP 3333 environ of C{request} (reactor thread), plus
    C{lwstp.stopping}: a check-in the application may call, C{True} once
    its client has left.
    """
    script = b"/" + b"/".join(request.prepath) if request.prepath else b""
    path = b"/" + b"/".join(request.postpath) if request.postpath else b""
    parts = request.uri.split(b"?", 1)
    query = parts[1] if len(parts) == 2 else b""
    address: Any = request.getClientAddress()
    host: Any = request.getHost()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": _native(request.method),
        "SCRIPT_NAME": _native(script),
        "PATH_INFO": _native(path),
        "QUERY_STRING": _native(query),
        "CONTENT_TYPE": _native(request.getHeader(b"content-type") or b""),
        "CONTENT_LENGTH": _native(request.getHeader(b"content-length") or b""),
        "SERVER_NAME": _native(request.getRequestHostname()),
        "SERVER_PORT": str(getattr(host, "port", "")),
        "SERVER_PROTOCOL": _native(request.clientproto),
        "REMOTE_ADDR": str(getattr(address, "host", "")),
        "REMOTE_PORT": str(getattr(address, "port", "")),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https" if request.isSecure() else "http",
        "wsgi.input": request.content,
        "wsgi.errors": _ErrorStream(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "lwstp.stopping": stopping,
    }
    for name, values in request.requestHeaders.getAllRawHeaders():
        key = "HTTP_" + _native(name).upper().replace("-", "_")
        if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
            environ[key] = ",".join(_native(v) for v in values)
    if request.content is not None:
        request.content.seek(0)
    return environ


class _Exchange:
    """
    One request's run of the application, as a task function.
    """

    def __init__(self, pool: ThreadPool, request: Request, application: WSGIApplication) -> None:
        # Set in the reactor thread before the task can run; then read-only.
        self.pool = pool
        self.request = request
        self.application = application
        self.owner = RequestOwner(pool, request, self.writable)
        self.environ = build_environ(request, lambda: self.owner.gone)
        # The worker's own.
        self.result: Iterable[bytes] | None = None
        self.iterator: Iterator[bytes] | None = None
        self.closed = False
        # Handed over at SYNC or at the end (see the module docstring).
        self.called = False
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.pending: list[bytes] = []
        self.failure: Failure | None = None
        # Reactor thread writes it while the task waits; the worker reads it
        # in start_response after it resumed.
        self.headers_sent = False

    # -- the task (worker thread) -----------------------------------------

    def __call__(self, user: object, status: TaskStatus) -> TaskReturn:
        if status is _STOPPING:
            self.close()
            return TaskReturn.STOPPED
        try:
            if not self.called:
                self.called = True
                self.result = self.application(self.environ, self.start_response)
                self.iterator = iter(self.result)
                return TaskReturn.SYNC if self.pending else TaskReturn.CHECKING_IN
            assert self.iterator is not None
            chunk = next(self.iterator, _END)
            if chunk is _END:
                self.close()
                if self.status is None:
                    raise RuntimeError("the application never called start_response()")
                return TaskReturn.FINISHED
            if not isinstance(chunk, bytes):
                raise TypeError(f"the application yielded {type(chunk).__name__}, not bytes")
            if not chunk:
                return TaskReturn.CHECKING_IN
            if self.status is None:
                raise RuntimeError("the application yielded a body before start_response()")
            self.pending.append(chunk)
            return TaskReturn.SYNC
        except BaseException:
            self.failure = Failure()
            _log.failure(
                "WSGI application raised for {uri}", failure=self.failure,
                uri=_native(self.request.uri),
            )
            self.close()
            return TaskReturn.STOPPED

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise RuntimeError("start_response() called twice without exc_info")
        if not isinstance(status, str) or len(status) < 4 or not status[:3].isdigit() \
                or status[3] != " ":
            raise ValueError(f"status must be a str like '200 OK', not {status!r}")
        checked = []
        for header in headers:
            if not (isinstance(header, tuple) and len(header) == 2
                    and all(isinstance(part, str) for part in header)):
                raise TypeError(f"each header must be a (str, str) tuple, not {header!r}")
            checked.append(header)
        self.status, self.headers = status, checked
        return self.write

    def write(self, data: bytes) -> None:
        """
        PEP 3333's C{write()}: buffered, and sent at the next SYNC (when
        the application's call returns or its iterable yields).
        """
        if not isinstance(data, bytes):
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        if self.status is None:
            raise RuntimeError("write() before start_response()")
        if data:
            self.pending.append(data)

    def close(self) -> None:
        """The iterable's C{close()}, at most once."""
        if self.closed:
            return
        self.closed = True
        close = getattr(self.result, "close", None)
        if close is not None:
            try:
                close()
            except BaseException:
                _log.failure("close() of a WSGI iterable raised")

    # -- the owner's side (reactor thread) ---------------------------------

    def writable(self, task: Task) -> None:
        owner, request = self.owner, self.request
        if task.status is _SYNCING:
            if not owner.gone:
                self.send_pending()
            self.pool.task_sync(task, stop=owner.gone)
            return
        self.pool.task_status(task)
        if owner.gone:
            return
        if not self.called:
            # Stopped before it ran: the pool is shutting down.
            body = refuse(request, PoolFinished("finishing"))
            request.write(body)
            owner.finish()
        elif self.failure is not None or task.status is not TaskStatus.FINISHED:
            if self.headers_sent:
                request.loseConnection()
            else:
                request.setResponseCode(500)
                request.setHeader(b"content-type", b"text/plain; charset=utf-8")
                request.write(b"500 Internal Server Error\n")
                owner.finish()
        else:
            self.send_pending()
            owner.finish()

    def send_pending(self) -> None:
        request = self.request
        if not self.headers_sent:
            self.headers_sent = True
            assert self.status is not None
            code, _, reason = self.status.partition(" ")
            request.setResponseCode(int(code), reason.encode("latin-1"))
            for name, value in self.headers:
                request.responseHeaders.addRawHeader(
                    name.encode("latin-1"), value.encode("latin-1")
                )
        chunks, self.pending = self.pending, []
        for chunk in chunks:
            request.write(chunk)


class WSGIResource(Resource):
    """
    A WSGI container on a L{ThreadPool}, with the constructor of
    C{twisted.web.wsgi.WSGIResource}.  A request the pool cannot take gets
    C{503 Service Unavailable} with C{Retry-After} and the application is
    not called; a request whose client left while it waited is never run;
    one whose client leaves while it runs sees
    C{environ["lwstp.stopping"]()} turn True, its next chunk is not sent,
    iteration stops and the iterable's C{close()} is called.  With
    C{shares}, a client address over its share gets 503 too.
    """

    isLeaf = True

    def __init__(self, reactor: Any, pool: ThreadPool, application: WSGIApplication,
                 *, shares: ClientShares | None = None) -> None:
        super().__init__()
        self._shares = shares
        if not isinstance(pool, ThreadPool):
            raise TypeError(f"pool must be a twisted_lwstp ThreadPool, not {type(pool).__name__}")
        if not callable(application):
            raise TypeError("application must be callable")
        self._reactor = reactor
        self._pool = pool
        self._application = application

    def render(self, request: Request) -> bytes | int:
        request.defaultContentType = None
        exchange = _Exchange(self._pool, request, self._application)
        address: Any = request.getClientAddress()
        name = (f"{_native(request.method)} {_native(request.uri)[:80]} "
                f"from {getattr(address, 'host', '?')}:{getattr(address, 'port', '?')}")
        shares = self._shares
        key = None
        if shares is not None:
            key = shares.take(address)
            if key is None:
                return refuse(request, f"your address has {shares.limit} requests running "
                                       "already, the most one client may have")

        def give_back(owner: object, user: object) -> None:
            if shares is not None and key is not None:
                shares.give_back(key)

        try:
            self._pool.enqueue(exchange.owner, exchange, name=name,
                               cleanup=give_back if key is not None else None)
        except EnqueueRefused as e:
            give_back(None, None)
            return refuse(request, e)
        exchange.owner.attach()
        return NOT_DONE_YET
