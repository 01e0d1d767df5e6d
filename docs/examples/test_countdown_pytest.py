"""
Testing CountdownProtocol with pytest: deterministically with the
lwstp_harness fixture, and for real with pytest-twisted, over loopback.
"""

from types import SimpleNamespace

import pytest_twisted
from countdown import CountdownProtocol
from twisted.internet import defer, endpoints, protocol
from twisted.internet.testing import StringTransport

from twisted_lwstp import ThreadPool
from twisted_lwstp.testing import PoolHarness


def test_countdown_stepped(lwstp_harness: PoolHarness) -> None:
    proto = CountdownProtocol()
    proto.factory = SimpleNamespace(pool=lwstp_harness.pool)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(b"1\r\n")
    lwstp_harness.run()
    assert transport.value() == b"0\r\nliftoff\r\n"


class Collect(protocol.Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.done = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        if self.data.endswith(b"liftoff\r\n"):
            self.transport.loseConnection()

    def connectionLost(self, reason: object) -> None:
        self.done.callback(self.data)


@pytest_twisted.inlineCallbacks
def test_countdown_over_loopback():
    from twisted.internet import reactor

    pool = ThreadPool(2, 4, "countdown", reactor=reactor)
    pool.start()
    factory = protocol.Factory.forProtocol(CountdownProtocol)
    factory.pool = pool
    port = yield endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
    client = Collect()
    yield endpoints.connectProtocol(
        endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port), client
    )
    client.transport.write(b"3\r\n")
    received = yield client.done
    assert received == b"2\r\n1\r\n0\r\nliftoff\r\n"
    yield port.stopListening()
    yield pool.destroy()
