# -*- test-case-name: tests.test_window,tests.test_pool_edges -*-
"""
L{HandOver}: the reactor thread's calls into owners, C{writable(task)} and
a window's C{deliver(task, messages)}, in the order the model asks for
(rule 16: a task's batch before the C{writable()} of a later SYNC or of its
end), and what happens when an owner raises.

Runs in: the reactor thread only (the pool's L{ReactorSide} calls it).
Owner of (reactor thread, no lock): the caller of C{writable()} (debug
mode wraps it to time it) and the counts of batches and messages
delivered, read by the pool's snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.logger import Logger
from twisted.python.reflect import safe_repr

from ._state import _SYNCING, SYNC_EVENT, WINDOW_EVENT
from ._task import Task

_log = Logger(namespace="twisted_lwstp")

#: Calls C{owner.writable(task)} for an event of a kind: (owner, kind, task).
WritableCaller = Callable[[Any, int, Task], None]


class HandOver:
    """
    How one pool hands events to owners.

    @param release: Stops a task blocked in SYNC (C{release(task, True)}).
    @param stop: Asks a task that is not done to stop.
    """

    def __init__(self, release: Callable[[Task, bool], object],
                 stop: Callable[[Task], object]) -> None:
        # Set once.
        self._release = release
        self._stop = stop
        # Reactor thread only.
        self._writable: WritableCaller = self._call_writable
        self.batches = 0  # windows' batches delivered (rule 15)
        self.delivered = 0  # messages in them

    def time_writable(self, wrap: Callable[[WritableCaller], WritableCaller]) -> None:
        """Debug mode: C{writable()} calls go through C{wrap(caller)}."""
        self._writable = wrap(self._writable)

    def __call__(self, owner: Any, kind: int, task: Task) -> None:
        """
        Hand an event of C{kind} for C{task} to C{owner}: what the task's
        window holds first, as a batch, then C{writable(task)} for a SYNC
        or an end.
        """
        window = task.window
        if window is not None:
            messages = window.take()
            if messages:
                self._call_deliver(owner, task, messages)
                if kind == SYNC_EVENT and task._status is not _SYNCING:
                    return  # deliver() raised, and the task was stopped
        if kind != WINDOW_EVENT:
            self._writable(owner, kind, task)

    def _call_deliver(self, owner: Any, task: Task, messages: list[Any]) -> None:
        # Call owner.deliver(task, messages); an owner that raises is
        # logged, and a task that is not done is asked to stop (its
        # messages would have nowhere to go).
        self.batches += 1
        self.delivered += len(messages)
        try:
            owner.deliver(task, messages)
        except BaseException:
            _log.failure(
                "deliver() of {owner} raised for {task}; its {count} messages are lost",
                owner=safe_repr(owner), task=task.name, count=len(messages),
            )
            if not task._status.is_done:
                self._stop(task)

    def _call_writable(self, owner: Any, kind: int, task: Task) -> None:
        # Call owner.writable(task); an owner that raises is logged, and a
        # task it left blocked in SYNC is stopped (nobody would sync it).
        try:
            owner.writable(task)
        except BaseException:
            _log.failure(
                "writable() of {owner} raised for {task}",
                owner=safe_repr(owner), task=task.name,
            )
            if kind == SYNC_EVENT and task._status is _SYNCING:
                self._release(task, True)
