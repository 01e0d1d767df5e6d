"""
L{PoolState} alone: each locked transition, driven directly in one
thread, with what it returns for its caller to do (a worker to start, the
reactor to wake) and what it leaves in the figures.  The pool's other
tests drive the same transitions through the public API and real or
stepped workers.
"""

from __future__ import annotations

from contextvars import copy_context
from typing import Any

from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp import PoolFinished, QueueFull, TaskStatus
from twisted_lwstp._calls import CallInThread
from twisted_lwstp._staff import Worker
from twisted_lwstp._state import (
    ASKED,
    DONE,
    DONE_EVENT,
    DROPPED,
    EXIT_EVENT,
    SYNC_EVENT,
    PoolState,
)
from twisted_lwstp._task import Task

S = TaskStatus


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def woken(worker: Worker) -> bool:
    """Whether the worker's wake lock was released (then hold it again)."""
    if worker.wake.acquire(blocking=False):
        return True
    return False


class StateCase(SynchronousTestCase):
    def make(self, max_threads: int = 2, min_threads: int | None = None, depth: int = 2,
             on_demand: bool = False) -> PoolState:
        self.clock = Clock()
        low = max_threads if min_threads is None else min_threads
        return PoolState("st", max_threads, low, on_demand, depth, self.clock)

    def task(self, name: str = "t", owner: Any = None) -> Task:
        return Task(object(), owner, lambda u, s: 0, None, None, name, copy_context(),
                    self.clock.now)

    def started(self, state: PoolState) -> list[Worker]:
        hired = state.start(self.clock.now)
        for worker in hired:
            self.assertFalse(woken(worker))  # idle: nobody woke it
        return hired


class AdmissionTests(StateCase):
    def test_a_task_goes_to_the_idle_worker_that_ran_last(self) -> None:
        state = self.make()
        w0, w1 = self.started(state)
        self.clock.now = 1.5
        t = self.task()
        self.assertIsNone(state.admit(t))
        # start() turned the idle stack over: worker 0 takes fresh work first.
        self.assertIs(w0.item, t)
        self.assertIs(w0.current, t)
        self.assertTrue(woken(w0))
        self.assertFalse(woken(w1))
        self.assertEqual((t.status, t._worker, t._t_started), (S.RUNNING, w0, 1.5))
        f = state.figures()
        self.assertEqual((f.running, f.idle, f.queued, f.queued_tasks), (1, 1, 0, 0))

    def test_a_task_that_finds_no_worker_waits_then_the_queue_refuses(self) -> None:
        state = self.make(max_threads=1, depth=1)
        self.started(state)
        state.admit(self.task("runs"))
        waits = self.task("waits")
        state.admit(waits)
        self.assertIs(waits.status, S.QUEUED)
        with self.assertRaises(QueueFull) as e:
            state.admit(self.task("refused"))
        self.assertEqual(str(e.exception), "pool 'st' is full: 1 threads busy and 1 tasks "
                         "queued (max_queue_depth=1)")
        self.assertEqual(state.figures().queued_tasks, 1)

    def test_nothing_is_admitted_while_finishing(self) -> None:
        state = self.make()
        self.started(state)
        state.finish(0.0)
        with self.assertRaises(PoolFinished) as e:
            state.admit(self.task())
        self.assertEqual(str(e.exception), "pool 'st' is finishing")
        self.assertEqual(state.admit_call(CallInThread(None, print, (), {})), (False, None))

    def test_an_on_demand_pool_hires_for_work_that_finds_nobody(self) -> None:
        state = self.make(max_threads=1, min_threads=0, on_demand=True)
        self.assertEqual(self.started(state), [])
        t = self.task()
        hired = state.admit(t)
        assert hired is not None
        self.assertEqual((hired.name, hired.item), ("st-0", t))
        self.assertTrue(woken(hired))
        self.assertIs(state.admit(self.task("queued")), None)  # at its most: it waits
        self.assertEqual(state.figures().threads, 1)

    def test_calls_are_never_refused_and_do_not_count_as_tasks(self) -> None:
        state = self.make(max_threads=1, depth=0)
        (w,) = self.started(state)
        first = CallInThread(None, print, (), {})
        self.assertEqual(state.admit_call(first), (True, None))
        self.assertIs(w.current, first)
        second = CallInThread(None, print, (), {})
        self.assertEqual(state.admit_call(second), (True, None))
        f = state.figures()
        self.assertEqual((f.running, f.queued, f.queued_tasks), (1, 1, 0))
        self.assertIs(state.end_call(w), second)
        self.assertEqual(state.figures().running, 1)
        self.assertIsNone(state.end_call(w))
        self.assertEqual(state.figures().idle, 1)


