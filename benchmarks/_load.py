"""
The load generator of the end-to-end case, run as its own process:
``python -m benchmarks._load PORT CLIENTS``.  It opens CLIENTS WebSocket
connections to ``/ws`` at once, reads every message until each closes, and
prints ``{"messages": N, "seconds": S, "closes": [...]}`` as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time

from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage


class Client(Protocol):
    def __init__(self, port: int) -> None:
        self.port = port
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.messages = 0
        self.close_code: int | None = None
        self.done: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.ws.send(Request(host=f"127.0.0.1:{self.port}", target="/ws")))

    def dataReceived(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, TextMessage):
                if event.message_finished:
                    self.messages += 1
            elif isinstance(event, Ping):
                self.transport.write(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.close_code = event.code
                self.transport.write(self.ws.send(event.response()))
                self.transport.loseConnection()
            elif isinstance(event, AcceptConnection):
                pass

    def connectionLost(self, reason: object) -> None:
        self.done.callback(None)


async def main(reactor: object, port: int, count: int) -> None:
    clients = [Client(port) for _ in range(count)]
    start = time.perf_counter()
    await defer.gatherResults(
        [connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), c) for c in clients]
    )
    await defer.gatherResults([c.done for c in clients])
    seconds = time.perf_counter() - start
    print(json.dumps({
        "messages": sum(c.messages for c in clients),
        "seconds": seconds,
        "closes": [c.close_code for c in clients],
    }))


if __name__ == "__main__":
    # A benchmark pinned to one CPU does not pin its load generator.
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
    port, count = int(sys.argv[1]), int(sys.argv[2])
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, port, count)))
