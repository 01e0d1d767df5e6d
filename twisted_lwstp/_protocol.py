# -*- test-case-name: tests.test_protocol -*-
"""
L{TaskOwnerMixin}: makes a protocol a task owner (the lws "wsi"), with
flow control through Twisted's producer/consumer interfaces.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ._interfaces import ITaskOwner
from ._pool import ThreadPool
from ._status import TaskStatus
from ._task import Cleanup, Task, TaskFunction
from ._window import MessageWindow

_log = Logger(namespace="twisted_lwstp")


@implementer(ITaskOwner, IPushProducer)
class TaskOwnerMixin:
    """
    Mix into a protocol to make it the owner of its tasks.

    Works with a plain L{twisted.internet.protocol.Protocol} (put the mixin
    first: C{class P(TaskOwnerMixin, Protocol)}) and with
    L{twisted.web.websocket} protocols.  The protocol finds its pool in its
    C{pool} attribute, or else in its factory's.

    It registers itself as a streaming producer with its transport: while
    the transport is full (C{pauseProducing}) the pool holds back
    C{writable()} calls, so a task that makes data faster than the peer
    reads waits in SYNC.  On C{connectionLost} it tells the pool, which
    stops its tasks, or lets OUTLIVE ones go on.

    Override L{writable} to consume what a task made at a SYNC; the default
    lets a syncing task continue and reaps tasks that are done.  A task
    given a L{MessageWindow} sends its messages through C{deliver(task,
    messages)}, which the protocol defines (the mixin has none: only the
    protocol knows how to frame a message).  All its methods run in the
    reactor thread.
    """

    pool: ThreadPool | None = None
    transport: Any = None

    # -- finding the pool -------------------------------------------------

    def _lwstp_pool(self) -> ThreadPool:
        pool = self.pool
        if pool is None:
            pool = getattr(getattr(self, "factory", None), "pool", None)
        if not isinstance(pool, ThreadPool):
            raise RuntimeError(
                f"{type(self).__name__} has no ThreadPool: set its 'pool' "
                "attribute, or its factory's"
            )
        return pool

    # -- the task API -----------------------------------------------------

    def enqueue_task(
        self,
        task: TaskFunction,
        *,
        user: Any = None,
        cleanup: Cleanup | None = None,
        name: str | None = None,
        window: MessageWindow[Any] | None = None,
    ) -> Task:
        """
        Enqueue C{task} on this protocol's pool with this protocol as its
        owner; named after the peer unless C{name} is given.  Refusals
        raise as L{ThreadPool.enqueue} does.  With a C{window}, the
        protocol must define C{deliver(task, messages)} (model rule 15).
        """
        if name is None:
            name = self._lwstp_peer_name()
        return self._lwstp_pool().enqueue(self, task, user=user, cleanup=cleanup, name=name,
                                          window=window)

    @property
    def tasks(self) -> list[Task]:
        """
        This protocol's live (unreaped) tasks, oldest first.
        """
        return self._lwstp_pool().tasks_of(self)

    def writable(self, task: Task) -> None:
        """
        The pool has something for this owner.  The default lets a task in
        SYNC continue and reaps a task that is done; override it to send
        what the task made, and call C{super().writable(task)} for the rest.
        """
        pool = self._lwstp_pool()
        if task.status is TaskStatus.SYNCING:
            pool.task_sync(task)
        elif task.status.is_done:
            pool.task_status(task)

    def _lwstp_peer_name(self) -> str:
        get_peer = getattr(self.transport, "getPeer", None)
        if get_peer is None:
            return type(self).__name__
        peer = get_peer()
        if isinstance(peer, (IPv4Address, IPv6Address)):
            return f"{peer.host}:{peer.port}"
        return str(peer)

    # -- producer registration -------------------------------------------

    def attach_to(self, transport: Any) -> None:
        """
        Register as a streaming producer with C{transport}: a byte
        transport's C{registerProducer}, or a websocket transport's
        C{attachProducer}.  Called for you from C{connectionMade} and
        C{negotiationFinished}.
        """
        attach = getattr(transport, "attachProducer", None)
        if attach is not None:
            try:
                attach(self)
            except RuntimeError:
                # A websocket upgraded from HTTP: the HTTP channel is still
                # the TCP transport's producer.  It has no more requests to
                # produce for, so take its place.
                transport.detachProducer()
                attach(self)
        else:
            transport.registerProducer(self, True)

    # -- IPushProducer (called by the transport) --------------------------

    def pauseProducing(self) -> None:
        """
        The transport is full: hold back C{writable()} calls.
        """
        self._lwstp_pool().pause_owner(self)

    def resumeProducing(self) -> None:
        """
        The transport drained: deliver what was held back.
        """
        self._lwstp_pool().resume_owner(self)

    def stopProducing(self) -> None:
        """
        The transport is going away; C{connectionLost} follows.
        """

    # -- protocol events ---------------------------------------------------

    def connectionMade(self) -> None:
        """
        A byte-stream connection: register as its producer.
        """
        parent = getattr(super(), "connectionMade", None)
        if parent is not None:
            parent()
        self.attach_to(self.transport)

    def negotiationStarted(self, transport: Any) -> None:
        """
        A websocket connection: remember its transport.
        """
        self.transport = transport
        parent = getattr(super(), "negotiationStarted", None)
        if parent is not None:
            parent(transport)

    def negotiationFinished(self) -> None:
        """
        A websocket connection is open: register as its producer.
        """
        self.attach_to(self.transport)
        parent = getattr(super(), "negotiationFinished", None)
        if parent is not None:
            parent()

    def connectionLost(self, reason: Failure | None = None) -> None:
        """
        The owner goes away: its tasks are detached and stopped (or go on,
        if OUTLIVE).
        """
        try:
            pool = self._lwstp_pool()
        except RuntimeError:
            pool = None
        if pool is not None:
            pool.owner_closing(self)
        parent = getattr(super(), "connectionLost", None)
        if parent is not None:
            parent(reason)
