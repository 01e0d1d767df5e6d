"""
The sharp set: the pool on real threads and the real reactor.  Nothing here
sleeps; every wait is on the event that matters, through Deferreds.
"""

from __future__ import annotations

import contextvars
import gc
import os
import threading
import weakref
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.threads import deferToThread, deferToThreadPool
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from twisted_lwstp import Diagnosis, TaskReturn, TaskStatus, ThreadPool

from ._helpers import RecordingOwner

R = TaskReturn
S = TaskStatus


def pool_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(name + "-")]


class _Threaded(TestCase):
    timeout = 60

    def make_pool(self, threads: int = 3, depth: int = 8, name: str | None = None, **kw: Any) -> ThreadPool:
        name = name or f"t{id(self):x}"
        pool = ThreadPool(threads, depth, name, reactor=reactor, **kw)
        pool.start()
        self.addCleanup(self._destroy, pool)
        return pool

    @inlineCallbacks
    def _destroy(self, pool: ThreadPool):
        yield pool.destroy()
        self.assertEqual(pool.diagnose(), Diagnosis(0, 0, 0, 0))
        self.assertEqual(pool_threads(pool.name), [])


class RealThreadTests(_Threaded):
    @inlineCallbacks
    def test_rule11_worker_threads_are_named(self):
        pool = self.make_pool(threads=3, name="named")
        self.assertEqual(
            sorted(t.name for t in pool_threads("named")), ["named-0", "named-1", "named-2"]
        )
        name = yield pool.defer_to_thread(lambda: threading.current_thread().name)
        self.assertIn(name, {"named-0", "named-1", "named-2"})

    @inlineCallbacks
    def test_contextvars_visible_in_worker(self):
        var: contextvars.ContextVar[str] = contextvars.ContextVar("cv", default="unset")
        pool = self.make_pool()
        var.set("enqueuer")
        seen = yield pool.defer_to_thread(var.get)
        self.assertEqual(seen, "enqueuer")

    @inlineCallbacks
    def test_rule1_sync_round_trips_in_order_with_8_owners(self):
        """
        Eight tasks SYNC at every step on three threads: each owner sees
        every step exactly once, in order, always in the reactor thread.
        """
        pool = self.make_pool(threads=3, depth=8)
        steps = 200
        seen: dict[int, list[int]] = {}
        owners = []

        def make_task(i: int):
            def task(user: dict, status: TaskStatus) -> TaskReturn:
                if status is S.STOPPING:
                    return R.STOPPED
                user["n"] += 1
                return R.SYNC if user["n"] < steps else R.FINISHED

            return task

        for i in range(8):
            seen[i] = []

            def serve(task, i=i):
                if task.status is S.SYNCING:
                    seen[i].append(task.user["n"])
                    pool.task_sync(task)
                else:
                    pool.task_status(task)

            owners.append(RecordingOwner(pool, serve))
        tasks = [pool.enqueue(owners[i], make_task(i), user={"n": 0}) for i in range(8)]
        statuses = yield gatherResults([t.when_done() for t in tasks])
        self.assertEqual(statuses, [S.FINISHED] * 8)
        for i in range(8):
            self.assertEqual(seen[i], list(range(1, steps)))
            self.assertEqual(set(owners[i].threads), {threading.get_ident()})

    @inlineCallbacks
    def test_reactor_only_methods_refuse_other_threads(self):
        pool = self.make_pool()
        task = pool.enqueue(None, lambda u, s: R.FINISHED)
        yield task.when_done()

        def from_thread() -> list[str]:
            errors = []
            calls = [
                lambda: pool.enqueue(None, lambda u, s: R.FINISHED),
                lambda: pool.dequeue_task(task),
                lambda: pool.task_sync(task),
                lambda: pool.task_status(task),
                lambda: pool.owner_closing(object()),
                lambda: pool.finish(),
                lambda: task.when_done(),
            ]
            for call in calls:
                try:
                    call()
                except RuntimeError as e:
                    errors.append(str(e))
            return errors

        errors = yield deferToThread(from_thread)
        self.assertEqual(len(errors), 7)
        self.assertIn("Task.when_done() must be called in the reactor thread", errors[6])
        self.assertIn("enqueue() must be called in the reactor thread", errors[0])
        # diagnose() is safe from anywhere.
        diag = yield deferToThread(pool.diagnose)
        self.assertEqual(diag.threads, 3)

    @inlineCallbacks
    def test_rule12_threads_beyond_cores_all_sync_at_once(self):
        n = 4 * (os.cpu_count() or 2)
        pool = self.make_pool(threads=n, depth=0)
        all_syncing: Deferred[None] = Deferred()
        waiting = []

        def serve(task):
            if task.status is S.SYNCING:
                waiting.append(task)
                if len(waiting) == n:
                    all_syncing.callback(None)
            else:
                pool.task_status(task)

        owner = RecordingOwner(pool, serve)
        tasks = [pool.enqueue(owner, lambda u, s: R.STOPPED if s is S.STOPPING else R.SYNC) for _ in range(n)]
        yield all_syncing
        self.assertEqual(pool.diagnose(), Diagnosis(n, n, 0, 0))
        for task in tasks:
            pool.task_sync(task, stop=True)
        yield gatherResults([t.when_done() for t in tasks])

    @inlineCallbacks
    def test_destroy_does_not_block_the_reactor(self):
        pool = self.make_pool(threads=1)
        release = threading.Event()
        started: Deferred[None] = Deferred()

        def slow(user: object, status: TaskStatus) -> TaskReturn:
            if not started.called:
                reactor.callFromThread(lambda: started.called or started.callback(None))
            # A task that checks in only when told; bounded so it can never hang.
            release.wait(60)
            return R.STOPPED if status is S.STOPPING else R.CHECKING_IN

        task = pool.enqueue(None, slow)
        yield started
        destroyed = pool.destroy()
        ticked: Deferred[None] = Deferred()
        reactor.callLater(0, ticked.callback, None)
        yield ticked  # the reactor kept running
        self.assertFalse(destroyed.called)
        release.set()
        yield destroyed
        self.assertIs(task.status, S.STOPPED)
        self.assertTrue(task.reaped)

    def test_stop_joins_and_releases_syncing_tasks(self):
        pool = ThreadPool(2, 2, "stopper", reactor=reactor)
        pool.start()
        owner = RecordingOwner(pool)  # never syncs
        told = []
        synced = threading.Event()

        def task(user: object, status: TaskStatus) -> TaskReturn:
            told.append(status)
            if status is S.STOPPING:
                return R.STOPPED
            synced.set()
            return R.SYNC

        t = pool.enqueue(owner, task)
        self.assertTrue(synced.wait(30))
        pool.stop()
        self.assertEqual(pool_threads("stopper"), [])
        self.assertEqual(told, [S.RUNNING, S.STOPPING])
        self.assertTrue(t.reaped)
        self.assertTrue(pool.joined)


