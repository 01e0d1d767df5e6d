"""
Case 7: WSGI under overload, twisted_lwstp's WSGIResource beside Twisted's
own, each server in its own process (L{benchmarks.wsgi_server}) loaded by
clients in another (L{benchmarks.wsgi_load}): an application that sleeps
20 ms, 8 threads (ours: and 8 queued requests), about 4 times more
concurrent clients than that (each sending a request every 100 ms: 1.6
times what 8 threads can serve), each request given up after 1 s.

Targets: served p99 at most 0.25x Twisted's; application calls for clients
who had already left: 0; peak RSS no higher than Twisted's.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.web.client import Agent, readBody

from loadgen.process import ROOT, run_module

from ._runner import CaseResult

THREADS = 8
DEPTH = 8


class _Server(ProcessProtocol):
    def __init__(self) -> None:
        self.output = b""
        self.port: Deferred[int] = Deferred()
        self.ended: Deferred[None] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data
        if not self.port.called and b"PORT " in self.output:
            line = self.output.split(b"PORT ", 1)[1].split(b"\n", 1)[0]
            self.port.callback(int(line))

    errReceived = outReceived

    def processEnded(self, reason: Any) -> None:
        if not self.port.called:
            self.port.errback(RuntimeError(self.output.decode(errors="replace")))
        self.ended.callback(None)


async def _run(reactor: Any, kind: str, clients: int, seconds: float) -> dict[str, Any]:
    server = _Server()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = reactor.spawnProcess(
        server, sys.executable,
        [sys.executable, "-m", "benchmarks.wsgi_server", kind, str(THREADS), str(DEPTH)],
        env=env, path=ROOT)
    try:
        port = await server.port
        load = json.loads(await run_module(reactor, "benchmarks.wsgi_load", str(port),
                                           str(clients), str(seconds), "1.0"))
        response = await Agent(reactor).request(
            b"GET", f"http://127.0.0.1:{port}/__stats".encode())
        load.update(json.loads(await readBody(response)))
        return load
    finally:
        # The stats are read: end the server.  Not SIGTERM: Twisted's own
        # container deadlocks in shutdown while requests are in flight (its
        # workers wait in blockingCallFromThread on a reactor that is
        # joining them in ThreadPool.stop).
        process.signalProcess("KILL")
        await server.ended


async def wsgi_overload(reactor: Any, seconds: float, reps: int) -> list[CaseResult]:
    clients = 4 * (THREADS + DEPTH)
    ours_runs, theirs_runs = [], []
    for rep in range(reps):
        order = ("lwstp", "twisted") if rep % 2 == 0 else ("twisted", "lwstp")
        for kind in order:
            result = await _run(reactor, kind, clients, seconds)
            (ours_runs if kind == "lwstp" else theirs_runs).append(result)

    def median(runs: list[dict[str, Any]], key: str) -> float:
        values = sorted(r[key] for r in runs)
        return float(values[len(values) // 2])

    ours_p99, theirs_p99 = median(ours_runs, "p99_ms"), median(theirs_runs, "p99_ms")
    p99_ratio = theirs_p99 / ours_p99
    ours_late = median(ours_runs, "late_calls")
    ours_rss, theirs_rss = median(ours_runs, "peak_rss_kb"), median(theirs_runs, "peak_rss_kb")
    extra = {"ours": ours_runs, "twisted": theirs_runs, "clients": clients,
             "seconds": seconds}
    rows = [
        CaseResult("wsgi served p99", THREADS, "ms", ours_p99, theirs_p99, p99_ratio,
                   4.0, p99_ratio >= 4.0, False, reps, extra=extra),
        CaseResult("wsgi served p50", THREADS, "ms", median(ours_runs, "p50_ms"),
                   median(theirs_runs, "p50_ms"), None, None, None, False, reps),
        CaseResult("wsgi requests served", THREADS, "requests", median(ours_runs, "served"),
                   median(theirs_runs, "served"), None, None, None, True, reps),
        CaseResult("wsgi 503 refusals", THREADS, "requests", median(ours_runs, "refused"),
                   median(theirs_runs, "refused"), None, None, None, True, reps),
        CaseResult("wsgi calls for gone clients", THREADS, "calls", ours_late,
                   median(theirs_runs, "late_calls"), None, None, ours_late == 0, False, reps),
        CaseResult("wsgi peak RSS", THREADS, "KiB", ours_rss, theirs_rss, theirs_rss / ours_rss,
                   1.0, ours_rss <= theirs_rss, False, reps),
    ]
    return rows
