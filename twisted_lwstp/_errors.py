# -*- test-case-name: tests.test_pool -*-
"""
The exceptions the pool raises for refused work.
"""

from __future__ import annotations


class EnqueueRefused(Exception):
    """
    The pool did not take the task: nothing was created, no cleanup will run,
    and the caller still owns C{user}.
    """


class QueueFull(EnqueueRefused):
    """
    No worker was idle and C{max_queue_depth} tasks were already waiting.
    """


class PoolFinished(EnqueueRefused):
    """
    The pool is finishing or destroyed and accepts nothing new.
    """


class TaskFailed(Exception):
    """
    A task function returned something that is not a L{TaskReturn}; kept on
    the task as C{task.error}.
    """
