# -*- test-case-name: tests.test_haproxy_agent -*-
"""
An HAProxy agent (C{agent-check}): HAProxy connects to it every
C{agent-inter} and reads one line that sets the server's state and weight.
Ours says how much room the pool has, exactly (model rule 7: at most
C{threads + max_queue_depth} tasks), so HAProxy sends new work where
threads are free:

 - C{up 37%}: the pool accepts work; the weight is its spare room,
   C{(threads + max_queue_depth - running - queued)} as a share of
   C{threads + max_queue_depth} (C{0%}: full, send nothing new);
 - C{drain}: the pool is finishing (the server is shutting down): no new
   work, the connections it has may end;
 - C{down}: the pool has not started.

Runs in: the reactor thread.  Owns nothing: each answer is read from the
pool when HAProxy connects.  Whatever HAProxy (or anyone) sends, e.g.
C{agent-send}, is ignored: the answer is written at once and the
connection closed.
"""

from __future__ import annotations

from twisted.internet.protocol import Factory, Protocol

from ._pool import ThreadPool

__all__ = ["AgentFactory", "agent_answer"]


def agent_answer(pool: ThreadPool) -> str:
    """
    The agent's line for C{pool}, without the newline.
    """
    if pool.finishing:
        return "drain"
    if not pool.started:
        return "down"
    diag = pool.diagnose()
    capacity = pool.max + pool.max_queue_depth
    if capacity <= 0:
        return "up 0%"
    spare = max(0, capacity - diag.running - diag.queued)
    return f"up {100 * spare // capacity}%"


class _Agent(Protocol):
    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(agent_answer(self.pool).encode("ascii") + b"\n")
        self.transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        """What HAProxy sends (agent-send) is not needed: ignored."""


class AgentFactory(Factory):
    """
    Serves the agent for C{pool}: listen on an endpoint with it
    (C{twistd lwstp --haproxy-agent ENDPOINT}).
    """

    noisy = False

    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool

    def buildProtocol(self, addr: object) -> _Agent:
        return _Agent(self.pool)