class WorkerTransitionTests(StateCase):
    def running(self, owner: Any = "owner") -> tuple[PoolState, Worker, Task]:
        state = self.make(max_threads=1, depth=4)
        (w,) = self.started(state)
        t = self.task(owner=owner)
        state.admit(t)
        woken(w)
        return state, w, t

    def test_enter_sync_posts_one_event_and_asks_for_one_wake_up(self) -> None:
        state, w, t = self.running()
        self.clock.now = 2.0
        self.assertIs(state.enter_sync(t, 2.0), True)
        self.assertEqual((t.status, t._run, t._t_state, t._sync_serial), (S.SYNCING, 2.0, 2.0, 1))
        self.assertEqual(state.figures().in_sync, 1)
        self.assertTrue(state.release(t, False, 5.0))
        self.assertEqual((t.status, t._sync), (S.RUNNING, 3.0))
        self.assertTrue(woken(w))
        # A second SYNC before the reactor drained rides on the first wake-up.
        self.assertIs(state.enter_sync(t, 6.0), False)
        self.assertEqual(t._sync_serial, 2)
        self.assertEqual(state.take_events(), [(SYNC_EVENT, t), (SYNC_EVENT, t)])

    def test_a_task_stopped_or_without_owner_does_not_enter_sync(self) -> None:
        state, _, t = self.running(owner=None)
        self.assertIsNone(state.enter_sync(t, 1.0))
        state2, _, t2 = self.running()
        self.assertEqual(state2.dequeue(t2, 1.0), ASKED)
        self.assertIsNone(state2.enter_sync(t2, 1.0))
        self.assertEqual((t.status, t2.status), (S.RUNNING, S.STOPPING))
        self.assertEqual(state2.figures().in_sync, 0)
        self.assertEqual(state2.take_events(), [])

    def test_end_records_the_error_and_hands_the_next_task_over(self) -> None:
        state, w, t = self.running()
        nxt = self.task("next")
        state.admit(nxt)
        failure = Failure(ValueError("boom"))
        item, wake = state.end_task(t, w, S.STOPPED, failure, 4.0)
        self.assertEqual((item, wake), (nxt, True))
        self.assertEqual((t.status, t._t_ended, t._worker, t._run), (S.STOPPED, 4.0, None, 4.0))
        self.assertIsInstance(t.error, ValueError)
        self.assertIs(t._failure, failure)
        self.assertEqual((nxt.status, nxt._t_started, nxt._worker), (S.RUNNING, 4.0, w))
        self.assertIs(w.current, nxt)
        f = state.figures()
        self.assertEqual((f.running, f.ended, f.queued_tasks), (1, 1, 0))
        item, wake = state.end_task(nxt, w, S.FINISHED, None, 5.0)
        self.assertEqual((item, wake, nxt.error), (None, False, None))
        self.assertEqual((w.item, w.current, state.figures().idle), (None, None, 1))
        self.assertEqual(state.take_events(), [(DONE_EVENT, t), (DONE_EVENT, nxt)])

    def test_a_worker_exits_when_the_pool_is_finishing(self) -> None:
        state, w, t = self.running()
        self.assertEqual(state.finish(1.0), [])
        self.assertIs(t.status, S.STOPPING)
        item, _ = state.end_task(t, w, S.STOPPED, None, 2.0)
        self.assertIsNone(item)
        self.assertTrue(woken(w))  # dismissed: it wakes with no work
        self.assertEqual(state.figures().workers, 0)
        self.assertEqual(state.exited(), (False, True))
        state.worker_exit(w)
        self.assertEqual(state.exited(), (True, True))
        self.assertEqual(state.take_events()[-1], (EXIT_EVENT, w))
        state.bury(w)
        self.assertEqual(state.workers(), [])

    def test_outlive_is_recorded(self) -> None:
        state, _, t = self.running()
        state.set_outlive(t)
        self.assertTrue(t.outlive)


