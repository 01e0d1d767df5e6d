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
from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, readBody

from ._helpers import temp_dir
from ._twistd import TwistdProcess, twistd_path

TAC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "deferring_app.tac")
STARTING = re.compile(rb"Site starting on (\d+)")


class TacUnderLwstpTests(TestCase):
    timeout = 120

    @inlineCallbacks
    def test_unmodified_tac_serves_40_requests_from_the_pool_and_stops(self):
        proto = TwistdProcess(STARTING)
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
