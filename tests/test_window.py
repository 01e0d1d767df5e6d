"""
A task's message window (model rules 15 to 18): many messages per wake-up,
in order and exactly once, flow-controlled, and stopped as a SYNC is.
Stepped workers make each case deterministic; the last tests run real
threads on the real reactor.
"""

from __future__ import annotations

import threading
from typing import Any

from twisted.internet import defer, reactor
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_lwstp import (
    ITaskOwner,
    MessageWindow,
    QueueFull,
    Task,
    TaskReturn,
    TaskStatus,
    ThreadPool,
    WindowFull,
)

from ._helpers import CleanupLog, HarnessCase, LogCapture
from .test_pool_threads import _Threaded

R = TaskReturn
S = TaskStatus


@implementer(ITaskOwner)
class Owner:
    """Records what it is handed; lets SYNCs go on and reaps."""

    def __init__(self, pool: ThreadPool | None = None) -> None:
        self.pool = pool
        self.calls: list[tuple[str, Any]] = []
        self.raise_in_deliver = False

    def deliver(self, task: Task, messages: list[Any]) -> None:
        self.calls.append(("deliver", list(messages)))
        if self.raise_in_deliver:
            raise RuntimeError("deliver() failed")

    def writable(self, task: Task) -> None:
        self.calls.append(("writable", task.status))
        assert self.pool is not None
        if task.status is S.SYNCING:
            self.pool.task_sync(task)
        elif task.status.is_done:
            self.pool.task_status(task)

    @property
    def delivered(self) -> list[Any]:
        return [m for kind, batch in self.calls if kind == "deliver" for m in batch]


class Putter:
    """
    A task that puts the messages of each step in turn into C{window}, then
    returns that step's value; when a put says the window is full, it
    returns SYNC and goes on with the rest of the step when released.
    """

    def __init__(self, window: MessageWindow[Any], steps: list[tuple[list[Any], Any]]) -> None:
        self.window = window
        self.steps = steps
        self.pending: list[Any] = []
        self.told: list[TaskStatus] = []
        self.puts: list[bool] = []

    def __call__(self, user: Any, status: TaskStatus) -> Any:
        self.told.append(status)
        if status is S.STOPPING:
            return R.STOPPED
        while True:
            if not self.pending:
                if not self.steps:
                    return R.FINISHED
                messages, self.then = self.steps.pop(0)
                self.pending = list(messages)
            while self.pending:
                room = self.window.put(self.pending.pop(0))
                self.puts.append(room)
                if not room:
                    return R.SYNC
            return self.then


