"""
Several servers behind a real HAProxy (Debian's C{haproxy}; C{.ci/run}
installs it; outside CI the test is skipped when it is absent), configured
by the deployment recipe itself (C{docs/examples/haproxy.cfg}, its ports
changed): two C{twistd lwstp} servers with C{--threads 2
--max-queue-depth 0 --haproxy-agent}.

 - A server full of direct clients gets nothing from HAProxy: its agent
   says C{up 0%}, and a 503 it answers would be retried elsewhere.
 - Four clients through HAProxy are all served; a fifth is refused with
   503 only once both servers are full.
 - SIGTERM to a server while its tasks run: its clients hear C{stopped N}
   and a close 1000 through HAProxy, its agent says C{drain}, and new
   clients are served by the other server.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import SkipTest, TestCase
from twisted.web.client import Agent, readBody

from loadgen.wsclient import WSClient, connect

from ._helpers import temp_dir
from ._twistd import spawn_twistd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "docs", "examples", "haproxy.cfg")
LONG_TASKS = ["--count", "1000000000", "--checkin-every", "1000", "--sync-every", "1000000000",
              "--pause-ms", "20"]


def free_ports(n: int) -> list[int]:
    sockets = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class _HAProxy(ProcessProtocol):
    def __init__(self) -> None:
        self.output = b""
        self.ended: Deferred[None] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data

    errReceived = outReceived

    def processEnded(self, reason: Any) -> None:
        self.ended.callback(None)


class _HAProxyCase(TestCase):
    timeout = 180
    #: What the servers' tasks do.
    task_args = LONG_TASKS

    @inlineCallbacks
    def setUp(self):
        haproxy = shutil.which("haproxy") or (
            "/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
        if haproxy is None:
            if os.environ.get("CI"):
                self.fail("haproxy is missing: .ci/run installs it")
            raise SkipTest("haproxy is not installed (CI installs it)")
        cwd = temp_dir(self)
        self.front, p1, p2, a1, a2 = free_ports(5)
        self.ports, self.agents = [p1, p2], [a1, a2]
        self.servers = []
        for port, agent in zip(self.ports, self.agents, strict=True):
            proc = spawn_twistd(["--listen", f"tcp:{port}:interface=127.0.0.1",
                                 "--haproxy-agent", f"tcp:{agent}:interface=127.0.0.1",
                                 "--threads", "2", "--max-queue-depth", "0", *self.task_args],
                               cwd)
            self.servers.append(proc)
        for proc in self.servers:
            yield proc.listening
        self.sock = os.path.join(cwd, "haproxy.sock")
        config = open(RECIPE).read()
        for old, new in ((":8080", f":{self.front}"), (":7681", f":{p1}"), (":7682", f":{p2}"),
                         ("agent-port 7691", f"agent-port {a1}"),
                         ("agent-port 7692", f"agent-port {a2}"),
                         ("agent-inter 500ms", "agent-inter 100ms")):
            self.assertIn(old, config)
            config = config.replace(old, new)
        config = config.replace("    maxconn 4096\n",
                                f"    maxconn 4096\n    stats socket {self.sock} level admin\n")
        path = os.path.join(cwd, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(config)
        self.haproxy = _HAProxy()
        self.hp = reactor.spawnProcess(self.haproxy, haproxy, [haproxy, "-f", path, "-db"],
                                       env=dict(os.environ), path=cwd)
        self.addCleanup(self._stop_all)
        yield self.until(lambda: self.weights() == [100, 100], "both servers up at weight 100")

    @inlineCallbacks
    def _stop_all(self):
        for proc in self.servers:
            if not proc.ended.called:
                proc.transport.signalProcess("KILL")
            yield proc.ended
        if not self.haproxy.ended.called:
            self.hp.signalProcess("KILL")
        yield self.haproxy.ended

    def weights(self) -> list[int] | None:
        """The servers' current weights, as HAProxy sees them (None: not yet)."""
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(self.sock)
            s.sendall(b"show servers state\n")
            text = s.makefile().read()
            s.close()
        except OSError:
            return None
        rows = [line.split() for line in text.splitlines()[2:] if line.strip()]
        # srv_op_state (2: running) and srv_uweight, per server in order.
        return [int(r[7]) if r[5] == "2" else -1 for r in sorted(rows, key=lambda r: r[3])]

    @inlineCallbacks
    def until(self, condition: Any, what: str, bound: float = 30.0):
        for _ in range(int(bound / 0.05)):
            if condition():
                return
            yield deferLater(reactor, 0.05, lambda: None)
        self.fail(f"timed out waiting for {what}; haproxy said {self.haproxy.output[-2000:]!r}")

    @inlineCallbacks
    def diag(self, port: int):
        response = yield Agent(reactor).request(b"GET", f"http://127.0.0.1:{port}/diag".encode())
        return json.loads((yield readBody(response)))

    @inlineCallbacks
    def close_all(self, clients: list[WSClient]):
        for client in clients:
            client.close()
        yield DeferredList([c.closed for c in clients])


