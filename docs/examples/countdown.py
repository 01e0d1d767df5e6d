"""
A user's protocol on twisted_lwstp: a client sends a number on a line; a
task in the pool counts down from it, and the protocol writes each value as
the task syncs, then "liftoff".
"""

from __future__ import annotations

from twisted.protocols.basic import LineReceiver

from twisted_lwstp import Task, TaskOwnerMixin, TaskReturn, TaskStatus


def countdown(user: dict, status: TaskStatus) -> TaskReturn:
    """Runs in a worker thread."""
    if status is TaskStatus.STOPPING:
        return TaskReturn.STOPPED
    if user["n"] == 0:
        return TaskReturn.FINISHED
    user["n"] -= 1
    return TaskReturn.SYNC


class CountdownProtocol(TaskOwnerMixin, LineReceiver):
    """Its pool comes from its factory's C{pool} attribute."""

    def lineReceived(self, line: bytes) -> None:
        self.enqueue_task(countdown, user={"n": int(line)})

    def writable(self, task: Task) -> None:
        """Runs in the reactor thread."""
        if task.status is TaskStatus.SYNCING:
            self.sendLine(b"%d" % task.user["n"])
        elif task.status is TaskStatus.FINISHED:
            self.sendLine(b"liftoff")
        super().writable(task)  # lets a SYNC go on, reaps a finished task