class WindowTests(HarnessCase):
    def enqueue(self, h: Any, owner: Any, steps: list[tuple[list[Any], Any]],
                size: int = 8, cleanup: Any = None) -> tuple[Task, Putter]:
        window: MessageWindow[Any] = MessageWindow(size)
        putter = Putter(window, steps)
        task = h.pool.enqueue(owner, putter, cleanup=cleanup, window=window)
        return task, putter

    def test_one_batch_per_wake_up_in_order_before_the_end(self) -> None:
        h = self.harness()
        owner = Owner(h.pool)
        task, _ = self.enqueue(h, owner, [([0, 1, 2], R.CHECKING_IN), ([3, 4], R.FINISHED)])
        h.step()  # puts 0, 1, 2: one event, one wake-up
        h.step()  # puts 3, 4 (the event is on its way: none more), ends
        h.step()
        self.assertEqual(h.flush(), 1)
        self.assertEqual(owner.calls, [("deliver", [0, 1, 2, 3, 4]), ("writable", S.FINISHED)])
        self.assertTrue(task.reaped)
        self.assertEqual(task.window.dropped, 0)

    def test_a_batch_goes_before_the_writable_of_a_later_sync(self) -> None:
        h = self.harness()
        owner = Owner(h.pool)
        task, putter = self.enqueue(h, owner, [(["a"], R.SYNC), (["b"], R.FINISHED)])
        h.step()
        h.flush()
        self.assertEqual(owner.calls, [("deliver", ["a"]), ("writable", S.SYNCING)])
        h.run()
        self.assertEqual(owner.calls[2:], [("deliver", ["b"]), ("writable", S.FINISHED)])
        self.assertEqual(putter.told, [S.RUNNING, S.RUNNING])

    def test_a_full_window_blocks_the_task_in_sync_until_delivered(self) -> None:
        h = self.harness()
        owner = Owner(h.pool)
        task, putter = self.enqueue(h, owner, [(list(range(5)), R.FINISHED)], size=2)
        h.step()  # 0, 1: full: SYNC
        self.assertEqual(putter.puts, [True, False])
        self.assertIs(task.status, S.SYNCING)
        self.assertEqual(len(task.window), 2)
        # A put while full is a bug of the task's, refused plainly.
        with self.assertRaises(WindowFull) as caught:
            task.window.put("extra")
        self.assertIn("full (2 messages): return SYNC when put() returns False",
                      str(caught.exception))
        h.run()
        self.assertEqual(owner.delivered, [0, 1, 2, 3, 4])
        self.assertIs(task.status, S.FINISHED)

    def test_flow_control_holds_the_window_and_the_task_blocks(self) -> None:
        h = self.harness()
        owner = Owner(h.pool)
        h.pool.pause_owner(owner)
        task, putter = self.enqueue(h, owner, [(list(range(6)), R.FINISHED)], size=3)
        h.run()
        # Nothing delivered while paused: the window filled, the task SYNCed.
        self.assertEqual(owner.calls, [])
        self.assertIs(task.status, S.SYNCING)
        self.assertEqual(len(task.window), 3)
        h.pool.resume_owner(owner)
        # The held batch, then the held SYNC's writable (which releases it).
        self.assertEqual(owner.calls, [("deliver", [0, 1, 2]), ("writable", S.SYNCING)])
        h.run()
        self.assertEqual(owner.delivered, list(range(6)))
        self.assertEqual(owner.calls[-1], ("writable", S.FINISHED))

    def test_pausing_inside_deliver_holds_the_next_sync(self) -> None:
        h = self.harness()
        pool = h.pool

        class Pauser(Owner):
            def deliver(self, task: Task, messages: list[Any]) -> None:
                super().deliver(task, messages)
                pool.pause_owner(self)  # the transport filled up

        owner = Pauser(pool)
        task, _ = self.enqueue(h, owner, [(list(range(4)), R.FINISHED)], size=2)
        h.run()
        # The batch paused the owner: the SYNC after it is held.
        self.assertEqual(owner.calls, [("deliver", [0, 1])])
        self.assertIs(task.status, S.SYNCING)
        pool.resume_owner(owner)
        self.assertEqual(owner.calls[1:], [("writable", S.SYNCING)])
        h.run()
        self.assertEqual(owner.calls[2:], [("deliver", [2, 3])])
        pool.resume_owner(owner)
        h.run()
        self.assertEqual(owner.calls[3:], [("writable", S.SYNCING), ("writable", S.FINISHED)])

    def test_owner_leaving_with_a_full_window_stops_the_task_and_drops_the_messages(self) -> None:
        h = self.harness()
        owner = Owner(h.pool)
        h.pool.pause_owner(owner)
        cleanup = CleanupLog()
        task, putter = self.enqueue(h, owner, [(list(range(10)), R.FINISHED)], size=4,
                                    cleanup=cleanup)
        h.run()
        self.assertIs(task.status, S.SYNCING)
        h.pool.owner_closing(owner)
        h.run()
        self.assertEqual(putter.told, [S.RUNNING, S.STOPPING])
        self.assertIs(task.status, S.STOPPED)
        self.assertEqual(owner.calls, [])
        self.assertEqual(task.window.dropped, 4)
        self.assertEqual(cleanup.calls, [(None, None)])
        self.assertTrue(task.reaped)

    def test_an_outlive_task_goes_on_and_its_messages_are_dropped(self) -> None:
        h = self.harness()
        owner = Owner(h.pool)
        h.pool.pause_owner(owner)
        task, putter = self.enqueue(
            h, owner, [([1, 2, 3], R.CHECKING_IN | R.OUTLIVE), (list(range(50)), R.FINISHED)],
            size=4)
        h.step()
        h.pool.owner_closing(owner)
        h.run()
        # Never blocked: with nobody to take them, puts have room.
        self.assertEqual(putter.told, [S.RUNNING, S.RUNNING])
        self.assertTrue(all(putter.puts))
        self.assertIs(task.status, S.FINISHED)
        self.assertTrue(task.reaped)
        self.assertEqual(task.window.dropped, 53)
        self.assertEqual(owner.calls, [])

    def test_a_task_without_an_owner_drops_what_it_puts(self) -> None:
        h = self.harness()
        task, putter = self.enqueue(h, None, [(list(range(20)), R.FINISHED)], size=2)
        h.run()
        self.assertTrue(all(putter.puts))
        self.assertTrue(task.reaped)
        self.assertEqual(task.window.dropped, 20)

    def test_sync_timeout_applies_to_a_task_blocked_on_a_full_window(self) -> None:
        h = self.harness(sync_timeout=5.0)
        owner = Owner(h.pool)
        h.pool.pause_owner(owner)
        task, putter = self.enqueue(h, owner, [(list(range(10)), R.FINISHED)], size=2)
        h.run()
        self.assertIs(task.status, S.SYNCING)
        h.reactor.advance(4.9)
        self.assertIs(task.status, S.SYNCING)
        h.reactor.advance(0.2)
        h.run()
        self.assertEqual(putter.told, [S.RUNNING, S.STOPPING])
        self.assertIs(task.status, S.STOPPED)

    def test_a_raising_deliver_is_logged_and_the_task_asked_to_stop(self) -> None:
        h = self.harness()
        owner = Owner(h.pool)
        owner.raise_in_deliver = True
        task, putter = self.enqueue(h, owner, [([1, 2], R.CHECKING_IN), ([3], R.FINISHED)])
        h.step()
        with LogCapture() as log:
            h.flush()
        failures = [e for e in log.events if e.get("log_failure") is not None]
        self.assertEqual(len(failures), 1)
        self.assertEqual(failures[0]["count"], 2)
        self.assertEqual(failures[0]["task"], task.name)
        self.assertIn("deliver() of", failures[0]["log_format"])
        h.run()
        self.assertEqual(putter.told, [S.RUNNING, S.STOPPING])
        self.assertIs(task.status, S.STOPPED)
        for failure in failures:
            failure["log_failure"].cleanFailure()
        self.flushLoggedErrors(RuntimeError)

    def test_counts_for_metrics(self) -> None:
        h = self.harness()
        owner = Owner(h.pool)
        self.enqueue(h, owner, [([1, 2], R.SYNC), ([3], R.FINISHED)])
        h.run()
        snap = h.pool.snapshot()
        self.assertEqual((snap.window_batches, snap.window_messages), (2, 3))


