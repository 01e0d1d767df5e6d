"""
A WebSocket client on wsproto over a real Twisted TCP connection, for the
end-to-end tests, the benchmarks' and the soak's load generators: it
records (or just counts) text messages, the close code and reason, and can
stop reading (to play a slow client).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor as global_reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)


class WSClient(Protocol):
    """
    One client connection.

    @ivar messages: Text messages received, in order.
    @ivar close_code: The code of the server's close frame, or None.
    @ivar opened: Fires when the handshake is accepted.
    @ivar closed: Fires with this client when the TCP connection is gone.
    """

    def __init__(self, host: str, port: int, path: str = "/ws", keep_messages: bool = True,
                 origin: str | None = None) -> None:
        self.host, self.port, self.path = host, port, path
        self.origin = origin
        self.reject_status: int | None = None
        self.reject_headers: dict[str, str] = {}
        self.reject_body = b""
        # False: ignore the server's close frame (a client that hangs on).
        self.answer_close = True
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.keep_messages = keep_messages
        self.messages: list[str] = []
        self.message_count = 0
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.opened: Deferred[WSClient] = Deferred()
        self.closed: Deferred[WSClient] = Deferred()
        self.on_message: Any = None
        self._text = ""

    def connectionMade(self) -> None:
        headers = [(b"Origin", self.origin.encode())] if self.origin is not None else []
        request = Request(host=f"{self.host}:{self.port}", target=self.path, extra_headers=headers)
        self.transport.write(self.ws.send(request))

    def dataReceived(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.opened.callback(self)
            elif isinstance(event, RejectConnection):
                self.reject_status = event.status_code
                self.reject_headers = {k.decode().lower(): v.decode() for k, v in event.headers}
                if not event.has_body:
                    self._rejected()
            elif isinstance(event, RejectData):
                self.reject_body += event.data
                if event.body_finished:
                    self._rejected()
            elif isinstance(event, TextMessage):
                self._text += event.data
                if event.message_finished:
                    text, self._text = self._text, ""
                    self.message_count += 1
                    if self.keep_messages:
                        self.messages.append(text)
                    if self.on_message is not None:
                        self.on_message(self, text)
            elif isinstance(event, Message):
                pass
            elif isinstance(event, Ping):
                self.transport.write(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.close_code = event.code
                self.close_reason = event.reason
                if not self.answer_close:
                    continue
                try:
                    self.transport.write(self.ws.send(event.response()))
                except Exception:
                    pass
                self.transport.loseConnection()

    def _rejected(self) -> None:
        """
        The server answered the handshake with an HTTP error (a refusal is
        503 with Retry-After): tell whoever waits, and hang up as a browser
        does.
        """
        self.opened.errback(Failure(RuntimeError(f"rejected: {self.reject_status}")))
        self.transport.loseConnection()

    def send_text(self, text: str) -> None:
        self.transport.write(self.ws.send(TextMessage(data=text)))

    def close(self, code: int = 1000) -> None:
        try:
            self.transport.write(self.ws.send(CloseConnection(code=code)))
        except Exception:
            pass  # already closing

    def connectionLost(self, reason: Failure) -> None:
        if not self.opened.called:
            self.opened.errback(reason)
        self.closed.callback(self)


def connect(
    port: int,
    host: str = "127.0.0.1",
    path: str = "/ws",
    reactor: Any = None,
    client: WSClient | None = None,
    bind: str | None = None,
    origin: str | None = None,
) -> Deferred[WSClient]:
    """
    Connect a L{WSClient} (or C{client}); fires with it once the handshake
    is accepted.  C{bind}: the local address to connect from (any of
    127.0.0.0/8 works on loopback); C{origin}: an C{Origin} header to send.
    """
    if client is None:
        client = WSClient(host, port, path, origin=origin)
    endpoint = TCP4ClientEndpoint(reactor or global_reactor, host, port, timeout=30,
                                  bindAddress=(bind, 0) if bind is not None else None)
    d = connectProtocol(endpoint, client)
    d.addCallback(lambda _: client.opened)
    return d
