# -*- test-case-name: tests.test_eager -*-
"""
Eager writes for the lwstp reactors' stream connections (TCP and Unix
sockets; twisted#5303): a C{write()} or C{writeSequence()} that finds
nothing buffered sends at once; what the kernel does not take is buffered
and the descriptor is registered for writing, exactly as Twisted does with
every write today.

Twisted's transport contract is kept:

 - bytes leave in the order written: a write goes out at once only when
   nothing is buffered before it, else it joins the buffer;
 - a failed send (EPIPE, ECONNRESET, ...) never calls C{connectionLost}
   from inside the protocol's own C{write()}: the bytes are buffered, the
   descriptor is registered for writing, and the reactor's next C{doRead}
   or C{doWrite} reports the error that send met (the kernel reports a
   reset once, so it is kept for the reactor), as it does today;
 - a pull (non-streaming) producer, a pending C{loseConnection()} or
   C{loseWriteConnection()}, an C{abortConnection()} (whose later writes
   are never sent), and a connection with TLS started (C{startTLS}) take
   Twisted's own buffered path, unchanged, so that the reactor's
   C{doWrite} keeps driving them; TLS endpoints write their ciphertext
   through a plain connection, eagerly;
 - a streaming producer is paused when the buffer passes C{bufferSize},
   as before: a write that alone would pass it is buffered, not sent at
   once, so the producer is paused exactly as Twisted pauses it.

The one thing a program can see: bytes may reach the kernel before
C{write()} returns.

Runs in: the reactor thread, as every transport method.  Owns no state:
it reads and writes the transport's own buffer attributes, which are the
reactor thread's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.internet import tcp, unix

from . import _internals

__all__ = ["EagerTCPConnector", "EagerTCPPort", "EagerTCPServer", "EagerUNIXConnector",
           "EagerUNIXPort", "EagerUNIXServer"]


class EagerWrites:
    """
    The eager C{write} and C{writeSequence}, mixed in ahead of a Twisted
    stream transport class.
    """

    # Provided by the transport classes this is mixed into.
    TLS: bool
    connected: int
    producer: Any
    streamingProducer: bool
    bufferSize: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Once per class: the buffer attributes this relies on exist.
        _internals.check_instance(self)

    def _can_send_now(self, size: int) -> bool:
        """
        Whether a write of C{size} bytes may go to the kernel at once:
        nothing buffered ahead of it, no close or abort pending, no pull
        producer (which the reactor's C{doWrite} drives), and, with a
        streaming producer, a write small enough that buffering it would
        not pause the producer (Twisted pauses a producer whose write alone
        passes C{bufferSize}, whatever the kernel would take).
        """
        producer = self.producer
        return (
            (producer is None or (self.streamingProducer and size <= self.bufferSize))
            and _internals.write_idle(self)
        )

    def write(self, data: bytes) -> None:
        """
        As C{ITransport.write}; sent at once when nothing is buffered.
        """
        if self.TLS:
            super().write(data)  # type: ignore[misc]
            return
        _internals.data_must_be_bytes(data)
        if not self.connected or not data:
            return
        if self._can_send_now(len(data)):
            self._send_eagerly(data)
        else:
            # Buffered, or dropped if the write side is shut, by Twisted.
            super().write(data)  # type: ignore[misc]

    def writeSequence(self, iovec: Iterable[bytes]) -> None:
        """
        As C{ITransport.writeSequence}; sent at once, joined, when nothing
        is buffered.
        """
        if self.TLS:
            super().writeSequence(iovec)  # type: ignore[misc]
            return
        chunks = list(iovec)
        for chunk in chunks:
            _internals.data_must_be_bytes(chunk)
        if not self.connected or not chunks:
            return
        size = sum(len(chunk) for chunk in chunks)
        if not size:
            return
        if self._can_send_now(size):
            self._send_eagerly(b"".join(chunks))
        else:
            super().writeSequence(chunks)  # type: ignore[misc]

    def _send_eagerly(self, data: bytes) -> None:
        sent = self.writeSomeData(data)  # type: ignore[attr-defined]
        if isinstance(sent, Exception):
            # The send consumed the socket's pending error (a reset, say):
            # the kernel reports it once.  Keep it for the reactor, which
            # reports it from its next doRead or doWrite, never from inside
            # write(); until then the bytes are buffered like any others.
            # (TCP's and Unix's writeSomeData return a count or an
            # exception, never a negative count.)
            error = sent

            def report(*args: object) -> Exception:
                return error

            # On the instance, as abortConnection does: no cost until then.
            # (setattr: these shadow the class's methods on this instance.)
            setattr(self, "doRead", report)  # noqa: B010
            setattr(self, "doWrite", report)  # noqa: B010
            sent = 0
        if sent == len(data):
            return
        _internals.buffer_unsent(self, data[sent:])  # (bytes: [0:] is no copy)
        self.startWriting()  # type: ignore[attr-defined]


class EagerTCPServer(EagerWrites, tcp.Server):
    """A TCP server connection that writes eagerly."""


class EagerTCPClient(EagerWrites, tcp.Client):
    """A TCP client connection that writes eagerly."""


class EagerTCPPort(tcp.Port):
    """A TCP port whose connections write eagerly."""

    transport = EagerTCPServer


@_internals.makes_transport
class EagerTCPConnector(tcp.Connector):
    """A TCP connector whose connections write eagerly."""

    def make_transport(self) -> EagerTCPClient:
        return EagerTCPClient(self.host, self.port, self.bindAddress, self, self.reactor)


class EagerUNIXServer(EagerWrites, unix.Server):
    """A Unix socket server connection that writes eagerly."""


class EagerUNIXClient(EagerWrites, unix.Client):
    """A Unix socket client connection that writes eagerly."""


class EagerUNIXPort(unix.Port):
    """A Unix socket port whose connections write eagerly."""

    transport = EagerUNIXServer


@_internals.makes_transport
class EagerUNIXConnector(unix.Connector):
    """A Unix socket connector whose connections write eagerly."""

    def make_transport(self) -> EagerUNIXClient:
        return EagerUNIXClient(self.address, self, self.reactor, self.checkPID)


class EagerStreams:
    """
    The reactor's side: its stream ports and connectors make eager
    connections.  Mixed into both lwstp reactors, ahead of Twisted's
    C{PosixReactorBase}, whose methods these follow argument for argument.
    The classes are attributes, so that debug mode's reactor
    (L{twisted_lwstp._debug}) can name its own.
    """

    _lwstp_tcp_port: type[EagerTCPPort] = EagerTCPPort
    _lwstp_tcp_connector: type[EagerTCPConnector] = EagerTCPConnector
    _lwstp_tcp_server: type[EagerTCPServer] = EagerTCPServer
    _lwstp_unix_port: type[EagerUNIXPort] = EagerUNIXPort
    _lwstp_unix_connector: type[EagerUNIXConnector] = EagerUNIXConnector
    _lwstp_unix_server: type[EagerUNIXServer] = EagerUNIXServer

    def listenTCP(self, port: int, factory: Any, backlog: int = 50, interface: str = "") -> Any:
        p = self._lwstp_tcp_port(port, factory, backlog, interface, self)
        p.startListening()
        return p

    def connectTCP(self, host: str, port: int, factory: Any, timeout: float = 30.0,
                   bindAddress: Any = None) -> Any:
        c = self._lwstp_tcp_connector(host, port, factory, timeout, bindAddress, self)
        c.connect()
        return c

    def listenUNIX(self, address: Any, factory: Any, backlog: int = 50, mode: int = 0o666,
                   wantPID: int = 0) -> Any:
        p = self._lwstp_unix_port(address, factory, backlog, mode, self, wantPID)
        p.startListening()
        return p

    def connectUNIX(self, address: Any, factory: Any, timeout: float = 30,
                    checkPID: int = 0) -> Any:
        c = self._lwstp_unix_connector(address, factory, timeout, self, checkPID)
        c.connect()
        return c

    def adoptStreamPort(self, fileDescriptor: int, addressFamily: Any, factory: Any) -> Any:
        import socket

        if addressFamily not in _internals.supported_families(self):
            from twisted.internet.error import UnsupportedAddressFamily

            raise UnsupportedAddressFamily(addressFamily)
        if addressFamily == socket.AF_UNIX:
            p = _internals.port_from_descriptor(self._lwstp_unix_port, self, fileDescriptor,
                                                factory)
        else:
            p = _internals.port_from_descriptor(self._lwstp_tcp_port, self, fileDescriptor,
                                                addressFamily, factory)
        p.startListening()
        return p

    def adoptStreamConnection(self, fileDescriptor: int, addressFamily: Any,
                              factory: Any) -> Any:
        import socket

        if addressFamily not in _internals.supported_families(self):
            from twisted.internet.error import UnsupportedAddressFamily

            raise UnsupportedAddressFamily(addressFamily)
        if addressFamily == socket.AF_UNIX:
            return _internals.server_from_socket(self._lwstp_unix_server, fileDescriptor,
                                                 factory, self)
        return _internals.server_from_socket(self._lwstp_tcp_server, fileDescriptor,
                                             addressFamily, factory, self)