class WindowRefusalTests(HarnessCase):
    def test_size_is_checked(self) -> None:
        with self.assertRaises(ValueError):
            MessageWindow(0)
        with self.assertRaises(TypeError):
            MessageWindow(2.0)  # type: ignore[arg-type]
        self.assertEqual(MessageWindow(3).size, 3)

    def test_a_window_must_be_a_window(self) -> None:
        h = self.harness()
        with self.assertRaises(TypeError) as caught:
            h.pool.enqueue(None, lambda u, s: R.FINISHED, window=8)  # type: ignore[arg-type]
        self.assertEqual(str(caught.exception), "window must be a MessageWindow or None, not int")

    def test_the_owner_must_have_deliver(self) -> None:
        h = self.harness()

        @implementer(ITaskOwner)
        class NoDeliver:
            def writable(self, task: Task) -> None:
                pass

        with self.assertRaises(TypeError) as caught:
            h.pool.enqueue(NoDeliver(), lambda u, s: R.FINISHED, window=MessageWindow(2))
        self.assertEqual(str(caught.exception), "owner of a task with a window must have "
                                                "deliver(task, messages); NoDeliver has none")

    def test_a_window_serves_one_task(self) -> None:
        h = self.harness()
        window: MessageWindow[Any] = MessageWindow(2)
        h.pool.enqueue(None, lambda u, s: R.FINISHED, window=window)
        with self.assertRaises(ValueError) as caught:
            h.pool.enqueue(None, lambda u, s: R.FINISHED, window=window)
        self.assertIn("is the window of another task already", str(caught.exception))
        h.run()

    def test_a_refused_task_leaves_its_window_free(self) -> None:
        h = self.harness(threads=1, depth=0)
        owner = Owner(h.pool)
        h.pool.enqueue(None, lambda u, s: R.FINISHED)
        window: MessageWindow[Any] = MessageWindow(2)
        with self.assertRaises(QueueFull):
            h.pool.enqueue(owner, lambda u, s: R.FINISHED, window=window)
        self.assertIsNone(window.task)
        h.run()
        task = h.pool.enqueue(owner, lambda u, s: R.FINISHED, window=window)
        self.assertIs(window.task, task)
        h.run()

    def test_put_on_a_window_no_task_owns_is_refused(self) -> None:
        with self.assertRaises(RuntimeError) as caught:
            MessageWindow(2).put("x")
        self.assertIn("give it to enqueue(..., window=...) first", str(caught.exception))

    def test_repr_names_the_task_and_the_fill(self) -> None:
        h = self.harness()
        window: MessageWindow[Any] = MessageWindow(4)
        self.assertEqual(repr(window), "<MessageWindow 0/4>")
        task = h.pool.enqueue(Owner(h.pool), lambda u, s: R.FINISHED, window=window,
                              name="t1")
        self.assertEqual(repr(window), "<MessageWindow of 't1' 0/4>")
        self.assertIs(task.window, window)
        h.run()


