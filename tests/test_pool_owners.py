"""
Owners are identities (issue 9): any object providing L{ITaskOwner} is an
owner, hashable or not, whatever its C{__eq__}; and whatever a caller hands
the pool, a task that was admitted is cleaned up exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zope.interface import implementer

from twisted_lwstp import ITaskOwner, Task, TaskReturn, TaskStatus
from twisted_lwstp.testing import PoolHarness

from ._helpers import CleanupLog, HarnessCase, Script

R = TaskReturn
S = TaskStatus


@implementer(ITaskOwner)
@dataclass
class PlainDataclassOwner:
    """A protocol written as a plain dataclass: unhashable."""

    peer: str
    seen: list[Task] = field(default_factory=list)

    def writable(self, task: Task) -> None:
        self.seen.append(task)


@implementer(ITaskOwner)
@dataclass(frozen=True)
class FrozenOwner:
    """Hashable, and equal to any other with the same peer."""

    peer: str

    def writable(self, task: Task) -> None:
        pass


@implementer(ITaskOwner)
class HostileOwner:
    """Every comparison, hash and repr raises."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("__eq__ of a hostile owner")

    def __hash__(self) -> int:
        raise RuntimeError("__hash__ of a hostile owner")

    def __repr__(self) -> str:
        raise RuntimeError("__repr__ of a hostile owner")

    def writable(self, task: Task) -> None:
        pass


_Base = HarnessCase


class UnhashableOwnerTests(_Base):
    def test_unhashable_owner_task_runs_syncs_and_is_cleaned_up_once(self) -> None:
        h = self.harness()
        owner = PlainDataclassOwner("127.0.0.1:1")
        cleanup = CleanupLog()
        t = h.pool.enqueue(owner, Script([R.SYNC, R.FINISHED]), cleanup=cleanup)
        self.assertEqual(h.pool.tasks_of(owner), [t])
        h.step()
        h.flush()
        self.assertEqual(owner.seen, [t])
        self.assertTrue(h.pool.task_sync(t))
        h.step()
        h.flush()
        self.assertEqual(owner.seen, [t, t])
        self.assertIs(h.pool.task_status(t), S.FINISHED)
        self.assertEqual(cleanup.calls, [(owner, None)])
        self.assertEqual(h.pool.tasks_of(owner), [])

    def test_unhashable_owner_pause_resume_and_closing(self) -> None:
        h = self.harness()
        owner = PlainDataclassOwner("127.0.0.1:2")
        cleanup = CleanupLog()
        t = h.pool.enqueue(owner, Script([R.SYNC]), cleanup=cleanup)
        h.pool.pause_owner(owner)
        self.assertTrue(h.pool.owner_paused(owner))
        h.step()
        h.flush()
        self.assertEqual(owner.seen, [])
        h.pool.resume_owner(owner)
        self.assertEqual(owner.seen, [t])
        h.pool.owner_closing(owner)
        self.assertIs(t.owner, None)
        h.run()
        self.assertIs(t.status, S.STOPPED)
        self.assertEqual(cleanup.calls, [(None, None)])

    def test_destroy_fires_after_unhashable_owners(self) -> None:
        h = PoolHarness(2, 2)  # destroyed by the test itself
        h.pool.start()
        cleanup = CleanupLog()
        owners = [PlainDataclassOwner(f"p{i}") for i in range(3)]
        for owner in owners:
            h.pool.enqueue(owner, Script([R.CHECKING_IN]), cleanup=cleanup)
        d = h.pool.destroy()
        h.run()
        self.successResultOf(d)
        self.assertEqual(len(cleanup.calls), 3)
        self.assertTrue(all(w.exited for w in h.workers))


class EqualOwnersTests(_Base):
    def test_equal_owners_are_two_owners(self) -> None:
        h = self.harness(threads=2)
        a, b = FrozenOwner("same"), FrozenOwner("same")
        self.assertEqual(a, b)
        ta = h.pool.enqueue(a, Script([R.CHECKING_IN] * 5))
        tb = h.pool.enqueue(b, Script([R.CHECKING_IN] * 5))
        self.assertEqual(h.pool.tasks_of(a), [ta])
        self.assertEqual(h.pool.tasks_of(b), [tb])
        h.pool.owner_closing(a)
        self.assertIs(ta.owner, None)
        self.assertIs(tb.owner, b)
        self.assertIs(ta.status, S.STOPPING)
        self.assertIs(tb.status, S.RUNNING)
        self.assertEqual(h.pool.tasks_of(b), [tb])

    def test_pausing_one_of_two_equal_owners_leaves_the_other(self) -> None:
        h = self.harness(threads=2)
        a, b = FrozenOwner("same"), FrozenOwner("same")
        h.pool.pause_owner(a)
        self.assertTrue(h.pool.owner_paused(a))
        self.assertFalse(h.pool.owner_paused(b))


class HostileOwnerTests(_Base):
    def test_owner_whose_eq_hash_and_repr_raise(self) -> None:
        h = self.harness()
        owner = HostileOwner()
        cleanup = CleanupLog()
        t = h.pool.enqueue(owner, Script([R.SYNC]), cleanup=cleanup)
        self.assertEqual(h.pool.tasks_of(owner), [t])
        h.step()
        h.flush()
        h.pool.pause_owner(owner)
        h.pool.resume_owner(owner)
        h.pool.task_sync(t)
        h.step()
        h.flush()
        self.assertIs(h.pool.task_status(t), S.FINISHED)
        self.assertEqual(len(cleanup.calls), 1)
        self.assertIs(cleanup.calls[0][0], owner)

    def test_writable_of_a_hostile_owner_that_raises_is_logged_legibly(self) -> None:
        from twisted.logger import formatEvent

        from ._helpers import LogCapture

        h = self.harness()

        @implementer(ITaskOwner)
        class Broken(HostileOwner):
            def writable(self, task: Task) -> None:
                if task.status is S.SYNCING:
                    raise ValueError("writable broke")

        t = h.pool.enqueue(Broken(), Script([R.SYNC]))
        h.step()
        with LogCapture() as log:
            h.flush()
        (event,) = log.matching("raised for")
        self.assertIn(t.name, formatEvent(event))
        self.assertNotIn("MESSAGE LOST", formatEvent(event))
        self.assertIs(t.status, S.STOPPING)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
