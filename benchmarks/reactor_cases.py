"""
Case 6: the lwstp reactor against the stock epoll reactor with Twisted's
own pool, and the lwstp-asyncio reactor against Twisted's asyncio reactor
(rows marked "asyncio"), each measured in its own child process
(L{benchmarks.reactor_child}): C{deferToThread} throughput at several pool
sizes, C{callFromThread} calls per second from 4 threads at once, and how
many times each wrote to its waker per 10,000 calls.  On asyncio also
C{asyncio.to_thread} calls per second (on the reactor's pool against
asyncio's own executor) and the floor of that hand-off.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from loadgen.process import run_module

from ._runner import CaseResult, compare

DEFER_TARGET = 3.0
CFT_TARGET = 5.0
TO_THREAD_TARGET = 1.0
LAG_TARGET = 0.95


async def _child(reactor: Any, which: str, case: str, threads: int, n: int,
                 seen: dict[str, list[float]]) -> float:
    out = await run_module(reactor, "benchmarks.reactor_child", which, case, str(threads), str(n))
    report = json.loads(out)
    seen.setdefault(which, []).append(report["wakeups"])
    return float(report["rate"])


#: (ours, the peer, the suffix of the rows' names).
PAIRS = [("lwstp", "epoll", ""), ("lwstp-asyncio", "asyncio", " asyncio")]


async def defer_throughput(reactor: Any, threads: int, n: int, reps: int,
                           ours: str = "lwstp", peer: str = "epoll",
                           suffix: str = "") -> CaseResult:
    wakeups: dict[str, list[float]] = {}
    result = await compare(
        f"deferToThread (reactor{suffix})", threads, "calls/s",
        lambda: _child(reactor, ours, "defer", threads, n, wakeups),
        lambda: _child(reactor, peer, "defer", threads, n, wakeups),
        reps, DEFER_TARGET, True,
    )
    result.extra["wakeups_per_10k"] = {k: statistics.median(v) for k, v in wakeups.items()}
    return result


async def call_from_thread(reactor: Any, n: int, reps: int, ours: str = "lwstp",
                           peer: str = "epoll", suffix: str = "") -> list[CaseResult]:
    wakeups: dict[str, list[float]] = {}
    rate = await compare(
        f"callFromThread x4 threads{suffix}", 4, "calls/s",
        lambda: _child(reactor, ours, "cft", 4, n, wakeups),
        lambda: _child(reactor, peer, "cft", 4, n, wakeups),
        reps, CFT_TARGET, True,
    )
    mine, stock = statistics.median(wakeups[ours]), statistics.median(wakeups[peer])
    writes = CaseResult(f"waker writes per 10k calls{suffix}", 4, "writes", mine, stock,
                        None, None, None, False, reps)
    return [rate, writes]


async def to_thread(reactor: Any, threads: int, n: int, reps: int) -> CaseResult:
    """
    C{asyncio.to_thread} under lwstp-asyncio (the reactor's pool) against
    Twisted's asyncio reactor with asyncio's own executor of as many
    workers.
    """
    wakeups: dict[str, list[float]] = {}
    result = await compare(
        "asyncio.to_thread (reactor asyncio)", threads, "calls/s",
        lambda: _child(reactor, "lwstp-asyncio", "to_thread", threads, n, wakeups),
        lambda: _child(reactor, "asyncio", "to_thread", threads, n, wakeups),
        reps, TO_THREAD_TARGET, True,
    )
    result.extra["wakeups_per_10k"] = {k: statistics.median(v) for k, v in wakeups.items()}
    return result


async def future_floor(reactor: Any, n: int, reps: int) -> CaseResult:
    """
    The floor under C{to_thread}: futures completed by one thread and
    awaited by the loop, one self-pipe write each, with no executor.
    """
    seen: dict[str, list[float]] = {}
    rates = [await _child(reactor, "asyncio", "future_floor", 1, n, seen) for _ in range(reps)]
    return CaseResult("to_thread floor (bare, not ours)", 1, "calls/s", statistics.median(rates),
                      None, None, None, None, True, reps, {"ours": rates})


async def lag_overhead(reactor: Any, n: int, reps: int, ours: str = "lwstp",
                       suffix: str = "") -> CaseResult:
    """
    Reactor turns per second with the lag meter on (ours) against off.
    """
    seen: dict[str, list[float]] = {}
    return await compare(
        f"reactor turns, lag meter on vs off{suffix}", 1, "turns/s",
        lambda: _child(reactor, ours, "turns-lag", 1, n, seen),
        lambda: _child(reactor, ours, "turns", 1, n, seen),
        reps, LAG_TARGET, True,
    )
