"""
The Twisted pool surface of the engine (L{twisted_lwstp._surface},
L{twisted_lwstp._calls}), in
this process on a stepped pool (where mutation testing sees it): bad
callables named, work handed over after C{finish()} dropped with a log
event that names the pool and the work, and C{defer_to_thread}'s tasks
named after what they call.
"""

from __future__ import annotations

import functools
from typing import Any

from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp import TaskStatus
from twisted_lwstp.testing import PoolHarness

from ._helpers import HarnessCase


class CompatEdgeTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.harness = PoolHarness(threads=1, max_queue_depth=4, name="edges")
        self.pool = self.harness.pool
        self.pool.start()
        self.addCleanup(self.pool.stop)

    def test_a_bad_callable_is_named(self) -> None:
        with self.assertRaises(TypeError) as caught:
            self.pool.callInThread(5)  # type: ignore[arg-type]
        self.assertEqual(str(caught.exception), "func must be callable, not int")
        with self.assertRaises(TypeError) as caught:
            self.pool.defer_to_thread("sum")  # type: ignore[arg-type]
        self.assertEqual(str(caught.exception), "f must be callable, not str")

    def test_work_after_finish_is_dropped_and_logged(self) -> None:
        ran: list[int] = []

        def work() -> None:
            ran.append(1)

        self.pool.finish()
        with capturedLogs() as events:
            self.pool.callInThread(work)
        self.harness.run()
        self.assertEqual(ran, [])
        dropped = [e for e in events if "dropped" in e.get("log_format", "")]
        self.assertEqual(len(dropped), 1, events)
        self.assertEqual(dropped[0]["log_format"], "Pool {pool} is stopping: dropped {func!r}")
        self.assertEqual(dropped[0]["pool"], "edges")
        self.assertIs(dropped[0]["func"], work)

    def test_work_before_finish_is_not_logged_as_dropped(self) -> None:
        with capturedLogs() as events:
            self.pool.callInThread(lambda: None)
        self.assertEqual([e for e in events if "dropped" in e.get("log_format", "")], [])

    def test_defer_to_thread_names_its_task_after_the_function(self) -> None:
        self.pool.defer_to_thread(sum, [1, 2])
        unnamed = functools.partial(sum, [3])
        self.pool.defer_to_thread(unnamed)
        names = [info.name for info in self.pool.dump_tasks()]
        self.assertEqual(names, ["defer_to_thread sum", f"defer_to_thread {unnamed}"])
        self.harness.run()


class DeferToThreadStoppedTests(HarnessCase):
    def test_a_call_stopped_once_taken_but_before_it_runs_never_runs(self) -> None:
        from twisted.internet.defer import CancelledError

        h = self.harness()
        ran: list[int] = []
        d = h.pool.defer_to_thread(ran.append, 1)
        (task,) = h.pool._reactor_side.live_tasks()
        self.assertIs(task.status, TaskStatus.RUNNING)  # a worker took it
        h.pool.dequeue_task(task)  # stopped before its first call
        h.run()
        self.assertEqual(ran, [])
        failure = self.failureResultOf(d, CancelledError)
        self.assertEqual(str(failure.value), "the call was stopped before it ran")


class CallLogTests(HarnessCase):
    def test_what_a_call_or_its_callback_raises_is_logged_by_name(self) -> None:
        from twisted.logger import formatEvent

        from ._helpers import LogCapture

        h = self.harness()

        def boom() -> None:
            raise KeyError("work")

        def bad_callback(ok: bool, result: object) -> None:
            raise KeyError("callback")

        with LogCapture() as logs:
            h.pool.callInThread(boom)
            h.pool.callInThreadWithCallback(bad_callback, lambda: None)
            h.run()
        texts = [formatEvent(e) for e in logs.events if e.get("log_failure")]
        self.assertEqual(texts, ["callInThread work raised", "onResult callback raised"])
        self.flushLoggedErrors(KeyError)


