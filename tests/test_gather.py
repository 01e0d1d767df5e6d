"""
Gathered writes (L{twisted_lwstp._gather}, issue 25): a turn's writes to a
connection leave in one system call when the turn ends; the methods that
change what may be sent send what was gathered first; a write from another
thread is never left waiting for a turn's end; and on asyncio the end of a
turn costs no wait of its own.  (The ordering properties over random
programs are in C{tests/test_eager_properties.py}.)
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from twisted.internet import protocol
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure

from twisted_lwstp import _gather
from twisted_lwstp.asyncioreactor import LwstpAsyncioReactor

from ._helpers import IdleProducer
from .test_reactor_unit import _ReactorCase


class Sink(protocol.Protocol):
    def __init__(self) -> None:
        self.lost: Any = None

    def connectionLost(self, reason: Any = None) -> None:
        self.lost = reason


class _GatherCase(_ReactorCase):
    def adopt(self, reactor: Any) -> tuple[Any, socket.socket]:
        ours, peer = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(peer.close)
        peer.setblocking(False)
        transport = reactor.adoptStreamConnection(ours.fileno(), socket.AF_UNIX,
                                                  protocol.Factory.forProtocol(Sink))
        self.addCleanup(lambda: transport.connected and transport.socket.close())
        # Every system call that sends, with what it was given.
        sends: list[list[bytes]] = []
        gathered, single = transport._send_gathered, transport.writeSomeData

        def counted(chunks: list[bytes]) -> Any:
            sends.append(list(chunks))
            return gathered(chunks)

        def counted_single(data: bytes) -> Any:
            sends.append([data])
            return single(data)

        transport._send_gathered = counted
        transport.writeSomeData = counted_single
        transport.sends = sends
        return transport, peer

    def recv(self, peer: socket.socket) -> bytes:
        try:
            return peer.recv(1 << 20)
        except BlockingIOError:
            return b""


class GatherTests(_GatherCase):
    def test_a_turns_writes_leave_in_one_send_when_it_ends(self) -> None:
        reactor = self.build()
        transport, peer = self.adopt(reactor)
        transport.write(b"header ")
        transport.writeSequence([b"body ", b"", b"more "])
        transport.write(b"end")
        # Nothing has gone yet: it goes when the turn ends.
        self.assertEqual(self.recv(peer), b"")
        self.assertEqual(transport._lwstp_gather, [b"header ", b"body ", b"", b"more ", b"end"])
        reactor.runUntilCurrent()  # the end of a turn on epoll
        # Small pieces: joined, one send().
        self.assertEqual(transport.sends, [[b"header body more end"]])
        self.assertEqual(self.recv(peer), b"header body more end")
        self.assertIsNone(transport._lwstp_gather)
        # Nothing was registered for writing: the kernel took it all.
        self.assertNotIn(transport, reactor.getWriters())

    def test_past_the_limits_what_was_gathered_goes_at_once(self) -> None:
        reactor = self.build()
        transport, peer = self.adopt(reactor)
        for _ in range(_gather.GATHER_CHUNKS):
            transport.write(b"x")
        self.assertEqual(transport.sends, [[b"x" * _gather.GATHER_CHUNKS]])
        self.assertIsNone(transport._lwstp_gather)
        transport.write(b"a" * 10)
        transport.write(b"b" * _gather.GATHER_BYTES)
        # Large: one gathering sendmsg(), nothing joined.
        self.assertEqual(transport.sends[1], [b"a" * 10, b"b" * _gather.GATHER_BYTES])
        self.assertEqual(self.recv(peer)[:_gather.GATHER_CHUNKS + 10],
                         b"x" * _gather.GATHER_CHUNKS + b"a" * 10)

    def test_the_join_stops_at_its_bound(self) -> None:
        reactor = self.build()
        transport, peer = self.adopt(reactor)
        half = _gather.JOIN_BELOW // 2
        transport.writeSequence([b"a" * half, b"b" * half])
        reactor.runUntilCurrent()
        transport.writeSequence([b"c" * half, b"d" * (half + 1)])
        reactor.runUntilCurrent()
        self.assertEqual(transport.sends, [[b"a" * half + b"b" * half],
                                           [b"c" * half, b"d" * (half + 1)]])

    def test_close_sends_what_was_gathered_first(self) -> None:
        reactor = self.build()
        for method in ("loseConnection", "loseWriteConnection", "abortConnection"):
            transport, peer = self.adopt(reactor)
            transport.write(b"last ")
            transport.write(b"words")
            getattr(transport, method)()
            self.assertIsNone(transport._lwstp_gather, method)
            self.assertEqual(self.recv(peer), b"last words", method)

    def test_register_producer_sends_what_was_gathered_first(self) -> None:
        reactor = self.build()
        transport, peer = self.adopt(reactor)
        transport.write(b"before")

        class Pull:
            def resumeProducing(self) -> None:
                pass

            def stopProducing(self) -> None:
                pass

        transport.registerProducer(Pull(), False)
        self.assertEqual(self.recv(peer), b"before")
        # With a pull producer, writes take Twisted's own path.
        transport.write(b"after")
        self.assertIsNone(transport._lwstp_gather)
        self.assertEqual(transport._tempDataBuffer, [b"after"])
        transport.unregisterProducer()

    def test_a_write_from_another_thread_takes_twisteds_path(self) -> None:
        reactor = self.build()
        transport, peer = self.adopt(reactor)
        transport.write(b"first ")
        thread = threading.Thread(target=transport.write, args=(b"second",))
        thread.start()
        thread.join()
        # Buffered for the reactor's doWrite, registered for writing: it
        # does not wait for a turn's end that thread cannot cause.
        self.assertEqual(transport._tempDataBuffer, [b"second"])
        self.assertIn(transport, reactor.getWriters())
        # The turn's end puts what was gathered (written first) ahead.
        reactor.runUntilCurrent()
        self.assertEqual(transport._tempDataBuffer, [b"first ", b"second"])
        transport.doWrite()
        self.assertEqual(self.recv(peer), b"first second")

    def test_the_connections_lost_drops_what_was_gathered(self) -> None:
        reactor = self.build()
        transport, peer = self.adopt(reactor)
        transport.write(b"never")
        transport.connectionLost(Failure(ConnectionLost("gone")))
        self.assertIsNone(transport._lwstp_gather)
        reactor.runUntilCurrent()
        self.assertEqual(transport.sends, [])


class _Echo(protocol.Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data[:1])
        self.transport.write(data[1:])


class _PingPong(asyncio.Protocol):
    """asyncio's side: sends a ping per pong, counts them."""

    def __init__(self, rounds: int, done: asyncio.Future[int]) -> None:
        self.rounds = rounds
        self.done = done
        self.got = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(b"ping")

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        if self.got % 4:
            return
        if self.got // 4 == self.rounds:
            self.done.set_result(self.got)
        else:
            self.transport.write(b"ping")


