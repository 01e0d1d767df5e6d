"""
The demo's counting task: where it checks in, syncs and finishes.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp import TaskReturn, TaskStatus
from twisted_lwstp.demo import CountState, TaskShape, count_task

R = TaskReturn
S = TaskStatus


def run(shape: TaskShape) -> tuple[list[tuple[int, TaskReturn]], list[float]]:
    pauses: list[float] = []
    state = CountState(shape, sleep=pauses.append)
    trace = []
    for _ in range(10_000):
        ret = count_task(state, S.RUNNING)
        trace.append((state.pos, ret))
        if ret is R.FINISHED:
            return trace, pauses
    raise AssertionError("never finished")


class CountingTaskTests(SynchronousTestCase):
    def test_checks_in_syncs_and_finishes_with_a_last_sync(self) -> None:
        trace, pauses = run(TaskShape(count=10, checkin_every=3, sync_every=5, pause_ms=20))
        self.assertEqual(
            trace,
            [(0, R.SYNC), (3, R.CHECKING_IN), (5, R.SYNC), (6, R.CHECKING_IN), (9, R.CHECKING_IN),
             (10, R.SYNC), (10, R.FINISHED)],
        )
        self.assertEqual(pauses, [0.02, 0.02, 0.02])

    def test_count_not_a_multiple_of_sync_every_ends_without_sync(self) -> None:
        trace, _ = run(TaskShape(count=7, checkin_every=100, sync_every=5, pause_ms=0))
        self.assertEqual(trace, [(0, R.SYNC), (5, R.SYNC), (7, R.FINISHED)])

    def test_no_pause_means_no_sleep(self) -> None:
        _, pauses = run(TaskShape(count=10, checkin_every=2, sync_every=100, pause_ms=0))
        self.assertEqual(pauses, [])

    def test_zero_count_finishes_after_its_start(self) -> None:
        trace, _ = run(TaskShape(count=0))
        self.assertEqual(trace, [(0, R.SYNC), (0, R.FINISHED)])

    def test_first_call_syncs_at_zero_without_counting_or_pausing(self) -> None:
        pauses: list[float] = []
        state = CountState(TaskShape(count=10, checkin_every=1, sync_every=5, pause_ms=20),
                           sleep=pauses.append)
        self.assertIs(count_task(state, S.RUNNING), R.SYNC)
        self.assertEqual((state.pos, state.started, pauses), (0, True, []))
        self.assertIs(count_task(state, S.RUNNING), R.CHECKING_IN)
        self.assertEqual((state.pos, pauses), (1, [0.02]))

    def test_told_stopping_stops(self) -> None:
        state = CountState(TaskShape())
        self.assertIs(count_task(state, S.STOPPING), R.STOPPED)
        self.assertEqual(state.pos, 0)


class Window:
    """A window that records puts and says it is full after C{room} of them."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.put_: list[int] = []

    def put(self, pos: int) -> bool:
        self.put_.append(pos)
        return len(self.put_) % self.room != 0


class WindowModeTests(SynchronousTestCase):
    def run_window(self, shape: TaskShape, room: int) -> tuple[list[tuple[int, TaskReturn]],
                                                               list[int], list[float]]:
        pauses: list[float] = []
        window = Window(room)
        state = CountState(shape, sleep=pauses.append, window=window)  # type: ignore[arg-type]
        trace = []
        for _ in range(10_000):
            ret = count_task(state, S.RUNNING)
            trace.append((state.pos, ret))
            if ret is R.FINISHED:
                return trace, window.put_, pauses
        raise AssertionError("never finished")

    def test_positions_go_through_the_window_and_sync_only_when_full(self) -> None:
        trace, put, pauses = self.run_window(
            TaskShape(count=10, checkin_every=100, sync_every=1, pause_ms=0), room=4)
        self.assertEqual(put, list(range(11)))
        # Full after 4, 8: a SYNC each; the rest in one call.
        self.assertEqual(trace, [(3, R.SYNC), (7, R.SYNC), (10, R.FINISHED)])
        self.assertEqual(pauses, [])

    def test_check_ins_happen_in_window_mode_too(self) -> None:
        trace, put, pauses = self.run_window(
            TaskShape(count=10, checkin_every=4, sync_every=2, pause_ms=5), room=100)
        self.assertEqual(put, [0, 2, 4, 6, 8, 10])
        self.assertEqual(trace, [(4, R.CHECKING_IN), (8, R.CHECKING_IN), (10, R.FINISHED)])
        self.assertEqual(pauses, [0.005, 0.005])

    def test_a_full_window_at_the_start_syncs_at_zero(self) -> None:
        trace, put, _ = self.run_window(
            TaskShape(count=2, checkin_every=100, sync_every=1, pause_ms=0), room=1)
        self.assertEqual(put, [0, 1, 2])
        self.assertEqual(trace, [(0, R.SYNC), (1, R.SYNC), (2, R.SYNC), (2, R.FINISHED)])


class ClosingPeerTests(SynchronousTestCase):
    """
    The peer's close frame can arrive while a SYNC's writable() is pending:
    the WebSocket refuses to send, and connectionLost comes later, once the
    last bytes drained.  The task is stopped; nothing raises.
    """

    def test_sync_for_a_closing_websocket_stops_the_task(self) -> None:
        from wsproto.utilities import LocalProtocolError

        from twisted_lwstp.demo._ws import CountingFactory, CountingProtocol
        from twisted_lwstp.testing import PoolHarness

        class ClosingTransport:
            sent: list[str] = []
            closed: list[int] = []

            def sendTextMessage(self, text: str) -> None:
                raise LocalProtocolError("cannot be sent in state CLOSED")

            def loseConnection(self, code: int = 1000, reason: str = "") -> None:
                self.closed.append(code)

        h = PoolHarness(1, 0)
        h.pool.start()
        factory = CountingFactory(h.pool, TaskShape(count=100, checkin_every=1000,
                                                    sync_every=1, pause_ms=0))
        protocol = CountingProtocol(factory, "peer")
        protocol.transport = ClosingTransport()
        protocol.task = task = h.pool.enqueue(protocol, count_task,
                                              user=CountState(factory.shape),
                                              cleanup=factory.task_cleanup)
        h.step()
        self.assertIs(task.status, S.SYNCING)
        h.run()  # writable() finds the socket closing; the task stops
        self.assertIs(task.status, S.STOPPED)
        self.assertTrue(task.reaped)
        self.assertEqual(factory.stats.cleanups, 1)
        self.assertEqual(ClosingTransport.closed, [])
        self.assertEqual(self.flushLoggedErrors(), [])
        d = h.pool.destroy()
        h.run()
        self.successResultOf(d)
