"""
L{twisted_lwstp.compat.ThreadPool} (issue 18): Twisted's pool, attribute for
attribute, on the engine; Twisted's own test_threadpool passes on it; it is
the lwstp reactor's pool, whose figures a stats reporter reads.
"""

from __future__ import annotations

import gc
import pickle
import threading
import weakref
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_lwstp import TaskReturn, TaskStatus
from twisted_lwstp import ThreadPool as LwsThreadPool
from twisted_lwstp.compat import ThreadPool

from .test_reactor import run_python

#: Run Twisted's own test_threadpool with its ThreadPool replaced by ours,
#: before the test module is imported (its MemoryPool subclasses it), and
#: nothing else changed.
TWISTEDS_OWN = """
import sys
import twisted.python.threadpool as threadpool
from twisted_lwstp.compat import ThreadPool
threadpool.ThreadPool = ThreadPool
from twisted.test import test_threadpool
assert issubclass(test_threadpool.MemoryPool, ThreadPool)
print("substituted", threadpool.ThreadPool is ThreadPool, flush=True)
from twisted.scripts.trial import run
sys.argv = ["trial", "twisted.test.test_threadpool"]
run()
"""


class TwistedsOwnTests(SynchronousTestCase):
    def test_twisteds_test_threadpool_passes_all_19_on_ours(self) -> None:
        try:
            out = run_python(TWISTEDS_OWN, timeout=120)
        except AssertionError as e:
            # trial exits 1 on a failure: show what failed.
            self.fail(str(e)[-4000:])
        self.assertIn("substituted True", out)
        self.assertIn("PASSED (successes=19)", out)


class _Pool(SynchronousTestCase):
    def pool(self, *args: Any, **kw: Any) -> ThreadPool:
        pool = ThreadPool(*args, **kw)
        self.addCleanup(lambda: pool.joined or pool.stop(10))
        return pool


