"""
Long jobs that outlive their connection, and polite refusals.

A client sends ``start <n>``: a job summing the squares below n starts in
the pool, and the client gets a token at once.  The job is OUTLIVE: if the
client hangs up it goes on, and its result waits under its token.  Any
connection can ask ``result <token>``.  When the pool is full the client is
told so, politely, instead of being queued without bound.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver

from twisted_lwstp import (
    PoolFinished,
    QueueFull,
    Task,
    TaskOwnerMixin,
    TaskReturn,
    TaskStatus,
    ThreadPool,
)

CHUNK = 50_000


@dataclass
class Job:
    """A job's state: its task's ``user``."""

    token: str
    n: int
    done_up_to: int = 0
    total: int = 0


def sum_squares(job: Job, status: TaskStatus) -> TaskReturn:
    """Runs in a worker, a chunk per call, checking in between chunks."""
    if status is TaskStatus.STOPPING:
        return TaskReturn.STOPPED
    end = min(job.n, job.done_up_to + CHUNK)
    job.total += sum(i * i for i in range(job.done_up_to, end))
    job.done_up_to = end
    if end == job.n:
        return TaskReturn.FINISHED
    return TaskReturn.CHECKING_IN | TaskReturn.OUTLIVE


@dataclass
class JobBoard:
    """Jobs by token.  Reactor thread only."""

    running: dict[str, Job] = field(default_factory=dict)
    results: dict[str, int] = field(default_factory=dict)
    tokens: Any = field(default_factory=lambda: (f"job-{i}" for i in itertools.count(1)))

    def cleanup(self, owner: object, job: Job) -> None:
        """Every job's cleanup, in the reactor thread, owner or not."""
        self.running.pop(job.token, None)
        if job.done_up_to == job.n:
            self.results[job.token] = job.total


class JobProtocol(TaskOwnerMixin, LineReceiver):
    def lineReceived(self, line: bytes) -> None:
        command, _, argument = line.decode().partition(" ")
        if command == "start":
            self.start(int(argument))
        elif command == "result":
            self.sendLine(self.factory.board_answer(argument).encode())

    def start(self, n: int) -> None:
        board: JobBoard = self.factory.board
        job = Job(next(board.tokens), n)
        try:
            self.enqueue_task(sum_squares, user=job, cleanup=board.cleanup, name=job.token)
        except QueueFull:
            pool = self.factory.pool
            self.sendLine(
                f"busy: {pool.threads} jobs running and {pool.max_queue_depth} waiting;"
                " try again later".encode()
            )
            return
        except PoolFinished:
            self.sendLine(b"shutting down: no new jobs")
            return
        board.running[job.token] = job
        self.sendLine(f"token {job.token}".encode())

    def writable(self, task: Task) -> None:
        if task.status is TaskStatus.FINISHED:
            self.sendLine(f"done {task.user.token} {task.user.total}".encode())
        super().writable(task)  # reaps it


class JobFactory(Factory):
    protocol = JobProtocol

    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool
        self.board = JobBoard()

    def board_answer(self, token: str) -> str:
        if token in self.board.results:
            return f"result {token} {self.board.results[token]}"
        if token in self.board.running:
            job = self.board.running[token]
            return f"running {token} {job.done_up_to}/{job.n}"
        return f"unknown {token}"
