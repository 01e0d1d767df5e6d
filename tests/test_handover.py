"""
L{twisted_lwstp._handover.HandOver} by itself: what the reactor thread
calls on an owner for each kind of event, in which order (rule 16: a
task's batch before the C{writable()} of a later SYNC or of its end), and
what happens when an owner raises.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from twisted.python.reflect import safe_repr
from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp import MessageWindow, TaskStatus
from twisted_lwstp._handover import HandOver
from twisted_lwstp._state import DONE_EVENT, SYNC_EVENT, WINDOW_EVENT

from ._helpers import LogCapture

S = TaskStatus


class Owner:
    def __init__(self, raise_in: str = "") -> None:
        self.calls: list[tuple[str, Any]] = []
        self.raise_in = raise_in

    def deliver(self, task: Any, messages: list[Any]) -> None:
        self.calls.append(("deliver", (task, messages)))
        if self.raise_in == "deliver":
            raise ValueError("deliver broke")

    def writable(self, task: Any) -> None:
        self.calls.append(("writable", task))
        if self.raise_in == "writable":
            raise ValueError("writable broke")

    def __repr__(self) -> str:
        return "<the owner>"


class HandOverTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.released: list[tuple[Any, bool]] = []
        self.stopped: list[Any] = []

        def stop(task: Any) -> None:
            self.stopped.append(task)
            task._status = S.STOPPING

        self.hand_over = HandOver(lambda task, stop: self.released.append((task, stop)), stop)

    def task(self, status: TaskStatus, messages: list[Any] = ()) -> Any:  # type: ignore[assignment]
        window: MessageWindow[Any] = MessageWindow(8)
        window.bind(SimpleNamespace(name="t"), lambda: False, lambda: None, closed=False)
        for message in messages:
            window.put(message)
        return SimpleNamespace(window=window, _status=status, name="t")

    def test_a_batch_goes_before_the_writable_of_a_sync_or_an_end(self) -> None:
        for kind, status in ((SYNC_EVENT, S.SYNCING), (DONE_EVENT, S.FINISHED)):
            owner = Owner()
            task = self.task(status, [1, 2])
            self.hand_over(owner, kind, task)
            self.assertEqual(owner.calls, [("deliver", (task, [1, 2])), ("writable", task)])
        self.assertEqual((self.hand_over.batches, self.hand_over.delivered), (2, 4))

    def test_a_window_event_delivers_only(self) -> None:
        owner = Owner()
        task = self.task(S.RUNNING, ["a"])
        self.hand_over(owner, WINDOW_EVENT, task)
        self.assertEqual(owner.calls, [("deliver", (task, ["a"]))])
        # Nothing held: no empty batch.
        self.hand_over(owner, WINDOW_EVENT, task)
        self.assertEqual(len(owner.calls), 1)

    def test_no_window_writable_only(self) -> None:
        owner = Owner()
        task = SimpleNamespace(window=None, _status=S.SYNCING, name="t")
        self.hand_over(owner, SYNC_EVENT, task)
        self.assertEqual(owner.calls, [("writable", task)])

    def test_a_raising_deliver_stops_the_task_and_its_sync_goes_no_further(self) -> None:
        owner = Owner(raise_in="deliver")
        task = self.task(S.SYNCING, [1, 2, 3])
        with LogCapture() as log:
            self.hand_over(owner, SYNC_EVENT, task)
        self.assertEqual(self.stopped, [task])
        self.assertEqual([kind for kind, _ in owner.calls], ["deliver"])
        (event,) = [e for e in log.events if e.get("log_failure") is not None]
        self.assertEqual(event["log_format"],
                         "deliver() of {owner} raised for {task}; its {count} messages are lost")
        self.assertEqual((event["owner"], event["task"], event["count"]),
                         (safe_repr(owner), "t", 3))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_a_raising_deliver_at_the_end_still_lets_the_owner_reap(self) -> None:
        owner = Owner(raise_in="deliver")
        task = self.task(S.FINISHED, [1])
        with LogCapture():
            self.hand_over(owner, DONE_EVENT, task)
        self.assertEqual(self.stopped, [])  # done: nothing to stop
        self.assertEqual([kind for kind, _ in owner.calls], ["deliver", "writable"])
        self.flushLoggedErrors(ValueError)

    def test_a_raising_writable_stops_a_task_left_in_sync_only(self) -> None:
        owner = Owner(raise_in="writable")
        syncing = SimpleNamespace(window=None, _status=S.SYNCING, name="s")
        done = SimpleNamespace(window=None, _status=S.FINISHED, name="d")
        with LogCapture() as log:
            self.hand_over(owner, SYNC_EVENT, syncing)
            self.hand_over(owner, DONE_EVENT, done)
        self.assertEqual(self.released, [(syncing, True)])
        formats = [e["log_format"] for e in log.events if e.get("log_failure") is not None]
        self.assertEqual(formats, ["writable() of {owner} raised for {task}"] * 2)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 2)
