"""
TaskOwnerMixin: protocols as task owners, with flow control, driven
deterministically by a stepped pool and StringTransport.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp import ITaskOwner, Task, TaskOwnerMixin, TaskReturn, TaskStatus
from twisted_lwstp.testing import PoolHarness

from ._helpers import Script

R = TaskReturn
S = TaskStatus


class Streamer(TaskOwnerMixin, Protocol):
    """Writes each SYNC's user value; records how its tasks ended."""

    def __init__(self) -> None:
        self.ended: list[TaskStatus] = []
        self.lost = False

    def writable(self, task: Task) -> None:
        if task.status is S.SYNCING:
            self.transport.write(b"%d\n" % task.user["n"])
        else:
            self.ended.append(task.status)
        super().writable(task)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.lost = True
        super().connectionLost(reason)


def counting(limit: int, outlive: bool = False):
    def task(user: dict, status: TaskStatus) -> TaskReturn:
        if status is S.STOPPING:
            return R.STOPPED
        user["n"] += 1
        ret = R.SYNC if user["n"] < limit else R.FINISHED
        return ret | R.OUTLIVE if outlive else ret

    return task


class MixinTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = PoolHarness(1, 2)
        self.h.pool.start()
        self.proto = Streamer()
        self.proto.pool = self.h.pool
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)

    def tearDown(self) -> None:
        self.h.pool.destroy()
        self.h.run()

    def test_provides_interfaces_and_registers_as_streaming_producer(self) -> None:
        self.assertTrue(ITaskOwner.providedBy(self.proto))
        self.assertTrue(IPushProducer.providedBy(self.proto))
        self.assertIs(self.transport.producer, self.proto)
        self.assertTrue(self.transport.streaming)

    def test_enqueue_task_binds_to_the_protocol_and_names_the_peer(self) -> None:
        task = self.proto.enqueue_task(counting(3), user={"n": 0})
        self.assertIs(task.owner, self.proto)
        self.assertEqual(task.name, "192.168.1.1:54321")
        self.assertEqual(self.proto.tasks, [task])
        self.h.run()
        self.assertEqual(self.transport.value(), b"1\n2\n")
        self.assertEqual(self.proto.ended, [S.FINISHED])
        self.assertTrue(task.reaped)  # the default writable reaped it
        self.assertEqual(self.proto.tasks, [])

    def test_paused_transport_holds_sync_writables(self) -> None:
        task = self.proto.enqueue_task(counting(10), user={"n": 0})
        self.h.step()
        self.h.flush()
        self.h.step()
        self.transport.producer.pauseProducing()
        self.h.flush()
        self.assertEqual(self.transport.value(), b"1\n")
        self.assertIs(task.status, S.SYNCING)
        self.assertFalse(self.h.workers[0].can_step)
        self.transport.producer.resumeProducing()
        self.assertEqual(self.transport.value(), b"1\n2\n")
        self.assertTrue(self.h.workers[0].can_step)

    def test_connection_lost_stops_its_tasks(self) -> None:
        task = self.proto.enqueue_task(counting(10), user={"n": 0})
        self.h.step()
        self.h.flush()
        self.proto.connectionLost(Failure(ConnectionDone()))
        self.assertTrue(self.proto.lost)
        self.assertIsNone(task.owner)
        self.assertIs(task.status, S.STOPPING)
        self.h.run()
        self.assertIs(self.successResultOf(task.when_done()), S.STOPPED)

    def test_connection_lost_lets_outlive_tasks_go_on(self) -> None:
        cleaned: list[Any] = []
        task = self.proto.enqueue_task(counting(4, outlive=True), user={"n": 0},
                                       cleanup=lambda o, u: cleaned.append((o, u["n"])))
        self.h.step()
        self.h.flush()
        self.proto.connectionLost(Failure(ConnectionDone()))
        self.h.run()
        self.assertIs(task.status, S.FINISHED)
        self.assertEqual(cleaned, [(None, 4)])

    def test_pool_found_on_the_factory(self) -> None:
        proto = Streamer()
        proto.factory = SimpleNamespace(pool=self.h.pool)  # type: ignore[assignment]
        proto.makeConnection(StringTransport())
        self.assertIs(proto.enqueue_task(Script()).owner, proto)

    def test_no_pool_is_a_clear_error(self) -> None:
        proto = Streamer()
        with self.assertRaises(RuntimeError) as caught:
            proto.makeConnection(StringTransport())
            proto.enqueue_task(Script())
        self.assertIn("Streamer has no ThreadPool", str(caught.exception))


