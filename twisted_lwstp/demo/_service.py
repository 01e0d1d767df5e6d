# -*- test-case-name: tests.test_demo_server -*-
"""
L{DemoService}: the pool, the listening port, and a shutdown that lets
every connection hear how its task ended.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import inlineCallbacks
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from .._lag import ReactorLag
from .._pool import ThreadPool
from .._service import ThreadPoolService
from ..web._policy import ClientShares, OriginPolicy
from ._counting import TaskShape
from ._web import make_site

_log = Logger(namespace="twisted_lwstp.demo")


class DemoService(Service):
    """
    Serves the demo on C{endpoint} with a pool of its own.

    Stopping, in order: stop listening; finish the pool, so running tasks
    are told STOPPING and queued ones stop; wait (at most
    C{close_timeout} seconds) until every WebSocket connection has sent its
    last frame and closed; then destroy the pool.  The reactor would
    otherwise drop the connections before their last frames were written.

    C{lag}, the reactor's lag meter (L{twisted_lwstp._lag.reactor_lag}),
    adds the reactor's lag to C{/diag}.

    @ivar port: The listening port, once started.
    """

    port: IListeningPort | None = None

    def __init__(
        self,
        endpoint: IStreamServerEndpoint,
        pool: ThreadPool,
        shape: TaskShape,
        *,
        reactor: Any,
        close_timeout: float = 5.0,
        max_message_size: int = 4096,
        origins: OriginPolicy | None = None,
        shares: ClientShares | None = None,
        metrics: Any = None,
        lag: ReactorLag | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.pool = pool
        self.shape = shape
        self.reactor = reactor
        self.close_timeout = close_timeout
        self.pool_service = ThreadPoolService(pool)
        self.site, self.factory = make_site(pool, shape, max_message_size, origins=origins,
                                            shares=shares, metrics=metrics, lag=lag)

    def startService(self) -> None:
        """
        Listen, then start the pool.  A port that cannot be had raises here,
        so twistd exits instead of running without it.
        """
        failures: list[Failure] = []
        self.endpoint.listen(self.site).addCallbacks(self._listening, failures.append)
        if failures:
            failures[0].raiseException()
        super().startService()
        self.pool_service.startService()

    def _listening(self, port: IListeningPort) -> IListeningPort:
        self.port = port
        address = port.getHost()
        _log.info(
            "lwstp demo listening on http://{host}:{port}/",
            host=getattr(address, "host", address),
            port=getattr(address, "port", ""),
        )
        return port

    @inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        if self.port is not None:
            yield self.port.stopListening()
        self.pool.finish()
        closed = self.factory.when_all_closed()
        if not closed.called:
            closed.addTimeout(self.close_timeout, self.reactor)
            try:
                yield closed
            except Exception:
                left = len(self.factory.connections)
                _log.warn(
                    "{left} connection(s) still open after {seconds} s: aborting them",
                    left=left,
                    seconds=self.close_timeout,
                )
                for protocol in list(self.factory.connections):
                    protocol.transport.transport.abortConnection()
        yield self.pool_service.stopService()
