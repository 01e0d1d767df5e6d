"""
TaskStatus and TaskReturn carry libwebsockets' numbers.
"""

from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp import TaskReturn, TaskStatus


class StatusTests(SynchronousTestCase):
    def test_status_values_are_lws(self) -> None:
        self.assertEqual(
            [(s.name, s.value) for s in TaskStatus],
            [("QUEUED", 0), ("RUNNING", 1), ("SYNCING", 2), ("STOPPING", 3),
             ("FINISHED", 4), ("STOPPED", 5)],
        )

    def test_is_done(self) -> None:
        self.assertEqual([s for s in TaskStatus if s.is_done],
                         [TaskStatus.FINISHED, TaskStatus.STOPPED])

    def test_return_values_are_lws(self) -> None:
        self.assertEqual(
            [(name, r.value) for name, r in TaskReturn.__members__.items()],
            [("CHECKING_IN", 0), ("SYNC", 1), ("FINISHED", 2), ("STOPPED", 3), ("OUTLIVE", 64)],
        )
        self.assertEqual(TaskReturn.SYNC | TaskReturn.OUTLIVE, 65)