class AttributeTests(_Pool):
    def test_twisteds_constructor_and_types(self) -> None:
        pool = self.pool()
        self.assertEqual((pool.min, pool.max, pool.name), (5, 20, None))
        named = self.pool(1, 3, "named")
        self.assertEqual((named.min, named.max, named.name), (1, 3, "named"))
        self.assertEqual((named.started, named.joined), (False, False))
        self.assertEqual((named.threads, named.workers, named.working, named.waiters),
                         ([], 0, [], []))
        self.assertEqual(named.q.qsize(), 0)
        self.assertIs(named.threadFactory, threading.Thread)
        self.assertIsInstance(named, LwsThreadPool)

    def test_bad_arguments_name_the_problem(self) -> None:
        with self.assertRaisesRegex(ValueError, r"minthreads \(3\) must be <= maxthreads \(2\)"):
            ThreadPool(3, 2)
        with self.assertRaisesRegex(ValueError, "minthreads"):
            ThreadPool(-1, 2)
        with self.assertRaisesRegex(TypeError, "maxthreads"):
            ThreadPool(0, "4")  # type: ignore[arg-type]
        with self.assertRaisesRegex(TypeError, "name"):
            ThreadPool(0, 1, b"bytes")  # type: ignore[arg-type]

    def test_start_starts_min_threads_named_after_the_pool(self) -> None:
        pool = self.pool(2, 4, "kept")
        pool.start()
        self.assertTrue(pool.started)
        self.assertEqual(sorted(t.name for t in pool.threads), ["kept-0", "kept-1"])
        self.assertTrue(all(isinstance(t, threading.Thread) and t.is_alive() for t in pool.threads))
        # Renaming a worker's thread, as programs do, works.
        pool.threads[0].name = "renamed"
        self.assertIn("renamed", [t.name for t in threading.enumerate()])
        pool.stop()
        self.assertEqual((pool.started, pool.joined, pool.threads), (False, True, []))

    def test_unnamed_pool_names_threads_as_twisted_does(self) -> None:
        pool = self.pool(1, 1)
        pool.start()
        self.assertRegex(pool.threads[0].name, r"^PoolThread-[0-9a-f]+-0$")

    def test_thread_factory_makes_the_workers(self) -> None:
        made: list[str] = []

        def factory(**kw: Any) -> threading.Thread:
            made.append(kw["name"])
            return threading.Thread(**kw)

        pool = self.pool(1, 2, "made")
        pool.threadFactory = factory  # type: ignore[assignment]
        pool.start()
        self.assertEqual(made, ["made-0"])
        self.assertTrue(pool.threads[0].daemon)

    def test_pickling_keeps_min_max_and_name(self) -> None:
        pool = self.pool(2, 7, "kept")
        copy = pickle.loads(pickle.dumps(pool))
        self.addCleanup(lambda: copy.joined or copy.stop(10))
        self.assertEqual((copy.min, copy.max, copy.name, copy.started), (2, 7, "kept", False))
        self.assertIsInstance(copy, ThreadPool)

    def test_current_thread_is_deprecated_as_in_twisted(self) -> None:
        pool = self.pool(0, 1)
        self.assertIs(pool.currentThread(), threading.current_thread())
        warnings = self.flushWarnings()
        self.assertEqual(len(warnings), 1)
        self.assertIn("threading.current_thread", warnings[0]["message"])

    def test_max_zero_takes_work_and_runs_none(self) -> None:
        pool = self.pool(0, 0)
        pool.start()
        pool.callInThread(lambda: None)
        self.assertEqual((pool.q.qsize(), pool.threads), (1, []))
        ran = threading.Event()
        pool.callInThread(ran.set)
        pool.adjustPoolsize(maxthreads=1)
        self.assertTrue(ran.wait(10))

    def test_start_and_stop_a_worker(self) -> None:
        pool = self.pool(0, 2)
        pool.start()
        pool.startAWorker()
        pool.startAWorker()
        pool.startAWorker()  # already at max: nothing
        self.assertEqual((pool.workers, len(pool.waiters)), (2, 2))
        pool.stopAWorker()
        self.assertEqual(pool.workers, 1)

    def test_dump_stats_logs_the_figures(self) -> None:
        from twisted.python import log

        seen: list[str] = []

        def observe(event: dict[str, Any]) -> None:
            seen.extend(str(m) for m in event.get("message", ()))

        log.addObserver(observe)
        self.addCleanup(log.removeObserver, observe)
        pool = self.pool(1, 1)
        pool.start()
        pool.dumpStats()
        self.assertEqual([s.split(":")[0] for s in seen], ["waiters", "workers", "total"])
        self.assertIn("waiters: [None]", seen)


class FiguresTests(_Pool):
    def test_busy_waiting_and_idle_figures_agree(self) -> None:
        pool = self.pool(0, 3, "figures")
        pool.start()
        go = threading.Event()
        busy = threading.Semaphore(0)

        def block() -> None:
            busy.release()
            go.wait(30)

        for _ in range(8):
            pool.callInThread(block)
        for _ in range(3):
            self.assertTrue(busy.acquire(timeout=30))
        self.assertEqual((len(pool.working), pool.q.qsize(), len(pool.waiters)), (3, 5, 0))
        self.assertEqual((pool.workers, len(pool.threads)), (3, 3))
        self.assertEqual(pool.diagnose().queued, 5)
        go.set()
        for _ in range(5):
            self.assertTrue(busy.acquire(timeout=30))
        done = threading.Event()
        pool.callInThreadWithCallback(lambda ok, r: done.set(), lambda: None)
        self.assertTrue(done.wait(30))
        pool.stop()
        self.assertEqual((pool.working, pool.q.qsize(), pool.threads), ([], 0, []))

    def test_lws_task_api_works_on_it(self) -> None:
        pool = self.pool(0, 1, "tasks", reactor=reactor)
        pool.start()
        steps: list[TaskStatus] = []

        def task(user: object, status: TaskStatus) -> TaskReturn:
            steps.append(status)
            return TaskReturn.FINISHED

        t = pool.enqueue(None, task)
        pool.stop()
        self.assertEqual(steps, [TaskStatus.RUNNING])
        self.assertIs(pool.task_status(t), TaskStatus.FINISHED)


