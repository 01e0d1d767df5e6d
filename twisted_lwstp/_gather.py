# -*- test-case-name: tests.test_eager,tests.test_eager_properties -*-
"""
Gathered eager writes for the lwstp reactors' stream connections (TCP and
Unix sockets; twisted#5303, issue 25).  The writes one reactor turn makes
to one connection that has nothing buffered are gathered, and leave in one
system call when the turn ends, before the reactor waits again (a
gathering C{sendmsg()}, or, for a few small pieces, one joined C{send()});
what the kernel does not take is buffered and the descriptor is registered
for writing, exactly as Twisted does with every write today.  So a turn
that writes a WebSocket frame's header and body, or an HTTP response's
status line, headers and body, costs one system call, and no C{epoll_ctl}
unless the kernel refuses bytes.

The end of a turn (L{twisted_lwstp._eager.EagerStreams.flush_writes}): on
epoll, the end of C{runUntilCurrent}, which every turn runs after dispatching I/O and before
it computes how long to wait; on asyncio, just before the loop's selector
waits (L{twisted_lwstp._internals.before_select}), which adds no wait of
its own.

Twisted's transport contract is kept:

 - bytes leave in the order written: a turn's writes are gathered only
   while nothing is buffered ahead of them, and every method that changes
   what may be sent (C{loseConnection}, C{loseWriteConnection},
   C{registerProducer}, C{startTLS}, C{sendFileDescriptor},
   C{abortConnection}) sends what was gathered first; an abort then drops
   what the kernel refused, with the buffer, as Twisted does;
 - a failed send (EPIPE, ECONNRESET, ...) never calls C{connectionLost}
   from inside the protocol's own C{write()} nor from the flush: the bytes
   are buffered, the descriptor is registered for writing, and the
   reactor's next C{doRead} or C{doWrite} reports the error that send met
   (the kernel reports a reset once, so it is kept for the reactor), as it
   does today;
 - a pull (non-streaming) producer, a pending close, half-close or abort,
   and a connection with TLS started (C{startTLS}) take Twisted's own
   buffered path, unchanged, so that the reactor's C{doWrite} keeps
   driving them; TLS endpoints write their ciphertext through a plain
   connection, gathered;
 - a streaming producer is paused when the buffer passes C{bufferSize},
   as before: what a turn gathers never passes it (past it, what was
   gathered is sent at once), and a write that alone would pass it is
   buffered, so the producer is paused exactly as Twisted pauses it;
 - a write from any thread but the reactor's (a bug, which debug mode
   refuses) takes Twisted's own path, as on the stock reactor: it never
   waits for a flush that thread cannot cause.

The one thing a program can see: bytes may reach the kernel before the
reactor next waits, without a C{doWrite}.

Runs in: the reactor thread, as every transport method.  Owner of: each
connection's gathered chunks (L{EagerWrites._lwstp_gather}), the reactor
thread's.  The rest is the transport's own buffer, also the reactor
thread's; the reactor's list of connections that gathered this turn is
L{twisted_lwstp._eager}'s.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterable
from typing import Any

from twisted.internet import main

from . import _internals

__all__ = ["GATHER_BYTES", "GATHER_CHUNKS", "JOIN_BELOW", "EagerWrites"]

#: What one turn gathers for one connection before it is sent at once: at
#: most this many bytes (Twisted's default C{bufferSize}, and half of
#: TCP's C{SEND_LIMIT}) ...
GATHER_BYTES = 65536
#: ... and at most this many chunks (a quarter of Linux's C{IOV_MAX}).
GATHER_CHUNKS = 256
#: A turn's chunks smaller than this in all are joined and sent with one
#: C{send()}; larger ones go in one C{sendmsg()}, never joined.
JOIN_BELOW = 2048


class EagerWrites:
    """
    The gathered C{write} and C{writeSequence}, mixed in ahead of a Twisted
    stream transport class.
    """

    # Provided by the transport classes this is mixed into.
    TLS: bool
    connected: int
    producer: Any
    streamingProducer: bool
    bufferSize: int
    reactor: Any
    socket: Any

    #: What this turn gathered, in order, or None (reactor thread only).
    _lwstp_gather: list[bytes] | None = None
    #: Their total size, while there are some (reactor thread only; set
    #: whenever a gathering begins).
    _lwstp_gathered = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Once per class: the buffer attributes this relies on exist.
        _internals.check_instance(self)

    def _can_gather(self, size: int) -> bool:
        """
        Whether a write of C{size} bytes may begin this turn's gathering:
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
        As C{ITransport.write}; gathered, to be sent when the turn ends,
        when nothing is buffered.
        """
        if self.TLS:
            super().write(data)  # type: ignore[misc]
            return
        _internals.data_must_be_bytes(data)
        if not self.connected or not data:
            return
        self._write_chunks([data], len(data))

    def writeSequence(self, iovec: Iterable[bytes]) -> None:
        """
        As C{ITransport.writeSequence}; gathered, chunk by chunk, when
        nothing is buffered.
        """
        if self.TLS:
            super().writeSequence(iovec)  # type: ignore[misc]
            return
        chunks = list(iovec)
        for chunk in chunks:
            _internals.data_must_be_bytes(chunk)
        if not self.connected or not chunks:
            return
        size = sum(map(len, chunks))
        if not size:
            return
        self._write_chunks(chunks, size)

    def _write_chunks(self, chunks: list[bytes], size: int) -> None:
        reactor = self.reactor
        if threading.get_ident() != reactor._lwstp_io_thread:
            # Not the reactor's thread: Twisted's own path, as on the stock
            # reactor (the reactor's next turn sends what this gathered
            # first, see flush_gathered).
            super().writeSequence(chunks)  # type: ignore[misc]
            return
        gather = self._lwstp_gather
        if gather is not None:
            # Gathering already: nothing was buffered when it began, and
            # whatever could change that since sent it first.  Past a
            # streaming producer's bufferSize, what was gathered goes now
            # and this write is taken afresh.
            total = self._lwstp_gathered + size
            if self.producer is None or total <= self.bufferSize:
                gather.extend(chunks)
                self._lwstp_gathered = total
                if total >= GATHER_BYTES or len(gather) >= GATHER_CHUNKS:
                    self.flush_gathered()
                return
            self.flush_gathered()
        if self._can_gather(size):
            self._lwstp_gather = chunks
            self._lwstp_gathered = size
            if size >= GATHER_BYTES or len(chunks) >= GATHER_CHUNKS or not reactor._lwstp_gathers:
                self.flush_gathered()
            else:
                reactor._lwstp_gathering.append(self)
        else:
            # Buffered, or dropped if the write side is shut, by Twisted.
            super().writeSequence(chunks)  # type: ignore[misc]

    def flush_gathered(self) -> bool:
        """
        Send what this turn gathered, now, in one system call; buffer what
        the kernel does not take (reactor thread).

        @return: Whether anything was buffered (then a streaming producer
            may have been paused, which runs the producer's code).
        """
        chunks = self._lwstp_gather
        if chunks is None:
            return False
        self._lwstp_gather = None
        size = self._lwstp_gathered
        if not self.connected:
            return False
        if not _internals.write_idle(self):
            # Another thread wrote through Twisted's own path meanwhile:
            # what was gathered was written first, so it goes first.
            _internals.buffer_ahead(self, chunks, size)
            self.startWriting()  # type: ignore[attr-defined]
            return True
        if len(chunks) == 1:
            sent = self.writeSomeData(chunks[0])  # type: ignore[attr-defined]
        elif size <= JOIN_BELOW:
            # Small pieces (an HTTP response's header lines, say): one join
            # costs less than a gathering send's vector of them.
            chunks = [b"".join(chunks)]
            sent = self.writeSomeData(chunks[0])  # type: ignore[attr-defined]
        else:
            sent = self._send_gathered(chunks)
        if isinstance(sent, Exception):
            # The send consumed the socket's pending error (a reset, say):
            # the kernel reports it once.  Keep it for the reactor, which
            # reports it from its next doRead or doWrite, never from inside
            # write() or the flush; until then the bytes are buffered like
            # any others.  (writeSomeData returns a count or an exception,
            # never a negative count.)
            error = sent

            def report(*args: object) -> Exception:
                return error

            # On the instance, as abortConnection does: no cost until then.
            # (setattr: these shadow the class's methods on this instance.)
            setattr(self, "doRead", report)  # noqa: B010
            setattr(self, "doWrite", report)  # noqa: B010
            sent = 0
        if sent == size:
            return False
        _internals.buffer_unsent(self, _unsent(chunks, sent))
        self.startWriting()  # type: ignore[attr-defined]
        return True

    def _send_gathered(self, chunks: list[bytes]) -> int | Exception:
        """
        One gathering send of C{chunks}: the count sent, or an exception if
        the connection is lost, as C{writeSomeData} reports it.
        """
        try:
            sent: int = self.socket.sendmsg(chunks)
        except BlockingIOError:
            return 0
        except OSError as e:
            # As writeSomeData: a full buffer sends nothing, anything else
            # loses the connection.
            return 0 if e.errno == errno.ENOBUFS else main.CONNECTION_LOST
        return sent

    def _drop_gathered(self) -> None:
        self._lwstp_gather = None

    # Every method that changes what may be sent, or how, sends what was
    # gathered first, as if the turn had ended.

    def loseConnection(self, *args: Any, **kwargs: Any) -> None:
        self.flush_gathered()
        super().loseConnection(*args, **kwargs)  # type: ignore[misc]

    def loseWriteConnection(self) -> None:
        self.flush_gathered()
        super().loseWriteConnection()  # type: ignore[misc]

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.flush_gathered()
        super().registerProducer(producer, streaming)  # type: ignore[misc]

    def startTLS(self, *args: Any, **kwargs: Any) -> Any:
        self.flush_gathered()
        return super().startTLS(*args, **kwargs)  # type: ignore[misc]

    def abortConnection(self) -> None:
        # What was written before the abort is offered to the kernel, as
        # eager writes did (the peer gets a prefix of it); what the kernel
        # refuses is dropped with the buffer, as Twisted drops it.
        self.flush_gathered()
        super().abortConnection()  # type: ignore[misc]

    def connectionLost(self, reason: Any) -> None:
        self._drop_gathered()
        super().connectionLost(reason)  # type: ignore[misc]


def _unsent(chunks: list[bytes], sent: int) -> list[bytes]:
    """What of C{chunks} is left after the first C{sent} bytes went."""
    for i, chunk in enumerate(chunks):
        if sent < len(chunk):
            rest = chunks[i:]
            if sent:
                rest[0] = chunk[sent:]
            return rest
        sent -= len(chunk)
    return []
