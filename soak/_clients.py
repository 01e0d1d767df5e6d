"""
The soak's load generator, a process of its own:
``python -m soak._clients PORT CLIENTS SECONDS SEED``.

CLIENTS slots each keep one WebSocket connection busy until SECONDS have
passed, each connection behaving as drawn at random: read everything;
close mid-task; stop reading so its task waits in SYNC, then close; never
read (flow control) for a while, then go.  Everyone connects while the pool
is mostly full, so refusals happen throughout.  Prints a JSON report.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from typing import Any

from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from wsproto import ConnectionType, WSConnection
from wsproto.events import CloseConnection, Ping, Request, TextMessage

BEHAVIOURS = ("read_all", "close_mid_task", "close_in_sync", "never_read")


class Client(Protocol):
    def __init__(self, port: int, behaviour: str, rng: random.Random, reactor: Any) -> None:
        self.port = port
        self.behaviour = behaviour
        self.rng = rng
        self.reactor = reactor
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.close_code: int | None = None
        self.messages = 0
        self.done: defer.Deferred[None] = defer.Deferred()
        self.timers: list[Any] = []

    def later(self, delay: float, f: Any) -> None:
        self.timers.append(self.reactor.callLater(delay, f))

    def connectionMade(self) -> None:
        self.transport.write(self.ws.send(Request(host=f"127.0.0.1:{self.port}", target="/ws")))

    def dataReceived(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, TextMessage):
                self.messages += 1
                if self.messages == 1:
                    self.first_message()
            elif isinstance(event, Ping):
                self.transport.write(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.close_code = event.code
                try:
                    self.transport.write(self.ws.send(event.response()))
                except Exception:
                    pass
                self.transport.loseConnection()

    def first_message(self) -> None:
        # Only a client whose task runs (it has heard from it) misbehaves,
        # so a refusal is always seen.
        if self.behaviour == "close_mid_task":
            self.later(self.rng.uniform(0, 0.05), self.close)
        elif self.behaviour == "close_in_sync":
            self.transport.pauseProducing()
            self.later(self.rng.uniform(0.05, 0.3), self.close)
        elif self.behaviour == "never_read":
            self.transport.pauseProducing()
            self.later(self.rng.uniform(0.5, 2.0), self.transport.abortConnection)

    def close(self) -> None:
        try:
            self.transport.write(self.ws.send(CloseConnection(code=1000)))
        except Exception:
            pass
        # It may not be reading: do not wait for the server's answer.
        self.later(0.2, self.transport.abortConnection)

    def connectionLost(self, reason: object) -> None:
        for timer in self.timers:
            if timer.active():
                timer.cancel()
        self.done.callback(None)


async def slot(reactor: Any, port: int, deadline: float, rng: random.Random, report: Counter) -> None:
    while time.monotonic() < deadline:
        behaviour = rng.choice(BEHAVIOURS)
        client = Client(port, behaviour, rng, reactor)
        try:
            await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=10), client)
        except Exception:
            report["connect_failed"] += 1
            continue
        hard = reactor.callLater(max(0.0, deadline - time.monotonic()) + 10, client.transport.abortConnection)
        await client.done
        if hard.active():
            hard.cancel()
        report["connections"] += 1
        report[f"behaviour {behaviour}"] += 1
        report[f"close {client.close_code}"] += 1
        report["messages"] += client.messages


async def main(reactor: Any, port: int, clients: int, seconds: float, seed: int) -> None:
    report: Counter = Counter()
    deadline = time.monotonic() + seconds
    await defer.gatherResults(
        [defer.ensureDeferred(slot(reactor, port, deadline, random.Random(seed + i), report))
         for i in range(clients)]
    )
    print(json.dumps(dict(report)))


if __name__ == "__main__":
    port, clients, seconds, seed = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, port, clients, seconds, seed)))
