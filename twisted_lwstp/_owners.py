# -*- test-case-name: tests.test_pool,tests.test_pool_owners -*-
"""
Owners: which tasks each owner has, an owner going away, and flow control
(holding back C{writable()} calls while an owner's transport is full).

Runs in: the reactor thread only; every method checks that first.  The
registry it works on (C{_owners}, by C{id(owner)}: owners are identities,
never hashed or compared) is the reactor side's (L{twisted_lwstp._reactorside});
C{owner_closing} takes the pool lock for its transitions, marked C{# LOCK}.
"""

from __future__ import annotations

from ._core import _QUEUED, _SYNCING, SYNC_EVENT
from ._interfaces import ITaskOwner
from ._reactorside import OwnerState, ReactorSide
from ._task import Task


class OwnerRegistry(ReactorSide):
    """
    The owner-facing part of a pool's API.
    """

    def tasks_of(self, owner: object) -> list[Task]:
        """
        The live (unreaped) tasks bound to C{owner}, oldest first.
        """
        self._in_reactor("tasks_of")
        state = self._owners.get(id(owner))
        return [] if state is None else list(state.tasks)

    def owner_closing(self, owner: object) -> None:
        """
        C{owner} is going away: detach every task from it.  Tasks not
        OUTLIVE are stopped (a queued one at once); OUTLIVE tasks blocked in
        SYNC continue as if they had checked in; tasks already done are
        reaped now with C{cleanup(None, user)}.
        """
        self._in_reactor("owner_closing")
        state = self._owners.pop(id(owner), None)
        if state is None:
            return
        state.held = None
        reap: list[Task] = []
        with self._lock:  # LOCK (to the end of the block)
            now = self._clock()
            for task in state.tasks:
                task.owner = None
                status = task._status
                if status is _QUEUED:
                    del self._backlog[task]
                    self._queued_tasks -= 1
                    self._end_unrun_locked(task, now)
                    reap.append(task)
                elif status.is_done:
                    reap.append(task)
                elif task._outlive:
                    if status is _SYNCING:
                        self._release_locked(task, False)
                else:
                    self._request_stop_locked(task)
        for task in state.tasks:
            self._syncing.pop(task, None)
        for task in reap:
            self._reap(task)

    def pause_owner(self, owner: ITaskOwner) -> None:
        """
        Hold back C{writable()} calls to C{owner} (its transport is full).
        """
        self._in_reactor("pause_owner")
        state = self._owners.get(id(owner))
        if state is None:
            state = self._owners[id(owner)] = OwnerState(owner)
        state.paused = True

    def resume_owner(self, owner: ITaskOwner) -> None:
        """
        Deliver the C{writable()} calls held back for C{owner}, in order,
        until it is paused again.
        """
        self._in_reactor("resume_owner")
        state = self._owners.get(id(owner))
        if state is None:
            return
        state.paused = False
        held = state.held
        state.held = None
        while held and not state.paused and self._owners.get(id(owner)) is state:
            kind, task = held.popleft()
            # Still due?  A held SYNC may have been released (stopped) and
            # a held end may have been reaped meanwhile.
            if task._status is _SYNCING if kind == SYNC_EVENT else not task._reaped:
                self._call_writable(state.owner, kind, task)
        if held and self._owners.get(id(owner)) is state:
            # Paused again: keep the rest, ahead of anything held meanwhile.
            if state.held:
                held.extend(state.held)
            state.held = held
        if not state.tasks and not state.paused and self._owners.get(id(owner)) is state:
            del self._owners[id(owner)]

    def owner_paused(self, owner: object) -> bool:
        """
        Whether C{writable()} calls to C{owner} are being held back.
        """
        state = self._owners.get(id(owner))
        return state is not None and state.paused
