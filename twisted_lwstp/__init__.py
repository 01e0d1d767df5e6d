"""
twisted_lwstp: libwebsockets' threadpool for Twisted.

Tasks bound to a connection run in worker threads, check in to learn
whether to stop, sync with the reactor so their owner can send what they
made, and are reaped by the reactor thread.  See the model
(C{docs/explanation/model.md}), whose numbered rules the code cites.
"""

from ._diagnostics import Diagnosis, PoolSnapshot
from ._errors import EnqueueRefused, PoolFinished, QueueFull, TaskFailed
from ._executor import PoolExecutor
from ._interfaces import ITaskOwner
from ._pool import ThreadPool
from ._protocol import TaskOwnerMixin
from ._service import ThreadPoolService
from ._status import TaskReturn, TaskStatus
from ._task import Task, TaskInfo, TaskTimes
from ._window import MessageWindow, WindowFull
from .reactor import install_pool

__all__ = [
    "Diagnosis",
    "EnqueueRefused",
    "ITaskOwner",
    "MessageWindow",
    "PoolExecutor",
    "PoolFinished",
    "PoolSnapshot",
    "QueueFull",
    "Task",
    "TaskFailed",
    "TaskInfo",
    "TaskOwnerMixin",
    "TaskReturn",
    "TaskStatus",
    "TaskTimes",
    "ThreadPool",
    "ThreadPoolService",
    "WindowFull",
    "install_pool",
]
