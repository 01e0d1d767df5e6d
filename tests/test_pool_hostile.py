"""
Hostile and re-entrant callers (issue 9), property-based: a hypothesis
state machine drives a stepped pool with owners that are unhashable, equal
by value, or raise from C{__eq__}/C{__hash__}/C{__repr__}; task functions
that return C{bool}s, foreign C{IntFlag} members, C{int} subclasses and
objects whose C{__int__}/C{__index__} lie, or raise C{SystemExit},
C{KeyboardInterrupt} and C{GeneratorExit}; and C{writable()}, C{cleanup}
and C{when_done()} callbacks that call back into the pool (enqueue,
dequeue_task, task_sync, owner_closing, finish, destroy, start) in every
state.

After every step: cleanup ran at most once per admitted task, and exactly
when it was reaped; every status change was legal; the pool raised nothing
but its documented refusals.  At the end: destroy() fires, every admitted
task was cleaned up exactly once, no worker is left, and no Deferred holds
an unhandled error.

C{LWSTP_HYPOTHESIS_EXAMPLES} sets how many sequences run (default 150; the
docs suggest 5000 for a long run).
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_lwstp import (
    Diagnosis,
    EnqueueRefused,
    ITaskOwner,
    Task,
    TaskReturn,
    TaskStatus,
)
from twisted_lwstp.testing import PoolHarness

R = TaskReturn
S = TaskStatus

EXAMPLES = int(os.environ.get("LWSTP_HYPOTHESIS_EXAMPLES", "150"))

#: How far along its life a status is; a task never goes back.
RANK = {S.QUEUED: 0, S.RUNNING: 1, S.SYNCING: 1, S.STOPPING: 2, S.FINISHED: 3, S.STOPPED: 3}


# -- hostile owners ---------------------------------------------------------


class _Reacting:
    """An owner's writable() does whatever the machine draws."""

    machine: HostileMachine

    def writable(self, task: Task) -> None:
        self.machine.writables += 1
        self.machine.react("writable", task, self)


@implementer(ITaskOwner)
@dataclass(eq=True)
class UnhashableOwner(_Reacting):
    machine: HostileMachine
    peer: str = "same"


@implementer(ITaskOwner)
@dataclass(frozen=True)
class EqualOwner(_Reacting):
    machine: HostileMachine
    peer: str = "same"

    def __hash__(self) -> int:
        return hash(self.peer)


@implementer(ITaskOwner)
class RaisingOwner(_Reacting):
    def __init__(self, machine: HostileMachine) -> None:
        self.machine = machine

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("__eq__")

    def __hash__(self) -> int:
        raise RuntimeError("__hash__")

    def __repr__(self) -> str:
        raise RuntimeError("__repr__")


OWNER_KINDS: list[Callable[[Any], Any]] = [UnhashableOwner, EqualOwner, RaisingOwner]


# -- hostile return values -------------------------------------------------


class Colour(enum.IntFlag):
    RED = 1
    GREEN = 2


class LyingInt(int):
    """An int whose conversions and hash lie or raise; its value is 2."""

    def __int__(self) -> int:
        return 1

    def __index__(self) -> int:
        raise RuntimeError("__index__")

    def __hash__(self) -> int:
        raise RuntimeError("__hash__")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("__eq__")


class FakeInt:
    """Not an int at all, but says it is one."""

    def __int__(self) -> int:
        return 2

    def __index__(self) -> int:
        return 2


class Raise:
    def __init__(self, exc: type[BaseException]) -> None:
        self.exc = exc

    def __repr__(self) -> str:
        return f"Raise({self.exc.__name__})"


#: (value, what the task's last call counts as: None = refused, ends STOPPED)
RETURNS: list[tuple[Any, int | None]] = [
    (R.CHECKING_IN, 0),
    (R.SYNC, 1),
    (R.SYNC | R.OUTLIVE, 1),
    (R.FINISHED, 2),
    (R.STOPPED, 3),
    (1, 1),
    (True, None),
    (False, None),
    (Colour.GREEN, 2),
    (re.IGNORECASE, 2),
    (LyingInt(2), 2),
    (FakeInt(), None),
    ("garbage", None),
    (Raise(SystemExit), None),
    (Raise(KeyboardInterrupt), None),
    (Raise(GeneratorExit), None),
    (Raise(ValueError), None),
]
#: Ordinary returns weigh more, so that runs get deep enough for the
#: hostile ones to land in every state.
RETURN_CHOICES = RETURNS[:5] * 4 + RETURNS

#: What a callback may do to the pool.
ACTIONS = [
    "nothing", "enqueue", "enqueue_ownerless", "dequeue", "sync", "sync_stop",
    "status", "closing", "finish", "destroy", "start", "when_done", "raise",
]