class AsyncioTurnTests(_ReactorCase):
    def selects_per_round_trip(self, cls: Any, rounds: int = 300) -> float:
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        selector = loop._selector  # type: ignore[attr-defined]
        real = selector.select
        counted = [0]

        def select(timeout: Any = None) -> Any:
            counted[0] += 1
            return real(timeout)

        selector.select = select
        reactor = cls(loop)
        port = reactor.listenTCP(0, protocol.Factory.forProtocol(_Echo), interface="127.0.0.1")
        done: asyncio.Future[int] = loop.create_future()

        async def run() -> int:
            await loop.create_connection(lambda: _PingPong(rounds, done), "127.0.0.1",
                                         port.getHost().port)
            await asyncio.sleep(0)
            start = counted[0]
            await asyncio.wait_for(done, 60)
            return counted[0] - start

        try:
            selects = loop.run_until_complete(run())
        finally:
            port.stopListening()
            loop.run_until_complete(asyncio.sleep(0.01))
        return selects / rounds

    def test_the_end_of_a_turn_adds_no_wait(self) -> None:
        # Each round trip wakes the loop twice, once per side; gathering
        # sends the echo just before the second wait, inside it.  The stock
        # reactor's buffered write waits for writability: a third.
        ours = self.selects_per_round_trip(LwstpAsyncioReactor)
        stock = self.selects_per_round_trip(AsyncioSelectorReactor)
        self.assertLessEqual(ours, 2.1)
        self.assertGreater(stock, ours)


