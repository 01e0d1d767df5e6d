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

from loadgen.wsclient import WSClient, connect

BEHAVIOURS = ("read_all", "close_mid_task", "close_in_sync", "never_read")


class Misbehaving(WSClient):
    """
    A client that, once it has heard from its task (so a refusal is always
    seen), misbehaves as drawn.
    """

    def __init__(self, port: int, behaviour: str, rng: random.Random, reactor: Any) -> None:
        super().__init__("127.0.0.1", port, keep_messages=False)
        self.behaviour = behaviour
        self.rng = rng
        self.reactor = reactor
        self.timers: list[Any] = []
        self.on_message = self._heard

    def _later(self, delay: float, f: Any) -> None:
        self.timers.append(self.reactor.callLater(delay, f))

    def _heard(self, client: WSClient, text: str) -> None:
        if self.message_count != 1:
            return
        if self.behaviour == "close_mid_task":
            self._later(self.rng.uniform(0, 0.05), self._go)
        elif self.behaviour == "close_in_sync":
            self.transport.pauseProducing()
            self._later(self.rng.uniform(0.05, 0.3), self._go)
        elif self.behaviour == "never_read":
            self.transport.pauseProducing()
            self._later(self.rng.uniform(0.5, 2.0), self.transport.abortConnection)

    def _go(self) -> None:
        self.close(1000)
        # It may not be reading: do not wait for the server's answer.
        self._later(0.2, self.transport.abortConnection)

    def connectionLost(self, reason: Any) -> None:
        for timer in self.timers:
            if timer.active():
                timer.cancel()
        super().connectionLost(reason)


async def slot(reactor: Any, port: int, deadline: float, rng: random.Random, report: Counter) -> None:
    while time.monotonic() < deadline:
        behaviour = rng.choice(BEHAVIOURS)
        client = Misbehaving(port, behaviour, rng, reactor)
        try:
            await connect(port, reactor=reactor, client=client)
        except Exception:
            if client.reject_status == 503:  # refused before the upgrade
                report["refused 503"] += 1
                await client.closed
                continue
            if not client.closed.called:
                report["connect_failed"] += 1
                continue
        hard = reactor.callLater(max(0.0, deadline - time.monotonic()) + 10,
                                 client.transport.abortConnection)
        await client.closed
        if hard.active():
            hard.cancel()
        report["connections"] += 1
        report[f"behaviour {behaviour}"] += 1
        report[f"close {client.close_code}"] += 1
        report["messages"] += client.message_count


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