class NoReferenceKeptTests(TestCase):
    """
    Neither class keeps the arguments or the result of finished work
    (Twisted's test_threadCreationArguments*, for ours too).
    """

    timeout = 60

    @inlineCallbacks
    def check(self, pool: LwsThreadPool) -> Any:
        class Thing:
            pass

        pool.start()
        self.addCleanup(pool.stop, 10)
        arg, kwarg = Thing(), Thing()
        refs = [weakref.ref(arg), weakref.ref(kwarg)]
        results: list[weakref.ref[Thing]] = []
        got: Deferred[None] = Deferred()

        def work(a: Thing, k: Thing) -> Thing:
            result = Thing()
            results.append(weakref.ref(result))
            return result

        def on_result(ok: bool, result: Any) -> None:
            reactor.callFromThread(got.callback, None)

        pool.callInThreadWithCallback(on_result, work, arg, k=kwarg)
        yield got
        value = yield pool.defer_to_thread(work, arg, k=kwarg)
        results.append(weakref.ref(value))
        del arg, kwarg, value

        def task(user: object, status: TaskStatus) -> TaskReturn:
            return TaskReturn.FINISHED

        t = pool.enqueue(None, task, user=Thing())
        refs.append(weakref.ref(t.user))
        yield t.when_done()
        del t
        # The worker may still be between the end of the work and idling.
        for _ in range(100):
            gc.collect()
            if all(r() is None for r in refs + results):
                break
            yield deferLater(reactor, 0.01, lambda: None)
        self.assertEqual([r() for r in refs + results], [None] * (len(refs) + len(results)))

    def test_lws_pool_keeps_nothing(self) -> Any:
        return self.check(LwsThreadPool(1, 2, "refs-lws", reactor=reactor))

    def test_compat_pool_keeps_nothing(self) -> Any:
        return self.check(ThreadPool(0, 1, "refs-compat", reactor=reactor))


class ReactorPoolTests(SynchronousTestCase):
    def test_stats_reporter_reads_true_figures_under_lwstp(self) -> None:
        out = run_python(
            """
            import threading
            from twisted_lwstp import reactor as lwstp_reactor
            reactor = lwstp_reactor.install()
            from twisted.internet import defer, task
            from twisted.python.threadpool import ThreadPool as TwistedPool

            def report(pool):
                return (len(pool.working), pool.q.qsize(), len(pool.waiters), len(pool.threads))

            @defer.inlineCallbacks
            def main():
                pool = reactor.getThreadPool()
                print("class", type(pool).__module__, type(pool).__name__)
                print("twisted attributes", all(hasattr(pool, a) for a in dir(TwistedPool)
                                                if not a.startswith("_")))
                go = threading.Event()
                busy = threading.Semaphore(0)
                def block():
                    busy.release()
                    go.wait(30)
                for _ in range(8):
                    reactor.callInThread(block)
                for _ in range(3):
                    assert busy.acquire(timeout=30)
                print("busy", report(pool))
                pool.threads[0].setName("renamed")
                print("renamed", "renamed" in [t.name for t in threading.enumerate()])
                go.set()
                for _ in range(100 * 30):
                    if not pool.working and not pool.q.qsize():
                        break
                    yield task.deferLater(reactor, 0.01, lambda: None)
                print("idle", report(pool))
                reactor.stop()

            reactor.callWhenRunning(main)
            reactor.run()
            """,
            env={"LWSTP_THREADS": "3"},
        )
        self.assertIn("class twisted_lwstp.compat ThreadPool", out)
        self.assertIn("twisted attributes True", out)
        self.assertIn("busy (3, 5, 0, 3)", out)
        self.assertIn("renamed True", out)
        self.assertIn("idle (0, 0, 3, 3)", out)
