"""
An unmodified .tac application whose resource uses deferToThread, run with
C{twistd -n --reactor=lwstp -y app.tac}: 40 concurrent HTTP requests are
answered from C{twisted.internet.reactor-<n>} threads, and SIGTERM stops
it cleanly.
"""

from __future__ import annotations

import os
import re

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, readBody

from ._helpers import temp_dir
from ._twistd import twistd_path

TAC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "deferring_app.tac")
STARTING = re.compile(rb"Site starting on (\d+)")


class _Twistd(ProcessProtocol):
    def __init__(self) -> None:
        self.output = b""
        self.listening: Deferred[int] = Deferred()
        self.ended: Deferred[BaseException] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data
        match = STARTING.search(self.output)
        if match and not self.listening.called:
            self.listening.callback(int(match.group(1)))

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        if not self.listening.called:
            self.listening.errback(RuntimeError(self.output.decode(errors="replace")))
        self.ended.callback(reason.value)


class TacUnderLwstpTests(TestCase):
    timeout = 120

    @inlineCallbacks
    def test_unmodified_tac_serves_40_requests_from_the_pool_and_stops(self):
        proto = _Twistd()
        exe = twistd_path()
        argv = [exe, "-n", "--pidfile=", "--reactor=lwstp", "-y", TAC]
        env = dict(os.environ, LWSTP_THREADS="10")
        process = reactor.spawnProcess(proto, exe, argv, env=env, path=temp_dir(self))
        self.addCleanup(lambda: proto.ended.called or process.signalProcess("KILL"))
        port = yield proto.listening
        agent = Agent(reactor)
        url = f"http://127.0.0.1:{port}/".encode()

        @inlineCallbacks
        def fetch():
            response = yield agent.request(b"GET", url)
            body = yield readBody(response)
            return response.code, body.decode()

        answers = yield gatherResults([fetch() for _ in range(40)])
        self.assertEqual([code for code, _ in answers], [200] * 40)
        names = {name for _, name in answers}
        for name in names:
            self.assertRegex(name, r"^twisted\.internet\.reactor-\d+$")
        # Forty requests of 50 ms on at most 10 threads: more than one ran.
        self.assertGreater(len(names), 1)
        self.assertLessEqual(len(names), 10)
        process.signalProcess("TERM")
        reason = yield proto.ended
        output = proto.output.decode(errors="replace")
        # A clean stop: twistd re-raises SIGTERM after shutting down.
        self.assertIn(getattr(reason, "signal", None) or getattr(reason, "exitCode", None),
                      (15, 0), output)
        self.assertIn("Received SIGTERM, shutting down.", output)
        self.assertIn("Main loop terminated.", output)
        self.assertNotIn("Traceback", output)
