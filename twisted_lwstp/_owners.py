# -*- test-case-name: tests.test_pool_owners,tests.test_pool -*-
"""
L{Owners}: the registry of task owners, each with its live tasks and its
flow-control state (C{writable()} calls held back while its transport is
full).

Runs in: the reactor thread only.  Owner of the registry and of every
L{OwnerState} in it; nothing here takes the pool lock or reads a task's
shared fields.  The reactor side (L{twisted_lwstp._reactorside}) decides
what to deliver and calls in here to register, hold and look up.

Owners are identities, not values: the registry is keyed by C{id(owner)}
(an owner may be unhashable, or equal to another owner), and each state
holds the owner itself, so that its id cannot be reused while it is
registered.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ._task import Task


class OwnerState(dict[Task, None]):
    """
    What the pool knows of one owner.  Its keys are the owner's live
    (unreaped) tasks, in enqueue order: the state is the dict, so that
    registering an owner costs one object.
    """

    __slots__ = ("owner", "paused", "held")

    def __init__(self, owner: Any) -> None:
        super().__init__()
        self.owner = owner
        # Whether flow control holds back writable() calls.
        self.paused = False
        # (event kind, task) held back while paused, oldest first; created
        # only when something is held (an empty deque is ~760 bytes).
        self.held: deque[tuple[int, Task]] | None = None


class Owners:
    """
    The owners of one pool's live tasks.  Reactor thread only.
    """

    __slots__ = ("_by_id",)

    def __init__(self) -> None:
        self._by_id: dict[int, OwnerState] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, owner: object) -> OwnerState | None:
        """The state of C{owner}, or None if it is not registered."""
        return self._by_id.get(id(owner))

    def add(self, owner: Any, task: Task) -> None:
        """Register C{task} as a live task of C{owner}."""
        state = self._by_id.get(id(owner))
        if state is None:
            state = self._by_id[id(owner)] = OwnerState(owner)
        state[task] = None

    def remove(self, owner: object, task: Task) -> None:
        """
        C{task} is reaped: forget it, and its owner with its last task
        unless flow control still holds something for it.
        """
        state = self._by_id.get(id(owner))
        if state is not None:
            state.pop(task, None)
            self._forget_if_idle(state)

    def pop(self, owner: object) -> OwnerState | None:
        """Forget C{owner}, held calls and all; its state, if it had one."""
        state = self._by_id.pop(id(owner), None)
        if state is not None:
            state.held = None
        return state

    def clear(self) -> None:
        """Forget every owner (a destroyed pool)."""
        self._by_id.clear()

    def pause(self, owner: Any) -> None:
        """Hold back C{writable()} calls to C{owner}."""
        state = self._by_id.get(id(owner))
        if state is None:
            state = self._by_id[id(owner)] = OwnerState(owner)
        state.paused = True

    def paused(self, owner: object) -> bool:
        """Whether C{owner}'s C{writable()} calls are held back."""
        state = self._by_id.get(id(owner))
        return state is not None and state.paused

    def paused_count(self) -> int:
        """How many owners are paused."""
        return sum(1 for state in self._by_id.values() if state.paused)

    def hold(self, state: OwnerState, kind: int, task: Task) -> None:
        """Keep an event for a paused owner, to deliver when it resumes."""
        if state.held is None:
            state.held = deque()
        state.held.append((kind, task))

    def resume(self, owner: object) -> OwnerState | None:
        """
        Flow control lets C{owner} go: the caller delivers its held
        events with L{next_held} until it returns None.
        """
        state = self._by_id.get(id(owner))
        if state is not None:
            state.paused = False
        return state

    def next_held(self, state: OwnerState) -> tuple[int, Task] | None:
        """
        The oldest event held for C{state}'s owner, while it is registered
        and not paused again; None when there is none to deliver now (and
        the owner is forgotten if it has no live task left).
        """
        held = state.held
        if held and not state.paused and self._by_id.get(id(state.owner)) is state:
            event = held.popleft()
            if not held:
                state.held = None
            return event
        self._forget_if_idle(state)
        return None

    def _forget_if_idle(self, state: OwnerState) -> None:
        if (not state and not state.paused and not state.held
                and self._by_id.get(id(state.owner)) is state):
            del self._by_id[id(state.owner)]
