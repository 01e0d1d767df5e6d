"""
Eager writes' edges, in this process, on an lwstp reactor instance that is
never run (where mutation testing sees them): the arguments the reactor's
stream methods pass on, a send the kernel does not take at all, a failed
send reported by both doRead and doWrite, writes after the connection is
gone, and the streaming producer's C{bufferSize} boundary.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.internet import protocol
from twisted.internet.error import BadFileError, ConnectionLost, UnsupportedAddressFamily
from twisted.python.failure import Failure

from twisted_lwstp._eager import EagerTCPClient, EagerUNIXServer

from ._helpers import IdleProducer
from .test_reactor_unit import _ReactorCase


class Recorder(protocol.Protocol):
    reason: Failure | None = None

    def connectionLost(self, reason: Failure) -> None:
        self.reason = reason


class Failed(protocol.ClientFactory):
    reason: Failure | None = None

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.reason = reason


class EagerEdgeTests(_ReactorCase):
    def adopt(self, reactor: Any) -> tuple[Any, socket.socket, Recorder]:
        """A Unix connection adopted by C{reactor}, and the peer's socket."""
        ours, peer = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(peer.close)
        peer.setblocking(False)
        proto = Recorder()
        transport = reactor.adoptStreamConnection(ours.fileno(), socket.AF_UNIX,
                                                  protocol.Factory.forProtocol(lambda: proto))
        self.addCleanup(lambda: transport.connected and transport.socket.close())
        transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        return transport, peer, proto

    def read_all(self, reactor: Any, peer: socket.socket, transport: Any) -> bytes:
        got = b""
        for _ in range(10_000):
            try:
                got += peer.recv(1 << 16)
            except BlockingIOError:
                if not transport.dataBuffer and not transport._tempDataLen:
                    return got
            reactor.iterate(0)
        self.fail("the transport never drained")

    def test_adopted_connection_and_port_belong_to_this_reactor(self) -> None:
        reactor = self.build()
        transport, _, _ = self.adopt(reactor)
        self.assertIsInstance(transport, EagerUNIXServer)
        self.assertIs(transport.reactor, reactor)
        listener = socket.socket(socket.AF_UNIX)
        self.addCleanup(listener.close)
        path = self.mktemp()
        listener.bind(path)
        listener.listen(1)
        port = reactor.adoptStreamPort(listener.fileno(), socket.AF_UNIX, protocol.Factory())
        self.addCleanup(port.stopListening)
        self.assertIs(port.reactor, reactor)
        tcp = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(tcp.close)
        tcp_port = reactor.adoptStreamPort(tcp.fileno(), socket.AF_INET, protocol.Factory())
        self.addCleanup(tcp_port.stopListening)
        self.assertIs(tcp_port.reactor, reactor)
        client = socket.create_connection(tcp.getsockname())
        self.addCleanup(client.close)
        accepted, _ = tcp.accept()
        self.addCleanup(accepted.close)
        connection = reactor.adoptStreamConnection(accepted.fileno(), socket.AF_INET,
                                                   protocol.Factory.forProtocol(Recorder))
        self.addCleanup(connection.socket.close)
        self.assertIs(connection.reactor, reactor)

    def test_unsupported_family_is_named(self) -> None:
        reactor = self.build()
        for adopt in (reactor.adoptStreamPort, reactor.adoptStreamConnection):
            with self.assertRaises(UnsupportedAddressFamily) as caught:
                adopt(0, 12345, protocol.Factory())
            self.assertEqual(caught.exception.args, (12345,))

    def test_connect_tcp_binds_where_asked(self) -> None:
        reactor = self.build()
        server = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(server.close)
        spare = socket.create_server(("127.0.0.1", 0))
        local = spare.getsockname()
        spare.close()
        connector = reactor.connectTCP("127.0.0.1", server.getsockname()[1], Failed(),
                                       bindAddress=local)
        self.addCleanup(connector.disconnect)
        self.assertIsInstance(connector.transport, EagerTCPClient)
        self.assertEqual(connector.transport.socket.getsockname(), local)

    def test_connect_unix_checks_the_pid_when_asked(self) -> None:
        # checkPID: a server without its lock file is refused, as Twisted does.
        reactor = self.build()
        path = self.mktemp()
        listener = socket.socket(socket.AF_UNIX)
        self.addCleanup(listener.close)
        listener.bind(path)
        listener.listen(1)
        factory = Failed()
        reactor.connectUNIX(path, factory, checkPID=1)
        for _ in range(100):
            if factory.reason is not None:
                break
            reactor.iterate(0)
        self.assertIsNotNone(factory.reason)
        self.assertTrue(factory.reason.check(BadFileError), factory.reason)

    def test_listen_unix_takes_the_pid_lock_when_asked(self) -> None:
        reactor = self.build()
        path = self.mktemp()
        port = reactor.listenUNIX(path, protocol.Factory(), wantPID=1)
        self.addCleanup(port.stopListening)
        self.assertTrue(os.path.lexists(path + ".lock"))  # a symlink to the pid

    def test_a_send_the_kernel_refuses_whole_is_buffered_not_lost(self) -> None:
        # Fill the kernel with one-byte writes, each sent at its turn's end,
        # until one is not taken at all (writeSomeData returns 0): it is
        # buffered, the connection lives, and the peer then gets every byte
        # in order.
        reactor = self.build()
        transport, peer, proto = self.adopt(reactor)
        written = bytearray()
        for n in range(1 << 20):
            byte = bytes([n % 251])
            transport.write(byte)
            written += byte
            self.assertEqual(transport._lwstp_gather, [byte])
            reactor.flush_writes()
            if transport._tempDataLen:
                break
        self.assertEqual(transport._tempDataLen, 1)
        self.assertEqual(self.read_all(reactor, peer, transport), bytes(written))
        self.assertIsNone(proto.reason)
        self.assertTrue(transport.connected)

    def test_a_failed_send_is_reported_by_both_read_and_write(self) -> None:
        reactor = self.build()
        transport, _, _ = self.adopt(reactor)
        error = ConnectionLost("planted")
        send = transport.writeSomeData
        answers = iter([error])
        # Only the eager send fails; a later send would go through.
        transport.writeSomeData = lambda data: next(answers, None) or send(data)
        transport.write(b"lost")
        # Nothing is sent, nor reported, inside write(); the turn's end
        # meets the error and keeps it for the reactor.
        self.assertEqual(transport._lwstp_gather, [b"lost"])
        self.assertTrue(reactor.flush_writes())  # buffered, for the reactor to report
        self.assertIs(transport.doRead(), error)
        self.assertIs(transport.doWrite(), error)

    def test_writes_after_the_peer_closed_are_dropped_quietly(self) -> None:
        reactor = self.build()
        transport, peer, proto = self.adopt(reactor)
        peer.close()
        for _ in range(100):
            if proto.reason is not None:
                break
            reactor.iterate(0)
        self.assertIsNotNone(proto.reason)
        transport.write(b"late")
        transport.writeSequence([b"la", b"te"])
        self.assertFalse(transport._tempDataLen)

    def test_a_write_of_exactly_buffer_size_goes_out_at_once_with_a_producer(self) -> None:
        # Twisted pauses a streaming producer only past bufferSize: a write
        # of exactly that much may reach the kernel before write() returns.
        reactor = self.build()
        transport, peer, _ = self.adopt(reactor)
        transport.registerProducer(IdleProducer(), True)
        transport.write(b"x" * transport.bufferSize)
        self.assertGreater(len(peer.recv(1 << 20)), 0)