class BalancingTests(_HAProxyCase):
    @inlineCallbacks
    def test_a_full_server_gets_nothing_from_haproxy(self):
        direct = []
        for _ in range(2):
            direct.append((yield connect(self.ports[0])))
        yield self.until(lambda: self.weights() == [0, 100], "the agent to report s1 full")
        via = []
        for _ in range(2):
            via.append((yield connect(self.front)))  # refused by none
        a = yield self.diag(self.ports[0])
        b = yield self.diag(self.ports[1])
        self.assertEqual((a["running"], b["running"]), (2, 2))
        yield self.close_all(direct + via)

    @inlineCallbacks
    def test_four_are_served_and_a_fifth_is_refused_once_both_are_full(self):
        clients = []
        for _ in range(4):
            clients.append((yield connect(self.front)))
        a = yield self.diag(self.ports[0])
        b = yield self.diag(self.ports[1])
        self.assertEqual((a["running"], b["running"]), (2, 2))
        fifth = WSClient("127.0.0.1", self.front)
        with self.assertRaises(RuntimeError):
            yield connect(self.front, client=fifth)
        self.assertEqual(fifth.reject_status, 503)
        yield fifth.closed
        yield self.close_all(clients)


class ShutdownTests(_HAProxyCase):
    # Steps alternate: a check-in that pauses 2 s, then a SYNC (a "pos"
    # message).  So when a client receives "pos N", its task has just begun
    # a 2 s pause, and a SIGTERM sent then leaves the server shutting down
    # (waiting for that task to check in) for about that long: time to ask
    # its agent.
    task_args = ["--count", "1000000000", "--checkin-every", "1", "--sync-every", "2",
                 "--pause-ms", "2000"]

    @inlineCallbacks
    def test_sigterm_drains_one_server_while_the_other_takes_new_clients(self):
        first_pos: Deferred[None] = Deferred()
        via = WSClient("127.0.0.1", self.front)
        via.on_message = lambda client, text: first_pos.called or first_pos.callback(None)
        yield connect(self.front, client=via)
        first = yield self.diag(self.ports[0])
        doomed = 0 if first["running"] == 1 else 1  # the server HAProxy chose
        other = 1 - doomed
        yield first_pos
        self.servers[doomed].transport.signalProcess("TERM")
        answers: list[bytes] = []

        def agent_says_drain() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.agents[doomed]), timeout=2) as s:
                    answers.append(s.makefile("rb").read())
            except OSError:
                return False
            return answers[-1] == b"drain\n"

        yield self.until(agent_says_drain, "the agent of the stopping server to say drain", 2.0)
        yield via.closed
        self.assertEqual(via.close_code, 1000)
        self.assertRegex(via.messages[-1], r"^stopped \d+$")
        newcomer = yield connect(self.front)
        survivor = yield self.diag(self.ports[other])
        self.assertEqual(survivor["running"], 1)
        yield self.servers[doomed].ended
        yield self.close_all([newcomer])
