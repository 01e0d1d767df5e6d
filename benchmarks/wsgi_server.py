"""
The server side of the WSGI overload case, in its own process:

    python -m benchmarks.wsgi_server KIND THREADS DEPTH

KIND is ``lwstp`` (twisted_lwstp.web.WSGIResource on a pool of THREADS
threads and DEPTH queued requests) or ``twisted`` (Twisted's own
WSGIResource on a Twisted ThreadPool of THREADS threads, queue unbounded).
The application sleeps 20 ms.  Each request names the time its client gives
up (``?until=<unix time>``); the application counts the calls it starts
after that time: work for a client who had already left.

Prints ``PORT <n>`` once listening.  ``GET /__stats`` (not through the
pool) answers ``{"calls", "late_calls", "peak_rss_kb"}`` as JSON.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from typing import Any
from urllib.parse import parse_qs

from twisted.internet import reactor
from twisted.python.threadpool import ThreadPool as TwistedThreadPool
from twisted.web.resource import Resource
from twisted.web.server import Request, Site
from twisted.web.wsgi import WSGIResource as TwistedWSGIResource

from twisted_lwstp import ThreadPool
from twisted_lwstp.web import WSGIResource

_lock = threading.Lock()
_counts = {"calls": 0, "late_calls": 0}  # guarded by _lock (worker threads)


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    until = float(parse_qs(environ["QUERY_STRING"]).get("until", ["inf"])[0])
    with _lock:
        _counts["calls"] += 1
        if time.time() > until:
            _counts["late_calls"] += 1
    time.sleep(0.02)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


class Stats(Resource):
    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        with _lock:
            body = dict(_counts)
        body["peak_rss_kb"] = peak_rss_kb()
        return json.dumps(body).encode()


def peak_rss_kb() -> int:
    """
    This process's own peak RSS: VmHWM, which exec resets.  (Not
    getrusage's ru_maxrss: Linux carries that across fork and exec, so a
    child would report its parent's peak when that is higher.)
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Root(Resource):
    def __init__(self, wsgi: Resource) -> None:
        super().__init__()
        self.wsgi = wsgi
        self.putChild(b"__stats", Stats())

    def getChild(self, path: bytes, request: Request) -> Resource:
        request.prepath.pop()
        request.postpath.insert(0, path)
        return self.wsgi


def main(kind: str, threads: int, depth: int) -> None:
    if kind == "lwstp":
        pool = ThreadPool(threads, depth, "wsgi", reactor=reactor)
        pool.start()
        wsgi: Resource = WSGIResource(reactor, pool, app)
    else:
        tpool = TwistedThreadPool(threads, threads, "wsgi")
        tpool.start()
        reactor.addSystemEventTrigger("during", "shutdown", tpool.stop)
        wsgi = TwistedWSGIResource(reactor, tpool, app)
    port = reactor.listenTCP(0, Site(Root(wsgi)), interface="127.0.0.1", backlog=1024)
    print(f"PORT {port.getHost().port}", flush=True)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