class HostileMachine(RuleBasedStateMachine):
    @initialize(threads=st.integers(1, 3), depth=st.integers(0, 2), data=st.data())
    def setup(self, threads: int, depth: int, data: st.DataObject) -> None:
        self.data = data
        self.h = PoolHarness(threads, depth, sync_timeout=10.0)
        self.pool = self.h.pool
        self.pool.start()
        self.owners: list[Any] = [kind(self) for kind in OWNER_KINDS]
        self.owners.append(EqualOwner(self))  # equal to the other EqualOwner
        self.tasks: dict[int, Task] = {}  # by user
        self.cleanups: dict[int, int] = {}
        self.last_status: dict[int, TaskStatus] = {}
        self.told_stopping: set[int] = set()
        self.unexpected: list[str] = []
        self.watched: list[Deferred[Any]] = []
        self.serial = 0
        self.depth_of_reaction = 0
        self.writables = 0

    # -- what callbacks do ------------------------------------------------

    def guarded(self, what: str, call: Callable[[], Any]) -> Any:
        """
        Call into the pool; its documented refusals are fine, anything else
        is a bug of the pool.
        """
        try:
            return call()
        except EnqueueRefused:
            return None
        except RuntimeError as e:
            # start() twice, or start() while finishing: documented.
            if "already started" in str(e) or "cannot start" in str(e):
                return None
            self.unexpected.append(f"{what}: {e!r}")
        except BaseException as e:
            self.unexpected.append(f"{what}: {e!r}")
        return None

    def react(self, where: str, task: Task | None, owner: Any) -> None:
        if self.depth_of_reaction > 3:
            return
        action = self.data.draw(st.sampled_from(ACTIONS), label=f"{where} does")
        self.depth_of_reaction += 1
        try:
            self.act(action, task, owner)
        finally:
            self.depth_of_reaction -= 1

    def act(self, action: str, task: Task | None, owner: Any) -> None:
        pool = self.pool
        if action == "enqueue":
            self.guarded("enqueue", lambda: self.enqueue_one(owner))
        elif action == "enqueue_ownerless":
            self.guarded("enqueue", lambda: self.enqueue_one(None))
        elif action == "finish":
            self.guarded("finish", pool.finish)
        elif action == "destroy":
            d = self.guarded("destroy", pool.destroy)
            if d is not None:
                self.watched.append(d)
        elif action == "start":
            self.guarded("start", pool.start)
        elif action == "closing" and owner is not None:
            self.guarded("owner_closing", lambda: pool.owner_closing(owner))
        elif action == "raise":
            raise KeyboardInterrupt("a callback raised")
        elif task is not None:
            if action == "dequeue":
                self.guarded("dequeue_task", lambda: pool.dequeue_task(task))
            elif action == "sync":
                self.guarded("task_sync", lambda: pool.task_sync(task))
            elif action == "sync_stop":
                self.guarded("task_sync", lambda: pool.task_sync(task, stop=True))
            elif action == "status":
                self.guarded("task_status", lambda: pool.task_status(task))
            elif action == "when_done":
                self.watch(task)

    def enqueue_one(self, owner: Any) -> Task:
        self.serial += 1
        user = self.serial
        task = self.pool.enqueue(owner, self.task_fn, user=user, cleanup=self.cleanup)
        self.tasks[user] = task
        self.last_status[user] = task.status
        return task

    def task_fn(self, user: int, status: TaskStatus) -> Any:
        if status is S.STOPPING:
            self.told_stopping.add(user)
        # Drawn by index: hypothesis would hash the values themselves.
        index = self.data.draw(st.integers(0, len(RETURN_CHOICES) - 1), label="task returns")
        value, _ = RETURN_CHOICES[index]
        if isinstance(value, Raise):
            raise value.exc("raised by a task")
        return value

    def cleanup(self, owner: Any, user: int) -> None:
        self.cleanups[user] = self.cleanups.get(user, 0) + 1
        self.react("cleanup", self.tasks.get(user), owner)

    def watch(self, task: Task) -> None:
        d = self.guarded("when_done", task.when_done)
        if d is None:
            return

        def done(result: Any) -> Any:
            self.react("when_done", task, task.owner)
            return result

        d.addBoth(done)
        self.watched.append(d)

    # -- rules -----------------------------------------------------------

    @rule(owner=st.integers(-1, 3), data=st.data())
    def enqueue(self, owner: int, data: st.DataObject) -> None:
        self.data = data
        o = None if owner < 0 else self.owners[owner]
        self.guarded("enqueue", lambda: self.enqueue_one(o))

    @rule(bad=st.sampled_from(["owner", "task", "cleanup", "name"]))
    def bad_enqueue(self, bad: str) -> None:
        before = self.pool.diagnose()
        kwargs: dict[str, Any] = {"user": -1}
        owner: Any = None
        task: Any = self.task_fn
        if bad == "owner":
            owner = object()
        elif bad == "task":
            task = 42
        elif bad == "cleanup":
            kwargs["cleanup"] = "not callable"
        else:
            kwargs["name"] = b"bytes"
        try:
            self.pool.enqueue(owner, task, **kwargs)
        except TypeError:
            pass
        else:
            raise AssertionError(f"a bad {bad} was admitted")
        assert self.pool.diagnose() == before

    @rule(data=st.data(), worker=st.integers(0, 2))
    def step(self, data: st.DataObject, worker: int) -> None:
        self.data = data
        workers = [w for w in self.h.workers if w.can_step]
        if workers:
            self.guarded("step", workers[worker % len(workers)].step)

    @rule(data=st.data(), worker=st.integers(0, 2), owner=st.integers(-1, 3))
    def enqueue_and_step(self, data: st.DataObject, worker: int, owner: int) -> None:
        """Most of a pool's life: give it weight."""
        self.enqueue(owner, data)
        self.step(data, worker)
        self.step(data, worker + 1)

    @rule(data=st.data())
    def flush(self, data: st.DataObject) -> None:
        self.data = data
        self.guarded("flush", self.h.flush)

    @rule(data=st.data(), which=st.integers(0, 1000), action=st.sampled_from(ACTIONS))
    def poke(self, data: st.DataObject, which: int, action: str) -> None:
        """The reactor-side code (not a callback) calls the pool."""
        self.data = data
        live = [t for t in self.tasks.values() if not t.reaped] or list(self.tasks.values())
        task = live[which % len(live)] if live else None
        owner = self.owners[which % len(self.owners)]
        if action == "raise":
            return
        self.act(action, task, owner)

    @rule(data=st.data(), which=st.integers(0, 3), pause=st.booleans())
    def flow_control(self, data: st.DataObject, which: int, pause: bool) -> None:
        self.data = data
        owner = self.owners[which]
        if pause:
            self.guarded("pause_owner", lambda: self.pool.pause_owner(owner))
        else:
            self.guarded("resume_owner", lambda: self.pool.resume_owner(owner))

    @rule(data=st.data())
    def sync_timeout(self, data: st.DataObject) -> None:
        self.data = data
        self.guarded("advance", lambda: self.h.reactor.advance(10.0))

    @rule(which=st.integers(0, 1000))
    def cancel_a_watch(self, which: int) -> None:
        if self.watched:
            self.guarded("cancel", self.watched[which % len(self.watched)].cancel)

    # -- invariants ------------------------------------------------------

    @invariant()
    def nothing_unexpected(self) -> None:
        if hasattr(self, "unexpected"):
            assert self.unexpected == [], self.unexpected

    @invariant()
    def cleanup_at_most_once_and_only_when_reaped(self) -> None:
        if not hasattr(self, "tasks"):
            return
        for user, task in self.tasks.items():
            count = self.cleanups.get(user, 0)
            assert count == (1 if task.reaped else 0), (task, count)

    @invariant()
    def transitions_are_legal(self) -> None:
        if not hasattr(self, "tasks"):
            return
        for user, task in self.tasks.items():
            old, new = self.last_status[user], task.status
            assert RANK[new] >= RANK[old], (task, old, new)
            if old.is_done:
                assert new is old, (task, old, new)
            if new is S.FINISHED:
                # A task told STOPPING ends STOPPED, whatever it returned.
                assert user not in self.told_stopping, task
            self.last_status[user] = new

    def teardown(self) -> None:
        if not hasattr(self, "pool"):
            return
        self.data = _Quiet()
        d = self.guarded("destroy", self.pool.destroy)
        self.h.run()
        assert d is not None and d.called, "destroy() did not fire"
        for w in self.watched:
            assert w.called, "a Deferred of the pool never fired"
            w.addErrback(lambda f: None)  # consumed: checked above
        assert self.unexpected == [], self.unexpected
        assert all(w.exited for w in self.h.workers), self.h.workers
        assert self.pool.diagnose() == Diagnosis(0, 0, 0, 0), self.pool.diagnose()
        for user, task in self.tasks.items():
            assert task.reaped and task.status.is_done, task
            assert self.cleanups.get(user) == 1, (task, self.cleanups.get(user))


class _Quiet:
    """During teardown: callbacks do nothing, tasks stop when told."""

    def draw(self, strategy: Any, label: str = "") -> Any:
        if label == "task returns":
            return RETURN_CHOICES.index((R.STOPPED, 3))
        return "nothing"


SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class HostileCallerTests(SynchronousTestCase):
    def test_hostile_and_reentrant_callers_lose_nothing(self) -> None:
        """
        Run the machine.  The errors the pool logs on purpose (raising
        tasks, writables and cleanups) are expected, and flushed.
        """
        run_state_machine_as_test(HostileMachine, settings=SETTINGS)
        self.flushLoggedErrors()