class StopTests(StateCase):
    def test_dequeue_drops_a_queued_task_and_leaves_a_done_one(self) -> None:
        state = self.make(max_threads=1, depth=4)
        (w,) = self.started(state)
        running, queued = self.task("running"), self.task("queued")
        state.admit(running)
        state.admit(queued)
        self.assertEqual(state.dequeue(queued, 3.0), DROPPED)
        self.assertEqual((queued.status, queued._stop, queued._t_ended), (S.STOPPED, True, 3.0))
        self.assertEqual(state.figures().ended, 1)
        self.assertEqual(state.dequeue(queued, 4.0), DONE)
        self.assertEqual(state.figures().queued, 0)

    def test_detach_stops_all_but_outlive_which_continues_from_sync(self) -> None:
        state = self.make(max_threads=2, depth=4)
        w0, w1 = self.started(state)
        owner = object()
        plain, outlive, queued = (self.task(n, owner) for n in ("plain", "outlive", "queued"))
        for t in (plain, outlive, queued):
            state.admit(t)
        state.set_outlive(outlive)
        state.enter_sync(plain, 1.0)
        state.enter_sync(outlive, 1.0)
        woken(w0)
        woken(w1)
        done = state.detach([plain, outlive, queued], 2.0)
        self.assertEqual(done, [queued])
        self.assertEqual([t.owner for t in (plain, outlive, queued)], [None] * 3)
        self.assertEqual((plain.status, outlive.status, queued.status),
                         (S.STOPPING, S.RUNNING, S.STOPPED))
        self.assertTrue(woken(w0) and woken(w1))
        self.assertEqual(state.figures().in_sync, 0)

    def test_finish_stops_every_queued_task_once(self) -> None:
        state = self.make(max_threads=1, depth=4)
        (w,) = self.started(state)
        state.admit(self.task("runs"))
        queued = [self.task(f"q{i}") for i in range(3)]
        call = CallInThread(None, print, (), {})
        for t in queued[:2]:
            state.admit(t)
        state.admit_call(call)
        state.admit(queued[2])
        self.assertEqual(state.finish(1.0), queued)
        self.assertIsNone(state.finish(2.0))
        f = state.figures()
        self.assertEqual((f.queued, f.queued_tasks, f.finishing), (1, 0, True))

    def test_release_of_a_task_not_in_sync_does_nothing(self) -> None:
        state = self.make()
        self.started(state)
        t = self.task()
        state.admit(t)
        self.assertFalse(state.release(t, True, 1.0))
        self.assertEqual((t.status, t._stop), (S.RUNNING, False))


class SizeTests(StateCase):
    def test_shrinking_dismisses_the_coldest_idle_worker_then_busy_ones_later(self) -> None:
        state = self.make(max_threads=3, depth=4)
        w0, w1, w2 = self.started(state)
        t = self.task()
        state.admit(t)  # to w0
        woken(w0)
        self.assertEqual(state.resize(0, 1, 0.0), [])
        # Idle were [w2, w1] (w1 hot): w2, the coldest, goes first, then w1.
        self.assertTrue(woken(w2) and woken(w1))
        self.assertEqual(state.figures().workers, 1)
        state.resize(0, 0, 0.0)
        self.assertEqual(state.figures().workers, 0)  # w0 is excess
        item, _ = state.end_task(t, w0, S.FINISHED, None, 1.0)
        self.assertIsNone(item)
        self.assertTrue(woken(w0))

    def test_growing_hires_for_queued_work(self) -> None:
        state = self.make(max_threads=1, depth=4)
        self.started(state)
        state.admit(self.task("a"))
        b = self.task("b")
        state.admit(b)
        (hired,) = state.resize(1, 2, 5.0)
        self.assertEqual((hired.item, b.status, b._t_started), (b, S.RUNNING, 5.0))
        self.assertTrue(woken(hired))

    def test_hire_one_and_dismiss_one(self) -> None:
        state = self.make(max_threads=2, min_threads=0, on_demand=True)
        self.assertEqual(state.hire_one(0.0), [])  # not started
        self.started(state)
        (w,) = state.hire_one(0.0)
        self.assertEqual(state.figures().idle, 1)
        state.dismiss_one()
        self.assertTrue(woken(w))
        state.dismiss_one()  # nobody left to dismiss
        self.assertEqual(state.figures().workers, 0)

    def test_a_hire_undone_puts_its_work_back_first_in_line(self) -> None:
        state = self.make(max_threads=1, min_threads=0, on_demand=True, depth=4)
        self.started(state)
        first = self.task("first")
        hired = state.admit(first)
        assert hired is not None
        second = self.task("second")
        state.admit(second)
        state.unhire(hired)
        self.assertEqual((first.status, first._worker, first._t_started), (S.QUEUED, None, None))
        f = state.figures()
        self.assertEqual((f.threads, f.running, f.queued_tasks), (0, 0, 2))
        (again,) = state.hire_one(1.0)
        self.assertIs(again.item, first)


