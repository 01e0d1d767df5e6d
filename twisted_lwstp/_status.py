# -*- test-case-name: tests.test_status -*-
"""
The two vocabularies of a task: what state it is in (L{TaskStatus}) and what
the task function says when it returns (L{TaskReturn}).

The numbers are those of libwebsockets (C{enum lws_threadpool_task_status}
and C{enum lws_threadpool_task_return}), so logs and dumps read the same.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag


class TaskStatus(IntEnum):
    """
    Where a task is in its life (see the diagram in L{twisted_lwstp._pool}).
    """

    QUEUED = 0
    """Waiting for a worker thread."""
    RUNNING = 1
    """On a worker thread, being called."""
    SYNCING = 2
    """On a worker thread, blocked until its owner calls C{task_sync}."""
    STOPPING = 3
    """Asked to stop; it will be called once more with this status."""
    FINISHED = 4
    """Done: the task returned FINISHED."""
    STOPPED = 5
    """Done: the task stopped, was stopped before it ran, or failed."""

    @property
    def is_done(self) -> bool:
        """
        C{True} for the two final states, FINISHED and STOPPED.
        """
        return self >= TaskStatus.FINISHED


class TaskReturn(IntFlag):
    """
    What a task function returns: one of the first four, optionally or-ed
    with L{OUTLIVE}.
    """

    CHECKING_IN = 0
    """More to do; call me again, and tell me whether I should stop."""
    SYNC = 1
    """Block me until my owner has been writable and called C{task_sync}."""
    FINISHED = 2
    """I am done."""
    STOPPED = 3
    """I stopped (normally after being told STOPPING)."""
    OUTLIVE = 64
    """Keep me running if my owner goes away (or-ed with one of the above)."""


#: The bits of a valid return value besides OUTLIVE.
RETURN_MASK = 3
