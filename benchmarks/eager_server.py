"""
A server for the eager-write case (case 8), in its own process under one
global reactor:

    python -m benchmarks.eager_server REACTOR KIND COUNT CLIENTS

REACTOR is ``lwstp``, ``lwstp+lag`` (with the reactor's lag meter on, as
``twistd lwstp`` has it while it serves /diag) or ``epoll``.  KIND is ``plain`` (a plain Twisted
WebSocket server that sends COUNT messages to each client from the reactor
thread, one per reactor turn, with no threads: the best a Twisted user has
today), ``demo`` (the twisted_lwstp demo, its task SYNCing every message),
``demo-w<N>`` (the demo streaming through a window of N, ``twistd lwstp
--window N``), ``web`` or ``dynamic`` (a twisted.web resource rendering a
small answer) or ``static`` (a small file served by
``twisted.web.static.File``), for kept-alive connections from
L{benchmarks._http_load} or ``wrk``.  It prints
``PORT <n>``, serves CLIENTS connections to their end, then prints one
JSON line with the CPU seconds (user + system) it spent from then to the
end, start-up excluded, and exits.  ``LWSTP_BENCH_CPU`` pins it to that
CPU.

KIND ``floor`` serves nothing: CLIENTS threads each make COUNT bare
round trips to the reactor thread (``callFromThread``, then a lock the
reactor releases), the least any thread-to-reactor hand-off per message
costs in CPython, on threads scheduled as the pool's workers are
(C{SCHED_BATCH}); it prints the same JSON line, with ``messages``.  The
JSON line also has ``switches``: the process's context switches in that
time.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from typing import Any


def install(name: str) -> Any:
    if name in ("lwstp", "lwstp+lag"):
        from twisted_lwstp.reactor import PoolConfig
        from twisted_lwstp.reactor import install as install_lwstp

        reactor = install_lwstp(PoolConfig(threads=4, max_queue_depth=64))
        if name == "lwstp+lag":
            from twisted_lwstp._lag import reactor_lag

            reactor_lag(reactor)
        return reactor
    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.internet import reactor

    return reactor


class _Sender:
    """The plain server's protocol: COUNT messages, one per turn."""

    def __init__(self, reactor: Any, count: int, done: Any) -> None:
        self.reactor, self.count, self.done = reactor, count, done
        self.sent = 0

    def negotiationStarted(self, transport: Any) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        self.reactor.callLater(0, self.step)

    def step(self) -> None:
        self.sent += 1
        self.transport.sendTextMessage(f"pos {self.sent}")
        if self.sent < self.count:
            self.reactor.callLater(0, self.step)
        else:
            self.transport.sendTextMessage(f"finished {self.count}")
            self.transport.loseConnection(1000)

    def textMessageReceived(self, message: str) -> None:
        pass

    def bytesMessageReceived(self, data: bytes) -> None:
        pass

    def pongReceived(self, payload: bytes) -> None:
        pass

    def connectionLost(self, reason: Any) -> None:
        self.done()


def main(argv: list[str]) -> None:
    name, kind, count, clients = argv[0], argv[1], int(argv[2]), int(argv[3])
    cpu = os.environ.get("LWSTP_BENCH_CPU")
    if cpu is not None:
        os.sched_setaffinity(0, {int(cpu)})
    reactor = install(name)
    from twisted.internet.endpoints import serverFromString
    from twisted.web.resource import Resource
    from twisted.web.server import Site
    from twisted.web.websocket import WebSocketResource

    left = [clients]
    # CPU spent before serving (imports, start-up) is not the messages'.
    started: list[float] = []

    def cpu_now() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    # Context switches, voluntary and not, of all the process's threads.
    switched: list[int] = []

    def switches_now() -> int:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_nvcsw + usage.ru_nivcsw

    finished: list[float] = []

    def stop() -> None:
        finished.append(cpu_now())
        switched.append(switches_now())
        reactor.stop()

    def one_done() -> None:
        """Each client's connection ended: the last one ends the run."""
        left[0] -= 1
        if left[0] == 0:
            reactor.callLater(0, stop)

    def serve(port: Any) -> None:
        started.append(cpu_now())
        switched.append(switches_now())
        print(f"PORT {port.getHost().port}", flush=True)

    if kind == "floor":
        import threading

        from twisted_lwstp._worker import schedule_as_batch

        def trips() -> None:
            # As the pool's workers run (twisted_lwstp._worker).
            schedule_as_batch()
            lock = threading.Lock()
            lock.acquire()
            for _ in range(count):
                reactor.callFromThread(lock.release)
                lock.acquire()
            reactor.callFromThread(one_done)

        def begin() -> None:
            started.append(cpu_now())
            switched.append(switches_now())
            for _ in range(clients):
                threading.Thread(target=trips).start()

        reactor.callWhenRunning(begin)
        reactor.run()
        print(json.dumps({"cpu": finished[0] - started[0], "messages": count * clients,
                          "switches": switched[1] - switched[0]}),
              flush=True)
        return
    if kind in ("web", "dynamic", "static"):
        from twisted.web.resource import Resource as Leaf

        class Small(Leaf):
            isLeaf = True

            def render_GET(self, request: Any) -> bytes:
                return b"hello, keep-alive"

        class CountingSite(Site):
            def buildProtocol(self, addr: Any) -> Any:
                channel = super().buildProtocol(addr)
                original = channel.connectionLost

                def lost(reason: Any) -> None:
                    original(reason)
                    one_done()

                channel.connectionLost = lost
                return channel

        if kind == "static":
            import tempfile

            from twisted.web.static import File

            folder = tempfile.mkdtemp()
            with open(os.path.join(folder, "index.html"), "wb") as f:
                f.write(b"<p>hello, keep-alive</p>\n" * 8)
            site = CountingSite(File(folder))
        else:
            site = CountingSite(Small())
        serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(site).addCallback(serve)
    elif kind == "plain":
        class Factory:
            def buildProtocol(self, request: Any) -> _Sender:
                return _Sender(reactor, count, one_done)

        root = Resource()
        root.putChild(b"ws", WebSocketResource(Factory()))
        serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(Site(root)).addCallback(serve)
    else:
        from twisted_lwstp import ThreadPool
        from twisted_lwstp.demo import DemoService, TaskShape

        pool = ThreadPool(4, clients, "bench", reactor=reactor)
        window = int(kind.removeprefix("demo-w")) if kind.startswith("demo-w") else 0
        shape = TaskShape(count=count, checkin_every=count, sync_every=1, pause_ms=0,
                          window=window)
        service = DemoService(serverFromString(reactor, "tcp:0:interface=127.0.0.1"),
                              pool, shape, reactor=reactor)
        original = service.factory.connection_closed

        def closed(protocol: Any) -> None:
            original(protocol)
            one_done()

        service.factory.connection_closed = closed
        reactor.callWhenRunning(lambda: (service.startService(), serve(service.port)))
    reactor.run()
    print(json.dumps({"cpu": finished[0] - started[0], "switches": switched[1] - switched[0]}),
          flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
