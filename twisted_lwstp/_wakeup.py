# -*- test-case-name: tests.test_wakeup -*-
"""
The coalesced hand-over from worker threads to the reactor thread.

libwebsockets wakes its service thread with C{lws_cancel_service()}; we use
C{reactor.callFromThread}, but only once per batch: the first event posted
after a batch was taken asks for a wake-up, and every event posted before
the reactor gets round to it rides along for free.
"""

from __future__ import annotations

from typing import Generic, TypeVar

_E = TypeVar("_E")


class Mailbox(Generic[_E]):
    """
    A list of pending events and whether a wake-up is already on its way.

    Owner: both attributes are guarded by the lock of the pool that owns the
    mailbox; every method must be called with that lock held.
    """

    __slots__ = ("_events", "_scheduled")

    def __init__(self) -> None:
        self._events: list[_E] = []
        self._scheduled = False

    def post(self, event: _E) -> bool:
        """
        Add C{event}; return C{True} when the caller must wake the reactor
        (once the lock is released), C{False} when a wake-up is already
        pending and will take this event too.
        """
        self._events.append(event)
        if self._scheduled:
            return False
        self._scheduled = True
        return True

    def take(self) -> list[_E]:
        """
        Take every pending event, oldest first; the next C{post} asks for a
        new wake-up.
        """
        events = self._events
        self._events = []
        self._scheduled = False
        return events

    def __len__(self) -> int:
        return len(self._events)
