"""
L{PoolExecutor}: a C{concurrent.futures} executor on a twisted_lwstp pool.
In process: its standard meaning with real threads, and the reactor's
shutdown with stepped workers.  Under the lwstp-asyncio reactor, in a
process of its own: asyncio's own thread calls on the reactor's pool
(C{tests.test_asyncioreactor} has the Scrapy crawl).
"""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError, ThreadPoolExecutor, wait
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_lwstp import PoolExecutor, ThreadPool
from twisted_lwstp.testing import PoolHarness

from .test_reactor import run_python

BOUND = 30.0  # seconds: every wait on a thread is bounded


class Gate:
    """
    Calls that block until the gate opens, counting how many run at once.
    """

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.lock = threading.Condition()
        self.running = 0
        self.most = 0
        self.ran: list[str] = []

    def call(self, label: str) -> str:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.ran.append(label)
            self.lock.notify_all()
        try:
            if not self.opened.wait(BOUND):
                raise AssertionError("the gate never opened")
        finally:
            with self.lock:
                self.running -= 1
        return threading.current_thread().name

    def until_running(self, n: int) -> None:
        with self.lock:
            if not self.lock.wait_for(lambda: self.running == n, BOUND):
                raise AssertionError(f"{self.running} running, never {n}")


class RealThreadTests(TestCase):
    """
    The standard meaning, on a started pool with real worker threads.
    """

    timeout = 60

    def make(self, threads: int = 2) -> tuple[ThreadPool, PoolExecutor, Gate]:
        pool = ThreadPool(threads, 0, "exec", reactor=reactor)
        pool.start()
        self.addCleanup(pool.destroy)
        executor = PoolExecutor(pool)
        gate = Gate()
        self.addCleanup(gate.opened.set)  # never leave a worker blocked
        return pool, executor, gate

    def test_results_exceptions_and_the_pools_named_workers(self) -> None:
        pool, executor, _ = self.make()
        name = executor.submit(lambda: threading.current_thread().name).result(BOUND)
        self.assertRegex(name, r"^exec-[01]$")
        failing = executor.submit(int, "not a number")
        self.assertIsInstance(failing.exception(BOUND), ValueError)
        with self.assertRaises(ValueError):
            failing.result(BOUND)
        self.assertEqual(list(executor.map(pow, [2, 3, 4], [2, 2, 2], timeout=BOUND)), [4, 9, 16])
        self.assertIsInstance(executor, ThreadPoolExecutor)

    def test_a_future_cancelled_before_a_worker_takes_it_never_runs(self) -> None:
        pool, executor, gate = self.make(threads=1)
        first = executor.submit(gate.call, "first")
        gate.until_running(1)
        second = executor.submit(gate.call, "second")
        third = executor.submit(gate.call, "third")
        self.assertTrue(second.cancel())
        gate.opened.set()
        third.result(BOUND)
        first.result(BOUND)
        self.assertTrue(second.cancelled())
        self.assertEqual(gate.ran, ["first", "third"])

    def test_no_more_than_the_pools_threads_at_once_and_never_refused(self) -> None:
        # A queue depth of 0 refuses lws tasks beyond the threads: the
        # executor's work, like callInThread's, waits instead.
        pool, executor, gate = self.make(threads=2)
        futures = [executor.submit(gate.call, str(i)) for i in range(6)]
        gate.until_running(2)
        diag = pool.diagnose()
        self.assertEqual((diag.running, diag.queued), (2, 4))
        gate.opened.set()
        done, _ = wait(futures, BOUND)
        self.assertEqual(len(done), 6)
        self.assertEqual(gate.most, 2)

    def test_shutdown_waits_for_queued_and_running_work_then_refuses_more(self) -> None:
        pool, executor, gate = self.make(threads=1)
        first = executor.submit(gate.call, "first")
        second = executor.submit(gate.call, "second")
        gate.until_running(1)
        returned = threading.Event()

        def shut() -> None:
            executor.shutdown(wait=True)
            returned.set()

        shutter = threading.Thread(target=shut)
        shutter.start()
        self.assertFalse(returned.wait(0.05))  # blocked on the work
        with self.assertRaises(RuntimeError) as caught:
            executor.submit(print)
        self.assertEqual(str(caught.exception), "cannot schedule new futures after shutdown")
        gate.opened.set()
        self.assertTrue(returned.wait(BOUND))
        shutter.join(BOUND)
        self.assertTrue(first.done() and second.done())
        self.assertEqual(gate.ran, ["first", "second"])

    @inlineCallbacks
    def test_shutdown_cancel_futures_cancels_queued_work_and_leaves_the_pool_running(self):
        pool, executor, gate = self.make(threads=1)
        running = executor.submit(gate.call, "running")
        gate.until_running(1)
        queued = [executor.submit(gate.call, f"queued {i}") for i in range(3)]
        executor.shutdown(wait=False, cancel_futures=True)
        self.assertTrue(all(f.cancelled() for f in queued))
        self.assertFalse(running.cancelled())
        gate.opened.set()
        self.assertRegex(running.result(BOUND), r"^exec-0$")
        # The pool was not shut down: it serves other callers still.
        self.assertFalse(pool.finishing)
        name = yield pool.defer_to_thread(lambda: threading.current_thread().name)
        self.assertEqual(name, "exec-0")
        other = PoolExecutor(pool)
        self.assertEqual(other.submit(lambda: 7).result(BOUND), 7)
        other.shutdown()
        self.assertEqual(gate.ran, ["running"])  # no queued function ran

    def test_keyword_arguments_and_the_standard_fields(self) -> None:
        pool, executor, _ = self.make(threads=3)
        self.assertEqual(executor.submit(int, "ff", base=16).result(BOUND), 255)
        # The standard executor's own fields, for code that reads them.
        self.assertEqual((executor._max_workers, executor._thread_name_prefix), (3, "exec"))

    def test_contexts_travel_as_with_call_in_thread(self) -> None:
        import contextvars

        var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
        pool, executor, _ = self.make()
        var.set("from the submitter")
        self.addCleanup(var.set, "unset")
        self.assertEqual(executor.submit(var.get).result(BOUND), "from the submitter")

    def test_bad_arguments(self) -> None:
        with self.assertRaises(TypeError) as caught:
            PoolExecutor(ThreadPoolExecutor(1))  # type: ignore[arg-type]
        self.assertIn("pool must be a twisted_lwstp ThreadPool, not ThreadPoolExecutor",
                      str(caught.exception))
        pool, executor, _ = self.make()
        with self.assertRaises(TypeError) as caught:
            executor.submit(42)  # type: ignore[arg-type]
        self.assertIn("fn must be callable, not int", str(caught.exception))
        self.assertIn("exec", repr(executor))


