# -*- test-case-name: tests.test_window -*-
"""
L{MessageWindow}: many messages from a task to its owner per wake-up of the
reactor (model rules 15 to 18).

A task given a window at enqueue (C{enqueue(..., window=MessageWindow(64))})
puts messages into it from its worker thread, without blocking.  The first
message put after the reactor last took a batch posts one event to the
pool's mailbox, and the reactor thread hands everything the window holds by
then to the owner's C{deliver(task, messages)}, in order, as one batch.
While the owner is paused by flow control nothing is taken: the window
fills, C{put()} says so, and the task returns SYNC, blocking as any SYNC
does until the owner's C{writable()} lets it go on.

Runs in: C{put} in the task's worker thread (from the task function);
C{size}, C{dropped} and C{len()} in any thread; the rest in the reactor
thread, called by the pool.

Owner of, all guarded by C{MessageWindow._lock} (never held while calling
anything else, nor while taking the pool's lock): the messages, whether an
event for them is on its way, whether the window is closed, and the count
of messages dropped.  C{_task} and C{_post} are set once, by the reactor
thread, before the task can run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from ._checks import check_int

__all__ = ["MessageWindow", "WindowFull"]

_M = TypeVar("_M")


class _Task(Protocol):
    """What a window knows of its task (a L{twisted_lwstp.Task}): its name."""

    name: str


class WindowFull(RuntimeError):
    """
    A task put a message into its window while the window was full: it
    should have returned SYNC when C{put()} returned C{False} (rule 16).
    """


class MessageWindow(Generic[_M]):
    """
    A bounded, ordered hand-over of messages from one task to its owner.

    @param size: The most messages it holds (at least 1): how far the task
        may run ahead of its owner.
    """

    def __init__(self, size: int) -> None:
        self._size = check_int("size", size, 1)
        self._lock = threading.Lock()
        # Guarded by _lock.
        self._messages: list[_M] = []
        self._announced = False  # an event for the messages is on its way
        self._closed = False  # nobody will take them: put() drops them
        self._dropped = 0
        # Set once by bind(), in the reactor thread, before the task runs.
        self._task: _Task | None = None
        self._post: Callable[[], bool] | None = None
        self._wake: Callable[[], object] | None = None

    def __repr__(self) -> str:
        task = self._task
        bound = f" of {task.name!r}" if task is not None else ""
        return f"<MessageWindow{bound} {len(self)}/{self._size}>"

    @property
    def size(self) -> int:
        """The most messages the window holds."""
        return self._size

    @property
    def dropped(self) -> int:
        """
        How many messages were dropped undelivered: held when the owner
        went, or put after it went, or put by a task without one (rule 17).
        """
        with self._lock:
            return self._dropped

    def __len__(self) -> int:
        """How many messages wait to be delivered."""
        with self._lock:
            return len(self._messages)

    # -- the task's side (its worker thread) -------------------------------

    def put(self, message: _M) -> bool:
        """
        Hand C{message} to the owner: it is delivered in order, exactly
        once, in the reactor thread (rule 15).  Never blocks.

        @return: C{True} if the window has room for another message;
            C{False} if it is full now: the task should return SYNC, and
            puts again once released (rule 16).
        @raise WindowFull: it was full already (nothing is put).
        @raise RuntimeError: the window is not a task's (not given to
            C{enqueue}).
        """
        post = self._post
        if post is None:
            raise RuntimeError(
                "put() on a MessageWindow that no task owns: give it to "
                "enqueue(..., window=...) first"
            )
        with self._lock:
            if self._closed:
                # Nobody will ever take it (rule 17): dropped, and never full.
                self._dropped += 1
                return True
            messages = self._messages
            if len(messages) >= self._size:
                raise WindowFull(
                    f"the window of task {self._task.name!r} is full "  # type: ignore[union-attr]
                    f"({self._size} messages): return SYNC when put() returns False"
                )
            messages.append(message)
            announce = not self._announced
            self._announced = True
            room = len(messages) < self._size
        if announce and post():
            self._wake()  # type: ignore[misc]
        return room

    # -- the pool's side (reactor thread) ----------------------------------

    def bind(self, task: _Task, post: Callable[[], bool], wake: Callable[[], object],
             closed: bool) -> None:
        """
        Make this the window of C{task} (L{check_window} found it free):
        C{post()} (any thread) posts the event for a batch and says whether
        C{wake()} must then wake the reactor.  A window of a task without
        an owner is closed from the start (rule 17).
        """
        self._task = task
        self._closed = closed
        self._wake = wake
        self._post = post

    @property
    def task(self) -> _Task | None:
        """The task whose window this is, or None."""
        return self._task

    def unbind(self) -> None:
        """The task was refused: the window is nobody's again."""
        self._task = None
        self._post = None
        self._wake = None
        self._closed = False

    def take(self) -> list[_M]:
        """
        Every message put so far, oldest first; the next C{put} asks for a
        new batch.
        """
        with self._lock:
            messages = self._messages
            self._messages = []
            self._announced = False
            return messages

    def close(self) -> int:
        """
        Nobody will take messages any more (the owner went, or the task was
        reaped): drop what is held, and what is put from now on.

        @return: How many held messages were dropped.
        """
        with self._lock:
            held = len(self._messages)
            self._dropped += held
            self._messages = []
            self._closed = True
            return held


def check_window(window: Any, owner: Any) -> MessageWindow[Any] | None:
    """
    C{window}, checked for C{enqueue}: None, or a L{MessageWindow} that is
    no task's yet, for an owner that has C{deliver()} (or no owner).

    @raise TypeError: not a window, or the owner cannot take its messages.
    @raise ValueError: the window is another task's already.
    """
    if window is None:
        return None
    if not isinstance(window, MessageWindow):
        raise TypeError(f"window must be a MessageWindow or None, not {type(window).__name__}")
    if window.task is not None:
        raise ValueError(f"{window!r} is the window of another task already")
    if owner is not None and not callable(getattr(owner, "deliver", None)):
        raise TypeError(
            "owner of a task with a window must have deliver(task, messages); "
            f"{type(owner).__name__} has none"
        )
    return window
