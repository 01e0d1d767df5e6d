# -*- test-case-name: tests.test_web_admin -*-
"""
The admin site, kept off the application's URL space: C{/diag} (the pool's
diagnostics as JSON), C{/health} (200 while the pool accepts work, 503 once
it is finishing) and, with metrics on, C{/metrics} (Prometheus).
Served on C{twistd lwstp --admin ENDPOINT}; the demo keeps its own C{/diag}
too.

Runs in: the reactor thread (C{twisted.web} renders there).  Owns no state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request, Site

from .._lag import ReactorLag
from .._pool import ThreadPool

_log = Logger(namespace="twisted_lwstp.web")


class DiagResource(Resource):
    """
    The pool's diagnostics as JSON; C{extra}, if given, adds the object it
    returns under C{extra_key} (the demo adds its connections' counts), and
    C{lag} the reactor's lag under C{reactor_lag}
    (L{twisted_lwstp._lag.ReactorLag.summary}).
    """

    isLeaf = True

    def __init__(self, pool: ThreadPool, extra: Callable[[], dict[str, int]] | None = None,
                 extra_key: str = "extra", lag: ReactorLag | None = None) -> None:
        super().__init__()
        self.pool = pool
        self.extra = extra
        self.extra_key = extra_key
        self.lag = lag

    def render_GET(self, request: Request) -> bytes:
        pool = self.pool
        diag = pool.diagnose()
        body = {
            "name": pool.name,
            "running": diag.running,
            "threads": diag.threads,
            "queued": diag.queued,
            "done": diag.done,
            "tasks": [
                {
                    "name": info.name,
                    "status": info.status.name,
                    "ms_in_state": round(info.ms_in_state, 1),
                    "ms_queued": round(info.ms_queued, 1),
                    "ms_alive": round(info.ms_alive, 1),
                    "run_pct": info.run_pct,
                    "sync_pct": info.sync_pct,
                }
                for info in pool.dump_tasks()
            ],
        }
        if self.extra is not None:
            body[self.extra_key] = self.extra()
        if self.lag is not None:
            body["reactor_lag"] = self.lag.summary()
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        return json.dumps(body).encode("utf-8")


class MetricsResource(Resource):
    """
    C{/metrics}: a C{prometheus_client} registry in the text exposition
    format (needs the C{twisted-lwstp[metrics]} extra).
    """

    isLeaf = True

    def __init__(self, registry: Any = None) -> None:
        super().__init__()
        from prometheus_client import REGISTRY

        self.registry = registry if registry is not None else REGISTRY

    def render_GET(self, request: Request) -> bytes:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        return generate_latest(self.registry)


class HealthResource(Resource):
    """
    C{/health}: 200 while the pool accepts work, 503 once it is finishing
    (for a load balancer's HTTP check).
    """

    isLeaf = True

    def __init__(self, pool: ThreadPool) -> None:
        super().__init__()
        self.pool = pool

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        if self.pool.finishing:
            request.setResponseCode(503)
            return b"finishing\n"
        return b"ok\n"


class _AdminRoot(Resource):
    def getChild(self, path: bytes, request: Request) -> IResource:
        return notFound()


def admin_site(pool: ThreadPool, metrics: Any = None, lag: ReactorLag | None = None) -> Site:
    """
    The admin site of C{pool}: C{/diag} (with the reactor's C{lag} if
    given), C{/health}, and C{/metrics} if C{metrics} (a
    C{prometheus_client} registry) is given.
    """
    root = _AdminRoot()
    root.putChild(b"diag", DiagResource(pool, lag=lag))
    root.putChild(b"health", HealthResource(pool))
    if metrics is not None:
        root.putChild(b"metrics", MetricsResource(metrics))
    return Site(root)


class ListeningService(Service):
    """
    Listens on an endpoint with a site while running; a port that cannot be
    had raises from C{startService}, so twistd exits instead of running
    without it.

    @ivar port: The listening port, once started.
    """

    port: IListeningPort | None = None

    def __init__(self, endpoint: IStreamServerEndpoint, site: IProtocolFactory, what: str,
                 scheme: str = "http") -> None:
        self.endpoint = endpoint
        self.site = site
        self.what = what
        self.scheme = scheme

    def startService(self) -> None:
        failures: list[Failure] = []
        self.endpoint.listen(self.site).addCallbacks(self._listening, failures.append)
        if failures:
            failures[0].raiseException()
        super().startService()

    def _listening(self, port: IListeningPort) -> None:
        self.port = port
        address: Any = port.getHost()
        _log.info("lwstp {what} listening on {scheme}://{host}:{port}/", what=self.what,
                  scheme=self.scheme,
                  host=getattr(address, "host", address), port=getattr(address, "port", ""))

    def stopService(self) -> Any:
        super().stopService()
        if self.port is not None:
            port, self.port = self.port, None
            return port.stopListening()
        return None
