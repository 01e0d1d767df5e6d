"""
The admin site: C{/diag} answers the pool's diagnostics as JSON, C{/health}
200 until the pool finishes; anything else is a 404.
"""

from __future__ import annotations

import json

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import TCP4ServerEndpoint

from twisted_lwstp import ThreadPool
from twisted_lwstp.web._admin import ListeningService, admin_site

from .test_web_wsgi import _Case


class AdminSiteTests(_Case):
    def admin(self, pool: ThreadPool) -> int:
        """Start C{pool} and serve its admin site; the port."""
        pool.start()
        self.addCleanup(pool.destroy)
        service = ListeningService(TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"),
                                   admin_site(pool), "admin")
        service.startService()
        self.addCleanup(service.stopService)
        assert service.port is not None
        return service.port.getHost().port

    @inlineCallbacks
    def test_diag_and_404(self):
        port = self.admin(ThreadPool(2, 3, "admin", reactor=reactor))
        response, body = yield self.get(port, "/diag")
        self.assertEqual(response.code, 200)
        diag = json.loads(body)
        self.assertEqual((diag["name"], diag["threads"], diag["running"], diag["queued"]),
                         ("admin", 2, 0, 0))
        response, _ = yield self.get(port, "/other")
        self.assertEqual(response.code, 404)

    @inlineCallbacks
    def test_health_is_200_until_the_pool_finishes(self):
        pool = ThreadPool(1, 0, "health", reactor=reactor)
        port = self.admin(pool)
        response, body = yield self.get(port, "/health")
        self.assertEqual((response.code, body), (200, b"ok\n"))
        pool.finish()
        response, body = yield self.get(port, "/health")
        self.assertEqual((response.code, body), (503, b"finishing\n"))
