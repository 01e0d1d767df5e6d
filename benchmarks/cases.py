"""
Cases 1 to 4: throughput, sync round trip, stop latency and scale, each
beside its Twisted peer where it has one.
"""

from __future__ import annotations

import dataclasses
import gc
import statistics
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, gatherResults
from twisted.internet.threads import blockingCallFromThread, deferToThreadPool
from twisted.python.threadpool import ThreadPool as TwistedThreadPool
from zope.interface import implementer

from twisted_lwstp import ITaskOwner, Task, TaskReturn, TaskStatus, ThreadPool

from ._runner import CaseResult, compare

FINISHED = TaskReturn.FINISHED
SYNC = TaskReturn.SYNC
CHECKING_IN = TaskReturn.CHECKING_IN
STOPPED = TaskReturn.STOPPED
STOPPING = TaskStatus.STOPPING
SYNCING = TaskStatus.SYNCING


def trivial(user: object, status: TaskStatus) -> TaskReturn:
    return FINISHED


def nothing() -> None:
    return None


async def _wait_all(ds: list[Deferred[Any]]) -> None:
    await DeferredList(ds, fireOnOneErrback=True, consumeErrors=True)


# -- 1. throughput ------------------------------------------------------------


async def _our_throughput(reactor: Any, threads: int, n: int, metrics: bool = False) -> float:
    """
    n trivial tasks submitted together on a fresh pool; tasks per second.
    """
    pool = ThreadPool(threads, n, "bench", reactor=reactor)
    if metrics:
        from twisted_lwstp.metrics import watch

        watch(pool, registry=None)
    pool.start()
    enqueue = pool.enqueue
    start = time.perf_counter()
    await _wait_all([enqueue(None, trivial).when_done() for _ in range(n)])
    rate = n / (time.perf_counter() - start)
    await pool.destroy()
    return rate


async def throughput(reactor: Any, threads: int, n: int, reps: int) -> CaseResult:
    """
    n trivial tasks submitted together, each awaited through when_done();
    peer: deferToThreadPool on Twisted's ThreadPool.  Tasks per second.
    """

    async def ours() -> float:
        return await _our_throughput(reactor, threads, n)

    async def peer() -> float:
        pool = TwistedThreadPool(threads, threads, "peer")
        pool.start()
        start = time.perf_counter()
        await _wait_all([deferToThreadPool(reactor, pool, nothing) for _ in range(n)])
        rate = n / (time.perf_counter() - start)
        pool.stop()
        return rate

    return await compare("throughput", threads, "tasks/s", ours, peer, reps, 1.5, True)


async def metrics_overhead(reactor: Any, threads: int, n: int, reps: int) -> CaseResult:
    """
    Case 1 with Prometheus metrics on (the pool watched, every reaped task
    observed) against the same pool with them off.  Target: within 5%.
    """
    async def run(metrics: bool) -> float:
        return await _our_throughput(reactor, threads, n, metrics)

    return await compare("metrics on vs off", threads, "tasks/s",
                         lambda: run(True), lambda: run(False), reps, 0.95, True)


# -- 2. sync round trip -------------------------------------------------------


@implementer(ITaskOwner)
class _Syncer:
    """An owner whose writable() lets every SYNC go on at once."""

    def __init__(self, pool: ThreadPool) -> None:
        self.task_sync = pool.task_sync
        self.task_status = pool.task_status

    def writable(self, task: Task) -> None:
        if task.status is SYNCING:
            self.task_sync(task)
        else:
            self.task_status(task)


async def sync_round_trip(reactor: Any, threads: int, k: int, reps: int) -> CaseResult:
    """
    One task per thread, each SYNCing k times with an owner that syncs it at
    once; peer: one worker per thread calling blockingCallFromThread k
    times.  Microseconds per round trip (all threads together).
    """
    trips = threads * k

    async def ours() -> float:
        pool = ThreadPool(threads, 0, "bench", reactor=reactor)
        pool.start()

        def task(user: list[int], status: TaskStatus) -> TaskReturn:
            if status is STOPPING:
                return STOPPED
            user[0] -= 1
            return SYNC if user[0] > 0 else FINISHED

        owner = _Syncer(pool)
        start = time.perf_counter()
        await _wait_all([pool.enqueue(owner, task, user=[k + 1]).when_done() for _ in range(threads)])
        elapsed = time.perf_counter() - start
        await pool.destroy()
        return 1e6 * elapsed / trips

    async def peer() -> float:
        pool = TwistedThreadPool(threads, threads, "peer")
        pool.start()

        def work() -> None:
            for _ in range(k):
                blockingCallFromThread(reactor, nothing)

        start = time.perf_counter()
        await gatherResults([deferToThreadPool(reactor, pool, work) for _ in range(threads)])
        elapsed = time.perf_counter() - start
        pool.stop()
        return 1e6 * elapsed / trips

    return await compare("sync round trip", threads, "us/trip", ours, peer, reps, 1 / 0.6, False)