class FakeWebSocketTransport:
    """
    Behaves like Twisted 26.10's WebSocketTransport on a connection upgraded
    from HTTP: the HTTP channel is still the TCP producer, so attaching
    raises until it is detached.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.producer: Any = "http channel"
        self.sent: list[str] = []

    def attachProducer(self, producer: Any) -> None:
        if self.producer is not None:
            self.calls.append("attach refused")
            raise RuntimeError("Cannot register producer: one is already registered")
        self.calls.append("attach")
        self.producer = producer

    def detachProducer(self) -> None:
        self.calls.append("detach")
        self.producer = None

    def sendTextMessage(self, text: str) -> None:
        self.sent.append(text)


class WSProto(TaskOwnerMixin):
    def writable(self, task: Task) -> None:
        if task.status is S.SYNCING:
            self.transport.sendTextMessage(f"pos {task.user['n']}")
        super().writable(task)


class WebSocketMixinTests(SynchronousTestCase):
    def test_takes_over_the_http_channels_producer_slot(self) -> None:
        h = PoolHarness(1, 1)
        h.pool.start()
        proto = WSProto()
        proto.pool = h.pool
        transport = FakeWebSocketTransport()
        proto.negotiationStarted(transport)
        proto.negotiationFinished()
        self.assertEqual(transport.calls, ["attach refused", "detach", "attach"])
        self.assertIs(transport.producer, proto)
        task = proto.enqueue_task(counting(3), user={"n": 0}, name="ws")
        h.run()
        self.assertEqual(transport.sent, ["pos 1", "pos 2"])
        self.assertTrue(task.reaped)
        proto.connectionLost(None)
        h.pool.destroy()
        h.run()

    def test_plain_attach_when_nothing_is_registered(self) -> None:
        h = PoolHarness(1, 1)
        proto = WSProto()
        proto.pool = h.pool
        transport = FakeWebSocketTransport()
        transport.producer = None
        proto.negotiationStarted(transport)
        proto.negotiationFinished()
        self.assertEqual(transport.calls, ["attach"])


class _Parent:
    """A protocol base that records which of its events the mixin passes on."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def connectionMade(self) -> None:
        self.events.append(("made", None))

    def negotiationStarted(self, transport: Any) -> None:
        self.events.append(("started", transport))

    def negotiationFinished(self) -> None:
        self.events.append(("finished", None))

    def connectionLost(self, reason: Any = None) -> None:
        self.events.append(("lost", reason))


class _Child(TaskOwnerMixin, _Parent):
    pass


class MixinCooperationTests(SynchronousTestCase):
    """The mixin passes each protocol event on to the class after it."""

    def setUp(self) -> None:
        self.h = PoolHarness(1, 1)
        self.h.pool.start()
        self.addCleanup(self.h.pool.stop)

    def test_each_event_reaches_the_parent(self) -> None:
        proto = _Child()
        proto.pool = self.h.pool
        proto.transport = StringTransport()
        proto.connectionMade()
        self.assertIs(proto.transport.producer, proto)
        ws = FakeWebSocketTransport()
        proto.negotiationStarted(ws)
        proto.negotiationFinished()
        # The HTTP channel held the producer slot: detached, then this.
        self.assertIs(ws.producer, proto)
        reason = Failure(ConnectionDone())
        proto.connectionLost(reason)
        self.assertEqual(proto.events, [("made", None), ("started", ws), ("finished", None),
                                        ("lost", reason)])

    def test_a_websocket_with_no_producer_yet_takes_this_one_at_once(self) -> None:
        proto = _Child()
        proto.pool = self.h.pool
        ws = FakeWebSocketTransport()
        ws.producer = None
        proto.negotiationStarted(ws)
        proto.negotiationFinished()
        self.assertEqual(ws.calls, ["attach"])
        self.assertIs(ws.producer, proto)

    def test_a_parent_without_connection_made(self) -> None:
        class Bare(TaskOwnerMixin):
            pass

        proto = Bare()
        proto.pool = self.h.pool
        proto.transport = StringTransport()
        proto.connectionMade()
        self.assertIs(proto.transport.producer, proto)

    def test_no_pool_anywhere_is_named(self) -> None:
        with self.assertRaises(RuntimeError) as caught:
            _Child().enqueue_task(lambda u, s: TaskReturn.FINISHED)
        self.assertEqual(str(caught.exception), "_Child has no ThreadPool: set its 'pool' "
                                                "attribute, or its factory's")

    def test_a_protocol_with_no_pool_may_still_lose_its_connection(self) -> None:
        proto = _Child()
        proto.connectionLost(None)
        self.assertEqual(proto.events, [("lost", None)])

    def test_task_names_come_from_the_peer(self) -> None:
        from twisted.internet.address import UNIXAddress

        proto = _Child()
        proto.pool = self.h.pool
        proto.transport = SimpleNamespace()  # no getPeer: the class's name
        self.assertEqual(proto.enqueue_task(lambda u, s: TaskReturn.FINISHED).name, "_Child")
        proto.transport = SimpleNamespace(getPeer=lambda: UNIXAddress("/run/x.sock"))
        self.assertEqual(proto.enqueue_task(lambda u, s: TaskReturn.FINISHED).name,
                         str(UNIXAddress("/run/x.sock")))
        self.h.run()

    def test_enqueue_task_passes_its_window_on(self) -> None:
        from twisted_lwstp import MessageWindow

        class Delivering(_Child):
            def deliver(self, task: Task, messages: list[Any]) -> None:
                pass

        proto = Delivering()
        proto.pool = self.h.pool
        window: MessageWindow[Any] = MessageWindow(2)
        task = proto.enqueue_task(lambda u, s: TaskReturn.FINISHED, window=window)
        self.assertIs(task.window, window)
        self.h.run()
        proto.connectionLost(None)