class _Socket:
    """A socket whose gathering send raises what it is given."""

    def __init__(self, real: socket.socket, error: OSError) -> None:
        self.real, self.error = real, error

    def sendmsg(self, chunks: list[bytes]) -> int:
        raise self.error

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class GatherLimitTests(_GatherCase):
    """The bounds of a turn's gathering, and what a failed send keeps."""

    def test_a_write_on_a_closed_connection_gathers_nothing(self) -> None:
        reactor = self.build()
        transport, peer = self.adopt(reactor)
        transport.connected = 0
        transport.write(b"late")
        transport.writeSequence([b"la", b"te"])
        self.assertIsNone(transport._lwstp_gather)
        self.assertEqual(reactor._lwstp_gathering, [])
        transport.connected = 1

    def test_exactly_the_limits_send_at_once(self) -> None:
        reactor = self.build()
        transport, peer = self.adopt(reactor)
        transport.write(b"a")
        transport.write(b"b" * (_gather.GATHER_BYTES - 1))  # exactly GATHER_BYTES in all
        self.assertIsNone(transport._lwstp_gather)
        transport.writeSequence([b"c"] * _gather.GATHER_CHUNKS)  # exactly GATHER_CHUNKS
        self.assertIsNone(transport._lwstp_gather)
        self.assertEqual(len(transport.sends), 2)
        transport.writeSequence([b"d"] * (_gather.GATHER_CHUNKS - 1))
        self.assertEqual(len(transport._lwstp_gather), _gather.GATHER_CHUNKS - 1)

    def test_a_streaming_producer_may_gather_exactly_buffer_size(self) -> None:
        reactor = self.build()
        transport, peer = self.adopt(reactor)
        transport.registerProducer(IdleProducer(), True)
        transport.bufferSize = 100
        transport.write(b"x" * 60)
        transport.write(b"y" * 40)  # 100 in all: still gathered
        self.assertEqual(transport._lwstp_gather, [b"x" * 60, b"y" * 40])
        transport.write(b"z")  # past it: what was gathered goes now
        self.assertEqual(transport.sends[0], [b"x" * 60 + b"y" * 40])
        self.assertEqual(transport._lwstp_gather, [b"z"])
        reactor.runUntilCurrent()
        transport.unregisterProducer()

    def test_a_reactor_that_does_not_gather_sends_each_write_at_once(self) -> None:
        reactor = self.build()
        reactor._lwstp_gathers = False
        transport, peer = self.adopt(reactor)
        transport.write(b"one")
        transport.write(b"two")
        self.assertEqual(transport.sends, [[b"one"], [b"two"]])
        self.assertEqual(reactor._lwstp_gathering, [])

    def test_what_the_turns_end_reports(self) -> None:
        reactor = self.build()
        transport, peer = self.adopt(reactor)
        self.assertFalse(transport.flush_gathered())  # nothing gathered
        self.assertFalse(reactor.flush_writes())
        transport.write(b"taken whole")
        self.assertFalse(reactor.flush_writes())  # the kernel took it all
        transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        transport.write(b"x" * (_gather.GATHER_BYTES - 1))  # more than the kernel takes
        self.assertTrue(reactor.flush_writes())
        self.assertTrue(transport._tempDataLen)

    def test_a_gathering_send_that_would_block_keeps_every_byte(self) -> None:
        import errno

        for error in (BlockingIOError(errno.EAGAIN, "full"), OSError(errno.ENOBUFS, "no buffers")):
            reactor = self.build()
            transport, peer = self.adopt(reactor)
            real = transport.socket
            transport.socket = _Socket(real, error)
            chunks = [b"a" * 1500, b"b" * 1500]
            transport.writeSequence(chunks)
            self.assertTrue(reactor.flush_writes())
            transport.socket = real
            self.assertEqual(transport._tempDataBuffer, chunks)
            self.assertEqual(transport._tempDataLen, 3000)

    def test_a_gathering_send_that_fails_is_reported_by_the_reactor(self) -> None:
        import errno

        from twisted.internet.error import ConnectionLost as Lost

        reactor = self.build()
        transport, peer = self.adopt(reactor)
        real = transport.socket
        transport.socket = _Socket(real, OSError(errno.EPIPE, "broken pipe"))
        transport.writeSequence([b"a" * 1500, b"b" * 1500])
        self.assertTrue(reactor.flush_writes())
        transport.socket = real
        self.assertIsInstance(transport.doRead(), Lost)
        self.assertIsInstance(transport.doWrite(), Lost)
        reactor.removeWriter(transport)
