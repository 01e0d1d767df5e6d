"""
One measurement under one global reactor, in its own process (a process
has one reactor):

    python -m benchmarks.reactor_child REACTOR CASE THREADS N

REACTOR is ``lwstp`` (twisted_lwstp's reactor and pool) or ``epoll`` (the
stock reactor with Twisted's own pool), or ``lwstp-asyncio`` against
``asyncio`` (Twisted's AsyncioSelectorReactor and its own pool).  CASE:

- ``defer``: N ``deferToThread`` calls of a trivial function, all issued
  at once on a pool of THREADS workers (after a warm-up that starts them).
- ``cft``: 4 threads make N ``callFromThread`` calls between them, as fast
  as they can; timed until the reactor has run the last one.
- ``to_thread`` (asyncio reactors only): N ``asyncio.to_thread`` calls of a
  trivial function, gathered, after a warm-up.  On ``lwstp-asyncio`` they
  run on the reactor's pool (its default executor); on ``asyncio``, on
  asyncio's own ``ThreadPoolExecutor`` of THREADS workers.
- ``turns`` and ``turns-lag``: N reactor turns, each running one timed
  call that schedules the next (``callLater(0)``), the reactor's lag meter
  off and on: what the meter costs a turn that does nothing else.
- ``future_floor`` (asyncio reactors only): the hand-off that both sides
  of ``to_thread`` pay and neither can avoid: one thread completes N
  ``concurrent.futures`` futures that the loop awaits through
  ``asyncio.wrap_future`` (one ``call_soon_threadsafe`` each), no executor.

Prints one JSON line: ``{"rate": calls per second, "wakeups": waker writes
per 10,000 calls}`` (on the asyncio reactors, writes to the asyncio loop's
self-pipe).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any


def install(name: str, threads: int) -> Any:
    if name == "lwstp":
        from twisted_lwstp.reactor import PoolConfig, install

        return install(PoolConfig(threads=threads))
    if name == "lwstp-asyncio":
        from twisted_lwstp.asyncioreactor import install as install_asyncio
        from twisted_lwstp.reactor import PoolConfig

        return install_asyncio(config=PoolConfig(threads=threads))
    if name == "asyncio":
        from twisted.internet import asyncioreactor

        asyncioreactor.install()
        from twisted.internet import reactor

        reactor.suggestThreadPoolSize(threads)
        return reactor
    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.internet import reactor

    reactor.suggestThreadPoolSize(threads)
    return reactor


def count_wakeups(reactor: Any) -> list[int]:
    """
    Count the writes to the reactor's waker from now on (to the asyncio
    loop's self-pipe, on the asyncio reactors).
    """
    writes = [0]
    loop = getattr(reactor, "_asyncioEventloop", None)
    if loop is not None:
        write_to_self = loop._write_to_self

        def counted_self_pipe() -> None:
            writes[0] += 1
            write_to_self()

        loop._write_to_self = counted_self_pipe
        return writes
    waker = reactor.waker
    original = waker.wakeUp

    def counted() -> None:
        writes[0] += 1
        original()

    waker.wakeUp = counted
    return writes


async def defer_case(reactor: Any, n: int) -> dict[str, float]:
    from twisted.internet import defer, threads

    def nothing() -> None:
        return None

    await defer.gatherResults([threads.deferToThread(nothing) for _ in range(200)])
    writes = count_wakeups(reactor)
    start = time.perf_counter()
    await defer.gatherResults([threads.deferToThread(nothing) for _ in range(n)])
    elapsed = time.perf_counter() - start
    return {"rate": n / elapsed, "wakeups": writes[0] * 10_000 / n}


async def cft_case(reactor: Any, n: int) -> dict[str, float]:
    from twisted.internet import defer

    producers = 4
    per = n // producers
    total = per * producers
    seen = [0]
    done: defer.Deferred[None] = defer.Deferred()

    def call() -> None:
        seen[0] += 1
        if seen[0] == total:
            done.callback(None)

    writes = count_wakeups(reactor)
    go = threading.Barrier(producers + 1)

    def produce() -> None:
        go.wait()
        for _ in range(per):
            reactor.callFromThread(call)

    ts = [threading.Thread(target=produce) for _ in range(producers)]
    for t in ts:
        t.start()
    start = time.perf_counter()
    go.wait()
    await done
    elapsed = time.perf_counter() - start
    for t in ts:
        t.join()
    return {"rate": total / elapsed, "wakeups": writes[0] * 10_000 / total}


async def to_thread_case(reactor: Any, n: int, threads: int) -> dict[str, float]:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from twisted.internet import defer

    from twisted_lwstp import PoolExecutor, _internals

    loop = _internals.asyncio_loop(reactor)
    if not isinstance(_internals.default_executor(loop), PoolExecutor):
        # The peer: asyncio's own executor, as many workers as ours.
        loop.set_default_executor(ThreadPoolExecutor(threads, thread_name_prefix="asyncio"))

    def nothing() -> None:
        return None

    async def batch(k: int) -> None:
        await asyncio.gather(*(asyncio.to_thread(nothing) for _ in range(k)))

    await defer.Deferred.fromFuture(asyncio.ensure_future(batch(200)))
    writes = count_wakeups(reactor)
    start = time.perf_counter()
    await defer.Deferred.fromFuture(asyncio.ensure_future(batch(n)))
    elapsed = time.perf_counter() - start
    return {"rate": n / elapsed, "wakeups": writes[0] * 10_000 / n}


async def future_floor_case(reactor: Any, n: int) -> dict[str, float]:
    import asyncio
    from concurrent.futures import Future

    from twisted.internet import defer

    async def handed_over() -> None:
        futures: list[Future[None]] = [Future() for _ in range(n)]
        waited = [asyncio.wrap_future(f) for f in futures]

        def complete() -> None:
            for f in futures:
                f.set_running_or_notify_cancel()
                f.set_result(None)

        worker = threading.Thread(target=complete)
        worker.start()
        await asyncio.gather(*waited)
        worker.join()

    writes = count_wakeups(reactor)
    start = time.perf_counter()
    await defer.Deferred.fromFuture(asyncio.ensure_future(handed_over()))
    elapsed = time.perf_counter() - start
    return {"rate": n / elapsed, "wakeups": writes[0] * 10_000 / n}


async def turns_case(reactor: Any, n: int, lag: bool) -> dict[str, float]:
    from twisted.internet import defer

    if lag:
        from twisted_lwstp._lag import reactor_lag

        reactor_lag(reactor)
    done: defer.Deferred[None] = defer.Deferred()
    left = [n]

    def turn() -> None:
        left[0] -= 1
        if left[0]:
            reactor.callLater(0, turn)
        else:
            done.callback(None)

    start = time.perf_counter()
    reactor.callLater(0, turn)
    await done
    elapsed = time.perf_counter() - start
    return {"rate": n / elapsed, "wakeups": 0.0}


def main(argv: list[str]) -> int:
    name, case, threads, n = argv[0], argv[1], int(argv[2]), int(argv[3])
    install(name, threads)
    from twisted.internet import defer, task

    out: dict[str, Any] = {}

    async def go(reactor: Any) -> None:
        if case == "to_thread":
            out.update(await to_thread_case(reactor, n, threads))
        elif case == "future_floor":
            out.update(await future_floor_case(reactor, n))
        elif case in ("turns", "turns-lag"):
            out.update(await turns_case(reactor, n, case == "turns-lag"))
        else:
            run = defer_case if case == "defer" else cft_case
            out.update(await run(reactor, n))

    try:
        task.react(lambda r: defer.ensureDeferred(go(r)))
    except SystemExit as e:
        if e.code:
            raise
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
