"""
The lwstp reactor's own code, in this process, on a reactor instance that
is never installed or run: the coalescing C{callFromThread} and its batch
in C{runUntilCurrent}, the pool it builds, C{install_pool} on a given
reactor.  (tests/test_reactor.py runs the installed reactor, one process a
case.)  These are the tests that mutation testing sees (C{make mutants}).
"""

from __future__ import annotations

import threading
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp import ThreadPool
from twisted_lwstp.reactor import POOL_NAME, ConfigurationError, LwstpReactor, PoolConfig, install_pool


class _ReactorCase(SynchronousTestCase):
    def build(self, config: PoolConfig | None = None, cls: Any = LwstpReactor) -> Any:
        """
        A fresh lwstp reactor (of class C{cls}), with its waker writes
        counted in C{reactor.wakes}; its descriptors are closed after the
        test.
        """
        reactor = cls(config)
        reactor.wakes = 0

        def counted() -> None:
            reactor.wakes += 1

        reactor.wakeUp = counted
        self.addCleanup(self.unbuild, reactor)
        return reactor

    def unbuild(self, reactor: Any) -> None:
        reactor.running = False  # a test may have set it
        for reader in list(getattr(reactor, "_internalReaders", ())):
            reactor.removeReader(reader)
            reader.connectionLost(None)
        for call in reactor.getDelayedCalls():
            call.cancel()
        reactor._poller.close()


def worker_policy(pool: Any) -> int:
    """
    The scheduling policy C{pool}'s worker runs its work under (the pool
    is started, given one call, and stopped: it never needs the reactor).
    """
    import os

    seen: list[int] = []
    done = threading.Event()

    def record() -> None:
        seen.append(os.sched_getscheduler(0))
        done.set()

    pool.start()
    pool.callInThread(record)
    assert done.wait(30)
    pool.stop()
    return seen[0]


