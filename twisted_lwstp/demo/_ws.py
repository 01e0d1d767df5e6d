# -*- test-case-name: tests.test_demo_server -*-
"""
The demo's C{/ws} endpoint: each connection runs one counting task and
streams its progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.server import Request
from wsproto.utilities import LocalProtocolError

from .._errors import PoolFinished, QueueFull
from .._pool import ThreadPool
from .._protocol import TaskOwnerMixin
from .._status import TaskStatus
from .._task import Task
from .._window import MessageWindow
from ..web._policy import ClientShares
from ..web._upgrade import Refused
from ._counting import CountState, TaskShape, count_task

_log = Logger(namespace="twisted_lwstp.demo")

#: WebSocket close codes (RFC 6455, 7.4.1).
CLOSE_NORMAL = 1000
CLOSE_TOO_BIG = 1009


@dataclass
class DemoStats:
    """
    The server's own counters, for the soak, the demo page and operators.
    Owner: the reactor thread.
    """

    connections: int = 0
    enqueued: int = 0
    cleanups: int = 0
    completed: int = 0
    #: Tasks reaped by their connection, by how they ended.  A task whose
    #: connection went first is reaped by the pool and counted in neither.
    finished: int = 0
    stopped: int = 0
    refused: int = 0
    too_big: int = 0


class CountingProtocol(TaskOwnerMixin):
    """
    One WebSocket connection owning one counting task.  At every SYNC it
    sends C{pos <N>} (C{pos 0} first, when the task starts), or, in window
    mode, each position its task put (L{deliver}); when the task
    ends, C{finished <N>} or C{stopped <N>}
    and a close with code 1000.  If the pool refuses the task (no fair
    share left, the queue full, or shutting down), there is no WebSocket:
    the upgrade request is answered C{503 Service Unavailable} with
    C{Retry-After} and the cause (L{CountingFactory.admit}).
    """

    task: Task | None = None

    def __init__(self, factory: CountingFactory, peer: str, address: Any = None) -> None:
        self.factory = factory
        self.pool = factory.pool
        self.peer = peer
        self.address = address

    def negotiationFinished(self) -> None:
        """
        The handshake completed: register as the producer and let the task,
        enqueued before the upgrade, reach this connection.
        """
        super().negotiationFinished()
        factory = self.factory
        factory.connections.add(self)
        factory.stats.connections += 1
        factory.pool.resume_owner(self)

    def writable(self, task: Task) -> None:
        pool = self.pool
        assert pool is not None
        state: CountState = task.user
        if task.status is TaskStatus.SYNCING:
            if state.window is not None:
                # Window mode: the window was full, and what it held was
                # delivered just now (deliver); the task goes on.
                pool.task_sync(task)
                return
            # A peer that is closing gets nothing more: its task stops.
            pool.task_sync(task, stop=not self._send(f"pos {state.pos}"))
            return
        status = pool.task_status(task)
        stats = self.factory.stats
        if status is TaskStatus.FINISHED:
            word = "finished"
            stats.finished += 1
        else:
            word = "stopped"
            stats.stopped += 1
        if self._send(f"{word} {state.pos}"):
            self.transport.loseConnection(CLOSE_NORMAL)

    def deliver(self, task: Task, messages: list[int]) -> None:
        """
        Window mode (model rule 15): send each position the task put, in
        order; a peer that is closing gets nothing more, and its task is
        asked to stop.
        """
        for pos in messages:
            if not self._send(f"pos {pos}"):
                pool = self.pool
                assert pool is not None
                if not task.status.is_done:
                    pool.dequeue_task(task)
                return

    def _send(self, text: str) -> bool:
        """
        Send one text message; C{False} if the WebSocket is already closing
        (the peer's close frame came in and C{connectionLost} is on its way,
        held up while the last bytes drain).
        """
        try:
            self.transport.sendTextMessage(text)
        except LocalProtocolError:
            return False
        return True

    def textMessageReceived(self, message: str) -> None:
        """
        Clients have nothing to say: small messages are ignored, one over
        the limit closes the connection with 1009.
        """
        if len(message.encode("utf-8")) > self.factory.max_message_size:
            self._too_big()

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        """As L{textMessageReceived}."""
        if len(data) > self.factory.max_message_size:
            self._too_big()

    def _too_big(self) -> None:
        self.factory.stats.too_big += 1
        limit = self.factory.max_message_size
        self.transport.loseConnection(CLOSE_TOO_BIG, f"message over {limit} bytes")

    def pongReceived(self, payload: bytes) -> None:
        """Pongs carry nothing for us."""

    def connectionLost(self, reason: Failure | None = None) -> None:
        super().connectionLost(reason)
        self.factory.connection_closed(self)


class CountingFactory:
    """
    Builds a L{CountingProtocol} per WebSocket request and keeps track of
    the open ones, so a shutdown can wait for their last frames.

    Owner of every attribute: the reactor thread.
    """

    def __init__(self, pool: ThreadPool, shape: TaskShape, max_message_size: int = 4096,
                 shares: ClientShares | None = None) -> None:
        self.pool = pool
        self.shares = shares
        self.shape = shape
        self.max_message_size = max_message_size
        self.connections: set[CountingProtocol] = set()
        self.stats = DemoStats()
        self._all_closed: list[Deferred[None]] = []

    def counts(self) -> dict[str, int]:
        """
        What the demo page shows beside the pool's own figures: connections
        whose task finished or stopped, and connections refused.
        """
        stats = self.stats
        return {"finished": stats.finished, "stopped": stats.stopped, "refused": stats.refused}

    def task_cleanup(self, owner: object, state: CountState) -> None:
        """Every task's cleanup: counted, so the soak can check exactly-once."""
        self.stats.cleanups += 1

    def task_completed(self, result: object) -> None:
        """Every task's completion Deferred: counted (errors included)."""
        self.stats.completed += 1

    def admit(self, request: Request) -> CountingProtocol:
        """
        Before the upgrade: the connection's protocol, its counting task
        already enqueued and held (the owner paused) until the handshake
        completes.

        @raise Refused: no fair share left, the pool is full, or it is
            shutting down; nothing was enqueued.
        """
        address: Any = request.getClientAddress()
        host = getattr(address, "host", "?")
        port = getattr(address, "port", "?")
        protocol = CountingProtocol(self, f"{host}:{port}", address)
        pool, shares = self.pool, self.shares
        key = None
        if shares is not None:
            key = shares.take(address)
            if key is None:
                self._refused(protocol, f"too many tasks from your address (at most {shares.limit})")

        def cleanup(owner: object, state: CountState) -> None:
            self.task_cleanup(owner, state)
            if key is not None and shares is not None:
                shares.give_back(key)

        pool.pause_owner(protocol)  # no writable() before the handshake completes
        try:
            window = MessageWindow[int](self.shape.window) if self.shape.window else None
            task = pool.enqueue(protocol, count_task, user=CountState(self.shape, window=window),
                                cleanup=cleanup, name=f"ws {protocol.peer}", window=window)
        except (QueueFull, PoolFinished) as e:
            pool.resume_owner(protocol)  # forgets the paused, task-less owner
            if key is not None and shares is not None:
                shares.give_back(key)  # nothing was admitted
            if isinstance(e, QueueFull):
                self._refused(protocol, "queue full: all threads busy and the wait queue is full")
            self._refused(protocol, "server shutting down: the pool accepts no new tasks")
        protocol.task = task
        self.stats.enqueued += 1
        task.when_done().addBoth(self.task_completed)
        return protocol

    def _refused(self, protocol: CountingProtocol, reason: str) -> NoReturn:
        self.stats.refused += 1
        _log.info("Refused {peer}: {reason}", peer=protocol.peer, reason=reason)
        raise Refused(reason)

    def abandon(self, protocol: CountingProtocol) -> None:
        """
        The upgrade failed after admission: stop and reap its task.
        """
        self.pool.owner_closing(protocol)

    def connection_closed(self, protocol: CountingProtocol) -> None:
        self.connections.discard(protocol)
        if not self.connections:
            waiters, self._all_closed = self._all_closed, []
            for d in waiters:
                d.callback(None)

    def when_all_closed(self) -> Deferred[None]:
        """
        A Deferred that fires once no WebSocket connection is open.
        """
        if not self.connections:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._all_closed.append(d)
        return d
