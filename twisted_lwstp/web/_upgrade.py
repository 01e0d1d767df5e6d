# -*- test-case-name: tests.test_demo_server -*-
"""
L{AdmittingWebSocketResource}: a WebSocket endpoint that admits each
connection's work before the upgrade, so that a refusal is an HTTP
C{503 Service Unavailable} with C{Retry-After}, which a load balancer can
retry elsewhere, instead of a WebSocket closed with 1013 after the fact.

Runs in: the reactor thread (C{twisted.web} renders there).  Owns the one
protocol admitted for the upgrade in progress (set and cleared within one
C{render_GET}).
"""

from __future__ import annotations

from typing import Any, Protocol

from twisted.web.resource import Resource
from twisted.web.server import Request
from twisted.web.websocket import WebSocketResource
from wsproto import ConnectionType
from wsproto.handshake import H11Handshake
from wsproto.utilities import RemoteProtocolError

from ._owner import refuse


class Refused(Exception):
    """
    The server will not take this connection now; the message says why.
    It is answered 503 with C{Retry-After}, before the upgrade.
    """


class Admitter(Protocol):
    """
    What an L{AdmittingWebSocketResource} asks of its factory.
    """

    def admit(self, request: Request) -> Any:
        """
        Build the connection's protocol and enqueue its work, held (the
        owner paused) until the handshake completes.

        @raise Refused: the connection is not taken; nothing was enqueued.
        """

    def abandon(self, protocol: Any) -> None:
        """
        The upgrade failed after C{admit}: stop and reap the work admitted.
        """


def is_upgrade(request: Request) -> bool:
    """
    Whether C{request} is a well-formed WebSocket handshake (the check that
    C{twisted.web.websocket} makes before it upgrades).
    """
    headers = [(k, v) for k, values in request.requestHeaders.getAllRawHeaders() for v in values]
    try:
        H11Handshake(ConnectionType.SERVER).initiate_upgrade_connection(headers, request.path)
    except RemoteProtocolError:
        return False
    return True


class AdmittingWebSocketResource(Resource):
    """
    Wraps C{twisted.web.websocket.WebSocketResource}: a handshake is first
    admitted by C{admitter} (its task enqueued, exactly as the answer will
    say), then upgraded; a refusal answers 503 with C{Retry-After} and
    nothing is upgraded or enqueued.  A malformed handshake is answered by
    Twisted (400) without being admitted.
    """

    isLeaf = True

    def __init__(self, admitter: Admitter) -> None:
        super().__init__()
        self.admitter = admitter
        self._upgrade = WebSocketResource(self)
        self._admitted: Any = None

    def buildProtocol(self, request: Request) -> Any:
        """
        The protocol admitted for this upgrade (called by the wrapped
        resource while it upgrades, within L{render_GET}).
        """
        protocol, self._admitted = self._admitted, None
        return protocol

    def render_GET(self, request: Request) -> bytes | int:
        if not is_upgrade(request):
            return self._upgrade.render_GET(request)
        try:
            protocol = self.admitter.admit(request)
        except Refused as e:
            return refuse(request, str(e))
        self._admitted = protocol
        result = self._upgrade.render_GET(request)
        if self._admitted is not None:  # never upgraded after all
            self._admitted = None
            self.admitter.abandon(protocol)
        return result