async def sync_floor(reactor: Any, k: int, reps: int) -> CaseResult:
    """
    Not ours: the bare pure-Python hand-back (callFromThread, then a lock
    the reactor releases) beside blockingCallFromThread, one thread.  It
    bounds what any pool built this way can reach in case 2.
    """

    async def run_floor() -> float:
        done: Deferred[None] = Deferred()
        lock = threading.Lock()
        lock.acquire()

        def work() -> None:
            for _ in range(k):
                reactor.callFromThread(lock.release)
                lock.acquire()
            reactor.callFromThread(done.callback, None)

        start = time.perf_counter()
        threading.Thread(target=work, name="floor").start()
        await done
        return 1e6 * (time.perf_counter() - start) / k

    async def peer() -> float:
        pool = TwistedThreadPool(1, 1, "peer")
        pool.start()

        def work() -> None:
            for _ in range(k):
                blockingCallFromThread(reactor, nothing)

        start = time.perf_counter()
        await deferToThreadPool(reactor, pool, work)
        elapsed = time.perf_counter() - start
        pool.stop()
        return 1e6 * elapsed / k

    result = await compare("sync floor (bare, not ours)", 1, "us/trip", run_floor, peer, reps,
                           1 / 0.6, False)
    result.target = None
    result.met = None
    return result


# -- 3. stop latency -----------------------------------------------------------


@implementer(ITaskOwner)
class _Idle:
    def writable(self, task: Task) -> None:
        pass


async def stop_latency(reactor: Any, samples: int) -> list[CaseResult]:
    """
    A task checking in every 1 ms whose owner closes: time from
    owner_closing to when_done() firing.  p50 and p99, in ms.
    """
    pool = ThreadPool(1, 0, "bench", reactor=reactor)
    pool.start()
    latencies: list[float] = []
    for _ in range(samples):
        running = Deferred()

        def task(user: object, status: TaskStatus, running: Deferred[None] = running) -> TaskReturn:
            if status is STOPPING:
                return STOPPED
            if not running.called:
                reactor.callFromThread(lambda: running.called or running.callback(None))
            time.sleep(0.001)
            return CHECKING_IN

        owner = _Idle()
        t = pool.enqueue(owner, task)
        await running
        start = time.perf_counter()
        done = t.when_done()
        pool.owner_closing(owner)
        await done
        latencies.append(1000 * (time.perf_counter() - start))
    await pool.destroy()
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(round(0.99 * (len(latencies) - 1))))]
    return [
        CaseResult("stop latency p50", None, "ms", p50, None, None, 5.0, p50 <= 5.0, False,
                   samples, {"ours": latencies}),
        CaseResult("stop latency p99", None, "ms", p99, None, None, 5.0, p99 <= 5.0, False,
                   samples, {"ours": latencies}),
    ]


# -- 4. scale ------------------------------------------------------------------


@implementer(ITaskOwner)
class _Reaper:
    __slots__ = ("task_status",)

    def __init__(self, pool: ThreadPool) -> None:
        self.task_status = pool.task_status

    def writable(self, task: Task) -> None:
        self.task_status(task)


async def scale(reactor: Any, n: int, small: int, reps: int) -> list[CaseResult]:
    """
    n queued tasks on n owners: enqueue cost and memory per queued task,
    and throughput with n tasks in the system against small.
    """
    # Enqueue cost and memory: a pool not started, so every task waits.
    costs: list[float] = []
    sizes: list[float] = []
    for _ in range(reps):
        pool = ThreadPool(1, n, "bench", reactor=reactor)
        owners = [_Reaper(pool) for _ in range(n)]
        gc.collect()
        start = time.perf_counter()
        for owner in owners[: n // 2]:
            pool.enqueue(owner, trivial)
        costs.append(1e6 * (time.perf_counter() - start) / (n // 2))
        # Memory: the other half, traced (tracing slows allocation, so it
        # is kept out of the timing above).
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for owner in owners[n // 2 :]:
            pool.enqueue(owner, trivial)
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
        sizes.append(grown / (n - n // 2))
        assert pool.diagnose().queued == n
        await pool.destroy()
        del owners
    cost = statistics.median(costs)
    size = statistics.median(sizes)

    async def run(batch: int) -> float:
        pool = ThreadPool(3, batch, "bench", reactor=reactor)
        pool.start()
        owners = [_Reaper(pool) for _ in range(batch)]
        start = time.perf_counter()
        for _ in range(n // batch):
            await _wait_all([pool.enqueue(o, trivial).when_done() for o in owners])
        rate = (n // batch) * batch / (time.perf_counter() - start)
        await pool.destroy()
        return rate

    async def big() -> float:
        return await run(n)

    async def few() -> float:
        return await run(small)

    rates = await compare(f"throughput {n} vs {small}", 3, "tasks/s", big, few, reps, 0.8, True)

    # What bounds that ratio: the same two runs with the cyclic garbage
    # collector paused.  A burst keeps n tasks, their Deferreds and the
    # DeferredList's entries alive at once, which a trickle never does, and
    # CPython walks them in generation-1 and full collections; the gap
    # between the two rows is that walk, not the pool.
    async def no_gc(measure: Callable[[], Awaitable[float]]) -> float:
        gc.collect()
        gc.disable()
        try:
            return await measure()
        finally:
            gc.enable()

    async def big_no_gc() -> float:
        return await no_gc(big)

    async def few_no_gc() -> float:
        return await no_gc(few)

    paused = await compare(f"throughput {n} vs {small}, gc paused (bound, not ours)", 3,
                           "tasks/s", big_no_gc, few_no_gc, reps, 0.8, True)
    paused = dataclasses.replace(paused, target=None, met=None)
    return [
        CaseResult("enqueue cost", None, "us/task", cost, None, None, None, None, False,
                   reps, {"ours": costs}),
        CaseResult("memory per queued task", None, "bytes", size, None, None, 1024.0,
                   size <= 1024.0, False, reps, {"ours": sizes}),
        rates,
        paused,
    ]