class CompatConstructorTests(SynchronousTestCase):
    """Twisted's constructor, on the engine: its defaults, checks and names."""

    def make(self, *args: object, **kwargs: object) -> Any:
        from twisted.internet import reactor

        from twisted_lwstp.compat import ThreadPool

        pool = ThreadPool(*args, reactor=reactor, **kwargs)  # type: ignore[arg-type]
        self.addCleanup(pool.stop)
        return pool

    def test_defaults(self) -> None:
        pool = self.make()
        self.assertEqual((pool.min, pool.max, pool.name), (5, 20, None))
        self.assertEqual((pool.max_queue_depth, pool.sync_timeout), (64, 300.0))
        # Unnamed: the engine's name, from the pool's identity, names its
        # workers and its logs.
        self.assertEqual(pool.snapshot().name, f"PoolThread-{id(pool):x}")

    def test_arguments_are_checked_by_name(self) -> None:
        for kwargs, error, message in (
            ({"minthreads": -1}, ValueError, "minthreads must be >= 0, got -1"),
            ({"maxthreads": "2"}, TypeError, "maxthreads must be an int, not str"),
            ({"minthreads": 3, "maxthreads": 2}, ValueError,
             "minthreads (3) must be <= maxthreads (2)"),
            ({"name": 7}, TypeError, "name must be a str or None, not int"),
        ):
            with self.assertRaises(error) as caught:
                self.make(**kwargs)
            self.assertEqual(str(caught.exception), message)

    def test_one_thread_pools_and_empty_ones(self) -> None:
        one = self.make(1, 1, "one")
        self.assertEqual((one.min, one.max), (1, 1))
        self.assertEqual((one.snapshot().max_threads, one.snapshot().min_threads), (1, 1))
        # maxthreads=0, as Twisted allows: no worker at all until resized.
        empty = self.make(0, 0, "empty")
        self.assertEqual((empty.min, empty.max), (0, 0))
        empty.start()
        self.assertEqual(empty.snapshot().threads, 0)


class TestingHookTests(SynchronousTestCase):
    """
    Twisted's private testing hook, C{_pool}, in this process: a subclass
    that sets it gets its C{callInThread} work run by the team the hook
    makes, and the pool's size and figures read from that team, as
    Twisted's own C{MemoryBackedTests} (which run in a child process)
    expect.
    """

    def make(self) -> Any:
        from twisted._threads import Team, createMemoryWorker
        from twisted.internet import reactor

        from twisted_lwstp.compat import ThreadPool

        performers: list[Any] = []
        coordinator, perform_coordination = createMemoryWorker()

        class MemoryPool(ThreadPool):
            def _pool(self, current_limit: Any, thread_factory: Any) -> Any:  # type: ignore[override]
                def worker() -> Any:
                    stats = team.statistics()
                    if stats.busyWorkerCount + stats.idleWorkerCount >= current_limit():
                        return None
                    made, perform = createMemoryWorker()
                    performers.append(perform)
                    return made

                team = Team(coordinator=coordinator, createWorker=worker,
                            logException=lambda: None)
                return team

        pool = MemoryPool(2, 3, "memory", reactor=reactor)

        def settle() -> None:
            while perform_coordination() or any([p() for p in performers]):
                pass

        return pool, settle, performers

    def test_work_goes_to_the_team_and_figures_come_from_it(self) -> None:
        pool, settle, performers = self.make()
        results: list[Any] = []
        pool.callInThreadWithCallback(lambda ok, r: results.append((ok, r)), lambda: 6 * 7)
        settle()
        # Not started: the team's limit is 0, the work waits.
        self.assertEqual((results, pool.q.qsize(), pool.workers), ([], 1, 0))
        pool.start()
        settle()
        self.assertEqual(results, [(True, 42)])
        self.assertEqual((pool.q.qsize(), len(pool.working)), (0, 0))
        self.assertEqual((pool.workers, len(pool.waiters)), (1, 1))
        pool.startAWorker()
        settle()
        self.assertEqual(pool.workers, 2)
        pool.stopAWorker()
        settle()
        self.assertEqual(pool.workers, 1)
        # A failure reaches the callback as one.
        pool.callInThreadWithCallback(lambda ok, r: results.append((ok, r)), lambda: 1 / 0)
        settle()
        self.assertFalse(results[-1][0])
        self.assertTrue(results[-1][1].check(ZeroDivisionError))
        pool.stop()
        settle()
        self.assertTrue(pool.joined)
        # After stop, work is dropped.
        pool.callInThreadWithCallback(lambda ok, r: results.append((ok, r)), lambda: 0)
        settle()
        self.assertEqual(len(results), 2)
