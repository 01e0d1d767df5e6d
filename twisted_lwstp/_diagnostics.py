# -*- test-case-name: tests.test_pool -*-
"""
Diagnostics (model rule 10): the pool at a glance (L{Diagnosis}), and
per task where its time went (C{dump_tasks}, C{dump}).

Runs in: C{diagnose()} in any thread (it reads the counters under the pool
lock, and the reactor's count of reaped tasks without it); C{dump_tasks()}
and C{dump()} in the reactor thread.  Owns no state.
"""

from __future__ import annotations

from typing import NamedTuple

from twisted.logger import Logger

from ._owners import OwnerRegistry
from ._task import TaskInfo

_log = Logger(namespace="twisted_lwstp")


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



class Diagnostics(OwnerRegistry):
    """
    What a pool tells about itself.
    """

    def diagnose(self) -> Diagnosis:
        """
        How many tasks run, threads live, tasks wait and tasks are done but
        not reaped.  Safe from any thread.
        """
        with self._lock:  # LOCK (to the end of the block)
            ended = self._ended
            running, threads, queued = self._running, self._threads, len(self._backlog)
        # _reaped is the reactor's: read without the lock, it may lag a reap
        # in progress by one (never lead it), so done is never negative.
        return Diagnosis(running, threads, queued, ended - self._reaped)

    def dump_tasks(self) -> list[TaskInfo]:
        """
        Per task, its name, state and where its time went (rule 10), in
        enqueue order.  Reactor thread only.
        """
        self._in_reactor("dump_tasks")
        now = self._clock()
        return [task._info(now) for task in self._live]

    def dump(self) -> str:
        """
        L{dump_tasks} and L{diagnose} as text, also emitted as a
        C{twisted.logger} event.
        """
        diag = self.diagnose()
        lines = [
            f"pool {self.name}: running={diag.running} threads={diag.threads} "
            f"queued={diag.queued} done={diag.done}"
        ]
        for info in self.dump_tasks():
            lines.append(
                f"  {info.name}: {info.status.name} for {info.ms_in_state:.1f} ms, "
                f"queued {info.ms_queued:.1f} ms, alive {info.ms_alive:.1f} ms, "
                f"run {info.run_pct:.1f}%, sync {info.sync_pct:.1f}%"
            )
        text = "\n".join(lines)
        _log.info("{dump}", dump=text, pool=self.name, diagnosis=diag)
        return text
