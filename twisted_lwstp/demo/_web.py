# -*- test-case-name: tests.test_demo_server -*-
"""
The demo's web site: the page at C{/}, the WebSocket endpoint at C{/ws}
and the pool's diagnostics at C{/diag}.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request, Site

from .._lag import ReactorLag
from .._pool import ThreadPool
from ..web._admin import DiagResource, MetricsResource
from ..web._policy import ClientShares, OriginCheckedResource, OriginPolicy
from ..web._upgrade import AdmittingWebSocketResource
from ._counting import TaskShape
from ._ws import CountingFactory


class PageResource(Resource):
    """
    The HTML page: no external assets; the task's count is filled in.
    """

    isLeaf = True

    def __init__(self, shape: TaskShape) -> None:
        super().__init__()
        template = files(__package__).joinpath("page.html").read_text("utf-8")
        self._body = template.replace("{{COUNT}}", str(shape.count)).encode("utf-8")

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        return self._body


class _Root(Resource):
    """
    The site's root: its children, and an escaped 404 page for the rest.
    """

    def getChild(self, path: bytes, request: Request) -> IResource:
        return notFound()


def make_site(
    pool: ThreadPool,
    shape: TaskShape,
    max_message_size: int = 4096,
    *,
    origins: OriginPolicy | None = None,
    shares: ClientShares | None = None,
    metrics: Any = None,
    lag: ReactorLag | None = None,
) -> tuple[Site, CountingFactory]:
    """
    The demo's site and the factory of its WebSocket connections.  Its
    C{/diag} adds the demo's own counts (L{CountingFactory.counts}).  The
    WebSocket takes handshakes from the page's own origin only, unless
    C{origins} allows more; C{shares} caps each client's live tasks;
    C{metrics} (a C{prometheus_client} registry) adds C{/metrics}; C{lag}
    (the reactor's lag meter) adds the reactor's lag to C{/diag}.
    """
    factory = CountingFactory(pool, shape, max_message_size, shares)
    root = _Root()
    page = PageResource(shape)
    root.putChild(b"", page)
    policy = origins if origins is not None else OriginPolicy()
    root.putChild(b"ws", OriginCheckedResource(AdmittingWebSocketResource(factory), policy))
    root.putChild(b"diag", DiagResource(pool, factory.counts, "demo", lag))
    if metrics is not None:
        root.putChild(b"metrics", MetricsResource(metrics))
    return Site(root), factory
