"""
A hypothesis state machine drives random sequences of enqueue, check-in,
sync, task_sync, dequeue, owner close, pause/resume, sync timeout, finish
and destroy through a stepped pool, against a plain model of the rules of docs/explanation/model.md.

After every step it checks: each task's status is exactly what the model
predicts (so only legal transitions happen), cleanup ran at most once and
exactly when the task was reaped, one SYNC never caused two writable()
calls, and diagnose() agrees with the model.  At the end, destroy leaves no
task, no cleanup missing and no worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_lwstp import (
    Diagnosis,
    ITaskOwner,
    PoolFinished,
    QueueFull,
    Task,
    TaskReturn,
    TaskStatus,
)
from twisted_lwstp.testing import PoolHarness

R = TaskReturn
S = TaskStatus
ON_THREAD = (S.RUNNING, S.SYNCING, S.STOPPING)


@dataclass
class Model:
    """What the model knows of one task."""

    status: TaskStatus
    owner: Any
    stop: bool = False
    outlive: bool = False
    reaped: bool = False
    syncs: int = 0
    sync_writables: int = 0
    told: list[TaskStatus] = field(default_factory=list)


@implementer(ITaskOwner)
class Owner:
    def __init__(self, machine: PoolMachine, index: int) -> None:
        self.machine = machine
        self.index = index
        self.closed = False

    def __repr__(self) -> str:
        return f"Owner{self.index}"

    def writable(self, task: Task) -> None:
        m = self.machine
        assert not self.closed, "writable() after owner_closing"
        assert not m.pool.owner_paused(self), "writable() while paused"
        model = m.models[task]
        assert task.owner is self
        if task.status is S.SYNCING:
            model.sync_writables += 1
            assert model.sync_writables <= model.syncs, "one SYNC, two writable()"
        else:
            assert task.status.is_done, task.status


class Boom(Exception):
    pass


RETURNS = st.sampled_from(
    [R.CHECKING_IN, R.SYNC, R.FINISHED, R.STOPPED, R.SYNC | R.OUTLIVE,
     R.CHECKING_IN | R.OUTLIVE, 1, "garbage", Boom]
)


class PoolMachine(RuleBasedStateMachine):
    @initialize(threads=st.integers(1, 3), depth=st.integers(0, 3))
    def setup(self, threads: int, depth: int) -> None:
        self.threads = threads
        self.depth = depth
        self.h = PoolHarness(threads, depth, sync_timeout=10.0)
        self.pool = self.h.pool
        self.pool.start()
        self.owners = [Owner(self, i) for i in range(3)]
        self.models: dict[Task, Model] = {}
        self.cleanups: dict[int, int] = {}
        self.queue: list[Task] = []  # model of the wait queue, in order
        self.next_return: Any = R.CHECKING_IN
        self.finishing = False
        self.serial = 0
        self.by_user: dict[int, Task] = {}
        self.staffed = threads  # workers not told to exit (rule 14)
        self.excess = 0  # busy workers to exit when their task ends

    # -- helpers ---------------------------------------------------------

    def task_fn(self, user: int, status: TaskStatus) -> Any:
        task = self.by_user[user]
        self.models[task].told.append(status)
        value = self.next_return
        if value is Boom:
            raise Boom()
        return value

    def cleanup(self, owner: Any, user: int) -> None:
        self.cleanups[user] = self.cleanups.get(user, 0) + 1
        task = self.by_user[user]
        assert owner is task.owner

    def live(self) -> list[Task]:
        return [t for t, m in self.models.items() if not m.reaped]

    def end_unrun(self, task: Task) -> None:
        self.queue.remove(task)
        self.models[task].status = S.STOPPED
        self.models[task].stop = True

    def promote(self) -> None:
        """
        A worker freed up: it exits if the pool shrank below its workers,
        else the oldest queued task starts.
        """
        if self.excess or self.finishing:
            self.excess = max(0, self.excess - 1)
            self.staffed -= 1
        elif self.queue:
            first = self.queue.pop(0)
            self.models[first].status = S.RUNNING

    def on_thread(self) -> int:
        return sum(1 for m in self.models.values() if m.status in ON_THREAD)

    def reap_model(self, task: Task) -> None:
        self.models[task].reaped = True

    def after_flush(self) -> None:
        # Ownerless done tasks reap themselves once the reactor runs.
        for m in self.models.values():
            if m.status.is_done and m.owner is None:
                m.reaped = True

    # -- rules -----------------------------------------------------------

    @rule(owner=st.integers(-1, 2))
    def enqueue(self, owner: int) -> None:
        o = None if owner < 0 else self.owners[owner]
        if o is not None and o.closed:
            return
        self.serial += 1
        user = self.serial
        expect_refusal = None
        if self.finishing:
            expect_refusal = PoolFinished
        elif self.staffed - self.on_thread() <= 0 and len(self.queue) >= self.depth:
            expect_refusal = QueueFull
        try:
            task = self.pool.enqueue(o, self.task_fn, user=user, cleanup=self.cleanup)
        except (PoolFinished, QueueFull) as e:
            assert type(e) is expect_refusal, (e, expect_refusal)
            assert user not in self.cleanups
            return
        assert expect_refusal is None, expect_refusal
        self.by_user[user] = task
        if self.staffed - self.on_thread() > 0:
            self.models[task] = Model(S.RUNNING, o)
        else:
            self.models[task] = Model(S.QUEUED, o)
            self.queue.append(task)

    @rule(data=st.data(), value=RETURNS)
    def step_any(self, data: st.DataObject, value: Any) -> None:
        self.step(data, value)

    def step(self, data: st.DataObject, value: Any) -> None:
        movable = [i for i, w in enumerate(self.h.workers) if w.can_step]
        if not movable:
            return
        worker = data.draw(st.sampled_from(movable))
        self.next_return = value
        before = {t: m.stop for t, m in self.models.items()}
        result = self.h.step(worker)
        if result is None:
            return
        task = result.task
        m = self.models[task]
        assert m.status in (S.RUNNING, S.STOPPING), m.status
        told = S.STOPPING if before[task] else S.RUNNING
        assert m.told[-1] is told, (m.told, told)
        valid = not (isinstance(value, str) or value is Boom)
        if told is S.STOPPING or not valid:
            m.status = S.STOPPED
        else:
            base, outlive = int(value) & 3, bool(int(value) & 64)
            if outlive:
                m.outlive = True
            if base == 0 or (base == 1 and m.owner is None):
                m.status = S.RUNNING
            elif base == 1:
                m.status = S.SYNCING
                m.syncs += 1
            else:
                m.status = S.FINISHED if base == 2 else S.STOPPED
        if m.status.is_done:
            self.promote()

    @rule()
    def flush(self) -> None:
        self.h.flush()
        self.after_flush()

    @rule(data=st.data(), stop=st.booleans())
    def task_sync(self, data: st.DataObject, stop: bool) -> None:
        waiting = [t for t, m in self.models.items() if m.status is S.SYNCING and m.sync_writables == m.syncs]
        if not waiting:
            return
        task = data.draw(st.sampled_from(waiting))
        assert self.pool.task_sync(task, stop)
        m = self.models[task]
        if stop:
            m.stop = True
        m.status = S.STOPPING if m.stop else S.RUNNING

    @rule(data=st.data())
    def dequeue(self, data: st.DataObject) -> None:
        candidates = self.live()
        if not candidates:
            return
        task = data.draw(st.sampled_from(candidates))
        m = self.models[task]
        asked = self.pool.dequeue_task(task)
        if m.status is S.QUEUED:
            assert not asked
            self.end_unrun(task)
            m.reaped = True
        elif m.status.is_done:
            assert not asked
            m.reaped = True
        else:
            assert asked
            m.stop = True
            m.status = S.STOPPING

    @rule(data=st.data())
    def reap(self, data: st.DataObject) -> None:
        candidates = self.live()
        if not candidates:
            return
        task = data.draw(st.sampled_from(candidates))
        m = self.models[task]
        assert self.pool.task_status(task) is m.status
        if m.status.is_done:
            m.reaped = True

    @rule(owner=st.integers(0, 2))
    def owner_closing(self, owner: int) -> None:
        o = self.owners[owner]
        self.pool.owner_closing(o)
        o.closed = True
        # The next connection takes its place.
        self.next_owner = getattr(self, "next_owner", 3) + 1
        self.owners[owner] = Owner(self, self.next_owner)
        for task, m in self.models.items():
            if m.owner is not o or m.reaped:
                continue
            m.owner = None
            if m.status is S.QUEUED:
                self.end_unrun(task)
                m.reaped = True
            elif m.status.is_done:
                m.reaped = True
            elif m.outlive:
                if m.status is S.SYNCING:
                    m.status = S.RUNNING
            else:
                m.stop = True
                m.status = S.STOPPING

    @rule(owner=st.integers(0, 2), pause=st.booleans())
    def flow_control(self, owner: int, pause: bool) -> None:
        o = self.owners[owner]
        if o.closed:
            return
        if pause:
            self.pool.pause_owner(o)
        else:
            self.pool.resume_owner(o)

    @rule()
    def sync_timeout(self) -> None:
        self.h.reactor.advance(10.0)
        # Which ones expired depends on when the reactor saw them; read it
        # back, checking that only a legal transition happened.
        for task, m in self.models.items():
            if m.status is S.SYNCING and task.status is not S.SYNCING:
                assert task.status is S.STOPPING, task.status
                m.stop = True
                m.status = S.STOPPING

    @rule(data=st.data())
    def step_again(self, data: st.DataObject) -> None:
        """Stepping is most of a pool's life: give it more weight."""
        self.step(data, data.draw(st.sampled_from([R.CHECKING_IN, R.SYNC, R.FINISHED])))

    @rule(threads=st.integers(0, 3))
    def resize(self, threads: int) -> None:
        """
        Rule 14: shrinking dismisses idle workers now and busy ones when
        their task ends; growing starts workers that take queued tasks,
        oldest first.  Nothing running is interrupted.
        """
        before = {t: m.status for t, m in self.models.items()}
        self.pool.adjustPoolsize(minthreads=0, maxthreads=threads)
        self.threads = threads
        idle = self.staffed - self.on_thread()
        over = self.staffed - threads
        dismissed = min(max(over, 0), idle)
        self.staffed -= dismissed
        self.excess = max(0, over - dismissed)
        if not self.finishing and self.staffed < threads:
            for _ in range(threads - self.staffed):
                self.staffed += 1
                if self.queue:
                    self.models[self.queue.pop(0)].status = S.RUNNING
        for task, status in before.items():
            if status in ON_THREAD:
                assert task.status is status, "a resize interrupted a task"

    @precondition(lambda self: not self.finishing and self.serial >= 6)
    @rule()
    def finish(self) -> None:
        self.pool.finish()
        self.finishing = True
        self.staffed = self.on_thread()  # idle workers exit
        for task in list(self.queue):
            self.end_unrun(task)
            if self.models[task].owner is None:
                self.models[task].reaped = True
        for m in self.models.values():
            if m.status in ON_THREAD:
                # A task blocked in SYNC is released at once: its SYNC is
                # its check-in.
                m.stop = True
                m.status = S.STOPPING

    # -- invariants ------------------------------------------------------

    @invariant()
    def statuses_match_the_model(self) -> None:
        if not hasattr(self, "models"):
            return
        for task, m in self.models.items():
            assert task.status is m.status, (task, m)
            assert task.reaped is m.reaped, (task, m)

    @invariant()
    def cleanup_exactly_once_when_reaped(self) -> None:
        if not hasattr(self, "models"):
            return
        for task, m in self.models.items():
            count = self.cleanups.get(task.user, 0)
            assert count == (1 if m.reaped else 0), (task, count)

    @invariant()
    def diagnose_agrees(self) -> None:
        if not hasattr(self, "models"):
            return
        d = self.pool.diagnose()
        live = [m for m in self.models.values() if not m.reaped]
        expected_threads = len(self.h.workers) - sum(1 for w in self.h.workers if w.exited)
        assert d == Diagnosis(
            running=sum(1 for m in live if m.status in ON_THREAD),
            threads=expected_threads,
            queued=sum(1 for m in live if m.status is S.QUEUED),
            done=sum(1 for m in live if m.status.is_done),
        ), d

    def teardown(self) -> None:
        if not hasattr(self, "pool"):
            return
        d = self.pool.destroy()
        self.next_return = R.CHECKING_IN
        self.h.run()
        assert d.called, "destroy did not complete"
        assert self.pool.diagnose() == Diagnosis(0, 0, 0, 0)
        assert all(w.exited for w in self.h.workers)
        for task in self.models:
            assert task.reaped and task.status.is_done, task
            assert self.cleanups.get(task.user) == 1, task
        assert self.pool.dump_tasks() == []


SETTINGS = settings(
    max_examples=300,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class StatefulPoolTests(SynchronousTestCase):
    """
    A test method (not hypothesis's runTest) so that trial runs it too.
    """

    def test_pool_follows_the_model(self) -> None:
        run_state_machine_as_test(PoolMachine, settings=SETTINGS)
        self.flushLoggedErrors()