class RealThreadWindowTests(_Threaded):
    """Real workers, the real reactor: every message once, in order."""

    @defer.inlineCallbacks
    def test_many_messages_with_flow_control(self) -> Any:
        count = 20_000
        pool = self.make_pool(threads=2, depth=4, name="window-real")
        done: defer.Deferred[None] = defer.Deferred()
        seen: list[int] = []
        threads: set[str] = set()

        class Consumer(Owner):
            batches = 0

            def deliver(self, task: Task, messages: list[Any]) -> None:
                threads.add(threading.current_thread().name)
                seen.extend(messages)
                self.batches += 1
                if self.batches % 3 == 0:
                    # Flow control, as a full transport would: paused
                    # now, resumed in a later turn.
                    pool.pause_owner(self)
                    reactor.callLater(0, pool.resume_owner, self)

            def writable(self, task: Task) -> None:
                super().writable(task)
                if task.reaped:
                    done.callback(None)

        owner = Consumer(pool)
        window: MessageWindow[int] = MessageWindow(16)
        putter = Putter(window, [(list(range(count)), R.FINISHED)])
        task = pool.enqueue(owner, putter, window=window)
        yield done
        self.assertEqual(seen, list(range(count)))
        self.assertEqual(threads, {threading.current_thread().name})
        self.assertIs(task.status, S.FINISHED)
        self.assertLess(owner.batches, count)


class _Named:
    name = "stub"


class WindowAloneTests(SynchronousTestCase):
    """The window by itself: one post per batch, wake-ups as the pool says."""

    def bound(self, size: int = 3, wake_needed: bool = True) -> tuple[MessageWindow[Any],
                                                                      list[str]]:
        calls: list[str] = []

        def post() -> bool:
            calls.append("post")
            return wake_needed

        window: MessageWindow[Any] = MessageWindow(size)
        window.bind(_Named(), post, lambda: calls.append("wake"), closed=False)
        return window, calls

    def test_one_post_per_batch(self) -> None:
        window, calls = self.bound()
        self.assertEqual([window.put(1), window.put(2)], [True, True])
        self.assertEqual(calls, ["post", "wake"])
        self.assertEqual(window.take(), [1, 2])
        self.assertEqual(window.take(), [])
        self.assertFalse(window.put(3) and window.put(4) and window.put(5))
        self.assertEqual(calls, ["post", "wake", "post", "wake"])
        self.assertEqual(len(window), 3)

    def test_no_wake_when_one_is_on_its_way(self) -> None:
        window, calls = self.bound(wake_needed=False)
        window.put(1)
        self.assertEqual(calls, ["post"])

    def test_a_window_of_one(self) -> None:
        window, _ = self.bound(size=1)
        self.assertFalse(window.put("only"))
        with self.assertRaises(WindowFull):
            window.put("more")

    def test_size_errors_name_it(self) -> None:
        for size, error, message in ((0, ValueError, "size must be >= 1, got 0"),
                                     (2.0, TypeError, "size must be an int, not float")):
            with self.assertRaises(error) as caught:
                MessageWindow(size)  # type: ignore[arg-type]
            self.assertEqual(str(caught.exception), message)

    def test_closed_drops_and_counts(self) -> None:
        window, calls = self.bound()
        window.put(1)
        self.assertEqual(window.close(), 1)
        self.assertTrue(window.put(2))
        self.assertEqual((len(window), window.dropped, calls), (0, 2, ["post", "wake"]))

    def test_an_unbound_window_refuses_puts_again(self) -> None:
        window, _ = self.bound()
        window.unbind()
        self.assertIsNone(window.task)
        with self.assertRaises(RuntimeError) as caught:
            window.put(1)
        self.assertEqual(str(caught.exception),
                         "put() on a MessageWindow that no task owns: give it to "
                         "enqueue(..., window=...) first")