class TwistedCompatibilityTests(_Threaded):
    """
    What code written for C{twisted.python.threadpool.ThreadPool} relies on.
    """

    def test_deferToThreadPool_result(self):
        pool = self.make_pool()
        d = deferToThreadPool(reactor, pool, lambda x, y=5: x + y, 3, y=4)
        d.addCallback(self.assertEqual, 7)
        return d

    def test_deferToThreadPool_failure(self):
        pool = self.make_pool()

        class NewError(Exception):
            pass

        def raise_error() -> None:
            raise NewError()

        return self.assertFailure(deferToThreadPool(reactor, pool, raise_error), NewError)

    @inlineCallbacks
    def test_on_result_runs_in_worker(self):
        pool = self.make_pool(name="cb")
        got: Deferred[list[Any]] = Deferred()
        results: list[Any] = []

        def on_result(ok: bool, result: object) -> None:
            results.append((ok, result, threading.current_thread().name))
            if len(results) == 2:
                reactor.callFromThread(got.callback, results)

        pool.callInThreadWithCallback(on_result, lambda: "fine")
        pool.callInThreadWithCallback(on_result, lambda: 1 / 0)
        yield got
        by_ok = {ok: (res, name) for ok, res, name in results}
        self.assertEqual(by_ok[True][0], "fine")
        self.assertIsInstance(by_ok[False][0], Failure)
        self.assertTrue(by_ok[False][0].check(ZeroDivisionError))
        self.assertTrue(all(name.startswith("cb-") for _, name in by_ok.values()))

    @inlineCallbacks
    def test_error_without_on_result_is_logged(self):
        # One thread runs work in order: the marker after the failing call
        # proves that the failure was handled first.
        pool = self.make_pool(threads=1)
        done: Deferred[None] = Deferred()
        pool.callInThread(lambda: 1 / 0)
        pool.callInThread(reactor.callFromThread, done.callback, None)
        yield done
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    @inlineCallbacks
    def test_no_reference_kept_to_work_once_done(self):
        pool = self.make_pool(threads=1)

        class Thing:
            pass

        arg, result = Thing(), Thing()
        arg.partner = result  # type: ignore[attr-defined]
        refs = [weakref.ref(arg), weakref.ref(result)]

        def call(a: Any) -> object:
            return a.partner

        func_ref = weakref.ref(call)
        results: list[bool] = []
        pool.callInThreadWithCallback(lambda ok, r: results.append(ok), call, arg)
        del arg, result, call
        # The worker has left the first call once it runs the next one.
        done: Deferred[None] = Deferred()
        pool.callInThread(reactor.callFromThread, done.callback, None)
        yield done
        gc.collect()
        self.assertEqual(results, [True])
        self.assertEqual([r() for r in refs], [None, None])
        self.assertIsNone(func_ref())