class SteppedTests(SynchronousTestCase):
    """
    The reactor's shutdown and the pool's finish, with stepped workers.
    """

    def setUp(self) -> None:
        self.h = PoolHarness(1, 0)
        self.h.pool.start()
        self.executor = PoolExecutor(self.h.pool)
        self.h.flush()  # the executor's shutdown trigger is registered now

    def tearDown(self) -> None:
        self.h.pool.destroy()
        self.h.run()

    def fire_shutdown(self) -> None:
        for f, args, kw in self.h.reactor.triggers["before"]["shutdown"]:
            f(*args, **kw)

    def test_the_reactor_stopping_cancels_queued_futures(self) -> None:
        ran: list[int] = []
        futures = [self.executor.submit(ran.append, i) for i in range(3)]
        self.h.step()  # the first runs
        self.assertEqual(futures[0].result(0), None)
        self.fire_shutdown()
        self.assertEqual([f.cancelled() for f in futures], [False, True, True])
        with self.assertRaises(CancelledError):
            futures[1].result(0)
        with self.assertRaises(RuntimeError):
            self.executor.submit(ran.append, 9)
        self.h.run()  # the workers meet the cancelled work: nothing runs
        self.assertEqual(ran, [0])

    def test_submitting_to_a_finishing_pool_raises(self) -> None:
        self.h.pool.finish()
        with self.assertRaises(RuntimeError) as caught:
            self.executor.submit(print)
        self.assertEqual(str(caught.exception),
                         "cannot schedule new futures: pool 'test' is finishing")

    def test_a_finish_racing_a_submission_cancels_its_future(self) -> None:
        pool = self.h.pool
        real = pool.callInThreadWithCallback

        def finish_first(*args: Any) -> None:
            pool.finish()  # as if the reactor thread finished the pool just now
            real(*args)

        pool.callInThreadWithCallback = finish_first  # type: ignore[method-assign]
        future = self.executor.submit(print, "never")
        self.assertTrue(future.cancelled())
        self.assertEqual(self.executor._outstanding, set())  # shutdown(wait) would not hang

    def test_shutdown_removes_the_trigger_in_the_reactor_thread(self) -> None:
        removed: list[object] = []
        self.h.reactor.removeSystemEventTrigger = removed.append  # type: ignore[method-assign]
        self.executor._trigger = "the trigger"
        self.executor.shutdown()
        self.assertEqual(removed, [])  # not from this call: from the reactor thread
        self.h.flush()
        self.assertEqual(removed, ["the trigger"])


