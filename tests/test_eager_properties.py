"""
The eager write path's contract as properties (issue 23), on both lwstp
reactors, over TCP, Unix sockets and a TLS endpoint:

 - after a clean close (C{loseConnection}, C{loseWriteConnection}) the
   peer receives exactly the bytes written before it, in order;
 - after C{abortConnection} it receives a prefix, in order, of what was
   written before the abort, and nothing written after it.

Hypothesis draws a program: writes and write sequences of 1 byte to 8 MB;
peer reads of random sizes, reactor turns, both, or both until the peer
has caught up (so that the next write finds the buffers empty); a
streaming producer registered and unregistered; a pull producer writing
chunks as the reactor asks; and one way to end.  A peer read between two
reactor turns makes room in the kernel while older bytes still wait in
the transport: the case where a write must not jump the queue.  Every program starts with a write far larger
than the two sockets' buffers, which are made small (C{SO_SNDBUF} on our
side, C{SO_RCVBUF} on the peer's), so that every run sends partially and
later writes meet bytes still buffered; each example checks that it did.

The peer is a plain (or C{ssl}) socket read in this thread between the
turns of a reactor instance that is never installed nor run (a hypothesis
test cannot return a Deferred).  Every byte written is the next byte of one
random stream, so a reordering, a loss or a duplicate shows as a mismatch
with the stream's prefix.  L{PlantedBugTests} shows both properties fail
on a planted reordering and a planted loss.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from twisted.internet import protocol
from twisted.internet import ssl as twisted_ssl
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHandshakeListener
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_lwstp import _gather, _internals
from twisted_lwstp._gather import EagerWrites
from twisted_lwstp.asyncioreactor import LwstpAsyncioReactor
from twisted_lwstp.reactor import LwstpReactor

from .test_eager import _pem

#: The CI profile: a fixed number of examples per (reactor, transport)
#: property, and the blob that reproduces a failure printed with it.
#: LWSTP_PROPERTY_EXAMPLES=500 explores further by hand.
SETTINGS = settings(
    max_examples=int(os.environ.get("LWSTP_PROPERTY_EXAMPLES", "40")),
    print_blob=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SMALL_BUFFER = 4096  # the kernel doubles it: about 8 KB a side
FILL = 1 << 20  # the first write: far more than both buffers hold
BIG = 8 << 20
STREAM = random.Random(23).randbytes(FILL + 2 * BIG + (4 << 20))
BOUND = 60.0  # seconds: a generous bound on draining one example

small = st.integers(1, 4096)
medium = st.integers(4097, 256 * 1024)
size = st.one_of(small, small, medium)
read_size = st.integers(0, 256 * 1024)
#: What the peer and the reactor do before each action: nothing; the peer
#: reads; a reactor turn; both; read, turn and read again (room in the
#: kernel while bytes a turn moved into the transport's buffer still wait:
#: the case where a write must not jump the queue); or both until the peer
#: has caught up (so that the next write finds every buffer empty).
activity = st.one_of(
    st.tuples(st.just("none"), st.just(0)),
    st.tuples(st.just("read"), read_size),
    st.tuples(st.just("step"), st.just(0)),
    st.tuples(st.just("pump"), read_size),
    st.tuples(st.just("pump-read"), read_size),
    st.tuples(st.just("drain"), st.just(0)),
)
action = st.one_of(
    st.tuples(st.just("write"), size),
    st.tuples(st.just("seq"), st.lists(st.integers(0, 8192), max_size=4)),
    st.tuples(st.just("streaming"), st.booleans()),
    st.tuples(st.just("pull"), st.lists(small | medium, min_size=1, max_size=4)),
)
op = st.tuples(activity, action)


@st.composite
def programs(draw: st.DrawFn, ends: list[str]) -> dict[str, Any]:
    steps = draw(st.lists(op, max_size=20))
    big = draw(st.sampled_from([None, None, 2 << 20, BIG]))
    if big is not None:
        steps.insert(draw(st.integers(0, len(steps))), (("none", 0), ("write", big)))
    # What happens just before the end: after a drain, say, an abort finds
    # every buffer empty, and writes after it must still not go out.
    steps.append((draw(st.one_of(activity, st.just(("drain", 0)))), ("nothing", None)))
    end = draw(st.sampled_from([*ends, "abort"]))  # abort, twice as often
    # Big ones too: one past a turn's gathering limit is sent at once.
    after = draw(st.lists(size, min_size=1, max_size=3)) if end == "abort" else []
    return {"steps": steps, "end": end, "after": after}


@implementer(IHandshakeListener)
class Writer(protocol.Protocol):
    """
    The protocol whose transport writes eagerly; notes when its TLS
    handshake is done and how it ended.
    """

    reason: Failure | None = None
    handshake_done = False

    def handshakeCompleted(self) -> None:
        self.handshake_done = True

    def connectionLost(self, reason: Failure) -> None:
        self.reason = reason


class StreamingProducer:
    """Records pauses; writes nothing itself."""

    def __init__(self) -> None:
        self.paused = 0

    def pauseProducing(self) -> None:
        self.paused += 1

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class PullProducer:
    """Writes its next chunk each time the reactor asks; then unregisters."""

    def __init__(self, rig: Rig, chunks: list[int]) -> None:
        self.rig = rig
        self.chunks = list(chunks)

    def resumeProducing(self) -> None:
        if self.chunks:
            self.rig.write(self.chunks.pop(0))
        if not self.chunks and self.rig.pull is self:
            self.rig.pull = None
            self.rig.transport.unregisterProducer()

    def stopProducing(self) -> None:
        self.chunks = []


class Rig:
    """
    One connection: an lwstp reactor instance (never installed or run), a
    listening port, the eager server side and the peer's socket.
    """

    def __init__(self, kind: str, transport: str) -> None:
        self.cleanups: list[Callable[[], object]] = []
        self.kind = kind
        self.transport: Any = None
        self.port: Any = None
        self.peer: Any = None
        self.writer = Writer()
        try:
            self._connect(transport)
        except BaseException:
            self.close()
            raise

    def _connect(self, transport: str) -> None:
        kind = self.kind
        if kind == "epoll":
            self.reactor = LwstpReactor()
            self.step: Callable[[], None] = lambda: self.reactor.iterate(0)
        else:
            loop = asyncio.new_event_loop()
            self.reactor = LwstpAsyncioReactor(loop)

            def step() -> None:
                loop.call_soon(loop.stop)
                loop.run_forever()

            self.step = step
        factory = protocol.Factory.forProtocol(lambda: self.writer)
        self.tls = transport == "tls"
        if transport == "unix":
            directory = tempfile.mkdtemp()
            self.cleanups.append(lambda: os.rmdir(directory))
            path = os.path.join(directory, "s")
            self.port = self.reactor.listenUNIX(path, factory)
            peer = socket.socket(socket.AF_UNIX)
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
            peer.connect(path)
        else:
            if self.tls:
                cert = twisted_ssl.PrivateCertificate.loadPEM(_pem())
                # What listenSSL does, but with this reactor as the clock
                # of TLS's write aggregation (listenSSL takes the global
                # reactor, which this test never runs).
                tls = TLSMemoryBIOFactory(cert.options(), False, factory, clock=self.reactor)
                self.port = self.reactor.listenTCP(0, tls, interface="127.0.0.1")
            else:
                self.port = self.reactor.listenTCP(0, factory, interface="127.0.0.1")
            peer = socket.socket(socket.AF_INET)
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
            peer.connect(("127.0.0.1", self.port.getHost().port))
        peer.setblocking(False)
        self.peer = peer
        self.until(lambda: self.writer.transport is not None, "the connection")
        self.transport = self.writer.transport
        # The eager connection itself: under TLS, the one that carries the
        # ciphertext.
        self.eager = self.transport.transport if self.tls else self.transport
        assert isinstance(self.eager, EagerWrites), type(self.eager)
        self.eager.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
        self.partial_sends = 0
        send = self.eager.writeSomeData

        def counted(data: bytes) -> Any:
            sent = send(data)
            if isinstance(sent, int) and sent < len(data):
                self.partial_sends += 1
            return sent

        self.eager.writeSomeData = counted
        send_gathered = self.eager._send_gathered

        def counted_gathered(chunks: list[bytes]) -> Any:
            sent = send_gathered(chunks)
            if isinstance(sent, int) and sent < sum(len(chunk) for chunk in chunks):
                self.partial_sends += 1
            return sent

        self.eager._send_gathered = counted_gathered
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            self.peer = context.wrap_socket(peer, do_handshake_on_connect=False)
            self.until(self._handshake, "the TLS handshake")
            # Until the server's side is done too, what it is given to
            # write waits in the TLS layer, not in the eager transport.
            self.until(lambda: self.writer.handshake_done, "the server's TLS handshake")
        self.offset = 0  # bytes of STREAM written so far
        self.received = bytearray()
        self.eof = False
        self.pull: PullProducer | None = None
        self.streaming: StreamingProducer | None = None

    def _handshake(self) -> bool:
        try:
            self.peer.do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        return True

    def until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + BOUND
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not happen within {BOUND} s")
            self.step()

    def take(self, n: int) -> bytes:
        data = STREAM[self.offset:self.offset + n]
        assert len(data) == n, "STREAM too short for this program"
        self.offset += n
        return data

    def write(self, n: int) -> None:
        self.transport.write(self.take(n))

    def read(self, most: int) -> None:
        """The peer reads at most C{most} bytes, whatever has arrived."""
        while most > 0 and not self.eof:
            try:
                data = self.peer.recv(min(most, 1 << 20))
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
                data = b""
            except ssl.SSLError as e:
                raise AssertionError(f"bytes out of order or lost: the peer's TLS layer "
                                     f"rejected a record ({e})") from e
            if not data:
                self.eof = True
                if self.tls:
                    # The writer's close_notify, or its abort: answer, as a
                    # clean TLS close takes both sides' close_notify.
                    try:
                        self.peer.unwrap()
                    except (OSError, ValueError):
                        pass  # aborted: nothing to answer
                return
            self.received += data
            most -= len(data)

    def pump(self, most: int) -> None:
        self.step()
        self.read(most)

    def run(self, program: dict[str, Any]) -> None:
        self.write(FILL)
        for (what, most), (name, arg) in program["steps"]:
            if what in ("read", "pump-read"):
                self.read(most)
            if what in ("step", "pump", "pump-read"):
                self.step()
            if what in ("pump", "pump-read"):
                self.read(most)
            if what == "drain":
                self.until(lambda: (self.pump(1 << 20), len(self.received) == self.offset
                                    and self.pull is None)[1], "the peer's catching up")
            if name == "write":
                self.write(arg)
            elif name == "seq":
                self.transport.writeSequence([self.take(n) for n in arg])
            elif name == "streaming" and arg and self.streaming is None and self.pull is None:
                self.streaming = StreamingProducer()
                self.transport.registerProducer(self.streaming, True)
            elif name == "streaming" and not arg and self.streaming is not None:
                self.streaming = None
                self.transport.unregisterProducer()
            elif name == "pull" and self.streaming is None and self.pull is None and not self.tls:
                # (Over TLS, Twisted turns a pull producer into a push one
                # run by the global cooperator, on the global reactor,
                # which this test never runs; to the eager connection it
                # is a streaming producer, which the streaming steps cover.)
                self.pull = PullProducer(self, arg)
                self.transport.registerProducer(self.pull, False)
        end = program["end"]
        if end != "abort" and (self.streaming is not None or self.pull is not None):
            self.streaming = self.pull = None
            self.transport.unregisterProducer()
        before_end = self.offset
        getattr(self.transport, {"lose": "loseConnection", "lose-write": "loseWriteConnection",
                                 "abort": "abortConnection"}[end])()
        for n in program["after"]:
            self.write(n)
        self.until(lambda: (self.read(1 << 20), self.eof)[1], "the peer's end of stream")
        self.peer.close()
        self.until(lambda: self.writer.reason is not None, "connectionLost")
        self.check(end, before_end)

    def check(self, end: str, before_end: int) -> None:
        got = bytes(self.received)
        if got != STREAM[:len(got)]:
            at = next(i for i, (a, b) in enumerate(zip(got, STREAM, strict=False)) if a != b)
            raise AssertionError(f"bytes out of order or lost: first mismatch at offset {at} "
                                 f"of {len(got)}")
        if end == "abort":
            assert len(got) <= before_end, (
                f"{len(got) - before_end} bytes written after abortConnection() arrived")
        else:
            assert len(got) == before_end, f"bytes lost: received {len(got)} of {before_end}"
        if end != "abort":
            assert self.writer.reason is not None
            assert self.writer.reason.check(ConnectionDone), self.writer.reason
        assert self.partial_sends >= 1, "no partial send happened: the rig is wrong"

    def close(self) -> None:
        if self.peer is not None:
            self.peer.close()
        if self.writer.reason is None and self.transport is not None:
            self.transport.abortConnection()
            for _ in range(10):
                self.step()
        if self.port is not None:
            self.port.stopListening()
            for _ in range(3):
                self.step()
        if self.kind == "epoll":
            for reader in list(self.reactor._internalReaders):
                self.reactor.removeReader(reader)
                reader.connectionLost(None)
            self.reactor._poller.close()
        else:
            loop = self.reactor._asyncioEventloop
            for reader in list(self.reactor._internalReaders):
                self.reactor.removeReader(reader)
                reader.connectionLost(None)
            loop.close()
        for cleanup in reversed(self.cleanups):
            cleanup()


STREAM_ENDS = ["lose", "lose-write", "abort"]
TLS_ENDS = ["lose", "abort"]  # a TLS connection has no half-close


def _property(kind: str, transport: str,
              profile: settings = SETTINGS) -> Callable[..., None]:
    ends = TLS_ENDS if transport == "tls" else STREAM_ENDS

    @profile
    @given(program=programs(ends))
    def test(self: SynchronousTestCase, program: dict[str, Any]) -> None:
        rig = Rig(kind, transport)
        try:
            rig.run(program)
        finally:
            rig.close()

    test.__name__ = f"test_order_and_completeness_{kind}_{transport}"
    test.__doc__ = f"Both properties, on the lwstp {kind} reactor over {transport}."
    return test


class EagerWriteProperties(SynchronousTestCase):
    """The two properties, for each reactor and each transport."""

    for _kind in ("epoll", "asyncio"):
        for _transport in ("tcp", "unix", "tls"):
            _test = _property(_kind, _transport)
            locals()[_test.__name__] = _test
    del _kind, _transport, _test


class PlantedBugTests(SynchronousTestCase):
    """
    The properties catch what they are for: a write that jumps the queue
    of bytes still buffered (reordering), unsent bytes dropped (loss), and
    a write after C{abortConnection()} sent all the same.  (Over TLS the
    last is Twisted's TLS layer's to drop, before it reaches us.)
    """

    def assert_caught(self, transport: str) -> None:
        # No shrinking: the first failing example is proof enough.  The same
        # examples every run: a planted bug is caught every time, not by luck.
        profile = settings(SETTINGS, max_examples=60, phases=[Phase.generate], derandomize=True)
        with self.assertRaises(AssertionError) as caught:
            _property("epoll", transport, profile)(self)
        self.assertRegex(str(caught.exception),
                         "bytes out of order or lost|bytes lost|after abortConnection")

    def test_reordering_is_caught(self) -> None:
        original = _internals.write_idle

        def ignores_buffered(t: Any) -> bool:
            # The planted bug: what waits after a partial send is ignored.
            saved = t._tempDataLen, t.dataBuffer
            t._tempDataLen, t.dataBuffer = 0, b""
            try:
                return original(t)
            finally:
                t._tempDataLen, t.dataBuffer = saved

        self.patch(_internals, "write_idle", ignores_buffered)
        self.assert_caught("tcp")

    def test_loss_is_caught(self) -> None:
        original = _internals.buffer_unsent

        def drops_a_byte(t: Any, rest: list[bytes]) -> None:
            # The planted bug: one unsent byte lost.
            original(t, [rest[0][1:], *rest[1:]])

        self.patch(_internals, "buffer_unsent", drops_a_byte)
        self.assert_caught("unix")

    def test_gathered_writes_sent_out_of_order_are_caught(self) -> None:
        original = EagerWrites._send_gathered

        def reversed_send(t: Any, chunks: list[bytes]) -> Any:
            # The planted bug: a turn's writes leave last first.
            return original(t, chunks[::-1])

        self.patch(EagerWrites, "_send_gathered", reversed_send)
        # Every turn of more than one chunk through the gathering send, none
        # joined.
        self.patch(_gather, "JOIN_BELOW", 0)
        self.assert_caught("unix")

    def test_write_after_abort_is_caught(self) -> None:
        original = _internals.write_idle

        def forgets_abort(t: Any) -> bool:
            # The planted bug: the abort flag is not looked at.
            saved = t._aborting
            t._aborting = False
            try:
                return original(t)
            finally:
                t._aborting = saved

        self.patch(_internals, "write_idle", forgets_abort)
        # Small writes after an abort are gathered, and dropped with the
        # connection before the turn ends; one past the gathering limit is
        # sent at once, past the abort check.  With a limit of one byte,
        # every write after the abort is such a one.
        self.patch(_gather, "GATHER_BYTES", 1)
        self.assert_caught("tcp")
