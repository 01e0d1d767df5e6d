# -*- test-case-name: tests.test_eager,tests.test_reactor_unit -*-
"""
The lwstp reactors' stream connections (TCP and Unix sockets), whose
writes are gathered per reactor turn (L{twisted_lwstp._gather}, which
states the contract: a turn's writes to one connection leave in one
system call when the turn ends, in order, with Twisted's producers, close,
half-close, abort, TLS and error reporting kept), and the reactor's side:
its ports and connectors make such connections, and it ends each turn with
L{EagerStreams.flush_writes}.

Runs in: the reactor thread, as every reactor and transport method.  Owner
of: each reactor's list of connections that gathered writes this turn
(reactor thread only).
"""

from __future__ import annotations

import threading
from typing import Any

from twisted.internet import tcp, unix

from . import _internals
from ._gather import EagerWrites

__all__ = ["EagerStreams", "EagerTCPConnector", "EagerTCPPort", "EagerTCPServer",
           "EagerUNIXConnector", "EagerUNIXPort", "EagerUNIXServer", "EagerWrites"]


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


class _EagerUNIXWrites(EagerWrites):
    """Gathered writes on a Unix socket, which may pass descriptors too."""

    def sendFileDescriptor(self, descriptor: int) -> None:
        # The descriptor goes with the next bytes sent: those gathered
        # before it are sent first.
        self.flush_gathered()
        super().sendFileDescriptor(descriptor)  # type: ignore[misc]


class EagerUNIXServer(_EagerUNIXWrites, unix.Server):
    """A Unix socket server connection that writes eagerly."""


class EagerUNIXClient(_EagerUNIXWrites, unix.Client):
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The connections that gathered writes this turn, in the order
        # they began (reactor thread only).
        self._lwstp_gathering: list[EagerWrites] = []
        # The thread whose writes are gathered: the one that built the
        # reactor until one runs it (startRunning).  Written by that
        # thread, read by the writing one.
        self._lwstp_io_thread = threading.get_ident()
        super().__init__(*args, **kwargs)

    def startRunning(self, *args: Any, **kwargs: Any) -> None:
        self._lwstp_io_thread = threading.get_ident()
        super().startRunning(*args, **kwargs)  # type: ignore[misc]

    #: Whether this reactor ends its turns with L{flush_writes}; if not,
    #: each write is sent at once, as when nothing gathers.
    _lwstp_gathers = True

    def flush_writes(self) -> bool:
        """
        The end of a turn: send what each connection gathered, in one
        system call each (reactor thread).

        @return: Whether any of them buffered bytes the kernel refused
            (which may have paused a producer, and so run its code).
        """
        gathering = self._lwstp_gathering
        if not gathering:
            return False
        self._lwstp_gathering = []
        buffered = False
        for connection in gathering:
            if connection.flush_gathered():
                buffered = True
        return buffered

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