class CallFromThreadTests(_ReactorCase):
    def test_a_call_that_raises_is_logged_and_the_rest_run(self) -> None:
        from ._helpers import LogCapture

        reactor = self.build()
        ran: list[str] = []
        reactor.callFromThread(lambda: 1 / 0)
        reactor.callFromThread(ran.append, "after")
        with LogCapture() as log:
            reactor.runUntilCurrent()
        self.assertEqual(ran, ["after"])
        (event,) = [e for e in log.events if e.get("log_failure") is not None]
        self.assertEqual(event["log_format"], "while calling from thread")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_the_reactors_own_pool_is_on_it(self) -> None:
        reactor = self.build(PoolConfig(threads=3))
        pool = reactor.getThreadPool()
        self.assertIs(pool.reactor, reactor)
        self.assertEqual(pool.max, 3)

    def test_config_from_the_process_environment(self) -> None:
        import os
        from unittest import mock

        with mock.patch.dict(os.environ, {"LWSTP_THREADS": "7"}):
            self.assertEqual(PoolConfig.from_environ().threads, 7)

    def test_one_wake_per_batch_and_calls_run_in_order(self) -> None:
        reactor = self.build()
        ran: list[int] = []
        for n in range(5):
            reactor.callFromThread(ran.append, n)
        self.assertEqual(reactor.wakes, 1)
        self.assertEqual(ran, [])
        reactor.runUntilCurrent()
        self.assertEqual(ran, [0, 1, 2, 3, 4])
        reactor.callFromThread(ran.append, 5)
        self.assertEqual(reactor.wakes, 2)
        reactor.runUntilCurrent()
        self.assertEqual(ran, [0, 1, 2, 3, 4, 5])

    def test_call_made_by_a_call_of_the_batch_wakes_and_runs_next_batch(self) -> None:
        # Cleared before the batch: the call made inside it finds no wake-up
        # pending, so it writes the waker itself; it runs in the next batch,
        # not this one (a batch is what was queued when it began).
        reactor = self.build()
        ran: list[str] = []

        def outer() -> None:
            ran.append("outer")
            reactor.callFromThread(ran.append, "inner")

        reactor.callFromThread(outer)
        self.assertEqual(reactor.wakes, 1)
        reactor.runUntilCurrent()
        self.assertEqual(ran, ["outer"])
        self.assertEqual(reactor.wakes, 2)
        self.assertTrue(reactor._lwstp_wake_pending)
        reactor.runUntilCurrent()
        self.assertEqual(ran, ["outer", "inner"])
        self.assertFalse(reactor._lwstp_wake_pending)

    def test_a_wake_up_whose_call_ran_already_still_clears_the_flag(self) -> None:
        # The race, replayed in order: a thread appends its call; the
        # reactor, in a batch, clears the flag; the thread finds it clear,
        # sets it and wakes the reactor; the batch's count takes the call.
        # The wake-up's turn finds no call.  A later call must still wake
        # the reactor (it once found the flag set, and nothing ran it).
        from collections import deque

        reactor = self.build()
        ran: list[str] = []

        class Racing(deque):  # type: ignore[type-arg]
            raced = False

            def __len__(self) -> int:
                # The batch's count, once the flag is cleared: the thread's
                # check and wake-up come first.
                if not Racing.raced and not reactor._lwstp_wake_pending:
                    Racing.raced = True
                    reactor._lwstp_wake_pending = True
                    reactor.wakes += 1
                return super().__len__()

        reactor._lwstp_calls = Racing()
        reactor._lwstp_calls.append((ran.append, ("raced",), {}))  # the thread's append
        reactor._lwstp_wake_pending = True  # as its earlier wake-up left it
        reactor.runUntilCurrent()  # the batch
        self.assertEqual((ran, reactor.wakes, reactor._lwstp_wake_pending), (["raced"], 1, True))
        reactor.runUntilCurrent()  # the turn of the thread's wake-up: no call
        self.assertFalse(reactor._lwstp_wake_pending)
        reactor.callFromThread(ran.append, "later")
        self.assertEqual(reactor.wakes, 2)
        reactor.runUntilCurrent()
        self.assertEqual(ran, ["raced", "later"])

    def test_a_call_that_raises_is_logged_and_the_batch_goes_on(self) -> None:
        reactor = self.build()
        ran: list[int] = []
        reactor.callFromThread(ran.append, 1)
        reactor.callFromThread(lambda: 1 / 0)
        reactor.callFromThread(ran.append, 2)
        reactor.runUntilCurrent()
        self.assertEqual(ran, [1, 2])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_keyword_arguments_reach_the_call(self) -> None:
        reactor = self.build()
        got: list[Any] = []
        reactor.callFromThread(lambda *a, **kw: got.append((a, kw)), 1, 2, key="v")
        reactor.runUntilCurrent()
        self.assertEqual(got, [((1, 2), {"key": "v"})])

    def test_not_callable_is_refused(self) -> None:
        reactor = self.build()
        self.assertRaises(AssertionError, reactor.callFromThread, 42)

    def test_calls_from_threads_all_run_and_wake_at_most_once_each(self) -> None:
        reactor = self.build()
        ran: list[int] = []
        threads = [threading.Thread(target=lambda i=i: [reactor.callFromThread(ran.append, i)
                                                        for _ in range(100)])
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        reactor.runUntilCurrent()
        self.assertEqual(sorted(ran), sorted(list(range(4)) * 100))
        self.assertLessEqual(reactor.wakes, 400)
        self.assertGreaterEqual(reactor.wakes, 1)

    def test_timed_calls_still_run(self) -> None:
        reactor = self.build()
        ran: list[str] = []
        reactor.callLater(0, ran.append, "timed")
        reactor.callFromThread(ran.append, "threaded")
        reactor.runUntilCurrent()
        self.assertEqual(ran, ["threaded", "timed"])


class PoolTests(_ReactorCase):
    def test_the_pool_is_ours_on_demand_with_the_config(self) -> None:
        reactor = self.build(PoolConfig(threads=3, max_queue_depth=7, sync_timeout=9.0))
        pool = reactor.getThreadPool()
        self.assertIsInstance(pool, ThreadPool)
        self.assertEqual((pool.name, pool.min, pool.max, pool.max_queue_depth, pool.sync_timeout),
                         (POOL_NAME, 0, 3, 7, 9.0))
        self.assertFalse(pool.started)
        self.assertEqual(pool.diagnose().threads, 0)

    def test_default_config_is_twisteds_size(self) -> None:
        pool = self.build().getThreadPool()
        self.assertEqual((pool.min, pool.max, pool.max_queue_depth, pool.sync_timeout),
                         (0, 10, 64, 300.0))

    def test_the_pools_workers_follow_batch_workers(self) -> None:
        import os

        if not hasattr(os, "SCHED_BATCH"):  # pragma: no cover - not Linux
            raise self.skipTest("SCHED_BATCH is Linux's")
        self.assertEqual(worker_policy(self.build().getThreadPool()), os.SCHED_BATCH)
        quiet = self.build(PoolConfig(batch_workers=False)).getThreadPool()
        self.assertEqual(worker_policy(quiet), os.SCHED_OTHER)
        self.assertEqual(worker_policy(install_pool(self.build())), os.SCHED_BATCH)
        self.assertEqual(worker_policy(install_pool(self.build(), batch_workers=False)),
                         os.SCHED_OTHER)
        engine = ThreadPool(1, 1, "policy", reactor=self.build(), batch_workers=False)
        self.assertEqual(worker_policy(engine), os.SCHED_OTHER)
        self.assertEqual(worker_policy(ThreadPool(1, 1, "policy", reactor=self.build())),
                         os.SCHED_BATCH)

    def test_install_pool_replaces_an_unused_pool(self) -> None:
        reactor = self.build()
        first = reactor.getThreadPool()
        pool = install_pool(reactor, threads=2, max_queue_depth=1, name="mine", sync_timeout=4.0)
        self.assertIsNot(pool, first)
        self.assertIs(reactor.getThreadPool(), pool)
        self.assertEqual((pool.name, pool.max, pool.max_queue_depth, pool.sync_timeout),
                         ("mine", 2, 1, 4.0))
        # The old pool's triggers are gone, the new one's are in place.
        during = [t[0] for t in reactor._eventTriggers["shutdown"].during]
        self.assertEqual(during.count(reactor._stopThreadPool), 1)
        starts = [c[0].__self__ for c in reactor._eventTriggers["startup"].after
                  if getattr(c[0], "__name__", "") == "start"]
        self.assertEqual(starts, [pool])

    def test_install_pool_refuses_a_pool_that_has_work(self) -> None:
        from twisted.python.threadpool import ThreadPool as TwistedPool

        reactor = self.build()
        busy = TwistedPool(0, 1)
        busy.callInThread(print)
        reactor.threadpool = busy
        with self.assertRaises(RuntimeError) as caught:
            install_pool(reactor)
        self.assertEqual(str(caught.exception),
                         f"install_pool() is too late: the reactor's pool {busy!r} has "
                         "already started threads or holds work; call it before any "
                         "thread work (deferToThread, callInThread, name resolution)")
        idle = TwistedPool(0, 1)
        reactor.threadpool = idle
        reactor._threadpoolStartupID = reactor.threadpoolShutdownID = None
        pool = install_pool(reactor)
        self.assertIsInstance(pool, ThreadPool)
        # Its defaults, those of the reactor's own pool; on this reactor.
        self.assertEqual((pool.name, pool.max, pool.max_queue_depth, pool.sync_timeout),
                         (POOL_NAME, 10, 64, 300.0))
        self.assertIs(pool.reactor, reactor)

    def test_install_pool_on_a_reactor_without_a_pool_yet(self) -> None:
        reactor = self.build()
        self.assertIsNone(getattr(reactor, "threadpool", None))
        self.assertIsInstance(install_pool(reactor), ThreadPool)


class AsyncioCallFromThreadTests(SynchronousTestCase):
    """
    The same coalescing on the lwstp-asyncio reactor: a wake-up is one
    call_soon_threadsafe, whose callback takes a reactor turn.
    """

    def test_its_config_builds_its_pool(self) -> None:
        import asyncio

        from twisted_lwstp.asyncioreactor import LwstpAsyncioReactor

        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        reactor = LwstpAsyncioReactor(loop, PoolConfig(threads=3, max_queue_depth=5))
        pool = reactor.getThreadPool()
        self.assertEqual((pool.max, pool.max_queue_depth), (3, 5))
        self.assertIs(pool.reactor, reactor)

    def build(self) -> Any:
        import asyncio

        from twisted_lwstp.asyncioreactor import LwstpAsyncioReactor

        loop = asyncio.new_event_loop()
        reactor = LwstpAsyncioReactor(loop)
        woken: list[Any] = []
        loop.call_soon_threadsafe = lambda f, *a: woken.append(f)  # type: ignore[method-assign]
        reactor.woken = woken

        def unbuild() -> None:
            for reader in list(getattr(reactor, "_internalReaders", ())):
                reactor.removeReader(reader)
                reader.connectionLost(None)
            for call in reactor.getDelayedCalls():
                call.cancel()
            loop.close()

        self.addCleanup(unbuild)
        return reactor

    def test_one_loop_wake_per_batch_and_the_turn_runs_the_calls_in_order(self) -> None:
        reactor = self.build()
        ran: list[int] = []
        for n in range(4):
            reactor.callFromThread(ran.append, n)
        self.assertEqual(reactor.woken, [reactor._lwstp_turn])
        reactor._lwstp_turn()
        self.assertEqual(ran, [0, 1, 2, 3])
        reactor.callFromThread(ran.append, 4)
        self.assertEqual(len(reactor.woken), 2)

    def test_a_call_scheduled_now_by_a_call_runs_before_the_next_thread_call(self) -> None:
        # Twisted's own ordering (test_internet's testCallFromThreadStops):
        # a callLater(0) made by a call runs before a callFromThread made
        # by the same call.
        reactor = self.build()
        order: list[str] = []

        def first() -> None:
            reactor.callFromThread(order.append, "thread")
            reactor.callLater(0, order.append, "timed")

        reactor.callFromThread(first)
        reactor._lwstp_turn()
        self.assertEqual(order, ["timed"])
        reactor._lwstp_turn()
        self.assertEqual(order, ["timed", "thread"])

    def test_the_pool_is_ours(self) -> None:
        from twisted.internet.asyncioreactor import AsyncioSelectorReactor

        from twisted_lwstp.compat import ThreadPool as CompatPool

        reactor = self.build()
        self.assertIsInstance(reactor, AsyncioSelectorReactor)
        self.assertIsInstance(reactor.getThreadPool(), CompatPool)


class ConfigTests(SynchronousTestCase):
    def test_defaults_and_values(self) -> None:
        self.assertEqual(PoolConfig.from_environ({}), PoolConfig(10, 64, 300.0))
        self.assertEqual(
            PoolConfig.from_environ({"LWSTP_THREADS": "3", "LWSTP_MAX_QUEUE_DEPTH": "0",
                                     "LWSTP_SYNC_TIMEOUT": "2.5"}),
            PoolConfig(3, 0, 2.5),
        )
        self.assertTrue(PoolConfig.from_environ({}).batch_workers)
        self.assertFalse(PoolConfig.from_environ({"LWSTP_BATCH_WORKERS": "0"}).batch_workers)
        self.assertTrue(PoolConfig.from_environ({"LWSTP_BATCH_WORKERS": "1"}).batch_workers)

    def test_bad_values_name_the_variable_and_the_value(self) -> None:
        for env, text in [
            ({"LWSTP_THREADS": "ten"}, "LWSTP_THREADS='ten' is not an integer"),
            ({"LWSTP_THREADS": "0"}, "LWSTP_THREADS='0' must be an integer >= 1"),
            ({"LWSTP_MAX_QUEUE_DEPTH": "-1"}, "LWSTP_MAX_QUEUE_DEPTH='-1' must be"),
            ({"LWSTP_SYNC_TIMEOUT": "inf"}, "LWSTP_SYNC_TIMEOUT='inf' must be a number > 0"),
            ({"LWSTP_SYNC_TIMEOUT": "soon"}, "LWSTP_SYNC_TIMEOUT='soon' is not a number"),
            ({"LWSTP_BATCH_WORKERS": "yes"}, "LWSTP_BATCH_WORKERS='yes' must be 0 or 1"),
        ]:
            with self.assertRaises(ConfigurationError) as caught:
                PoolConfig.from_environ(env)
            self.assertIn(text, str(caught.exception))


class EagerStreamsTests(_ReactorCase):
    """
    The lwstp reactor's stream ports and connectors: Twisted's signatures
    and defaults, on this reactor (not the global one), eager transports.
    """

    def test_stream_methods_take_twisteds_arguments_and_defaults(self) -> None:
        import inspect

        from twisted.internet.posixbase import PosixReactorBase

        from twisted_lwstp._eager import EagerStreams

        for name in ("listenTCP", "connectTCP", "listenUNIX", "connectUNIX",
                     "adoptStreamPort", "adoptStreamConnection"):
            ours = inspect.signature(getattr(EagerStreams, name)).parameters
            theirs = inspect.signature(getattr(PosixReactorBase, name)).parameters
            self.assertEqual([(p.name, p.default) for p in ours.values()],
                             [(p.name, p.default) for p in theirs.values()], name)

    def test_ports_and_connectors_are_eager_and_this_reactors(self) -> None:
        from twisted.internet.protocol import ClientFactory, Factory, Protocol

        from twisted_lwstp import _eager

        reactor = self.build()
        factory = Factory.forProtocol(Protocol)
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.assertIsInstance(port, _eager.EagerTCPPort)
        self.assertIs(port.reactor, reactor)
        self.assertIn(port, reactor.getReaders())
        self.assertEqual((port.backlog, port.interface), (50, "127.0.0.1"))
        wide = reactor.listenTCP(0, factory)
        self.addCleanup(wide.stopListening)
        self.assertEqual(wide.interface, "")
        connector = reactor.connectTCP("127.0.0.1", port.getHost().port,
                                       ClientFactory.forProtocol(Protocol))
        self.addCleanup(connector.disconnect)
        self.assertIsInstance(connector, _eager.EagerTCPConnector)
        self.assertIs(connector.reactor, reactor)
        self.assertEqual((connector.timeout, connector.bindAddress), (30.0, None))
        self.assertIsInstance(connector.transport, _eager.EagerTCPClient)
        path = self.mktemp()
        unix_port = reactor.listenUNIX(path, factory)
        self.addCleanup(unix_port.stopListening)
        self.assertIsInstance(unix_port, _eager.EagerUNIXPort)
        self.assertIs(unix_port.reactor, reactor)
        self.assertEqual((unix_port.backlog, unix_port.mode, unix_port.wantPID), (50, 0o666, 0))
        unix_connector = reactor.connectUNIX(path, ClientFactory.forProtocol(Protocol))
        self.addCleanup(unix_connector.disconnect)
        self.assertIsInstance(unix_connector, _eager.EagerUNIXConnector)
        self.assertIs(unix_connector.reactor, reactor)
        self.assertEqual((unix_connector.timeout, unix_connector.checkPID), (30, 0))
        self.assertIsInstance(unix_connector.transport, _eager.EagerUNIXClient)

    def test_adopted_sockets_are_eager(self) -> None:
        import socket

        from twisted.internet.error import ConnectionDone, UnsupportedAddressFamily
        from twisted.internet.protocol import Factory, Protocol
        from twisted.python.failure import Failure

        from twisted_lwstp import _eager

        reactor = self.build()
        factory = Factory.forProtocol(Protocol)
        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(listening.close)
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        listening.setblocking(False)
        port = reactor.adoptStreamPort(listening.fileno(), socket.AF_INET, factory)
        self.addCleanup(port.stopListening)
        self.assertIsInstance(port, _eager.EagerTCPPort)
        self.assertIs(port.reactor, reactor)
        unix_listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(unix_listening.close)
        unix_listening.bind(self.mktemp())
        unix_listening.listen(1)
        unix_listening.setblocking(False)
        unix_port = reactor.adoptStreamPort(unix_listening.fileno(), socket.AF_UNIX, factory)
        self.addCleanup(unix_port.stopListening)
        self.assertIsInstance(unix_port, _eager.EagerUNIXPort)
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        a.setblocking(False)
        server = reactor.adoptStreamConnection(a.fileno(), socket.AF_UNIX, factory)
        self.addCleanup(server.connectionLost, Failure(ConnectionDone()))
        self.assertIsInstance(server, _eager.EagerUNIXServer)
        self.assertIs(server.reactor, reactor)
        tcp_a = socket.create_connection(listening.getsockname())
        self.addCleanup(tcp_a.close)
        tcp_a.setblocking(False)
        tcp_server = reactor.adoptStreamConnection(tcp_a.fileno(), socket.AF_INET, factory)
        self.addCleanup(tcp_server.connectionLost, Failure(ConnectionDone()))
        self.assertIsInstance(tcp_server, _eager.EagerTCPServer)
        for adopt in (reactor.adoptStreamPort, reactor.adoptStreamConnection):
            self.assertRaises(UnsupportedAddressFamily, adopt, a.fileno(), socket.AF_APPLETALK,
                              factory)


class HasWorkedTests(SynchronousTestCase):
    def test_what_counts_as_a_pool_that_has_worked(self) -> None:
        from types import SimpleNamespace

        from twisted_lwstp.reactor import _has_worked

        class Queue:
            def __init__(self, n: int) -> None:
                self.n = n

            def qsize(self) -> int:
                return self.n

        self.assertFalse(_has_worked(SimpleNamespace()))
        self.assertFalse(_has_worked(SimpleNamespace(started=False, threads=[], q=Queue(0))))
        self.assertTrue(_has_worked(SimpleNamespace(started=True, threads=[], q=Queue(0))))
        self.assertTrue(_has_worked(SimpleNamespace(started=False, threads=[1], q=Queue(0))))
        self.assertTrue(_has_worked(SimpleNamespace(started=False, threads=[], q=Queue(2))))
        self.assertTrue(_has_worked(SimpleNamespace(started=False, threads=[1])))
        lws = ThreadPool(1, 1, "hw", reactor=_FakeReactor())
        self.assertFalse(_has_worked(lws))
        lws.started = True
        self.assertTrue(_has_worked(lws))


class _FakeReactor:
    def seconds(self) -> float:
        return 0.0

    def callFromThread(self, f: Any, *a: Any) -> None:  # pragma: no cover - never called
        f(*a)


class FailedSendTests(_ReactorCase):
    def test_a_failed_eager_send_never_calls_connection_lost_inside_write(self) -> None:
        # Deterministic: the send fails as a reset would make it fail.  The
        # protocol must not hear of it inside write(); the bytes are kept,
        # the socket is registered for writing, and the reactor's next
        # doRead or doWrite reports the very error the send met.
        import socket

        from twisted.internet import main
        from twisted.internet.error import ConnectionLost
        from twisted.internet.protocol import Factory, Protocol

        lost: list[object] = []

        class Recording(Protocol):
            def connectionLost(self, reason: object) -> None:
                lost.append(reason)

        reactor = self.build()
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        a.setblocking(False)
        transport = reactor.adoptStreamConnection(a.fileno(), socket.AF_UNIX,
                                                  Factory.forProtocol(Recording))
        transport.writeSomeData = lambda data: main.CONNECTION_LOST
        transport.write(b"lost in the kernel")
        # The turn ends: its one send fails, and neither the write nor the
        # flush tells the protocol.
        self.assertTrue(reactor.flush_writes())
        self.assertEqual(lost, [])
        transport.writeSequence([b"and", b"more"])
        self.assertEqual(lost, [])
        self.assertIn(transport, reactor.getWriters())
        self.assertEqual(b"".join(transport._tempDataBuffer), b"lost in the kernelandmore")
        self.assertIsInstance(transport.doRead(), ConnectionLost)
        self.assertIsInstance(transport.doWrite(), ConnectionLost)
        reactor.removeWriter(transport)
        reactor.removeReader(transport)
