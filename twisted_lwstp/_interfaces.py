# -*- test-case-name: tests.test_protocol -*-
"""
The one interface a task owner provides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zope.interface import Interface

if TYPE_CHECKING:  # pragma: no cover
    from ._task import Task


class ITaskOwner(Interface):
    """
    Something tasks are bound to, usually a connection's protocol: the lws
    "wsi".
    """

    def writable(task: Task) -> None:
        """
        Called in the reactor thread when C{task} needs its owner: after the
        task returned SYNC (consume what it made, then call
        C{pool.task_sync(task)}), or when it is done (reap it with
        C{pool.task_status(task)}).  While the owner is paused by flow
        control these calls are held back.

        A task given a L{twisted_lwstp.MessageWindow} at enqueue also needs
        its owner to have C{deliver(task, messages)}, called in the reactor
        thread with each batch of messages the task put, in order (model
        rules 15 and 16).  It is not part of this interface: owners of
        tasks without a window need not define it.
        """
