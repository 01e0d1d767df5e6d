# -*- test-case-name: tests.test_pool,tests.test_metrics -*-
"""
What a pool tells about itself (model rule 10): L{PoolSnapshot}, every
figure at once; L{Diagnosis}, the four that matter at a glance; and the
text of C{dump()}.

Runs in: any thread (these are values).  Owns no state: a snapshot is
built by L{ThreadPool.snapshot} from the pool state's figures, read under
the pool lock, and the reactor side's counters.
"""

from __future__ import annotations

from typing import NamedTuple

from ._task import TaskInfo
from ._worker import WorkerHandle


class Diagnosis(NamedTuple):
    """
    The pool at a glance (model rule 10).
    """

    running: int
    """Tasks on a thread, those blocked in SYNC included."""
    threads: int
    """Worker threads alive."""
    queued: int
    """Work waiting for a thread."""
    done: int
    """Tasks done but not reaped yet."""


class LockedFigures(NamedTuple):
    """
    What C{PoolState.figures} reads in one critical section.
    """

    max_threads: int
    min_threads: int
    threads: int
    workers: int
    idle: int
    running: int
    in_sync: int
    queued: int
    queued_tasks: int
    ended: int
    finishing: bool
    handles: tuple[WorkerHandle, ...]


class PoolSnapshot(NamedTuple):
    """
    Every figure of a pool, from L{ThreadPool.snapshot}.  The figures of
    the shared state (from C{max_threads} to C{finishing}) are read in one
    critical section and agree with each other; the reactor's counters
    (from C{reaped} on) are exact in the reactor thread, and may lag by a
    reap in progress when read from another.
    """

    name: str
    """The pool's engine name (its workers are C{<name>-<n>})."""
    max_threads: int
    """The most workers (lws's C{threads}, Twisted's C{max})."""
    min_threads: int
    """Workers kept once started (Twisted's C{min})."""
    threads: int
    """Worker threads alive."""
    workers: int
    """Live workers not told to exit."""
    idle: int
    """Workers waiting for work."""
    running: int
    """Tasks and calls on a worker, SYNC included."""
    in_sync: int
    """Tasks blocked in SYNC."""
    queued: int
    """Work waiting for a worker: tasks and calls."""
    queued_tasks: int
    """Tasks waiting for a worker (what C{max_queue_depth} bounds)."""
    ended: int
    """Tasks ever done."""
    finishing: bool
    """Whether the pool accepts nothing new."""
    handles: tuple[object, ...]
    """The live workers' handles (threads), oldest first."""
    reaped: int
    """Tasks ever reaped."""
    enqueued: int
    """Tasks ever admitted."""
    refused_full: int
    """Tasks refused for a full queue."""
    refused_finishing: int
    """Tasks refused because the pool was finishing."""
    finished: int
    """Tasks reaped FINISHED."""
    failed: int
    """Tasks reaped STOPPED by an exception or a bad return."""
    sync_timeouts: int
    """Tasks stopped for want of C{task_sync}."""
    wakeups: int
    """Reactor wake-ups that drained the workers' events."""
    events: int
    """Worker events drained (SYNC, end, exit)."""
    owners: int
    """Owners registered (with live tasks, or paused)."""
    owners_paused: int
    """Owners whose C{writable()} calls flow control holds back."""
    window_batches: int
    """Batches of windows' messages delivered (model rule 15)."""
    window_messages: int
    """Messages in them."""

    @property
    def done(self) -> int:
        """
        Tasks done but not reaped yet.  (Read from another thread, tasks
        that ended and were reaped between the two reads could make the
        difference negative: it is never less than 0.)
        """
        return max(0, self.ended - self.reaped)

    def diagnosis(self) -> Diagnosis:
        """The four figures of C{diagnose()}."""
        return Diagnosis(self.running, self.threads, self.queued, self.done)


def dump_text(name: str, diag: Diagnosis, infos: list[TaskInfo]) -> str:
    """The text of C{ThreadPool.dump}: one line for the pool, one per task."""
    lines = [
        f"pool {name}: running={diag.running} threads={diag.threads} "
        f"queued={diag.queued} done={diag.done}"
    ]
    for info in infos:
        lines.append(
            f"  {info.name}: {info.status.name} for {info.ms_in_state:.1f} ms, "
            f"queued {info.ms_queued:.1f} ms, alive {info.ms_alive:.1f} ms, "
            f"run {info.run_pct:.1f}%, sync {info.sync_pct:.1f}%"
        )
    return "\n".join(lines)
