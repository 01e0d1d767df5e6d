# -*- test-case-name: tests.test_demo_counting -*-
"""
The demo's task: count to C{count}, checking in every C{checkin_every}
steps (after a pause that stands in for real work) and syncing every
C{sync_every} steps, as libwebsockets' "minimal ws server threadpool"
example does; and syncing once at 0 when it starts, so that its client
can tell a running task from a queued one.

With a C{window} (C{twistd lwstp --window N}), the positions go through
the task's L{MessageWindow} instead (model rule 15): the task puts each
one and goes on, and SYNCs only when the window is full.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .._status import TaskReturn, TaskStatus
from .._window import MessageWindow


@dataclass(frozen=True)
class TaskShape:
    """
    How a counting task behaves.  Validated by the twistd options.
    """

    count: int = 10_000_000
    checkin_every: int = 100_000
    sync_every: int = 1_000_000
    pause_ms: float = 100.0
    #: Positions per task in flight through a window; 0: a SYNC for each.
    window: int = 0


@dataclass
class CountState:
    """
    The C{user} of one counting task: where it has got to.

    Owner: the worker while the task runs; the reactor thread in
    C{writable()} while the task is blocked in SYNC or done (the pool
    guarantees the two never overlap).
    """

    shape: TaskShape
    pos: int = 0
    started: bool = False
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    #: Where positions go in window mode (the pool delivers them).
    window: MessageWindow[int] | None = None


def count_task(state: CountState, status: TaskStatus) -> TaskReturn:
    """
    One call of the counting task: advance to the next check-in or sync
    point and say which it is.  The first call SYNCs at 0: the task has
    left the queue, and its owner can say so.  When C{count} is a multiple
    of C{sync_every}, the last step is a SYNC and the next call finishes.

    In window mode a sync point puts the position into the window and
    counts on; the task SYNCs only when the window is full, and checks in
    at check-in points all the same.
    """
    if status is TaskStatus.STOPPING:
        return TaskReturn.STOPPED
    window = state.window
    if not state.started:
        state.started = True
        if window is None or not window.put(state.pos):
            return TaskReturn.SYNC
    shape = state.shape
    while True:
        pos = state.pos
        if pos >= shape.count:
            return TaskReturn.FINISHED
        next_sync = (pos // shape.sync_every + 1) * shape.sync_every
        next_checkin = (pos // shape.checkin_every + 1) * shape.checkin_every
        pos = state.pos = min(next_sync, next_checkin, shape.count)
        if pos == next_sync:
            if window is None or not window.put(pos):
                return TaskReturn.SYNC
            if pos == shape.count:
                return TaskReturn.FINISHED
            if pos != next_checkin:
                continue
        elif pos == shape.count:
            return TaskReturn.FINISHED
        if shape.pause_ms:
            state.sleep(shape.pause_ms / 1000.0)
        return TaskReturn.CHECKING_IN