class AsyncioTests(SynchronousTestCase):
    """
    Under lwstp-asyncio, asyncio's thread calls run on the reactor's pool.
    """

    def test_to_thread_getaddrinfo_and_deferToThread_share_one_bound(self) -> None:
        out = run_python(
            """
            import asyncio, contextvars, socket, threading
            from twisted_lwstp import asyncioreactor, PoolExecutor
            reactor = asyncioreactor.install()
            from twisted.internet import defer, threads

            loop = reactor._asyncioEventloop
            pool = reactor.getThreadPool()
            lock = threading.Condition()
            gate = threading.Event()
            state = {"running": 0, "most": 0}
            names = set()

            def blocked(label):
                with lock:
                    state["running"] += 1
                    state["most"] = max(state["most"], state["running"])
                    names.add(threading.current_thread().name)
                    lock.notify_all()
                assert gate.wait(30), "gate"
                with lock:
                    state["running"] -= 1
                return label

            def until_three():
                with lock:
                    assert lock.wait_for(lambda: state["running"] == 3, 30), state

            resolved = []
            real = socket.getaddrinfo
            def recording(*args, **kw):
                resolved.append(threading.current_thread().name)
                return real(*args, **kw)
            socket.getaddrinfo = recording
            var = contextvars.ContextVar("var")

            async def main():
                print("executor", type(loop._default_executor).__name__)
                var.set("seen")
                print("context", await asyncio.to_thread(var.get))
                await loop.getaddrinfo("localhost", 80)
                print("resolved in", resolved)
                calls = [asyncio.ensure_future(asyncio.to_thread(blocked, f"a{i}")) for i in range(6)]
                calls += [defer.Deferred.asFuture(threads.deferToThread(blocked, f"t{i}"), loop)
                          for i in range(6)]
                await asyncio.sleep(0)  # the to_thread coroutines submit
                until_three()
                d = pool.diagnose()
                print("running", d.running, "queued", d.queued)
                gate.set()
                done = await asyncio.gather(*calls)
                print("done", len(done), "most", state["most"])
                print("names", sorted(names))

            def go():
                # In the running loop, as asyncio code runs.
                d = defer.Deferred.fromFuture(asyncio.ensure_future(main()))
                d.addErrback(lambda f: print("error", f.getTraceback()))
                d.addBoth(lambda _: reactor.stop())

            reactor.callWhenRunning(reactor.callLater, 0, go)
            reactor.run()
            """,
            env={"LWSTP_THREADS": "3"},
        )
        self.assertIn("executor PoolExecutor", out)
        self.assertIn("context seen", out)
        self.assertRegex(out, r"resolved in \['twisted\.internet\.reactor-\d'\]")
        self.assertIn("running 3 queued 9", out)
        self.assertIn("done 12 most 3", out)
        self.assertRegex(out, r"names \['twisted\.internet\.reactor-0', "
                              r"'twisted\.internet\.reactor-1', 'twisted\.internet\.reactor-2'\]")
        self.assertNotIn("error", out)

    def test_stopping_with_queued_work_cancels_it_and_shutdown_default_executor_works(self) -> None:
        out = run_python(
            """
            import asyncio, threading
            from twisted_lwstp import asyncioreactor
            reactor = asyncioreactor.install()
            from twisted.internet import defer

            loop = reactor._asyncioEventloop
            gate = threading.Event()
            started = threading.Event()
            ran = []
            futures = []

            def blocked():
                started.set()
                gate.wait(30)
                return "ran"

            def go():
                futures.append(loop.run_in_executor(None, blocked))
                futures.extend(loop.run_in_executor(None, ran.append, i) for i in range(3))
                assert started.wait(30)
                reactor.callLater(0, stop)

            def stop():
                # After the executor's own trigger has cancelled what waits.
                reactor.addSystemEventTrigger("before", "shutdown", gate.set)
                reactor.stop()

            reactor.callWhenRunning(go)
            reactor.run()
            executor = loop._default_executor
            loop.run_until_complete(loop.shutdown_default_executor())
            print("cancelled", [f.cancelled() for f in futures])
            print("ran", ran)
            try:
                executor.submit(print)
            except RuntimeError as e:
                print("after:", e)
            """,
            env={"LWSTP_THREADS": "1"},
        )
        self.assertIn("cancelled [False, True, True, True]", out)
        self.assertIn("ran []", out)
        self.assertIn("after: cannot schedule new futures after shutdown", out)

    def test_a_loop_with_its_own_default_executor_keeps_it(self) -> None:
        out = run_python(
            """
            import asyncio, threading
            from concurrent.futures import ThreadPoolExecutor
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            mine = ThreadPoolExecutor(2, thread_name_prefix="mine")
            loop.set_default_executor(mine)
            from twisted_lwstp import asyncioreactor
            reactor = asyncioreactor.install(eventloop=loop)
            print("kept", loop._default_executor is mine)
            name = loop.run_until_complete(
                asyncio.to_thread(lambda: threading.current_thread().name))
            print("ran in", name)
            """
        )
        self.assertIn("kept True", out)
        self.assertIn("ran in mine_0", out)
