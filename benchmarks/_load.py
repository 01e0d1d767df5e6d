"""
The load generator of the end-to-end case, run as its own process:
``python -m benchmarks._load PORT CLIENTS``.  It opens CLIENTS WebSocket
connections to ``/ws`` at once, reads every message until each closes, and
prints ``{"messages": N, "seconds": S, "closes": [...], "out_of_order": K}``
as JSON: K counts the ``pos <N>`` messages that did not follow the one
before by exactly one (a message lost, doubled or reordered).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from twisted.internet import defer, task

from loadgen.wsclient import WSClient, connect


class _Order:
    """Checks that each client's positions follow each other by one."""

    def __init__(self) -> None:
        self.last: dict[int, int] = {}
        self.out_of_order = 0

    def __call__(self, client: WSClient, text: str) -> None:
        if not text.startswith("pos "):
            return
        pos = int(text[4:])
        last = self.last.get(id(client))
        if last is not None and pos != last + 1:
            self.out_of_order += 1
        self.last[id(client)] = pos


async def main(reactor: Any, port: int, count: int) -> None:
    clients = [WSClient("127.0.0.1", port, keep_messages=False) for _ in range(count)]
    order = _Order()
    for client in clients:
        client.on_message = order
    start = time.perf_counter()
    await defer.gatherResults([connect(port, reactor=reactor, client=c) for c in clients])
    await defer.gatherResults([c.closed for c in clients])
    seconds = time.perf_counter() - start
    print(json.dumps({
        "messages": sum(c.message_count for c in clients),
        "seconds": seconds,
        "closes": [c.close_code for c in clients],
        "out_of_order": order.out_of_order,
    }))


if __name__ == "__main__":
    # A benchmark pinned to one CPU does not pin its load generator, unless
    # it says where (LWSTP_BENCH_CPU: the eager-write case pins each side).
    cpu = os.environ.get("LWSTP_BENCH_CPU")
    os.sched_setaffinity(0, {int(cpu)} if cpu is not None else range(os.cpu_count() or 1))
    port, count = int(sys.argv[1]), int(sys.argv[2])
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, port, count)))