class AccountingTests(StateCase):
    def test_run_and_sync_times_add_up_over_two_syncs(self) -> None:
        state = self.make(max_threads=1)
        (w,) = self.started(state)
        t = self.task(owner="owner")
        state.admit(t)
        woken(w)
        state.enter_sync(t, 2.0)  # ran 0-2
        state.release(t, False, 5.0)  # synced 2-5
        woken(w)
        state.enter_sync(t, 6.0)  # ran 5-6
        state.release(t, False, 10.0)  # synced 6-10
        self.assertEqual((t._run, t._sync), (3.0, 7.0))
        woken(w)
        state.end_task(t, w, S.FINISHED, None, 12.0)  # ran 10-12
        self.assertEqual((t._run, t._sync), (5.0, 7.0))

    def test_a_task_taken_after_a_call_starts_at_the_clocks_time(self) -> None:
        state = self.make(max_threads=2, depth=2)
        w0, w1 = self.started(state)
        state.admit(self.task("busy"))  # w0
        state.admit_call(CallInThread(None, print, (), {}))  # w1
        queued = self.task("queued")
        state.admit(queued)
        self.clock.now = 4.0
        self.assertIs(state.end_call(w1), queued)
        self.assertEqual((queued._t_started, queued.status), (4.0, S.RUNNING))
        self.assertEqual(state.figures().running, 2)

    def test_a_call_taken_from_the_queue_counts_as_running(self) -> None:
        state = self.make(max_threads=2, depth=2)
        w0, w1 = self.started(state)
        t = self.task("busy")
        state.admit(t)  # w0
        state.admit(self.task("busy too"))  # w1
        call = CallInThread(None, print, (), {})
        state.admit_call(call)
        item, _ = state.end_task(t, w0, S.FINISHED, None, 1.0)
        self.assertIs(item, call)
        self.assertIs(w0.current, call)
        f = state.figures()
        self.assertEqual((f.running, f.queued), (2, 0))


class StaffTests(StateCase):
    def test_dismissing_busy_workers_one_at_a_time(self) -> None:
        state = self.make(max_threads=2, depth=0)
        self.started(state)
        state.admit(self.task("a"))
        state.admit(self.task("b"))
        state.dismiss_one()
        self.assertEqual(state.figures().workers, 1)
        state.dismiss_one()
        self.assertEqual(state.figures().workers, 0)
        state.dismiss_one()  # nobody left: nothing more to dismiss
        self.assertEqual(state.figures().workers, 0)

    def test_undoing_an_idle_hire_leaves_no_idle_worker(self) -> None:
        state = self.make(max_threads=1, min_threads=0, on_demand=True)
        self.started(state)
        (w,) = state.hire_one(0.0)
        self.assertEqual(state.figures().idle, 1)
        state.unhire(w)
        f = state.figures()
        self.assertEqual((f.idle, f.workers, f.threads, f.running, f.queued), (0, 0, 0, 0, 0))
        # The next task hires a worker of its own, never the unstarted one.
        hired = state.admit(self.task())
        self.assertIsNot(hired, w)
