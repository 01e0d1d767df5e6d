"""
The mailbox asks for one wake-up per batch, never one per event.
"""

from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp._wakeup import Mailbox


class MailboxTests(SynchronousTestCase):
    def test_one_wakeup_per_batch(self) -> None:
        box: Mailbox[int] = Mailbox()
        self.assertEqual([box.post(i) for i in range(5)], [True, False, False, False, False])
        self.assertEqual(len(box), 5)
        self.assertEqual(box.take(), [0, 1, 2, 3, 4])
        self.assertEqual(len(box), 0)
        # After a batch is taken the next event asks again.
        self.assertTrue(box.post(5))
        self.assertEqual(box.take(), [5])

    def test_take_empty(self) -> None:
        box: Mailbox[int] = Mailbox()
        self.assertEqual(box.take(), [])
        self.assertTrue(box.post(1))
