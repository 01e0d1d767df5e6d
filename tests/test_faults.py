"""
Faults, on real threads and the real reactor: each test asserts the logged
error, the final states, and that every cleanup ran exactly once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_lwstp import Task, TaskFailed, TaskReturn, TaskStatus, ThreadPool, ThreadPoolService
from twisted_lwstp._worker import live_worker_threads

from ._helpers import CleanupLog, RecordingOwner

R = TaskReturn
S = TaskStatus


def log_waiter(text: str) -> Deferred[str]:
    """A Deferred that fires with the first log event containing text."""
    d: Deferred[str] = Deferred()

    def observe(event: dict) -> None:
        message = formatEvent(event)
        if text in message and not d.called:
            globalLogPublisher.removeObserver(observe)
            reactor.callFromThread(d.callback, message)

    globalLogPublisher.addObserver(observe)
    return d


class FaultTests(TestCase):
    timeout = 60

    def pool(self, **kw) -> ThreadPool:
        pool = ThreadPool(1, 4, f"fault{id(self) % 10000}", reactor=reactor, **kw)
        pool.start()
        self.addCleanup(pool.destroy)
        return pool

    @inlineCallbacks
    def test_task_that_raises(self):
        pool = self.pool()
        cleanup = CleanupLog()

        def bad(user: object, status: TaskStatus) -> TaskReturn:
            raise KeyError("task broke")

        t = pool.enqueue(None, bad, cleanup=cleanup, user="u")
        after = pool.enqueue(None, lambda u, s: R.FINISHED, cleanup=cleanup, user="v")
        yield self.assertFailure(t.when_done(), KeyError)
        self.assertIs(t.status, S.STOPPED)
        self.assertIsInstance(t.error, KeyError)
        # The single worker survived and ran the next task.
        self.assertIs((yield after.when_done()), S.FINISHED)
        self.assertEqual(sorted(u for _, u in cleanup.calls), ["u", "v"])
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)

    @inlineCallbacks
    def test_system_exit_keyboard_interrupt_and_generator_exit_in_a_task(self):
        """
        A BaseException raised by task code ends that task STOPPED, with the
        error kept and logged; the worker lives on (one thread here runs
        every task in turn).
        """
        pool = self.pool()
        cleanup = CleanupLog()
        kinds = [SystemExit, KeyboardInterrupt, GeneratorExit]
        tasks = []
        for kind in kinds:
            def raising(user: object, status: TaskStatus, kind=kind) -> TaskReturn:
                raise kind(f"{kind.__name__} from a task")

            tasks.append(pool.enqueue(None, raising, cleanup=cleanup, user=kind.__name__,
                                      name=kind.__name__))
        after = pool.enqueue(None, lambda u, s: R.FINISHED, cleanup=cleanup, user="after")
        for kind, t in zip(kinds, tasks, strict=True):
            yield self.assertFailure(t.when_done(), kind)
            self.assertIs(t.status, S.STOPPED)
            self.assertIsInstance(t.error, kind)
        self.assertIs((yield after.when_done()), S.FINISHED)
        self.assertEqual(sorted(u for _, u in cleanup.calls),
                         sorted([k.__name__ for k in kinds] + ["after"]))
        for kind in kinds:
            self.assertEqual(len(self.flushLoggedErrors(kind)), 1)
        self.assertEqual(pool.diagnose().threads, 1)

    @inlineCallbacks
    def test_task_that_returns_garbage(self):
        pool = self.pool()
        cleanup = CleanupLog()
        t = pool.enqueue(None, lambda u, s: {"not": "a return"}, cleanup=cleanup)
        failure = yield self.assertFailure(t.when_done(), TaskFailed)
        self.assertIn("{'not': 'a return'}", str(failure))
        self.assertIs(t.status, S.STOPPED)
        self.assertEqual(len(cleanup.calls), 1)
        self.assertEqual(len(self.flushLoggedErrors(TaskFailed)), 1)

    @inlineCallbacks
    def test_cleanup_that_raises(self):
        pool = self.pool()
        calls = []

        def cleanup(owner: object, user: object) -> None:
            calls.append(user)
            raise ValueError("cleanup broke")

        t = pool.enqueue(None, lambda u, s: R.FINISHED, cleanup=cleanup, user=1)
        self.assertIs((yield t.when_done()), S.FINISHED)
        self.assertEqual(calls, [1])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    @inlineCallbacks
    def test_writable_that_raises_stops_the_syncing_task(self):
        pool = self.pool()
        cleanup = CleanupLog()

        def broken(task: Task) -> None:
            if task.status is S.SYNCING:
                raise RuntimeError("writable broke")
            pool.task_status(task)

        owner = RecordingOwner(pool, broken)
        t = pool.enqueue(owner, lambda u, s: R.STOPPED if s is S.STOPPING else R.SYNC,
                         cleanup=cleanup)
        self.assertIs((yield t.when_done()), S.STOPPED)
        self.assertEqual(owner.statuses(), [S.SYNCING, S.STOPPED])
        self.assertEqual(cleanup.calls, [(owner, None)])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    @inlineCallbacks
    def test_writable_that_never_syncs_hits_the_sync_timeout(self):
        pool = self.pool(sync_timeout=0.2)
        cleanup = CleanupLog()
        warned = log_waiter("was not synced within 0.2 s")
        owner = RecordingOwner(pool, lambda task: task.status.is_done and pool.task_status(task))
        t = pool.enqueue(owner, lambda u, s: R.STOPPED if s is S.STOPPING else R.SYNC,
                         cleanup=cleanup, name="ignored")
        message = yield warned
        self.assertIn("ignored", message)
        self.assertIs((yield t.when_done()), S.STOPPED)
        self.assertEqual(len(cleanup.calls), 1)

    @inlineCallbacks
    def test_task_that_never_checks_in_during_shutdown(self):
        pool = ThreadPool(1, 1, "stubborn", reactor=reactor)
        service = ThreadPoolService(pool, shutdown_warning=0.2)
        service.startService()
        release = threading.Event()
        running: Deferred[None] = Deferred()
        cleanup = CleanupLog()

        def stubborn(user: object, status: TaskStatus) -> TaskReturn:
            reactor.callFromThread(lambda: running.called or running.callback(None))
            release.wait(60)  # deaf to stops until released; bounded
            return R.STOPPED if status is S.STOPPING else R.CHECKING_IN

        t = pool.enqueue(None, stubborn, cleanup=cleanup, name="deaf task")
        yield running
        warned = log_waiter("still waits after")
        stopped = service.stopService()
        message = yield warned
        self.assertIn("deaf task (STOPPING)", message)
        self.assertFalse(stopped.called)
        release.set()
        yield stopped
        self.assertIs(t.status, S.STOPPED)
        self.assertEqual(len(cleanup.calls), 1)
        self.assertEqual([th for th in live_worker_threads() if th.name.startswith("stubborn-")], [])


class ReactorStopTests(SynchronousTestCase):
    def test_reactor_stopping_while_tasks_wait_in_sync_does_not_hang(self) -> None:
        script = textwrap.dedent(
            """
            import threading
            from twisted.internet import reactor
            from zope.interface import implementer
            from twisted_lwstp import ITaskOwner, TaskReturn, TaskStatus, ThreadPool

            @implementer(ITaskOwner)
            class Deaf:
                def writable(self, task):
                    pass  # never syncs

            pool = ThreadPool(3, 0, "deaf", reactor=reactor)
            told = []
            synced = []

            def task(user, status):
                told.append(status)
                if status is TaskStatus.STOPPING:
                    return TaskReturn.STOPPED
                if len(synced) < 3:
                    synced.append(1)
                    if len(synced) == 3:
                        reactor.callFromThread(reactor.stop)
                return TaskReturn.SYNC

            def start():
                pool.start()
                for _ in range(3):
                    pool.enqueue(Deaf(), task)

            reactor.callWhenRunning(start)
            reactor.run()
            alive = [t.name for t in threading.enumerate() if t.name.startswith("deaf-")]
            print("stopped", told.count(TaskStatus.STOPPING), "alive", alive)
            """
        )
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=60, env=dict(os.environ))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("stopped 3 alive []", proc.stdout)

    def test_program_still_stops_on_sigint_after_tasks_raised_base_exceptions(self) -> None:
        script = textwrap.dedent(
            """
            import os, signal, threading

            # As a shell's foreground job: a background job (make ... &)
            # starts with SIGINT ignored, and Twisted then leaves SIGINT
            # alone, so that Ctrl-C could never stop this program.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            from twisted.internet import reactor
            from twisted_lwstp import TaskReturn, ThreadPool

            pool = ThreadPool(2, 4, "brave", reactor=reactor)

            def interrupted(user, status):
                raise KeyboardInterrupt("from a task")

            def exiting(user, status):
                raise SystemExit(3)

            def start():
                pool.start()
                a = pool.enqueue(None, interrupted).when_done()
                b = pool.enqueue(None, exiting).when_done()
                for d in (a, b):
                    d.addErrback(lambda f: print("task ended with", f.type.__name__))
                a.addBoth(lambda _: b).addBoth(
                    lambda _: os.kill(os.getpid(), signal.SIGINT))

            reactor.addSystemEventTrigger("before", "shutdown", lambda: print("shutting down"))
            reactor.callWhenRunning(start)
            reactor.run()
            alive = [t.name for t in threading.enumerate() if t.name.startswith("brave-")]
            print("stopped alive", alive)
            """
        )
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=60, env=dict(os.environ))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("task ended with KeyboardInterrupt", proc.stdout)
        self.assertIn("task ended with SystemExit", proc.stdout)
        self.assertIn("shutting down", proc.stdout)
        self.assertIn("stopped alive []", proc.stdout)
