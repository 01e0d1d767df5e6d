# -*- test-case-name: tests.test_pool_resize,tests.test_state -*-
"""
A pool's workers and its size (model rule 14): L{Worker}, the record of
one worker, and L{Staff}, the workers and the bounds they are kept within.

Runs in: any thread, always under the pool lock.  L{Staff} belongs to the
pool's L{twisted_lwstp._state.PoolState}, which makes it, holds it, and is
its only caller, always holding its own lock: the staff has no lock of its
own and calls nothing.  The state's transitions decide; the staff counts.

The size, in one vocabulary:

 - C{max_threads}: the most workers (lws's C{threads}, Twisted's C{max});
 - C{min_threads}: the workers kept once started (Twisted's C{min});
 - C{serving}: live workers not told to exit;
 - C{excess}: busy workers to dismiss when their current work ends;
 - C{alive}: worker threads started that have not exited yet (serving,
   plus those told to exit that are still returning).
"""

from __future__ import annotations

import threading
from typing import Any

from ._worker import SyncWait, WorkerHandle


class Worker:
    """
    One worker: its wake lock and what it is doing.  Owner of C{item} and
    C{current}: the pool state's transitions, under the pool lock.
    """

    __slots__ = ("name", "wake", "item", "current", "handle", "sync_wait")

    def __init__(self, name: str) -> None:
        self.name = name
        # Held by the worker while it runs; released by exactly one party to
        # wake it, always while holding the pool lock and after moving the
        # task (or worker) out of its waiting state, so that a wake-up is
        # never lost or doubled.
        self.wake = threading.Lock()
        self.wake.acquire()
        # Guarded by the pool lock: work handed to this idle worker, read
        # by the worker once woken, cleared when that work is over.
        self.item: Any = None
        # Guarded by the pool lock: what the worker is running.
        self.current: Any = None
        # Set once, by the pool's life (L{twisted_lwstp._life}) in the
        # thread that hired the worker, after the lock is released; read by
        # the reactor thread to join it.  None until then: a worker that
        # exits before its handle is set is not joined (it is returning).
        self.handle: WorkerHandle | None = None
        # Owned by the worker's own thread.
        self.sync_wait = SyncWait()


class Staff:
    """
    The workers of one pool and its size.  Owner: the pool's state, under
    the pool lock: only the state calls it, holding that lock.  Its fields are read by
    the state and written here only, but for the idle stack, which the
    state's two hot paths (admission, a worker going idle) pop and push
    directly.
    """

    def __init__(self, name: str, max_threads: int, min_threads: int, on_demand: bool) -> None:
        self.name = name  # set once: workers are <name>-<n>
        self.on_demand = on_demand  # set once: hire when work finds none idle
        self.max_threads = max_threads
        self.min_threads = min_threads
        self.hiring = False  # started and not finishing: workers may start
        self.serving = 0
        self.excess = 0
        self.alive = 0
        self.next_index = 0  # the number in the next worker's name
        self.workers: list[Worker] = []  # started and not yet buried
        self.idle: list[Worker] = []  # a stack: the last to go idle is hot

    def new_worker(self) -> Worker:
        """A new worker, counted and registered, with no work yet."""
        index = self.next_index
        self.next_index += 1
        worker = Worker(f"{self.name}-{index}")
        self.workers.append(worker)
        self.serving += 1
        self.alive += 1
        return worker

    def can_hire(self) -> bool:
        """Whether work that finds no idle worker starts one: on demand,
        started, below the most."""
        return self.on_demand and self.hiring and self.serving < self.max_threads

    def hires_wanted(self, queued: int) -> int:
        """How many workers to hire now: up to C{min}, and one per queued
        item (on demand) or up to the most (otherwise)."""
        if not self.hiring:
            return 0
        room = self.max_threads - self.serving
        wanted = min(queued, room) if self.on_demand else room
        return min(room, max(self.min_threads - self.serving, wanted))

    def can_grow(self) -> bool:
        """Whether one more worker may start (Twisted's C{startAWorker})."""
        return self.hiring and self.serving < self.max_threads

    def start(self) -> None:
        """Workers may be hired from now on."""
        self.hiring = True

    def reverse_idle(self) -> None:
        """Turn the idle stack over once, so fresh work goes to worker 0."""
        self.idle.reverse()

    def stop_hiring(self) -> list[Worker]:
        """No more hires (finishing); the idle workers, to dismiss now."""
        self.hiring = False
        idle, self.idle = self.idle, []
        return idle

    def dismissed(self) -> None:
        """A worker was told to exit."""
        self.serving -= 1

    def take_excess(self) -> bool:
        """Whether a worker whose work just ended must exit (the pool shrank)."""
        if self.excess:
            self.excess -= 1
            return True
        return False

    def set_bounds(self, min_threads: int, max_threads: int) -> list[Worker]:
        """
        New bounds; the idle workers beyond the new most (the coldest
        first), to dismiss now.  Busy ones beyond it are dismissed when
        their work ends.
        """
        self.min_threads = min_threads
        self.max_threads = max_threads
        over = self.serving - max_threads
        going = []
        while over > 0 and self.idle:
            going.append(self.idle.pop(0))
            over -= 1
        self.excess = max(0, over)
        return going

    def one_fewer(self) -> Worker | None:
        """
        One worker fewer (Twisted's C{stopAWorker}): the coldest idle one,
        to dismiss now, or else one more busy worker to dismiss later.
        """
        if self.idle:
            return self.idle.pop(0)
        if self.serving - self.excess > 0:
            self.excess += 1
        return None

    def unregister(self, worker: Worker) -> None:
        """Forget a worker whose thread never started."""
        self.workers.remove(worker)
        self.serving -= 1
        self.alive -= 1
        if worker in self.idle:
            self.idle.remove(worker)

    def exited(self) -> None:
        """A worker's thread is returning."""
        self.alive -= 1

    def bury(self, worker: Worker) -> None:
        """Forget a worker that has exited and been joined."""
        self.workers.remove(worker)
