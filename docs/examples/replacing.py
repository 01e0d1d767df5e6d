"""
Replacing deferToThread and Twisted's ThreadPool with a bounded pool.
Run it: ``python replacing.py``.
"""

import hashlib
import threading

from twisted.internet import defer, task
from twisted.internet.threads import deferToThreadPool

from twisted_lwstp import QueueFull, ThreadPool


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


async def main(reactor) -> None:
    pool = ThreadPool(threads=2, max_queue_depth=4, name="digest", reactor=reactor)
    pool.start()

    # Instead of deferToThread(digest, ...): bounded, cancellable, named threads.
    print("defer_to_thread:", await pool.defer_to_thread(digest, b"hello"))

    # Unlike deferToThread, the queue is bounded: with 2 threads busy and 4
    # calls waiting, a 7th call is refused at once.  (An lws task's worker is
    # idle again by the time its Deferred fires, so both threads are free.)
    gate = threading.Event()
    calls = [pool.defer_to_thread(gate.wait, 30) for _ in range(7)]
    gate.set()
    outcomes = await defer.DeferredList(calls, consumeErrors=True)
    refused = sum(1 for ok, result in outcomes if not ok and result.check(QueueFull))
    print("refused:", refused)

    # Code written for Twisted's ThreadPool works unchanged.
    print("deferToThreadPool:", await deferToThreadPool(reactor, pool, digest, b"hello"))

    await pool.destroy()


if __name__ == "__main__":
    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
