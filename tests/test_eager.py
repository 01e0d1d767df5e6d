"""
Eager writes (issue 20) keep Twisted's transport contract, on a fresh lwstp
reactor per test (and an lwstp-asyncio one), over real sockets on
127.0.0.1: a write that finds nothing buffered reaches the kernel before
write() returns and registers nothing; the byte order, writeSequence,
producers, loseConnection, half-close, abortConnection, TLS (startTLS and
a TLS endpoint) and writes from every protocol callback behave as Twisted
specifies; a failed send is reported by the reactor later, never from
inside write().  Built with Twisted's own ReactorBuilder, so each test runs
under trial and pytest alike.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import protocol
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.test.reactormixins import ReactorBuilder
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_lwstp._gather import EagerWrites

#: Each test runs on these (the builder's reactor list).
REACTORS = [
    "tests.data.builder_suites.LwstpEPoll",
    "tests.data.builder_suites.LwstpAsyncioReactor",
]


class Recorder(protocol.Protocol):
    """Collects what it receives; keeps the reason it lost the connection
    and fires C{lost}."""

    def __init__(self) -> None:
        self.data = b""
        self.reason: Failure | None = None
        self.lost: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Failure) -> None:
        self.reason = reason
        self.lost.callback(None)


class _Pair:
    """A server and a client protocol connected over 127.0.0.1."""

    def __init__(self, reactor: Any, server: protocol.Protocol, client: protocol.Protocol,
                 unix_path: str | None = None) -> None:
        factory = protocol.Factory.forProtocol(lambda: server)
        if unix_path is None:
            self.port = reactor.listenTCP(0, factory, interface="127.0.0.1")
            reactor.connectTCP("127.0.0.1", self.port.getHost().port,
                               protocol.ClientFactory.forProtocol(lambda: client))
        else:
            self.port = reactor.listenUNIX(unix_path, factory)
            reactor.connectUNIX(unix_path, protocol.ClientFactory.forProtocol(lambda: client))


class EagerTransportTestsBuilder(ReactorBuilder):
    _reactors = REACTORS

    def run_until(self, reactor: Any, proto: Recorder) -> Failure:
        """
        Run C{reactor} until C{proto} loses its connection (bounded by the
        builder's timeout); the reason.
        """
        proto.lost.addCallback(lambda _: reactor.stop())
        if proto.reason is None:
            self.runReactor(reactor)
        assert proto.reason is not None
        return proto.reason

    def test_a_write_with_nothing_buffered_goes_out_at_once(self) -> None:
        reactor = self.buildReactor()
        seen: list[Any] = []

        class Writer(protocol.Protocol):
            def connectionMade(self) -> None:
                self.transport.write(b"first")
                # Before write() returned, the bytes left: nothing buffered,
                # and the descriptor is not registered for writing.
                seen.append((self.transport._tempDataLen, self.transport.dataBuffer,
                             self.transport in reactor.getWriters()))
                self.transport.writeSequence([b"-", b"second"])
                seen.append((self.transport._tempDataLen, self.transport in reactor.getWriters()))
                self.transport.loseConnection()

        server = Recorder()
        _Pair(reactor, server, Writer())
        self.run_until(reactor, server)
        self.assertIsInstance(server.transport, EagerWrites)
        self.assertEqual(seen, [(0, b"", False), (0, False)])
        self.assertEqual(server.data, b"first-second")

    def test_order_of_bytes_with_big_and_small_writes(self) -> None:
        reactor = self.buildReactor()
        chunks = [bytes([65 + i % 26]) * (1 if i % 3 else 300_000) for i in range(60)]

        class Writer(protocol.Protocol):
            def connectionMade(self) -> None:
                for i, chunk in enumerate(chunks):
                    if i % 7 == 0:
                        self.transport.writeSequence([chunk[:1], chunk[1:]])
                    else:
                        self.transport.write(chunk)
                self.transport.loseConnection()

        server = Recorder()
        _Pair(reactor, server, Writer())
        self.run_until(reactor, server)
        self.assertEqual(server.data, b"".join(chunks))

    def test_writes_from_connection_made_data_received_and_connection_lost(self) -> None:
        reactor = self.buildReactor()
        raised: list[BaseException] = []

        class Echo(protocol.Protocol):
            def connectionMade(self) -> None:
                self.transport.write(b"hello:")

            def dataReceived(self, data: bytes) -> None:
                self.transport.write(data.upper())
                if b"!" in data:
                    self.transport.loseConnection()

            def connectionLost(self, reason: Failure) -> None:
                try:
                    self.transport.write(b"too late")  # dropped, never raises
                except BaseException as e:  # pragma: no cover - the failure
                    raised.append(e)

        class Client(Recorder):
            def connectionMade(self) -> None:
                self.transport.write(b"abc!")

        client = Client()
        _Pair(reactor, Echo(), client)
        self.run_until(reactor, client)
        self.assertEqual(client.data, b"hello:ABC!")
        self.assertEqual(raised, [])

    def test_lose_connection_sends_everything_pending_first(self) -> None:
        reactor = self.buildReactor()
        big = b"z" * 4_000_000

        class Writer(protocol.Protocol):
            def connectionMade(self) -> None:
                self.transport.write(big)
                self.transport.write(b"end")
                self.transport.loseConnection()
                self.transport.write(b"+after")  # still before the close: sent

        server = Recorder()
        _Pair(reactor, server, Writer())
        reason = self.run_until(reactor, server)
        self.assertEqual(server.data, big + b"end+after")
        self.assertIsInstance(reason.value, ConnectionDone)

    def test_half_close_delivers_then_reads_on(self) -> None:
        reactor = self.buildReactor()

        @implementer(IHalfCloseableProtocol)
        class Server(Recorder):
            def readConnectionLost(self) -> None:
                self.transport.write(b"got:" + self.data)
                self.transport.loseConnection()

            def writeConnectionLost(self) -> None:
                pass

        @implementer(IHalfCloseableProtocol)
        class Client(Recorder):
            def connectionMade(self) -> None:
                self.transport.write(b"question")
                self.transport.loseWriteConnection()

            def readConnectionLost(self) -> None:
                self.transport.loseConnection()

            def writeConnectionLost(self) -> None:
                pass

        client = Client()
        _Pair(reactor, Server(), client)
        self.run_until(reactor, client)
        self.assertEqual(client.data, b"got:question")

    def test_abort_drops_what_is_written_after_it(self) -> None:
        reactor = self.buildReactor()

        class Aborter(protocol.Protocol):
            def dataReceived(self, data: bytes) -> None:
                self.transport.write(b"X")
                self.transport.abortConnection()
                self.transport.write(b"Y" * 1000)

        class Client(Recorder):
            def connectionMade(self) -> None:
                self.transport.write(b"go")

        client = Client()
        _Pair(reactor, Aborter(), client)
        self.run_until(reactor, client)
        self.assertNotIn(b"Y", client.data)

    def test_streaming_producer_paused_past_buffer_size_resumed_when_drained(self) -> None:
        reactor = self.buildReactor()
        actions: list[str] = []
        reader: list[Any] = []

        class Producer:
            def pauseProducing(self) -> None:
                actions.append("pause")
                # Let the peer read from now on.
                reader[0].resumeProducing()

            def resumeProducing(self) -> None:
                actions.append("resume")
                self.transport.unregisterProducer()
                self.transport.loseConnection()

            def stopProducing(self) -> None:
                actions.append("stop")

        producer = Producer()

        class Writer(protocol.Protocol):
            def connectionMade(self) -> None:
                producer.transport = self.transport
                self.transport.registerProducer(producer, True)
                self.transport.bufferSize = 1000
                self.transport.write(b"small")  # fits: sent at once, no pause
                actions.append(f"sent {self.transport._tempDataLen}")
                self.transport.write(b"x" * 5000)  # passes bufferSize: paused

        class Slow(Recorder):
            def connectionMade(self) -> None:
                self.transport.pauseProducing()
                reader.append(self.transport)

        server = Slow()
        _Pair(reactor, server, Writer())
        self.run_until(reactor, server)
        self.assertEqual(actions, ["sent 0", "pause", "resume"])
        self.assertEqual(server.data, b"small" + b"x" * 5000)

    def test_what_the_kernel_does_not_take_is_buffered_and_counted(self) -> None:
        # The peer reads nothing, so the kernel's buffers fill: an eager
        # send is then partial, and what is left is buffered and counted
        # exactly, so that the producer is paused when the count passes
        # bufferSize, as Twisted pauses it.
        reactor = self.buildReactor()
        chunk = b"c" * 16_384
        seen: list[Any] = []
        reader: list[Any] = []

        class Producer:
            paused = False

            def pauseProducing(self) -> None:
                t = self.transport
                seen.append((t._tempDataLen, sum(len(c) for c in t._tempDataBuffer),
                             len(t.dataBuffer) + t._tempDataLen > t.bufferSize))
                self.paused = True
                reader[0].resumeProducing()

            def resumeProducing(self) -> None:
                self.transport.unregisterProducer()
                self.transport.loseConnection()

            def stopProducing(self) -> None:
                pass

        producer = Producer()
        written: list[int] = []

        class Writer(protocol.Protocol):
            def connectionMade(self) -> None:
                producer.transport = self.transport
                self.transport.registerProducer(producer, True)
                for _ in range(2000):  # far beyond any kernel buffer
                    if producer.paused:
                        break
                    self.transport.write(chunk)
                    written.append(len(chunk))

        class Deaf(Recorder):
            def connectionMade(self) -> None:
                self.transport.pauseProducing()
                reader.append(self.transport)

        server = Deaf()
        _Pair(reactor, server, Writer())
        self.run_until(reactor, server)
        self.assertEqual(len(seen), 1, seen)
        counted, actual, past = seen[0]
        self.assertEqual(counted, actual)
        self.assertTrue(past)
        self.assertEqual(server.data, chunk * len(written))

    def test_pull_producer_is_driven_as_twisted_drives_it(self) -> None:
        reactor = self.buildReactor()
        rounds: list[int] = []

        class Pull:
            def resumeProducing(self) -> None:
                rounds.append(1)
                if len(rounds) <= 3:
                    self.transport.write(b"chunk%d;" % len(rounds))
                else:
                    self.transport.unregisterProducer()
                    self.transport.loseConnection()

            def stopProducing(self) -> None:
                pass

        pull = Pull()

        class Writer(protocol.Protocol):
            def connectionMade(self) -> None:
                pull.transport = self.transport
                self.transport.registerProducer(pull, False)

        server = Recorder()
        _Pair(reactor, server, Writer())
        self.run_until(reactor, server)
        self.assertEqual(server.data, b"chunk1;chunk2;chunk3;")

    def test_a_failed_send_is_reported_later_never_inside_write(self) -> None:
        reactor = self.buildReactor()
        order: list[str] = []

        class Writer(Recorder):
            def connectionMade(self) -> None:
                self.transport.write(b"ping")

            def dataReceived(self, data: bytes) -> None:
                # The peer has reset the connection: this write meets the
                # error (or the next one does).
                for _ in range(3):
                    order.append("write")
                    self.transport.write(b"x" * 100_000)
                    order.append("returned")

            def connectionLost(self, reason: Failure) -> None:
                order.append("lost")
                super().connectionLost(reason)

        class Resetter(protocol.Protocol):
            def dataReceived(self, data: bytes) -> None:
                self.transport.write(b"bye")
                # A reset (RST), not a clean close.
                sock = self.transport.getHandle()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.transport.abortConnection()

        writer = Writer()
        _Pair(reactor, Resetter(), writer)
        reason = self.run_until(reactor, writer)
        self.assertEqual(order, ["write", "returned"] * 3 + ["lost"])
        # A reset, reported as one (the send that met it kept it for the
        # reactor), not as a clean close.
        self.assertIsInstance(reason.value, ConnectionLost)

    def test_tls_endpoint_round_trip(self) -> None:
        # A TLS endpoint: the TLS layer writes its ciphertext through a
        # plain (eager) connection.
        from twisted.internet import ssl

        reactor = self.buildReactor()
        cert = ssl.PrivateCertificate.loadPEM(_pem())

        class Echo(protocol.Protocol):
            def dataReceived(self, data: bytes) -> None:
                self.transport.write(data[::-1])
                if data.endswith(b"."):
                    self.transport.loseConnection()

        class Client(Recorder):
            def connectionMade(self) -> None:
                self.transport.write(b"secret.")

        client = Client()
        port = reactor.listenSSL(0, protocol.Factory.forProtocol(Echo), cert.options(),
                                 interface="127.0.0.1")
        reactor.connectSSL("127.0.0.1", port.getHost().port,
                           protocol.ClientFactory.forProtocol(lambda: client),
                           ssl.CertificateOptions())
        self.run_until(reactor, client)
        self.assertEqual(client.data, b".terces")

    def test_start_tls_on_a_plain_connection(self) -> None:
        from twisted.internet import ssl

        reactor = self.buildReactor()
        cert = ssl.PrivateCertificate.loadPEM(_pem())

        class Server(protocol.Protocol):
            secure = False

            def dataReceived(self, data: bytes) -> None:
                if not self.secure:
                    assert data == b"STARTTLS", data
                    self.transport.write(b"OK")
                    self.transport.startTLS(cert.options())
                    self.secure = True
                else:
                    # Both write methods, through TLS started on the plain
                    # connection.
                    self.transport.writeSequence([b"tls", b":"])
                    self.transport.write(data)
                    self.transport.loseConnection()

        class Client(Recorder):
            secure = False

            def connectionMade(self) -> None:
                self.transport.write(b"STARTTLS")

            def dataReceived(self, data: bytes) -> None:
                if not self.secure:
                    self.secure = True
                    self.transport.startTLS(ssl.CertificateOptions())
                    self.transport.write(b"hello")
                else:
                    super().dataReceived(data)

        client = Client()
        _Pair(reactor, Server(), client)
        self.run_until(reactor, client)
        self.assertEqual(client.data, b"tls:hello")

    def test_unix_sockets_write_eagerly_too(self) -> None:
        reactor = self.buildReactor()

        class Writer(protocol.Protocol):
            def connectionMade(self) -> None:
                self.transport.write(b"over unix")
                self.transport.loseConnection()

        server = Recorder()
        _Pair(reactor, server, Writer(), unix_path=self.mktemp())
        self.run_until(reactor, server)
        self.assertIsInstance(server.transport, EagerWrites)
        self.assertEqual(server.data, b"over unix")


def _pem() -> bytes:
    """Twisted's own test certificate and key."""
    import os

    import twisted.test

    with open(os.path.join(os.path.dirname(twisted.test.__file__), "server.pem"), "rb") as f:
        return f.read()


globals().update(EagerTransportTestsBuilder.makeTestCaseClasses())
