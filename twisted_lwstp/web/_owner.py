# -*- test-case-name: tests.test_web_owner -*-
"""
L{RequestOwner}: a C{twisted.web} request as a task owner (the lws HTTP
"wsi"), with flow control; and L{stream_task}, which streams a task's
output as the response.

Runs in: the reactor thread only (C{twisted.web} calls every method here
there).  State owned: C{RequestOwner.gone}, written by the reactor thread
and read by task code in a worker (a plain bool store is atomic; a stale
read delays seeing it by one check-in).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.server import NOT_DONE_YET, Request
from zope.interface import implementer

from .._errors import EnqueueRefused, PoolFinished
from .._interfaces import ITaskOwner
from .._pool import ThreadPool
from .._status import TaskStatus
from .._task import Task, TaskFunction

_log = Logger(namespace="twisted_lwstp.web")

#: Seconds a refused client is asked to wait before retrying.
RETRY_AFTER = 1


@implementer(ITaskOwner, IPushProducer)
class RequestOwner:
    """
    Owns the tasks of one HTTP request.  Once L{attach}ed it is the
    request's streaming producer, so C{writable()} calls come only while
    the transport takes data, and a client that leaves (the request's
    C{notifyFinish()} fails) calls C{owner_closing}: its queued tasks never
    run and its running ones are told to stop.

    @ivar gone: Whether the client has left (reactor thread writes; task
        code may read it, e.g. as a check-in).
    """

    def __init__(self, pool: ThreadPool, request: Request,
                 on_writable: Callable[[Task], object]) -> None:
        self.pool = pool
        self.request = request
        self.gone = False
        self._on_writable = on_writable
        self._attached = False

    def attach(self) -> None:
        """
        Register as the request's producer and watch for the client
        leaving.  Call it once the task was enqueued.
        """
        self._attached = True
        self.request.registerProducer(self, True)
        self.request.notifyFinish().addCallbacks(self._finished, self._lost)

    def writable(self, task: Task) -> None:
        """
        A SYNC or an end for this request's task: handed to the resource.
        """
        self._on_writable(task)

    def finish(self) -> None:
        """
        Finish the response (unless the client left): unregister as its
        producer first, as C{twisted.web} requires.
        """
        if self.gone:
            return
        if self._attached:
            self._attached = False
            self.request.unregisterProducer()
        self.request.finish()

    # -- IPushProducer, called by the transport through the request ---------

    def pauseProducing(self) -> None:
        self.pool.pause_owner(self)

    def resumeProducing(self) -> None:
        self.pool.resume_owner(self)

    def stopProducing(self) -> None:
        """The connection is going; C{notifyFinish()} fails next."""

    # -- the request's end --------------------------------------------------

    def _finished(self, _: object) -> None:
        # Answered: forget any flow-control state kept for this owner.
        self.pool.owner_closing(self)

    def _lost(self, reason: Failure) -> None:
        self.gone = True
        self._attached = False  # the channel is gone: nothing to unregister
        self.pool.owner_closing(self)


def refuse(request: Request, error: EnqueueRefused | str) -> bytes:
    """
    Answer a request the pool would not take: C{503 Service Unavailable}
    with C{Retry-After}, at once.  C{error}: the pool's refusal, or why
    else (e.g. a client over its fair share).
    """
    if isinstance(error, str):
        why = error
    else:
        why = "the server is " + ("shutting down" if isinstance(error, PoolFinished) else "busy")
    request.setResponseCode(503)
    request.setHeader(b"retry-after", str(RETRY_AFTER).encode("ascii"))
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    return f"503 Service Unavailable: {why}; retry in {RETRY_AFTER} s\n".encode()


class ChunkBuffer:
    """
    The C{user} of a task run by L{stream_task}: the task calls
    L{write} and then returns SYNC; each SYNC sends what was written.
    Task code and the reactor never touch it at the same time (rule 1).
    """

    def __init__(self, state: Any = None) -> None:
        self.state = state
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        self.chunks.append(bytes(data))

    def take(self) -> list[bytes]:
        chunks, self.chunks = self.chunks, []
        return chunks


def stream_task(
    pool: ThreadPool,
    request: Request,
    task: TaskFunction,
    *,
    user: ChunkBuffer | None = None,
    name: str | None = None,
    content_type: bytes = b"application/octet-stream",
) -> bytes | int:
    """
    Run C{task(user, status)} for C{request} and stream what it makes: at
    each SYNC the chunks it wrote to C{user} (a L{ChunkBuffer}) are sent,
    when the transport can take them; when it is done the response
    finishes (a task that failed ends the connection instead).  If the
    pool refuses, the answer is 503 with C{Retry-After}.  Return its
    result from C{render_*}.
    """
    buffer = user if user is not None else ChunkBuffer()

    def writable(t: Task) -> None:
        for chunk in buffer.take():
            if not owner.gone:
                request.write(chunk)
        if t.status is TaskStatus.SYNCING:
            pool.task_sync(t, stop=owner.gone)
            return
        pool.task_status(t)
        if t.error is not None and not owner.gone:
            request.loseConnection()
        else:
            owner.finish()

    owner = RequestOwner(pool, request, writable)
    try:
        pool.enqueue(owner, task, user=buffer, name=name or _peer(request))
    except EnqueueRefused as e:
        return refuse(request, e)
    request.setHeader(b"content-type", content_type)
    owner.attach()
    return NOT_DONE_YET


def _peer(request: Request) -> str:
    address = request.getClientAddress()
    host = getattr(address, "host", "?")
    port = getattr(address, "port", "?")
    return f"{request.method.decode('latin-1')} {request.uri.decode('latin-1')} from {host}:{port}"
