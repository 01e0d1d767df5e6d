# -*- test-case-name: tests.test_tap -*-
"""
L{WSGIServerService}: a WSGI application served on an endpoint by a pool
of its own (C{twistd lwstp --wsgi}).

Runs in: the reactor thread.  Owns the listening port and the pool's life.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import inlineCallbacks
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.web.server import Site

from .._pool import ThreadPool
from .._service import ThreadPoolService
from ._admin import ListeningService
from ._policy import ClientShares
from ._wsgi import WSGIApplication, WSGIResource


class WSGIServerService(Service):
    """
    Starting: listen, then start the pool.  Stopping: stop listening, then
    finish and destroy the pool (queued requests are answered 503, running
    ones are told to stop).
    """

    def __init__(self, endpoint: IStreamServerEndpoint, pool: ThreadPool,
                 application: WSGIApplication, *, reactor: Any,
                 shares: ClientShares | None = None) -> None:
        self.pool = pool
        self.resource = WSGIResource(reactor, pool, application, shares=shares)
        self.listener = ListeningService(endpoint, Site(self.resource), "wsgi")
        self.pool_service = ThreadPoolService(pool)

    def startService(self) -> None:
        self.listener.startService()
        super().startService()
        self.pool_service.startService()

    @inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        yield self.listener.stopService()
        yield self.pool_service.stopService()
