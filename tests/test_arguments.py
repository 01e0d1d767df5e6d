"""
Bad arguments to every public constructor and method are refused with a
specific exception and a message that says what was wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp import TaskReturn, ThreadPool, ThreadPoolService
from twisted_lwstp.testing import PoolHarness


def ok_task(user: object, status: object) -> TaskReturn:
    return TaskReturn.FINISHED


class ConstructorArgumentTests(SynchronousTestCase):
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"threads": 0}, ValueError, "threads must be >= 1, got 0"),
        ({"threads": -3}, ValueError, "threads must be >= 1"),
        ({"threads": 2.0}, TypeError, "threads must be an int, not float"),
        ({"threads": "3"}, TypeError, "threads must be an int, not str"),
        ({"threads": True}, TypeError, "threads must be an int, not bool"),
        ({"max_queue_depth": -1}, ValueError, "max_queue_depth must be >= 0, got -1"),
        ({"max_queue_depth": None}, TypeError, "max_queue_depth must be an int, not NoneType"),
        ({"name": ""}, ValueError, "name must be a non-empty str"),
        ({"name": 7}, TypeError, "name must be a non-empty str"),
        ({"sync_timeout": 0}, ValueError, "sync_timeout must be > 0"),
        ({"sync_timeout": -1.5}, ValueError, "sync_timeout must be > 0"),
        ({"sync_timeout": float("inf")}, ValueError, "sync_timeout must be > 0 and finite, got inf"),
        ({"sync_timeout": float("nan")}, ValueError, "sync_timeout must be > 0"),
        ({"sync_timeout": "5"}, TypeError, "sync_timeout must be a number, not str"),
        ({"clock": 5}, TypeError, "clock must be callable"),
        ({"min_threads": -1}, ValueError, "min_threads must be >= 0, got -1"),
        ({"min_threads": "2"}, TypeError, "min_threads must be an int, not str"),
        ({"threads": 2, "min_threads": 3}, ValueError, "min_threads (3) must be <= threads (2)"),
    ]

    def test_thread_pool_constructor(self) -> None:
        for change, exc, message in self.cases:
            kwargs: dict[str, Any] = {
                "threads": 1, "max_queue_depth": 1, "reactor": PoolHarness().reactor,
            }
            kwargs.update(change)
            with self.assertRaises(exc, msg=str(change)) as caught:
                ThreadPool(**kwargs)
            # The message starts with what was wrong (no wrapper text).
            self.assertTrue(str(caught.exception).startswith(message),
                            f"{change}: {caught.exception}")

    def test_defaults(self) -> None:
        ticks = [100.0]
        pool = ThreadPool(1, 1, reactor=PoolHarness().reactor, clock=lambda: ticks[0])
        self.assertEqual(pool.sync_timeout, 300.0)
        pool.enqueue(None, ok_task)
        ticks[0] = 103.0
        # The pool reads the clock it was given, not its reactor's.
        (info,) = pool.dump_tasks()
        self.assertEqual(info.ms_alive, 3000.0)

    def test_unnamed_pools_each_get_a_name_of_their_own(self) -> None:
        reactor = PoolHarness().reactor
        first, second = (ThreadPool(1, 1, reactor=reactor) for _ in range(2))
        self.assertRegex(first.name, r"^lwstp-pool-\d+$")
        self.assertRegex(second.name, r"^lwstp-pool-\d+$")
        self.assertNotEqual(first.name, second.name)
        self.assertNotEqual(first.name, "lwstp")  # the demo's own pool's name
        self.assertEqual(ThreadPool(1, 1, "crunch", reactor=reactor).name, "crunch")

    def test_service_constructor(self) -> None:
        pool = PoolHarness().pool
        self.assertRaises(TypeError, ThreadPoolService, object())
        self.assertRaises(TypeError, ThreadPoolService, pool, shutdown_warning="5")
        with self.assertRaises(ValueError) as caught:
            ThreadPoolService(pool, shutdown_warning=0)
        self.assertIn("shutdown_warning must be > 0", str(caught.exception))


class MethodArgumentTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = PoolHarness(1, 2)
        self.h.pool.start()
        other = PoolHarness(1, 2)
        self.foreign = other.pool.enqueue(None, ok_task)

    def tearDown(self) -> None:
        self.h.pool.destroy()
        self.h.run()

    def check(self, call: Callable[[], object], exc: type[Exception], message: str) -> None:
        with self.assertRaises(exc) as caught:
            call()
        self.assertIn(message, str(caught.exception))

    def test_enqueue(self) -> None:
        pool = self.h.pool
        self.check(lambda: pool.enqueue(object(), ok_task), TypeError,
                   "owner must provide ITaskOwner or be None, not object")
        self.check(lambda: pool.enqueue(None, "nope"), TypeError,  # type: ignore[arg-type]
                   "task must be callable, not str")
        self.check(lambda: pool.enqueue(None, ok_task, cleanup=3), TypeError,  # type: ignore[arg-type]
                   "cleanup must be callable, not int")
        self.check(lambda: pool.enqueue(None, ok_task, name=b"x"), TypeError,  # type: ignore[arg-type]
                   "name must be a str, not bytes")

        class Exploding:
            def __getattribute__(self, name: str) -> Any:
                raise RuntimeError("no attributes")

        self.check(lambda: pool.enqueue(Exploding(), ok_task), TypeError,
                   "owner of type Exploding could not be checked for ITaskOwner: "
                   "RuntimeError from its attributes")
        # Nothing was created by the refused calls.
        self.assertEqual(pool.diagnose().running, 0)

    def test_task_methods(self) -> None:
        pool = self.h.pool
        for method in (pool.dequeue_task, pool.task_sync, pool.task_status, pool.task_status_noreap):
            self.check(partial(method, "task"), TypeError, "takes a Task from enqueue(), not str")
            self.check(partial(method, self.foreign), ValueError, "belongs to another pool")

    def test_conveniences(self) -> None:
        pool = self.h.pool
        self.check(lambda: pool.defer_to_thread(5), TypeError, "f must be callable, not int")  # type: ignore[arg-type]
        self.check(lambda: pool.callInThread(None), TypeError, "func must be callable")  # type: ignore[arg-type]

    def test_lifecycle_misuse(self) -> None:
        pool = self.h.pool
        self.check(pool.start, RuntimeError, "already started")
        fresh = PoolHarness(1, 1).pool
        fresh.finish()
        self.check(fresh.start, RuntimeError, "finishing and cannot start")
