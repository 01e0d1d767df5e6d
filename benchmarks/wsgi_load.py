"""
The clients of the WSGI overload case, in their own process:

    python -m benchmarks.wsgi_load PORT CLIENTS SECONDS GIVE_UP

CLIENTS clients each send a request every 100 ms for SECONDS seconds,
whether or not their last one was answered (people do not wait for each
other: together they offer more than the server can serve, which is what
overload is); a request is given up after GIVE_UP seconds (cancelling it
aborts the connection, as a browser or a load balancer does).
Prints ``{"served", "refused", "gave_up", "errors", "p50_ms", "p99_ms"}``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any

from twisted.internet import defer, task
from twisted.web.client import Agent, readBody

INTERVAL = 0.1


async def one(reactor: Any, agent: Agent, url: str, give_up: float,
              out: dict[str, Any]) -> None:
    start = time.monotonic()
    until = time.time() + give_up
    d = agent.request(b"GET", f"{url}?until={until:.6f}".encode())
    d.addTimeout(give_up, reactor)
    try:
        response = await d
        await readBody(response)
    except defer.TimeoutError:
        out["gave_up"] += 1
        return
    except Exception:
        out["errors"] += 1
        return
    if response.code == 200:
        out["served"] += 1
        out["latencies"].append(time.monotonic() - start)
    elif response.code == 503:
        out["refused"] += 1
    else:
        out["errors"] += 1


async def client(reactor: Any, agent: Agent, url: str, end: float, give_up: float,
                 out: dict[str, Any]) -> None:
    sent = []
    while time.monotonic() < end:
        sent.append(defer.ensureDeferred(one(reactor, agent, url, give_up, out)))
        await task.deferLater(reactor, INTERVAL, lambda: None)
    await defer.gatherResults(sent)


async def main(reactor: Any, port: int, clients: int, seconds: float, give_up: float) -> None:
    agent = Agent(reactor)
    url = f"http://127.0.0.1:{port}/"
    out: dict[str, Any] = {"served": 0, "refused": 0, "gave_up": 0, "errors": 0,
                           "latencies": []}
    end = time.monotonic() + seconds
    await defer.gatherResults([defer.ensureDeferred(client(reactor, agent, url, end, give_up, out))
                               for _ in range(clients)])
    latencies = sorted(out.pop("latencies"))
    if latencies:
        out["p50_ms"] = 1000 * statistics.median(latencies)
        out["p99_ms"] = 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    else:
        out["p50_ms"] = out["p99_ms"] = float("nan")
    print(json.dumps(out))


if __name__ == "__main__":
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
    port, clients, seconds, give_up = (int(sys.argv[1]), int(sys.argv[2]),
                                       float(sys.argv[3]), float(sys.argv[4]))
    task.react(lambda reactor: defer.ensureDeferred(
        main(reactor, port, clients, seconds, give_up)))
